package twofactor_test

// security_test.go proves the rules of issue 3 (abuse resistance and session
// hardening), one named test per rule. Every test attacks the library the way
// an attacker would: through real HTTP (TLS, a cookie jar, raw requests where
// a browser would not go), against an app that mounts the flow and the gate
// on a net/http ServeMux. Time is a fake clock; nothing sleeps.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor/internal/testkit"
	"github.com/go-twofactor/twofactor/messagebird"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	sdk "github.com/messagebird/go-rest-api/v9"

	"github.com/go-twofactor/twofactor"
)

const (
	secSecret      = "GATED-CONTENT-b7e41c" // only the gated handler writes this
	secPhone       = "+31612345678"
	secPhoneMasked = "+31 6 •••••678"
	secAPIKey      = "live_q8Vw2Zr5Yt1Xk7Pm3Hn9Bj4L"          // looks like a MessageBird live key
	secCookie      = "__Host-" + twofactor.DefaultSessionName // Secure, Path=/, no Domain
)

var secT0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// secProvider wraps the Mock and counts every call that reaches the
// provider, well-formed or not (Mock.Checks counts only well-formed codes).
// It can hold Check calls at a barrier, make a code work more than once (a
// provider that does not enforce one use), and rewrite verification ids.
type secProvider struct {
	mock    *twofactor.Mock
	sends   atomic.Int64
	checks  atomic.Int64
	lenient bool          // accept the right code however often it is used
	hold    chan struct{} // if set, Check waits for it to be closed
	entered chan struct{} // if hold is set, Check reports here first
	badID   string        // if set, Send returns this verification id

	mu    sync.Mutex
	codes map[string]string // verification id → code
}

func (p *secProvider) CodeLength() int { return p.mock.CodeLength() }

func (p *secProvider) Send(ctx context.Context, req twofactor.Request) (twofactor.Verification, error) {
	p.sends.Add(1)
	v, err := p.mock.Send(ctx, req)
	if err == nil && p.badID != "" {
		p.mu.Lock()
		p.codes[p.badID] = p.codes[v.ID]
		p.mu.Unlock()
		v.ID = p.badID
	}
	return v, err
}

func (p *secProvider) Check(ctx context.Context, id, code string) error {
	p.checks.Add(1)
	if p.hold != nil {
		p.entered <- struct{}{}
		select {
		case <-p.hold:
		case <-ctx.Done():
			return errors.Join(twofactor.ErrUnavailable, ctx.Err())
		}
	}
	if p.lenient {
		p.mu.Lock()
		want, ok := p.codes[id]
		p.mu.Unlock()
		if ok && code == want {
			return nil
		}
	}
	return p.mock.Check(ctx, id, code)
}

// secSetup configures secNew.
type secSetup struct {
	opts            []twofactor.Option
	store           sessions.Store                               // nil: the Manager's own cookie store
	state           func(*twofactor.MemoryState) twofactor.State // wraps the MemoryState
	provider        func(*secProvider) twofactor.Provider        // replaces the provider
	mockMaxAttempts int                                          // the Mock's own cap; 0 means its default
	subject         bool                                         // WithSubject from the X-Test-User header
	logger          func(*testkit.Buffer) *slog.Logger           // nil: a text logger into e.logs
	routes          func(*http.ServeMux, *twofactor.Manager)     // more routes for the app
}

// secEnv is an app under attack: the flow at /2fa/, the gated handler at
// /account and /account/ (a subtree, as an app mounts it), POST /logout
// calling Reset, and a public home page at /.
type secEnv struct {
	t     *testing.T
	clock *testkit.Clock
	mock  *twofactor.Mock
	prov  *secProvider
	state *twofactor.MemoryState
	m     *twofactor.Manager
	srv   *httptest.Server
	logs  *testkit.Buffer
	hits  atomic.Int64 // requests that reached the gated handler

	mu     sync.Mutex
	codes  map[string]string // phone → latest code
	events []twofactor.Event
	record bool     // keep every response in pages
	pages  []string // status line, headers and body of every response
}

func secSubject(r *http.Request) string { return r.Header.Get("X-Test-User") }

func secNew(t *testing.T, s secSetup) *secEnv {
	t.Helper()
	e := &secEnv{t: t, clock: testkit.NewClock(secT0), codes: map[string]string{}, logs: &testkit.Buffer{}}
	e.mock = &twofactor.Mock{MaxAttempts: s.mockMaxAttempts, Now: e.clock.Now}
	e.prov = &secProvider{mock: e.mock, codes: map[string]string{}}
	e.mock.OnCode = func(v twofactor.Verification, code string) {
		e.mu.Lock()
		e.codes[v.Phone] = code
		e.mu.Unlock()
		e.prov.mu.Lock()
		e.prov.codes[v.ID] = code
		e.prov.mu.Unlock()
	}
	e.state = new(twofactor.MemoryState)
	e.state.Now = e.clock.Now
	var state twofactor.State = e.state
	if s.state != nil {
		state = s.state(e.state)
	}
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if s.logger != nil {
		logger = s.logger(e.logs)
	}
	opts := []twofactor.Option{
		twofactor.WithClock(e.clock.Now),
		twofactor.WithState(state),
		twofactor.WithSecret(testSecret),
		twofactor.WithLogger(logger),
		twofactor.WithEvents(func(ev twofactor.Event) {
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
		}),
	}
	if s.subject {
		opts = append(opts, twofactor.WithSubject(secSubject))
	}
	opts = append(opts, s.opts...)
	var prov twofactor.Provider = e.prov
	if s.provider != nil {
		prov = s.provider(e.prov)
	}
	m, err := twofactor.New(prov, s.store, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.m = m
	mux := http.NewServeMux()
	mux.Handle("/2fa/", m.Handler())
	gated := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		if !twofactor.GatePassed(r) {
			t.Errorf("gated handler reached without a Record (RecordFrom)")
		}
		_, _ = io.WriteString(w, secSecret)
	})
	mux.Handle("/account", m.Require(gated))
	mux.Handle("/account/", m.Require(gated))
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Reset(w, r); err != nil {
			http.Error(w, "logout failed", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "home") })
	if s.routes != nil {
		s.routes(mux, m)
	}
	// The server's own log: aborted TLS handshakes at shutdown are noise,
	// but a recovered handler panic must fail the test.
	srvLog := &testkit.Buffer{}
	e.srv = httptest.NewUnstartedServer(mux)
	e.srv.Config.ErrorLog = log.New(srvLog, "", 0)
	e.srv.StartTLS()
	t.Cleanup(func() {
		e.srv.Close()
		if l := srvLog.String(); strings.Contains(l, "panic") {
			t.Errorf("server log:\n%s", l)
		}
	})
	return e
}

func (e *secEnv) code(phone string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.codes[phone]
}

func (e *secEnv) eventTypes() []twofactor.EventType {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ts []twofactor.EventType
	for _, ev := range e.events {
		ts = append(ts, ev.Type)
	}
	return ts
}

func (e *secEnv) lastEvent() twofactor.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.events) == 0 {
		return twofactor.Event{}
	}
	return e.events[len(e.events)-1]
}

// secClient is one browser: its own cookie jar, redirects not followed so
// tests see every 303. With json set it asks for JSON answers.
type secClient struct {
	e    *secEnv
	hc   *http.Client
	jar  http.CookieJar
	json bool
	user string      // sent as X-Test-User (the app's logged-in user)
	hdr  http.Header // sent with every request
	next string      // the hidden return target of the last page, posted with forms
}

// client returns a new browser that asks for JSON.
func (e *secEnv) client() *secClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &secClient{
		e:    e,
		jar:  jar,
		json: true,
		hdr:  http.Header{},
		hc: &http.Client{
			Transport:     e.srv.Client().Transport,
			Jar:           jar,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// browser returns a new browser that wants HTML pages.
func (e *secEnv) browser() *secClient {
	c := e.client()
	c.json = false
	return c
}

type secResp struct {
	status int
	header http.Header
	body   string
}

func (r secResp) location() string { return r.header.Get("Location") }

// errCode is the stable error code of a JSON error answer.
func (r secResp) errCode() string {
	var v struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(r.body), &v)
	return v.Error.Code
}

func (r secResp) String() string {
	b := r.body
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Sprintf("%d Location=%q Retry-After=%q body=%q", r.status, r.location(), r.header.Get("Retry-After"), b)
}

func (c *secClient) url(path string) string { return c.e.srv.URL + path }

func (c *secClient) do(method, path string, body io.Reader, contentType string) secResp {
	c.e.t.Helper()
	req, err := http.NewRequest(method, c.url(path), body)
	if err != nil {
		c.e.t.Fatalf("%s %s: %v", method, path, err)
	}
	for k, vs := range c.hdr {
		req.Header[k] = vs
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.json {
		req.Header.Set("Accept", "application/json")
	}
	if c.user != "" {
		req.Header.Set("X-Test-User", c.user)
	}
	r := c.e.roundTrip(c.hc, req)
	if strings.HasPrefix(r.header.Get("Content-Type"), "text/html") && r.status < 300 || r.status >= 400 && !c.json {
		c.next = ""
		if m := hiddenNext.FindStringSubmatch(r.body); m != nil {
			c.next = html.UnescapeString(m[1])
		}
	}
	return r
}

func (e *secEnv) roundTrip(hc *http.Client, req *http.Request) secResp {
	e.t.Helper()
	res, err := hc.Do(req)
	if err != nil {
		e.t.Errorf("%s %s: %v", req.Method, req.URL, err)
		return secResp{header: http.Header{}}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := secResp{status: res.StatusCode, header: res.Header, body: string(b)}
	e.mu.Lock()
	if e.record {
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s %s → %d\n", req.Method, req.URL.RequestURI(), res.StatusCode)
		_ = res.Header.Write(&sb)
		sb.WriteString(r.body)
		e.pages = append(e.pages, sb.String())
	}
	e.mu.Unlock()
	return r
}

func (c *secClient) get(path string) secResp { return c.do(http.MethodGet, path, nil, "") }

func (c *secClient) post(path string, form url.Values) secResp {
	if _, ok := form["next"]; !ok && c.next != "" {
		form = maps.Clone(form)
		if form == nil {
			form = url.Values{}
		}
		form.Set("next", c.next) // as the page's form would
	}
	return c.do(http.MethodPost, path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
}

func (c *secClient) send(phone string) secResp {
	return c.post("/2fa/send", url.Values{"phone": {phone}})
}

func (c *secClient) resend() secResp { return c.post("/2fa/resend", nil) }

func (c *secClient) check(code string) secResp {
	return c.post("/2fa/check", url.Values{"code": {code}})
}

// mustSend sends a code to phone and returns it.
func (c *secClient) mustSend(phone string) string {
	c.e.t.Helper()
	before := c.e.mock.Sends()
	r := c.send(phone)
	if r.status != http.StatusOK && r.status != http.StatusSeeOther || c.e.mock.Sends() != before+1 {
		c.e.t.Fatalf("send %s: %v", phone, r)
	}
	p, _ := twofactor.ParsePhone(phone, "")
	return c.e.code(p)
}

// mustVerify goes through the whole flow for phone and checks the gate opens.
func (c *secClient) mustVerify(phone string) {
	c.e.t.Helper()
	code := c.mustSend(phone)
	if r := c.check(code); r.status != http.StatusOK && r.status != http.StatusSeeOther {
		c.e.t.Fatalf("check right code: %v", r)
	}
	if !c.verified() {
		c.e.t.Fatalf("gate closed right after verification")
	}
}

// gate requests the gated page as a browser would (no JSON).
func (c *secClient) gate() secResp {
	j := c.json
	c.json = false
	defer func() { c.json = j }()
	return c.get("/account")
}

// verified reports whether the gated handler answered.
func (c *secClient) verified() bool {
	c.e.t.Helper()
	r := c.gate()
	switch {
	case r.status == http.StatusOK && r.body == secSecret:
		return true
	case r.status == http.StatusSeeOther && strings.HasPrefix(r.location(), "/2fa/"):
		return false
	}
	c.e.t.Errorf("gate answered neither the page nor a redirect into the flow: %v", r)
	return false
}

func (c *secClient) cookie() string {
	u, _ := url.Parse(c.e.srv.URL + "/")
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == secCookie {
			return ck.Value
		}
	}
	return ""
}

// setCookie replaces the browser's cookies by one session cookie (a replay).
func (c *secClient) setCookie(value string) {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(c.e.srv.URL + "/")
	if value != "" {
		jar.SetCookies(u, []*http.Cookie{{Name: secCookie, Value: value, Path: "/", Secure: true}})
	}
	c.jar = jar
	c.hc.Jar = jar
}

// secWrong returns a code of the same length that is not code (and not the
// wrong code returned just before: see wrongCode).
func secWrong(code string) string { return wrongCode(code) }

func secWant(t *testing.T, what string, r secResp, status int, code string) {
	t.Helper()
	if r.status != status || (code != "" && r.errCode() != code) {
		t.Errorf("%s: got %v, want %d %s", what, r, status, code)
	}
}

func secRetryAfter(t *testing.T, r secResp) int {
	t.Helper()
	n, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || n <= 0 {
		t.Errorf("Retry-After = %q, want a positive number of seconds (%v)", r.header.Get("Retry-After"), r)
	}
	return n
}

// ---------------------------------------------------------------------------
// Limits, kept server-side

func TestSecurity_AttemptsCappedPerCode(t *testing.T) {
	// The Mock would allow 10 tries: the cap of 3 must be the library's own.
	e := secNew(t, secSetup{mockMaxAttempts: 10})
	c := e.client()
	code := c.mustSend(secPhone)
	for i, want := range []string{"invalid_code", "invalid_code", "too_many_attempts"} {
		secWant(t, fmt.Sprintf("wrong guess %d", i+1), c.check(secWrong(code)), http.StatusBadRequest, want)
	}
	for i := range 5 {
		secWant(t, fmt.Sprintf("guess %d over the cap", i+4), c.check(secWrong(code)), http.StatusBadRequest, "too_many_attempts")
	}
	if n := e.prov.checks.Load(); n != twofactor.DefaultMaxAttempts {
		t.Errorf("provider saw %d checks, want the cap %d", n, twofactor.DefaultMaxAttempts)
	}
	if c.verified() || e.hits.Load() != 0 {
		t.Error("gate open after wrong guesses")
	}
}

func TestSecurity_CorrectCodeRefusedAfterCap(t *testing.T) {
	t.Run("per code", func(t *testing.T) {
		e := secNew(t, secSetup{mockMaxAttempts: 10})
		c := e.client()
		code := c.mustSend(secPhone)
		for range twofactor.DefaultMaxAttempts {
			c.check(secWrong(code))
		}
		secWant(t, "right code after the cap", c.check(code), http.StatusBadRequest, "too_many_attempts")
		if n := e.prov.checks.Load(); n != twofactor.DefaultMaxAttempts {
			t.Errorf("provider saw %d checks, want %d: the right code reached it after the cap", n, twofactor.DefaultMaxAttempts)
		}
		if c.verified() {
			t.Error("right code accepted after the per-code cap")
		}
	})
	t.Run("per account", func(t *testing.T) {
		e := secNew(t, secSetup{opts: []twofactor.Option{twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: 2, Per: time.Hour} })}})
		c := e.client()
		code := c.mustSend(secPhone)
		c.check(secWrong(code))
		c.check(secWrong(code))
		r := c.check(code)
		secWant(t, "right code after the account cap", r, http.StatusTooManyRequests, "locked")
		if n := secRetryAfter(t, r); n > 3600 {
			t.Errorf("Retry-After %d beyond the account window", n)
		}
		if n := e.prov.checks.Load(); n != 2 {
			t.Errorf("provider saw %d checks, want 2", n)
		}
		if c.verified() {
			t.Error("right code accepted after the account cap")
		}
	})
}

func TestSecurity_AccountCapSurvivesResendAndNewBrowser(t *testing.T) {
	t.Run("phone-entry mode: the account is the number", func(t *testing.T) {
		e := secNew(t, secSetup{}) // defaults: 3 per code, 10 per account per 24 h
		guess := func(c *secClient, n int) {
			t.Helper()
			code := e.code(secPhone)
			for range n {
				if r := c.check(secWrong(code)); r.status != http.StatusBadRequest {
					t.Fatalf("wrong guess: %v", r)
				}
			}
		}
		b1 := e.client()
		b1.mustSend(secPhone)
		guess(b1, 3)
		e.clock.Advance(31 * time.Second)
		if r := b1.resend(); r.status != http.StatusOK {
			t.Fatalf("resend: %v", r)
		}
		guess(b1, 3)
		b2 := e.client() // a fresh browser: no cookies at all
		b2.mustSend(secPhone)
		guess(b2, 3)
		e.clock.Advance(31 * time.Second)
		if r := b2.resend(); r.status != http.StatusOK {
			t.Fatalf("resend: %v", r)
		}
		guess(b2, 1) // 10 wrong guesses in all
		r := b2.check(e.code(secPhone))
		secWant(t, "right code after 10 wrong ones over 4 codes and 2 browsers", r, http.StatusTooManyRequests, "locked")
		secRetryAfter(t, r)
		// A locked guesser (here, without a subject, the address all the
		// browsers share) is not sent a code it could not use; the page
		// says until when.
		b3 := e.client()
		sends := e.prov.sends.Load()
		r = b3.send(secPhone)
		secWant(t, "a code to the locked number from a third browser", r, http.StatusTooManyRequests, "locked")
		if !strings.Contains(r.body, "locked until 10:00 UTC") || e.prov.sends.Load() != sends {
			t.Errorf("locked number: %v, %d sends; want no send and the end of the lock (10:00 UTC, the hour after the window ends)", r, e.prov.sends.Load()-sends)
		}
		if n := e.prov.checks.Load(); n != 10 {
			t.Errorf("provider saw %d checks, want 10", n)
		}
		if b1.verified() || b2.verified() || b3.verified() {
			t.Error("gate open for a locked account")
		}
		e.clock.Advance(24 * time.Hour)
		b4 := e.client()
		b4.mustVerify(secPhone) // the lock ends with its window
	})
	t.Run("subject mode: the account is the user, whatever number", func(t *testing.T) {
		e := secNew(t, secSetup{subject: true, opts: []twofactor.Option{twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: 5, Per: 24 * time.Hour} })}})
		other := "+31612345679"
		b1 := e.client()
		b1.user = "alice"
		code := b1.mustSend(secPhone)
		for range 3 {
			b1.check(secWrong(code))
		}
		b2 := e.client()
		b2.user = "alice"
		code = b2.mustSend(other)
		b2.check(secWrong(code))
		b2.check(secWrong(code))
		secWant(t, "alice's right code after 5 wrong ones on two numbers", b2.check(code), http.StatusTooManyRequests, "locked")
		bob := e.client()
		bob.user = "bob"
		bob.mustVerify(secPhone) // another user's count is their own
	})
}

func TestSecurity_ParallelWrongGuessesNeverExceedCap(t *testing.T) {
	const n = 50
	e := secNew(t, secSetup{mockMaxAttempts: 100})
	c := e.client()
	code := c.mustSend(secPhone)
	// Every Check waits at a barrier until each of the 50 requests has
	// either been answered or is inside Check: without a reservation made
	// before the provider call, all 50 would be inside at once.
	e.prov.hold, e.prov.entered = make(chan struct{}), make(chan struct{}, n)
	answered := make(chan secResp, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { answered <- c.check(secWrong(code)) })
	}
	var statuses []int
	inside := 0
	timeout := time.After(15 * time.Second)
	for len(statuses)+inside < n {
		select {
		case r := <-answered:
			statuses = append(statuses, r.status)
		case <-e.prov.entered:
			inside++
		case <-timeout:
			t.Fatalf("stuck: %d answered, %d inside Check", len(statuses), inside)
		}
	}
	close(e.prov.hold)
	wg.Wait()
	close(answered)
	for r := range answered {
		statuses = append(statuses, r.status)
	}
	if got := e.prov.checks.Load(); got > twofactor.DefaultMaxAttempts {
		t.Errorf("provider saw %d checks from %d parallel guesses, want at most %d", got, n, twofactor.DefaultMaxAttempts)
	}
	if got := e.mock.Checks(); got > twofactor.DefaultMaxAttempts {
		t.Errorf("Mock.Checks = %d, want at most %d", got, twofactor.DefaultMaxAttempts)
	}
	for _, s := range statuses {
		if s != http.StatusBadRequest {
			t.Errorf("a parallel wrong guess got %d, want 400", s)
		}
	}
	e.prov.hold = nil
	secWant(t, "right code after the parallel guesses", c.check(code), http.StatusBadRequest, "too_many_attempts")
	if c.verified() {
		t.Error("gate open after parallel wrong guesses")
	}
}

func TestSecurity_ParallelCorrectSubmissionsSucceedOnce(t *testing.T) {
	for _, lenient := range []bool{false, true} {
		name := map[bool]string{false: "mock", true: "provider accepts a code twice"}[lenient]
		t.Run(name, func(t *testing.T) {
			const n = twofactor.DefaultMaxAttempts // all of them reach the provider together
			e := secNew(t, secSetup{})
			e.prov.lenient = lenient
			c := e.client()
			code := c.mustSend(secPhone)
			e.prov.hold, e.prov.entered = make(chan struct{}), make(chan struct{}, n)
			answered := make(chan secResp, n)
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() { answered <- c.check(code) })
			}
			for range n {
				select {
				case <-e.prov.entered:
				case r := <-answered:
					t.Fatalf("a submission was answered before reaching the provider: %v", r)
				case <-time.After(15 * time.Second):
					t.Fatal("submissions did not reach the provider")
				}
			}
			close(e.prov.hold)
			wg.Wait()
			close(answered)
			ok := 0
			for r := range answered {
				switch {
				case r.status == http.StatusOK:
					ok++
				case r.status != http.StatusBadRequest:
					t.Errorf("losing submission: %v, want 400", r)
				}
			}
			if ok != 1 {
				t.Errorf("%d of %d parallel right submissions succeeded, want exactly 1", ok, n)
			}
			if got := len(slices.DeleteFunc(e.eventTypes(), func(t twofactor.EventType) bool { return t != twofactor.EventVerified })); got != 1 {
				t.Errorf("%d verified events, want 1", got)
			}
			e.prov.hold = nil
			if r := c.check(code); r.status == http.StatusOK {
				t.Errorf("the code worked again afterwards: %v", r)
			}
		})
	}
}

func TestSecurity_ResendCooldown429RetryAfter(t *testing.T) {
	e := secNew(t, secSetup{})
	b := e.browser()
	b.mustSend(secPhone)
	r := b.resend()
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "30" {
		t.Errorf("resend at once: %v, want 429 with Retry-After 30", r)
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(r.body, "Please wait 30 seconds before asking for a new one") {
		t.Errorf("429 is not the friendly page: %v", r)
	}
	e.clock.Advance(10 * time.Second)
	b.json = true
	r = b.resend()
	secWant(t, "resend after 10 s", r, http.StatusTooManyRequests, "rate_limited")
	if got := r.header.Get("Retry-After"); got != "20" {
		t.Errorf("Retry-After after 10 s = %q, want 20", got)
	}
	secWant(t, "send again (not resend) within the cooldown", b.send(secPhone), http.StatusTooManyRequests, "rate_limited")
	if got := e.prov.sends.Load(); got != 1 {
		t.Fatalf("provider saw %d sends within the cooldown, want 1", got)
	}
	e.clock.Advance(20 * time.Second)
	secWant(t, "resend after the cooldown", b.resend(), http.StatusOK, "")
	if got := e.prov.sends.Load(); got != 2 {
		t.Errorf("provider saw %d sends, want 2", got)
	}
}

func TestSecurity_PhoneSendWindow(t *testing.T) {
	e := secNew(t, secSetup{}) // default: 5 codes per number per hour
	// The same number written five ways is one number.
	forms := []string{secPhone, "+31 6 1234 5678", "+31-6-12345678", "+31 (6) 12 34 56 78", "0031612345678"}
	for i, f := range forms {
		e.client().mustSend(f) // a new browser each time: no cooldown helps
		if i == 0 {
			e.clock.Advance(time.Minute)
		}
	}
	r := e.client().send("+31 6 12 34 56 78")
	secWant(t, "6th code to one number within the hour", r, http.StatusTooManyRequests, "rate_limited")
	// The refusal tells nobody when the number got its codes: the whole
	// window, not the rest of it.
	if n := secRetryAfter(t, r); n != 3600 {
		t.Errorf("Retry-After %d, want the window's length (3600), not when it ends", n)
	}
	if got := e.prov.sends.Load(); got != 5 {
		t.Errorf("provider saw %d sends, want 5", got)
	}
	if ev := e.lastEvent(); ev.Type != twofactor.EventRateLimited || ev.Phone != secPhone {
		t.Errorf("last event %+v, want rate_limited for %s", ev, secPhone)
	}
	e.client().mustSend("+31612345679") // another number is not affected
	e.clock.Advance(time.Hour)
	e.client().mustSend(secPhone) // the window ends
}

func TestSecurity_IPSendWindow(t *testing.T) {
	e := secNew(t, secSetup{}) // default: 20 codes per client IP per hour
	phone := func(i int) string { return fmt.Sprintf("+316123400%02d", i) }
	for i := range twofactor.DefaultIPSends.N {
		e.client().mustSend(phone(i))
	}
	r := e.client().send(phone(99))
	secWant(t, "21st code from one IP", r, http.StatusTooManyRequests, "rate_limited")
	secRetryAfter(t, r)
	if got := e.prov.sends.Load(); got != int64(twofactor.DefaultIPSends.N) {
		t.Errorf("provider saw %d sends, want %d", got, twofactor.DefaultIPSends.N)
	}
	e.clock.Advance(time.Hour)
	e.client().mustSend(phone(99))
}

func TestSecurity_ForgedXForwardedForIgnored(t *testing.T) {
	limit := twofactor.WithLimits(func(l *twofactor.Limits) { l.IP = twofactor.Limit{N: 3, Per: time.Hour} })
	phone := func(i int) string { return fmt.Sprintf("+316123410%02d", i) }
	sendAs := func(e *secEnv, i int, xff string) secResp {
		c := e.client()
		c.hdr.Set("X-Forwarded-For", xff)
		return c.send(phone(i))
	}
	for _, tc := range []struct {
		name    string
		proxies []string
	}{
		{"no trusted proxies", nil},
		{"peer is not a trusted proxy", []string{"10.0.0.0/8", "::1/128"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := secNew(t, secSetup{opts: []twofactor.Option{limit, twofactor.WithTrustedProxies(tc.proxies...)}})
			for i := range 3 {
				secWant(t, "send", sendAs(e, i, fmt.Sprintf("198.51.100.%d", i)), http.StatusOK, "")
				if ip := e.lastEvent().IP; ip != "127.0.0.1" {
					t.Errorf("event IP %q, want the connection's 127.0.0.1", ip)
				}
			}
			secWant(t, "4th send with yet another forged X-Forwarded-For", sendAs(e, 3, "203.0.113.77"), http.StatusTooManyRequests, "rate_limited")
		})
	}
	t.Run("trusted proxy", func(t *testing.T) {
		e := secNew(t, secSetup{opts: []twofactor.Option{limit, twofactor.WithTrustedProxies("127.0.0.0/8")}})
		for i := range 5 { // five clients behind the proxy: five windows
			secWant(t, "send", sendAs(e, i, fmt.Sprintf("198.51.100.%d", i)), http.StatusOK, "")
			if ip, want := e.lastEvent().IP, fmt.Sprintf("198.51.100.%d", i); ip != want {
				t.Errorf("event IP %q, want %q from the trusted proxy", ip, want)
			}
		}
		// One client forging the left part of the header; the proxy appends
		// the address it saw, and that is what counts.
		for i := range 3 {
			secWant(t, "send", sendAs(e, 10+i, fmt.Sprintf("192.0.2.%d, 203.0.113.9", i)), http.StatusOK, "")
		}
		secWant(t, "4th send of a client that forges X-Forwarded-For", sendAs(e, 13, "192.0.2.200, 203.0.113.9"), http.StatusTooManyRequests, "rate_limited")
		if ip := e.lastEvent().IP; ip != "203.0.113.9" {
			t.Errorf("event IP %q, want 203.0.113.9", ip)
		}
		// An IPv6 client holds a whole /64: its addresses share one window.
		for i := range 3 {
			secWant(t, "send", sendAs(e, 20+i, fmt.Sprintf("2001:db8:1:2::%x", i+1)), http.StatusOK, "")
		}
		secWant(t, "4th send from another address of the same IPv6 /64", sendAs(e, 23, "2001:db8:1:2:ffff::1"), http.StatusTooManyRequests, "rate_limited")
	})
}

func TestSecurity_AllowedRegions(t *testing.T) {
	e := secNew(t, secSetup{opts: []twofactor.Option{twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.Regions = []string{"NL", "be"} })}})
	for _, p := range []string{"+44 7400 123456", "+49 1512 3456789", "+1 202 555 0143"} {
		secWant(t, p, e.client().send(p), http.StatusBadRequest, "region_not_allowed")
	}
	b := e.browser()
	if r := b.send("+44 7400 123456"); r.status != http.StatusBadRequest || !strings.Contains(r.body, "We can&#39;t send codes to numbers in that country") {
		t.Errorf("refused region is not the friendly page: %v", r)
	}
	if got := e.prov.sends.Load(); got != 0 {
		t.Errorf("provider saw %d sends to refused regions", got)
	}
	e.client().mustSend("+31 6 12345678")
	e.client().mustSend("+32 470 12 34 56")
}

func TestSecurity_PremiumRateRefused(t *testing.T) {
	e := secNew(t, secSetup{opts: []twofactor.Option{twofactor.WithVoice()}})
	voice := func(c *secClient, p string) secResp {
		return c.post("/2fa/send", url.Values{"phone": {p}, "channel": {"voice"}})
	}
	for _, tc := range []struct{ name, phone string }{
		{"UK premium rate 09xx", "+44 909 879 0000"},
		{"NL premium rate 0900", "+31 900 1234567"},
		{"NL premium rate 0906", "+31 906 123456"},
		{"US premium rate 1-900", "+1 900 555 0100"},
		{"NL toll free 0800", "+31 800 1234567"},
		{"UK 0871", "+44 871 984 6000"},
		{"NL landline by SMS", "+31 20 123 4567"},
	} {
		secWant(t, tc.name, e.client().send(tc.phone), http.StatusBadRequest, "unsupported_number")
		if !strings.Contains(tc.name, "landline") {
			secWant(t, tc.name+" by voice", voice(e.client(), tc.phone), http.StatusBadRequest, "unsupported_number")
		}
	}
	if r := e.browser().send("+44 909 879 0000"); r.status != http.StatusBadRequest || !strings.Contains(r.body, "We can only send codes to mobile numbers") {
		t.Errorf("premium number is not refused with the friendly page: %v", r)
	}
	if got := e.prov.sends.Load(); got != 0 {
		t.Errorf("provider saw %d sends to premium-rate or non-mobile numbers", got)
	}
	secWant(t, "NL landline by voice", voice(e.client(), "+31 20 123 4567"), http.StatusBadRequest, "unsupported_number")
	e.client().mustSend(secPhone)
}

func TestSecurity_CookieReplayCannotRollBackCounters(t *testing.T) {
	e := secNew(t, secSetup{mockMaxAttempts: 10})
	c := e.client()
	code := c.mustSend(secPhone)
	fresh := c.cookie() // the session as it was before any guess
	c.check(secWrong(code))
	c.check(secWrong(code))
	c.setCookie(fresh)
	secWant(t, "3rd wrong guess with the replayed cookie", c.check(secWrong(code)), http.StatusBadRequest, "too_many_attempts")
	c.setCookie(fresh)
	secWant(t, "right code with the replayed cookie after the cap", c.check(code), http.StatusBadRequest, "too_many_attempts")
	if n := e.prov.checks.Load(); n != 3 {
		t.Errorf("provider saw %d checks, want 3", n)
	}
	// The resend cooldown is not rolled back by the cookie of before either.
	e.clock.Advance(31 * time.Second)
	c.setCookie(fresh)
	secWant(t, "resend", c.resend(), http.StatusOK, "")
	c.setCookie(fresh)
	secWant(t, "resend with the cookie of before the last resend", c.resend(), http.StatusTooManyRequests, "rate_limited")
	if c.verified() {
		t.Error("gate open")
	}
}

// ---------------------------------------------------------------------------
// Session

func TestSecurity_SessionRenewedAfterVerification(t *testing.T) {
	t.Run("cookie store", func(t *testing.T) {
		e := secNew(t, secSetup{})
		c := e.client()
		code := c.mustSend(secPhone)
		before := c.cookie()
		if r := c.check(code); r.status != http.StatusOK {
			t.Fatalf("check: %v", r)
		}
		after := c.cookie()
		if after == "" || after == before {
			t.Fatal("no new session cookie after verification")
		}
		if !c.verified() {
			t.Fatal("gate closed")
		}
		c.setCookie(before)
		if c.verified() {
			t.Error("the session of before verification is verified")
		}
		if r := c.check(code); r.status == http.StatusOK {
			t.Errorf("the code works again with the cookie of before: %v", r)
		}
	})
	t.Run("cookie planted by an attacker", func(t *testing.T) {
		e := secNew(t, secSetup{})
		attacker := e.client()
		attacker.mustSend("+31611111111") // a POST that passes its checks: the one way to a session
		if attacker.cookie() == "" {
			t.Fatal("attacker got no session")
		}
		victim := e.client()
		victim.setCookie(attacker.cookie()) // session fixation
		e.clock.Advance(31 * time.Second)
		victim.mustVerify(secPhone)
		if attacker.verified() {
			t.Error("the attacker's planted session is verified after the victim verified")
		}
	})
}

// secSessionIDs lists the ids of the sessions a FilesystemStore holds.
func secSessionIDs(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "session_*"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range names {
		ids = append(ids, strings.TrimPrefix(filepath.Base(n), "session_"))
	}
	return ids
}

// secMapStore is a server-side sessions.Store that behaves like
// rbcervilla/redisstore: the cookie is the bare session id, and New keeps
// the id of a cookie it has no record for.
type secMapStore struct {
	mu   sync.Mutex
	data map[string]map[any]any
	n    int
}

func (s *secMapStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

func (s *secMapStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	sess.Options = &sessions.Options{Path: "/", MaxAge: 3600}
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	sess.ID = c.Value
	s.mu.Lock()
	defer s.mu.Unlock()
	if vals, ok := s.data[c.Value]; ok {
		for k, v := range vals {
			sess.Values[k] = v
		}
		sess.IsNew = false
	}
	return sess, nil
}

func (s *secMapStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.Options.MaxAge <= 0 {
		delete(s.data, sess.ID)
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	if sess.ID == "" {
		s.n++
		sess.ID = fmt.Sprintf("issued%04d", s.n)
	}
	vals := make(map[any]any, len(sess.Values))
	for k, v := range sess.Values {
		vals[k] = v
	}
	s.data[sess.ID] = vals
	http.SetCookie(w, sessions.NewCookie(sess.Name(), sess.ID, sess.Options))
	return nil
}

func (s *secMapStore) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.data[id]
	return ok
}

func TestSecurity_SessionRenewedServerSide(t *testing.T) {
	hashKey, blockKey := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{9}, 32)
	newFS := func(t *testing.T) (*sessions.FilesystemStore, string) {
		dir := t.TempDir()
		return sessions.NewFilesystemStore(dir, hashKey, blockKey), dir
	}
	idOf := func(t *testing.T, fs *sessions.FilesystemStore, cookie string) string {
		t.Helper()
		var id string
		if err := securecookie.DecodeMulti(secCookie, cookie, &id, fs.Codecs...); err != nil {
			t.Fatalf("session cookie does not decode: %v", err)
		}
		return id
	}

	t.Run("filesystem store: new id, old record deleted", func(t *testing.T) {
		fs, dir := newFS(t)
		e := secNew(t, secSetup{store: fs})
		c := e.client()
		code := c.mustSend(secPhone)
		before := c.cookie()
		oldID := idOf(t, fs, before)
		if ids := secSessionIDs(t, dir); !slices.Equal(ids, []string{oldID}) {
			t.Fatalf("store holds %v, want just %s", ids, oldID)
		}
		if r := c.check(code); r.status != http.StatusOK {
			t.Fatalf("check: %v", r)
		}
		newID := idOf(t, fs, c.cookie())
		if newID == oldID {
			t.Fatal("session id kept across verification")
		}
		if ids := secSessionIDs(t, dir); !slices.Equal(ids, []string{newID}) {
			t.Errorf("store holds %v after verification, want just the new %s", ids, newID)
		}
		if !c.verified() {
			t.Fatal("gate closed")
		}
		c.setCookie(before)
		if c.verified() {
			t.Error("the id of before verification is verified")
		}
	})
	t.Run("filesystem store: an id it never issued is not adopted", func(t *testing.T) {
		fs, dir := newFS(t)
		e := secNew(t, secSetup{store: fs})
		const forged = "NEVERISSUEDBYTHESTORE234567"
		planted, err := securecookie.EncodeMulti(secCookie, forged, fs.Codecs...)
		if err != nil {
			t.Fatal(err)
		}
		c := e.client()
		c.setCookie(planted)
		if r := c.get("/2fa/?next=/account"); r.status != http.StatusOK {
			t.Fatalf("flow page with a never-issued id: %v", r)
		}
		c.mustSend("+31611111111")
		if id := idOf(t, fs, c.cookie()); id == forged {
			t.Fatal("the store saved the flow under the planted id")
		}
		e.clock.Advance(31 * time.Second)
		c.mustVerify(secPhone)
		if slices.Contains(secSessionIDs(t, dir), forged) {
			t.Error("the store holds a record under the planted id")
		}
		c.setCookie(planted)
		if c.verified() {
			t.Error("the planted id is verified")
		}
	})
	t.Run("redis-like store: an id it never issued is not adopted", func(t *testing.T) {
		st := &secMapStore{data: map[string]map[any]any{}}
		e := secNew(t, secSetup{store: st})
		const forged = "attacker-chosen-id"
		victim := e.client()
		victim.setCookie(forged)
		if r := victim.get("/2fa/?next=/account"); r.status != http.StatusOK {
			t.Fatalf("flow page: %v", r)
		}
		victim.mustSend("+31611111111")
		if st.has(forged) || victim.cookie() == forged {
			t.Fatal("the flow's session was saved under the id the attacker chose")
		}
		e.clock.Advance(31 * time.Second)
		victim.mustVerify(secPhone)
		attacker := e.client()
		attacker.setCookie(forged)
		if st.has(forged) || attacker.verified() {
			t.Error("the attacker's chosen id is verified")
		}
	})
	t.Run("redis-like store: an issued id planted by an attacker dies at verification", func(t *testing.T) {
		st := &secMapStore{data: map[string]map[any]any{}}
		e := secNew(t, secSetup{store: st})
		attacker := e.client()
		attacker.mustSend("+31611111111")
		planted := attacker.cookie()
		if !st.has(planted) {
			t.Fatalf("attacker got no session record (cookie %q)", planted)
		}
		victim := e.client()
		victim.setCookie(planted)
		e.clock.Advance(31 * time.Second)
		victim.mustVerify(secPhone)
		if st.has(planted) {
			t.Error("the planted session's record survived verification")
		}
		if victim.cookie() == planted {
			t.Error("the victim still uses the planted id")
		}
		if attacker.verified() {
			t.Error("the attacker's session is verified")
		}
	})
}

func TestSecurity_SubjectBinding(t *testing.T) {
	e := secNew(t, secSetup{subject: true})
	c := e.client()
	c.user = "alice"
	c.mustVerify(secPhone)
	c.user = "bob" // bob logs in in the same browser
	if c.verified() {
		t.Fatal("bob is verified by alice's verification")
	}
	if e.m.Verified(httptest.NewRequest(http.MethodGet, "/", nil)) {
		t.Error("a request without a session is verified")
	}
	// Requesting a code (to any number bob owns) must not turn alice's
	// verified state into bob's.
	c.mustSend("+31687654321")
	if c.verified() {
		t.Error("bob is verified after merely requesting a code")
	}
	// Alice's pending code does not work for bob.
	a := e.client()
	a.user = "alice"
	code := a.mustSend(secPhone)
	a.user = "bob"
	checks := e.prov.checks.Load()
	secWant(t, "bob submits alice's code", a.check(code), http.StatusConflict, "no_pending_code")
	if e.prov.checks.Load() != checks {
		t.Error("bob's submission of alice's code reached the provider")
	}
	if a.verified() {
		t.Error("bob verified with alice's code")
	}
	a.user = "alice"
	secWant(t, "alice's own code", a.check(code), http.StatusOK, "")
	if !a.verified() {
		t.Error("alice not verified with her own code")
	}
	if e.hits.Load() != 2 {
		t.Errorf("gated handler reached %d times, want 2 (alice's)", e.hits.Load())
	}
}

func TestSecurity_MaxAgeReverification(t *testing.T) {
	e := secNew(t, secSetup{}) // default: 12 h, idle 30 min
	c := e.client()
	c.mustVerify(secPhone)
	start := e.clock.Now()
	// Active every 29 minutes, so the idle timeout never strikes.
	for e.clock.Now().Sub(start) < twofactor.DefaultMaxAge-29*time.Minute {
		e.clock.Advance(29 * time.Minute)
		if !c.verified() {
			t.Fatalf("gate closed %v after verification, before the max age", e.clock.Now().Sub(start))
		}
	}
	e.clock.Advance(29 * time.Minute)
	if c.cookie() == "" {
		t.Fatal("the browser dropped the cookie; the test needs it to still be sent")
	}
	if c.verified() {
		t.Errorf("gate open %v after verification, beyond the max age", e.clock.Now().Sub(start))
	}
	t.Run("configured", func(t *testing.T) {
		e := secNew(t, secSetup{opts: []twofactor.Option{twofactor.WithCookie(twofactor.Cookie{MaxAge: time.Hour}), twofactor.WithCookie(twofactor.Cookie{IdleTimeout: 2 * time.Hour})}})
		c := e.client()
		c.mustVerify(secPhone)
		e.clock.Advance(59 * time.Minute)
		if !c.verified() {
			t.Fatal("gate closed before the max age")
		}
		e.clock.Advance(time.Minute)
		if c.verified() {
			t.Error("gate open at the max age")
		}
	})
}

func TestSecurity_IdleTimeout(t *testing.T) {
	e := secNew(t, secSetup{}) // idle timeout 30 min; the cookie's Max-Age is 12 h
	c := e.client()
	c.mustVerify(secPhone)
	for range 3 {
		e.clock.Advance(29 * time.Minute)
		if !c.verified() {
			t.Fatal("gate closed within the idle timeout; activity must extend it")
		}
	}
	saved := c.cookie()
	e.clock.Advance(twofactor.DefaultIdleTimeout + time.Second)
	if c.verified() {
		t.Error("gate open after the idle timeout")
	}
	c.setCookie(saved)
	if c.verified() {
		t.Error("gate open for a replayed cookie after the idle timeout")
	}
	if r := c.get("/2fa/status"); !strings.Contains(r.body, `"verified":false`) {
		t.Errorf("status after the idle timeout: %v", r)
	}
}

func TestSecurity_ResetRevokesReplayedCookie(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) sessions.Store
	}{
		{"cookie store", func(*testing.T) sessions.Store { return nil }},
		{"filesystem store", func(t *testing.T) sessions.Store {
			return sessions.NewFilesystemStore(t.TempDir(), bytes.Repeat([]byte{3}, 32))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := secNew(t, secSetup{store: tc.store(t)})
			c := e.client()
			c.mustVerify(secPhone)
			captured := c.cookie()
			if r := c.post("/logout", nil); r.status != http.StatusSeeOther {
				t.Fatalf("logout: %v", r)
			}
			if c.cookie() != "" {
				t.Error("logout left the session cookie in the browser")
			}
			if c.verified() {
				t.Error("gate open after logout")
			}
			c.setCookie(captured)
			if c.verified() {
				t.Error("gate open for the cookie captured before logout")
			}
			if ts := e.eventTypes(); ts[len(ts)-1] != twofactor.EventReset {
				t.Errorf("events %v, want reset last", ts)
			}
		})
	}
}

// secRaw sends one raw HTTP/1.1 request over TLS, exactly as written, so
// paths a client library would clean or refuse reach the server.
func secRaw(t *testing.T, srv *httptest.Server, method, target, cookie string) secResp {
	t.Helper()
	tr := srv.Client().Transport.(*http.Transport)
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), tr.TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, srv.Listener.Addr())
	if cookie != "" {
		fmt.Fprintf(&b, "Cookie: %s=%s\r\n", secCookie, cookie)
	}
	if method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions {
		b.WriteString("Content-Length: 0\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return secResp{status: res.StatusCode, header: res.Header, body: string(body)}
}

func TestSecurity_GateHoldsOnPathVariants(t *testing.T) {
	e := secNew(t, secSetup{})
	paths := []string{
		"/account", "/account/", "//account", "///account", "/account//", "/%61ccount", "/%61%63%63%6f%75%6e%74",
		"/account%2F", "/account%2f", "/ACCOUNT", "/Account/", "/account/../account", "/./account", "/account/.",
		"/%2e/account", "/account/%2e%2e/account", "/x/../account", "/account/x", "/account/x/../../account",
		"/account?x=1", "/account;x", "/account%00", "/account%20", "/account%09", "/account/%2e", "/account\\",
		"/\\account", "/account/..%2faccount", "/%2faccount", "https://" + e.srv.Listener.Addr().String() + "/account",
	}
	methods := []string{"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE", "PROPFIND", "get"}
	for _, p := range paths {
		for _, m := range methods {
			r := secRaw(t, e.srv, m, p, "")
			if strings.Contains(r.body, secSecret) || e.hits.Load() != 0 {
				t.Fatalf("%s %s reached the gated handler unverified: %v", m, p, r)
			}
			// Follow where the server sends a browser, once.
			if loc := r.location(); loc != "" && !strings.HasPrefix(loc, "/2fa/") && (m == "GET" || m == "HEAD") {
				if r2 := secRaw(t, e.srv, m, loc, ""); strings.Contains(r2.body, secSecret) || e.hits.Load() != 0 {
					t.Fatalf("%s %s → %s reached the gated handler unverified: %v", m, p, loc, r2)
				}
			}
		}
	}
	secRaw(t, e.srv, "OPTIONS", "*", "")
	if e.hits.Load() != 0 {
		t.Fatal("gated handler reached")
	}
	// Control: the same variants do reach the handler once verified, so the
	// refusals above came from the gate, not from a 404.
	c := e.client()
	c.mustVerify(secPhone)
	for _, p := range []string{"/%61ccount", "/account/x", "/account?x=1", "/account/"} {
		before := e.hits.Load()
		if r := secRaw(t, e.srv, "GET", p, c.cookie()); r.status != http.StatusOK || e.hits.Load() != before+1 {
			t.Errorf("verified GET %s did not reach the handler: %v", p, r)
		}
	}
}

// ---------------------------------------------------------------------------
// Input and output

func TestSecurity_CodeAndIDValidatedBeforeProvider(t *testing.T) {
	e := secNew(t, secSetup{})
	c := e.client()
	code := c.mustSend(secPhone)
	for _, bad := range []string{
		"123456&token=1", "../x", "%2F", "%2F%2E%2E", "12345678901", "1234567", "12345", "", "abcdef",
		"١٢٣٤٥٦", "１２３４５６", "12345\x00", "123456\n", "+12345", "12 34 5", "12345/", "123456?", "123456#",
		code + "&token=" + code, code + "0", "0x1234", "1e5678", " ", "-----",
	} {
		r := c.check(bad)
		if r.status < 400 || r.status > 499 {
			t.Errorf("code %q: %v, want 4xx", bad, r)
		}
	}
	// JSON bodies with the wrong types never reach the provider either.
	for _, body := range []string{`{"code":123456}`, `{"code":["123456"]}`, `{"code":{"a":1}}`, `{"code":null,"code":"../x"}`} {
		if r := c.do(http.MethodPost, "/2fa/check", strings.NewReader(body), "application/json"); r.status < 400 || r.status > 499 {
			t.Errorf("body %s: %v, want 4xx", body, r)
		}
	}
	if n := e.prov.checks.Load(); n != 0 {
		t.Errorf("provider saw %d calls for malformed codes", n)
	}
	if n := e.mock.Checks(); n != 0 {
		t.Errorf("Mock.Checks = %d", n)
	}
	// Malformed input costs no attempt: the right code still works.
	secWant(t, "right code, typed with spaces", c.check(code[:3]+" "+code[3:]), http.StatusOK, "")

	t.Run("verification id", func(t *testing.T) {
		e := secNew(t, secSetup{})
		c := e.client()
		for i, id := range []string{"abc/../def", "abc?token=1", "abc&token=123456", "../verify", "a%2Fb", "ab cd", strings.Repeat("a", 129)} {
			e.prov.badID = id
			code := c.mustSend(fmt.Sprintf("+316123420%02d", i))
			e.clock.Advance(31 * time.Second)
			r := c.check(code)
			if r.status < 400 || r.status > 499 {
				t.Errorf("id %q: %v, want 4xx", id, r)
			}
		}
		if n := e.prov.checks.Load(); n != 0 {
			t.Errorf("provider saw %d checks of malformed ids", n)
		}
	})
}

func TestSecurity_ReturnToLocalOnly(t *testing.T) {
	e := secNew(t, secSetup{})
	bad := []string{
		"//evil.example", "//evil.example/account", "/\\evil.example", "\\\\evil.example", "\\/evil.example",
		"https://evil.example", "http:evil.example", "https:/evil.example", "HTTPS://evil.example", "javascript:alert(1)",
		"JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", "evil.example", "account",
		"%2F%2Fevil.example", "/%2F/evil.example", "/%2Fevil.example", "/%5Cevil.example", "/%5cevil.example",
		"/%252F%252Fevil.example", "/%25252F%25252Fevil.example", "/%2525252F%2525252Fevil.example", "/%255Cevil.example",
		"/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "\t//evil.example", "/%09/evil.example",
		"/%0a/evil.example", "/%0d/evil.example", "/%00/evil.example", " //evil.example", "/ /evil.example\x7f",
		"///evil.example", "/\\/evil.example", "/.\\evil.example", "/%2e%2e%5c%5cevil.example", "/\xff/evil.example",
		"/%ff/evil.example", "/%zz", "", "/" + strings.Repeat("a", 3000),
	}
	for _, next := range bad {
		r := e.client().get("/2fa/?" + url.Values{"next": {next}}.Encode())
		secWant(t, fmt.Sprintf("next=%q", next), r, http.StatusBadRequest, "invalid_return")
	}
	// A refused target never becomes the redirect after verification.
	c := e.client()
	c.get("/2fa/?" + url.Values{"next": {"//evil.example"}}.Encode())
	code := c.mustSend(secPhone)
	c.json = false
	if r := c.check(code); r.status != http.StatusSeeOther || r.location() != "/" {
		t.Errorf("redirect after verification with a refused next: %v, want /", r)
	}

	// A local path is accepted, kept and used; the gate sends visitors into
	// the flow with it.
	b := e.browser()
	r := b.get("/account?x=1")
	if r.status != http.StatusSeeOther || r.location() != "/2fa/?next="+url.QueryEscape("/account?x=1") {
		t.Fatalf("gate redirect: %v", r)
	}
	if r := b.get(r.location()); r.status != http.StatusOK {
		t.Fatalf("flow page with next=/account?x=1: %v", r)
	}
	code = b.mustSend(secPhone)
	if r := b.check(code); r.status != http.StatusSeeOther || r.location() != "/account?x=1" {
		t.Errorf("redirect after verification: %v, want /account?x=1", r)
	}
}

func TestSecurity_BadInputIs4xx(t *testing.T) {
	e := secNew(t, secSetup{})
	big := strings.Repeat("a", twofactor.DefaultMaxBody+1)
	type req struct {
		name, method, path, ct, body, cookie string // cookie "chunked": no cookie, body of unknown length
		status                               int    // 0: any 4xx; -1: anything but a 5xx
	}
	valid := e.client()
	valid.mustSend(secPhone)
	tampered := []byte(valid.cookie())
	tampered[len(tampered)/2] ^= 1
	cases := []req{
		{"oversized form", "POST", "/2fa/send", "application/x-www-form-urlencoded", "phone=" + big, "", http.StatusRequestEntityTooLarge},
		{"oversized JSON", "POST", "/2fa/check", "application/json", `{"code":"` + big + `"}`, "", http.StatusRequestEntityTooLarge},
		{"JSON with a big tail", "POST", "/2fa/send", "application/json", `{"phone":"+31612345678"}` + strings.Repeat(" ", twofactor.DefaultMaxBody), "", http.StatusRequestEntityTooLarge},
		{"JSON with trailing data", "POST", "/2fa/send", "application/json", `{"phone":"+31612345678"}{"phone":"+31612345679"}`, "", http.StatusBadRequest},
		{"oversized untyped", "POST", "/2fa/restart", "", big, "", 0},
		{"oversized form, chunked", "POST", "/2fa/send", "application/x-www-form-urlencoded", "phone=" + big, "chunked", http.StatusRequestEntityTooLarge},
		{"oversized JSON, chunked", "POST", "/2fa/send", "application/json", `{"phone":"+31612345678"}` + strings.Repeat(" ", twofactor.DefaultMaxBody), "chunked", http.StatusRequestEntityTooLarge},
		{"oversized multipart", "POST", "/2fa/send", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"phone\"\r\n\r\n" + big + "\r\n--x--\r\n", "", 0},
		{"malformed JSON", "POST", "/2fa/check", "application/json", `{"code":`, "", http.StatusBadRequest},
		{"JSON array", "POST", "/2fa/check", "application/json", `["123456"]`, "", http.StatusBadRequest},
		{"JSON wrong type", "POST", "/2fa/send", "application/json", `{"phone":31612345678}`, "", http.StatusBadRequest},
		{"bad form encoding", "POST", "/2fa/send", "application/x-www-form-urlencoded", "phone=%zz", "", http.StatusBadRequest},
		{"non-UTF-8 phone", "POST", "/2fa/send", "application/x-www-form-urlencoded", "phone=%2B316%FF2345678", "", http.StatusBadRequest},
		{"non-UTF-8 code", "POST", "/2fa/check", "application/x-www-form-urlencoded", "code=%C0%AF%FF", "", http.StatusBadRequest},
		{"non-UTF-8 channel", "POST", "/2fa/send", "application/x-www-form-urlencoded", "phone=%2B31612345678&channel=%FE", "", http.StatusBadRequest},
		{"non-UTF-8 raw bytes", "POST", "/2fa/send", "application/x-www-form-urlencoded", "phone=\xff\xfe", "", 0},
		{"unknown channel", "POST", "/2fa/send", "application/x-www-form-urlencoded", "phone=%2B31612345678&channel=fax", "", http.StatusBadRequest},
		{"unsupported content type", "POST", "/2fa/send", "text/plain", "phone=+31612345678", "", http.StatusUnsupportedMediaType},
		{"garbage content type", "POST", "/2fa/send", "application/json; ;;=", "{}", "", 0},
		{"multipart without boundary", "POST", "/2fa/send", "multipart/form-data", "x", "", 0},
		{"GET on a POST endpoint", "GET", "/2fa/send", "", "", "", http.StatusMethodNotAllowed},
		{"PUT on the page", "PUT", "/2fa/", "", "", "", http.StatusMethodNotAllowed},
		{"DELETE on check", "DELETE", "/2fa/check", "", "", "", http.StatusMethodNotAllowed},
		{"PATCH on status", "PATCH", "/2fa/status", "", "", "", http.StatusMethodNotAllowed},
		{"unknown flow path", "GET", "/2fa/admin", "", "", "", http.StatusNotFound},
		{"garbage cookie, check", "POST", "/2fa/check", "application/x-www-form-urlencoded", "code=123456", "!!!garbage%%%;;", http.StatusConflict},
		{"tampered cookie, check", "POST", "/2fa/check", "application/x-www-form-urlencoded", "code=123456", string(tampered), http.StatusConflict},
		{"huge cookie, check", "POST", "/2fa/check", "application/x-www-form-urlencoded", "code=123456", strings.Repeat("A", 6000), http.StatusConflict},
		{"tampered cookie, resend", "POST", "/2fa/resend", "", "", string(tampered), http.StatusConflict},
		{"undecodable query", "GET", "/2fa/?next=%zz", "", "", "", -1},
	}
	for _, tc := range cases {
		for _, asJSON := range []bool{false, true} {
			c := e.client()
			c.json = asJSON
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			switch tc.cookie {
			case "":
			case "chunked": // no Content-Length: the limit must hold while reading
				body = io.MultiReader(body)
			default:
				c.hdr.Set("Cookie", secCookie+"="+tc.cookie)
			}
			r := c.do(tc.method, tc.path, body, tc.ct)
			if tc.status == -1 && r.status < 500 {
				continue
			}
			if tc.status != 0 && r.status != tc.status || r.status < 400 || r.status > 499 {
				t.Errorf("%s (json %v): %v, want %d (a 4xx)", tc.name, asJSON, r, tc.status)
			}
		}
	}
	// Garbage and tampered cookies on pages and the gate: a fresh start, never a 5xx.
	for _, ck := range []string{"!!!garbage%%%", string(tampered), "", strings.Repeat("A", 6000), "MTIzNDU2Nzg5MA=="} {
		for _, p := range []string{"/2fa/", "/2fa/status", "/account"} {
			r := secRaw(t, e.srv, "GET", p, ck)
			if r.status >= 500 || strings.Contains(r.body, secSecret) {
				t.Errorf("GET %s with cookie %.20q: %v", p, ck, r)
			}
		}
	}
	if n := e.prov.sends.Load(); n != 1 {
		t.Errorf("provider saw %d sends, want only the valid one", n)
	}
	if strings.Contains(e.logs.String(), "level=ERROR") {
		t.Errorf("bad input logged as an error:\n%s", e.logs)
	}
}

// secFakeMB is MessageBird's Verify API as an http.RoundTripper. It knows
// the access key, and its error descriptions carry the number and the key,
// as real provider text may: none of it may reach pages or logs.
type secFakeMB struct {
	mu      sync.Mutex
	code    string
	id      string
	down    bool // answer HTTP 500
	bad     bool // answer an HTML error page with the key in it
	nextErr string
	now     func() time.Time
}

func (f *secFakeMB) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(status int, body string) (*http.Response, error) {
		return &http.Response{
			StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: req,
		}, nil
	}
	leak := fmt.Sprintf("recipient 31612345678 (+31612345678), access key %s, token %s", secAPIKey, f.code)
	errBody := func(code int, desc, param string) string {
		b, _ := json.Marshal(map[string]any{"errors": []map[string]any{{"code": code, "description": desc + " " + leak, "parameter": param}}})
		return string(b)
	}
	switch {
	case req.Header.Get("Authorization") != "AccessKey "+secAPIKey:
		return reply(http.StatusUnauthorized, errBody(2, "Request not allowed (incorrect access_key)", "access_key"))
	case f.down:
		return reply(http.StatusInternalServerError, "internal error "+leak)
	case f.bad:
		return reply(http.StatusBadGateway, "<html>502 "+leak+"</html>")
	case req.Method == http.MethodPost && req.URL.Path == "/verify":
		if f.nextErr != "" {
			e := f.nextErr
			f.nextErr = ""
			return reply(http.StatusUnprocessableEntity, errBody(9, e, "recipient"))
		}
		return reply(http.StatusOK, `{"id":"`+f.id+`","recipient":31612345678,"status":"sent","validUntilDatetime":"`+f.now().Add(5*time.Minute).Format(time.RFC3339)+`"}`)
	case req.Method == http.MethodGet && req.URL.Path == "/verify/"+f.id:
		if req.URL.Query().Get("token") == f.code {
			return reply(http.StatusOK, `{"id":"`+f.id+`","recipient":31612345678,"status":"verified"}`)
		}
		return reply(http.StatusUnprocessableEntity, errBody(10, "The token is invalid.", "token"))
	}
	return reply(http.StatusNotFound, errBody(20, "not found", ""))
}

func TestSecurity_NoSecretsInLogsOrPages(t *testing.T) {
	fake := &secFakeMB{code: "731946", id: "9f0e1d2c3b4a59687766554433221100"}
	mb, err := messagebird.NewWithClient(&sdk.DefaultClient{
		AccessKey:  secAPIKey,
		HTTPClient: &http.Client{Transport: fake},
		DebugLog:   nil,
	}, messagebird.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e := secNew(t, secSetup{
		provider: func(*secProvider) twofactor.Provider { return mb },
		logger: func(b *testkit.Buffer) *slog.Logger {
			// No timestamps: their digits could look like a code by chance.
			return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}))
		},
	})
	fake.now = e.clock.Now
	e.record = true
	wrong := "104729"
	set := func(f func()) {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		f()
	}
	for _, asJSON := range []bool{false, true} {
		e.clock.Advance(time.Hour)
		c := e.client()
		c.json = asJSON
		c.get("/account")
		c.get("/2fa/?next=/account")
		c.send("not a number")
		c.send("+44 909 879 0000")
		set(func() { fake.nextErr = "no (correct) recipients found" })
		c.send(secPhone) // the provider refuses the number
		e.clock.Advance(31 * time.Second)
		set(func() { fake.bad = true })
		c.send(secPhone) // the provider answers garbage
		set(func() { fake.bad = false })
		e.clock.Advance(31 * time.Second)
		c.send(secPhone)
		c.get("/2fa/")
		c.get("/2fa/status")
		c.resend() // cooldown
		c.check(wrong)
		c.check("12345x")
		c.check(wrong + "&token=" + fake.code)
		set(func() { fake.down = true })
		c.check(wrong) // the provider is down
		set(func() { fake.down = false })
		c.check(fake.code)
		c.get("/account")
		c.get("/2fa/status")
		c.post("/logout", nil)
		c.send(secPhone)
		c.send(secPhone) // cooldown
		e.clock.Advance(31 * time.Second)
		c.send(secPhone)
		e.clock.Advance(31 * time.Second)
		c.send(secPhone) // the number's window
	}
	if e.hits.Load() != 2 {
		t.Fatalf("the flow did not verify twice (hits %d); the test did not exercise it", e.hits.Load())
	}
	logs := e.logs.String()
	e.mu.Lock()
	pages := strings.Join(e.pages, "\n")
	e.mu.Unlock()
	// Two things on the pages are not leaks and are taken out first: the
	// number a visitor typed, kept in its own input after an error (issue
	// 13), and the country list's calling codes (+502 is Guatemala's).
	pages = regexp.MustCompile(`value="[^"]*"`).ReplaceAllString(pages, "")
	pages = regexp.MustCompile(`(?s)<select.*?</select>`).ReplaceAllString(pages, "")
	for what, text := range map[string]string{"logs": logs, "pages": pages} {
		for _, secret := range []string{fake.code, wrong, secPhone, "31612345678", "612345678", secAPIKey, "AccessKey", "access key", "recipients found", "token is invalid", "internal error", "<html>502"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contain %q", what, secret)
			}
		}
		if !strings.Contains(text, secPhoneMasked) {
			t.Errorf("%s lack the masked number %q", what, secPhoneMasked)
		}
	}
	if strings.Contains(pages, fake.id) {
		t.Error("pages contain the verification id")
	}
	for _, want := range []string{"level=ERROR", "rate-limited", "code sent", "verified"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
	if testing.Verbose() {
		t.Logf("logs:\n%s", logs)
	}
}

func TestSecurity_EventsEmitted(t *testing.T) {
	e := secNew(t, secSetup{subject: true, opts: []twofactor.Option{twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: 2, Per: time.Hour} })}})
	c := e.client()
	c.user = "alice"
	want := func(typ twofactor.EventType, errIs error) {
		t.Helper()
		ev := e.lastEvent()
		if ev.Type != typ || ev.Subject != "alice" || ev.Phone != secPhone || ev.IP != "127.0.0.1" || !ev.Time.Equal(e.clock.Now()) {
			t.Errorf("last event %+v, want %s for alice, %s, 127.0.0.1 at %v", ev, typ, secPhone, e.clock.Now())
		}
		if errIs != nil && !errors.Is(ev.Err, errIs) {
			t.Errorf("event %s: Err %v, want %v", typ, ev.Err, errIs)
		}
	}
	code := c.mustSend(secPhone)
	want(twofactor.EventCodeSent, nil)
	c.resend()
	want(twofactor.EventRateLimited, nil)
	c.check(secWrong(code))
	want(twofactor.EventCheckFailed, twofactor.ErrInvalidCode)
	c.check(code)
	want(twofactor.EventVerified, nil)
	c.post("/logout", nil)
	want(twofactor.EventReset, nil)
	e.clock.Advance(time.Minute)
	code = c.mustSend(secPhone)
	c.check(secWrong(code))
	c.check(secWrong(code))
	c.check(code)
	want(twofactor.EventLocked, nil)
	got := e.eventTypes()
	for _, typ := range []twofactor.EventType{twofactor.EventCodeSent, twofactor.EventVerified, twofactor.EventCheckFailed, twofactor.EventLocked, twofactor.EventRateLimited, twofactor.EventReset} {
		if !slices.Contains(got, typ) {
			t.Errorf("no %s event in %v", typ, got)
		}
	}
	t.Run("over the per-code cap", func(t *testing.T) {
		e := secNew(t, secSetup{mockMaxAttempts: 10})
		c := e.client()
		code := c.mustSend(secPhone)
		for range twofactor.DefaultMaxAttempts + 1 {
			c.check(secWrong(code))
		}
		if ev := e.lastEvent(); ev.Type != twofactor.EventCheckFailed || !errors.Is(ev.Err, twofactor.ErrTooManyAttempts) {
			t.Errorf("guess over the per-code cap: last event %+v, want check_failed with ErrTooManyAttempts", ev)
		}
	})
}

// secDeadline is a provider that records the deadline of every call and
// answers when the call's context is done, or at once with err.
type secDeadline struct {
	mock      *twofactor.Mock
	block     bool
	mu        sync.Mutex
	deadlines []time.Duration // time left at the start of each call; -1 for none
}

func (p *secDeadline) wait(ctx context.Context) error {
	p.mu.Lock()
	if d, ok := ctx.Deadline(); ok {
		p.deadlines = append(p.deadlines, time.Until(d))
	} else {
		p.deadlines = append(p.deadlines, -1)
	}
	p.mu.Unlock()
	if !p.block {
		return nil
	}
	<-ctx.Done()
	return fmt.Errorf("%w: %w (upstream said: HTTP 504 from 10.1.2.3)", twofactor.ErrUnavailable, ctx.Err())
}

func (p *secDeadline) Send(ctx context.Context, req twofactor.Request) (twofactor.Verification, error) {
	if err := p.wait(ctx); err != nil {
		return twofactor.Verification{}, err
	}
	return p.mock.Send(ctx, req)
}

func (p *secDeadline) Check(ctx context.Context, id, code string) error {
	if err := p.wait(ctx); err != nil {
		return err
	}
	return p.mock.Check(ctx, id, code)
}

func TestSecurity_ProviderDownFailsClosed(t *testing.T) {
	friendly := "We couldn&#39;t reach our messaging service"
	t.Run("5xx", func(t *testing.T) {
		e := secNew(t, secSetup{})
		var down atomic.Bool
		e.mock.Fail = func(op string) error {
			if down.Load() {
				return fmt.Errorf("%w: HTTP 503 from upstream, key %s", twofactor.ErrUnavailable, secAPIKey)
			}
			return nil
		}
		down.Store(true)
		b := e.browser()
		r := b.send(secPhone)
		if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, friendly) || strings.Contains(r.body, secAPIKey) || strings.Contains(r.body, "upstream") {
			t.Errorf("send while the provider is down: %v, want the friendly 503 page", r)
		}
		if b.verified() {
			t.Error("gate open while the provider is down")
		}
		down.Store(false)
		code := b.mustSend(secPhone)
		down.Store(true)
		r = b.check(code)
		if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "We couldn&#39;t check your code just now") {
			t.Errorf("check while the provider is down: %v", r)
		}
		b.json = true
		secWant(t, "check while the provider is down, JSON", b.check(code), http.StatusServiceUnavailable, "provider_unavailable")
		if b.verified() {
			t.Error("gate open after a failed check")
		}
		if !strings.Contains(e.logs.String(), "level=ERROR") {
			t.Error("provider failure not logged as an error")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		const timeout = 50 * time.Millisecond
		p := &secDeadline{mock: &twofactor.Mock{}, block: true}
		e := secNew(t, secSetup{provider: func(*secProvider) twofactor.Provider { return p }, opts: []twofactor.Option{twofactor.WithProviderTimeout(timeout)}})
		b := e.browser()
		b.hc.Timeout = 20 * time.Second // a provider call without a deadline fails here, not hangs
		start := time.Now()
		r := b.send(secPhone)
		if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, friendly) || strings.Contains(r.body, "10.1.2.3") {
			t.Errorf("send to a provider that hangs: %v, want the friendly 503 page", r)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("send took %v with a %v provider timeout", d, timeout)
		}
		if b.verified() {
			t.Error("gate open")
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.deadlines) != 1 || p.deadlines[0] < 0 || p.deadlines[0] > timeout {
			t.Errorf("provider call deadlines %v, want one of at most %v", p.deadlines, timeout)
		}
	})
	t.Run("default deadline", func(t *testing.T) {
		p := &secDeadline{mock: &twofactor.Mock{}}
		var code string
		p.mock.OnCode = func(_ twofactor.Verification, c string) { code = c }
		e := secNew(t, secSetup{provider: func(*secProvider) twofactor.Provider { return p }})
		c := e.client()
		c.send(secPhone)
		c.check(code)
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.deadlines) != 2 {
			t.Fatalf("%d provider calls, want 2", len(p.deadlines))
		}
		for _, d := range p.deadlines {
			if d <= twofactor.DefaultProviderTimeout-5*time.Second || d > twofactor.DefaultProviderTimeout {
				t.Errorf("provider call had %v left, want the default %v", d, twofactor.DefaultProviderTimeout)
			}
		}
	})
}

// secFlakyState is a State backend that can go down.
type secFlakyState struct {
	twofactor.State
	down atomic.Bool
}

var errSecDown = errors.New("dial tcp 10.0.0.5:6379: connect: connection refused")

func (s *secFlakyState) Incr(ctx context.Context, key string, delta int64, window time.Duration) (int64, time.Duration, error) {
	if s.down.Load() {
		return 0, 0, errSecDown
	}
	return s.State.Incr(ctx, key, delta, window)
}

func (s *secFlakyState) SetNX(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if s.down.Load() {
		return false, errSecDown
	}
	return s.State.SetNX(ctx, key, ttl)
}

func (s *secFlakyState) Touch(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if s.down.Load() {
		return false, errSecDown
	}
	return s.State.Touch(ctx, key, ttl)
}

func (s *secFlakyState) Delete(ctx context.Context, key string) error {
	if s.down.Load() {
		return errSecDown
	}
	return s.State.Delete(ctx, key)
}

func (s *secFlakyState) Exists(ctx context.Context, key string) (bool, error) {
	if s.down.Load() {
		return false, errSecDown
	}
	return s.State.Exists(ctx, key)
}

func (s *secFlakyState) SetField(ctx context.Context, key, field, value string, ttl time.Duration) error {
	if s.down.Load() {
		return errSecDown
	}
	return s.State.SetField(ctx, key, field, value, ttl)
}

func (s *secFlakyState) Fields(ctx context.Context, key string) (map[string]string, error) {
	if s.down.Load() {
		return nil, errSecDown
	}
	return s.State.Fields(ctx, key)
}

func (s *secFlakyState) Generation(ctx context.Context, key, gen string, ttl time.Duration) (string, error) {
	if s.down.Load() {
		return "", errSecDown
	}
	return s.State.Generation(ctx, key, gen, ttl)
}

func (s *secFlakyState) NewGeneration(ctx context.Context, key, gen, keep string, ttl time.Duration) error {
	if s.down.Load() {
		return errSecDown
	}
	return s.State.NewGeneration(ctx, key, gen, keep, ttl)
}

func (s *secFlakyState) AddGrant(ctx context.Context, key, grant, gen, device string, now, idle, end time.Time, max int, ttl time.Duration) (bool, error) {
	if s.down.Load() {
		return false, errSecDown
	}
	return s.State.AddGrant(ctx, key, grant, gen, device, now, idle, end, max, ttl)
}

func (s *secFlakyState) CheckGrant(ctx context.Context, key, grant string, now, idle time.Time) (bool, error) {
	if s.down.Load() {
		return false, errSecDown
	}
	return s.State.CheckGrant(ctx, key, grant, now, idle)
}

func (s *secFlakyState) DeleteField(ctx context.Context, key, field string) (bool, error) {
	if s.down.Load() {
		return false, errSecDown
	}
	return s.State.DeleteField(ctx, key, field)
}

// secFlakySessions is a session store that can go down.
type secFlakySessions struct {
	*sessions.CookieStore
	down atomic.Bool
}

func (s *secFlakySessions) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

func (s *secFlakySessions) New(r *http.Request, name string) (*sessions.Session, error) {
	if s.down.Load() {
		return sessions.NewSession(s, name), errSecDown
	}
	return s.CookieStore.New(r, name)
}

func (s *secFlakySessions) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if s.down.Load() {
		return errSecDown
	}
	return s.CookieStore.Save(r, w, sess)
}

func TestSecurity_StoreDownFailsClosed(t *testing.T) {
	friendly := "We can&#39;t check your session right now"
	probe := func(t *testing.T, e *secEnv, c *secClient, code string) {
		t.Helper()
		b := *c
		b.json = false
		r := b.gate()
		if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, friendly) || strings.Contains(r.body, "10.0.0.5") {
			t.Errorf("gate with the store down: %v, want the friendly 503 page", r)
		}
		secWant(t, "gate, JSON", c.get("/account"), http.StatusServiceUnavailable, "store_unavailable")
		secWant(t, "status", c.get("/2fa/status"), http.StatusServiceUnavailable, "store_unavailable")
		secWant(t, "page", c.get("/2fa/"), http.StatusServiceUnavailable, "store_unavailable")
		secWant(t, "check", c.check(code), http.StatusServiceUnavailable, "store_unavailable")
		secWant(t, "resend", c.resend(), http.StatusServiceUnavailable, "store_unavailable")
		secWant(t, "send", e.client().send("+31612345670"), http.StatusServiceUnavailable, "store_unavailable")
		if e.m.Verified(httptest.NewRequest(http.MethodGet, "/", nil)) {
			t.Error("Manager.Verified true with the store down")
		}
		if r := c.post("/logout", nil); r.status != http.StatusServiceUnavailable {
			t.Errorf("logout with the store down: %v", r)
		}
		if e.hits.Load() != 1 {
			t.Errorf("gated handler reached %d times, want once (before the outage)", e.hits.Load())
		}
	}
	t.Run("state backend", func(t *testing.T) {
		var fs *secFlakyState
		e := secNew(t, secSetup{state: func(m *twofactor.MemoryState) twofactor.State { fs = &secFlakyState{State: m}; return fs }})
		c := e.client()
		c.mustVerify(secPhone)
		e.clock.Advance(time.Minute)
		code := c.mustSend(secPhone) // a verified session steps up with its own number
		fs.down.Store(true)
		probe(t, e, c, code)
		if !strings.Contains(e.logs.String(), "level=ERROR") {
			t.Error("store failure not logged as an error")
		}
		fs.down.Store(false)
		if !c.verified() {
			t.Error("gate stays closed after the state backend is back")
		}
	})
	t.Run("session store", func(t *testing.T) {
		ss := &secFlakySessions{CookieStore: sessions.NewCookieStore(bytes.Repeat([]byte{5}, 32))}
		e := secNew(t, secSetup{store: ss})
		c := e.client()
		c.mustVerify(secPhone)
		e.clock.Advance(time.Minute)
		code := c.mustSend("+31612345679")
		ss.down.Store(true)
		probe(t, e, c, code)
		ss.down.Store(false)
		if !c.verified() {
			t.Error("gate stays closed after the session store is back")
		}
	})
}

func TestSecurity_CrossOriginPOSTRefused(t *testing.T) {
	e := secNew(t, secSetup{opts: []twofactor.Option{twofactor.WithTrustedOrigins("https://app.example.com")}})
	victim := e.client()
	code := victim.mustSend(secPhone)
	sends, checks := e.prov.sends.Load(), e.prov.checks.Load()
	for _, hdr := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Origin": "https://evil.example"},
		{"Origin": "null"},
		{"Origin": "https://app.example.com.evil.example"},
		{"Sec-Fetch-Site": "cross-site", "Origin": e.srv.URL + ".evil.example"},
	} {
		for _, path := range []string{"/2fa/send", "/2fa/resend", "/2fa/check", "/2fa/restart"} {
			c := *victim // the victim's cookies, sent by a form on another site
			c.hdr = http.Header{}
			for k, v := range hdr {
				c.hdr.Set(k, v)
			}
			r := c.post(path, url.Values{"phone": {"+31612345679"}, "code": {code}})
			secWant(t, fmt.Sprintf("POST %s with %v", path, hdr), r, http.StatusForbidden, "cross_origin")
		}
	}
	if e.prov.sends.Load() != sends || e.prov.checks.Load() != checks {
		t.Error("a cross-origin POST reached the provider")
	}
	if victim.verified() {
		t.Error("cross-origin check verified the victim")
	}
	// Same-origin and trusted-origin POSTs pass.
	same := *victim
	same.hdr = http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {e.srv.URL}}
	secWant(t, "same-origin check", same.check(code), http.StatusOK, "")
	trusted := e.client()
	trusted.hdr.Set("Origin", "https://app.example.com")
	trusted.hdr.Set("Sec-Fetch-Site", "cross-site")
	secWant(t, "send from a trusted origin", trusted.send("+31612345679"), http.StatusOK, "")
}

func TestSecurity_CookieAttributes(t *testing.T) {
	setCookie := func(t *testing.T, r secResp) *http.Cookie {
		t.Helper()
		for _, ck := range (&http.Response{Header: r.header}).Cookies() {
			if ck.Name == secCookie || ck.Name == twofactor.DefaultSessionName {
				return ck
			}
		}
		t.Fatalf("no session cookie set: %v", r)
		return nil
	}
	check := func(t *testing.T, what string, ck *http.Cookie, secure bool, ss http.SameSite, maxAge time.Duration) {
		t.Helper()
		if !ck.HttpOnly || ck.Secure != secure || ck.SameSite != ss || ck.Path != "/" || ck.MaxAge <= 0 || time.Duration(ck.MaxAge)*time.Second > maxAge {
			t.Errorf("%s: cookie %q, want HttpOnly, Secure=%v, SameSite %v, Path=/, 0 < Max-Age <= %v", what, ck.String(), secure, ss, maxAge)
		}
	}
	t.Run("defaults", func(t *testing.T) {
		e := secNew(t, secSetup{})
		c := e.client()
		// Looking at a page writes no session; until verified, the session
		// lives an hour at most.
		r := c.get("/2fa/?next=/account")
		for _, v := range r.header.Values("Set-Cookie") {
			if strings.HasPrefix(v, secCookie+"=") {
				t.Errorf("a page view set a session cookie: %s", v)
			}
		}
		check(t, "after send", setCookie(t, c.send(secPhone)), true, http.SameSiteLaxMode, time.Hour)
		check(t, "after verification", setCookie(t, c.check(e.code(secPhone))), true, http.SameSiteLaxMode, twofactor.DefaultMaxAge)
		gone := setCookie(t, c.post("/logout", nil))
		if gone.MaxAge >= 0 {
			t.Errorf("logout cookie %q, want deleted", gone.String())
		}
	})
	t.Run("strict, shorter, local development", func(t *testing.T) {
		e := secNew(t, secSetup{opts: []twofactor.Option{twofactor.WithCookie(twofactor.Cookie{SameSite: http.SameSiteStrictMode}), twofactor.WithCookie(twofactor.Cookie{MaxAge: time.Hour}), twofactor.WithCookie(twofactor.Cookie{Insecure: true})}})
		check(t, "after send", setCookie(t, e.client().send(secPhone)), false, http.SameSiteStrictMode, time.Hour)
	})
	t.Run("unsafe settings refused", func(t *testing.T) {
		for name, opt := range map[string]twofactor.Option{
			"SameSite=None":    twofactor.WithCookie(twofactor.Cookie{SameSite: http.SameSiteNoneMode}),
			"SameSite default": twofactor.WithCookie(twofactor.Cookie{SameSite: http.SameSiteDefaultMode}),
			"max age 1 year":   twofactor.WithCookie(twofactor.Cookie{MaxAge: 365 * 24 * time.Hour}),
			"max age a second": twofactor.WithCookie(twofactor.Cookie{MaxAge: time.Second}),
		} {
			if _, err := twofactor.New(&twofactor.Mock{}, nil, opt); err == nil {
				t.Errorf("%s accepted", name)
			}
		}
	})
}

// testSecret is the server secret (WithSecret) of tests whose State is not
// a plain MemoryState.
var testSecret = []byte("twofactor tests: a secret of 32+ bytes, not a real one")
