package twofactor_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-twofactor/twofactor/internal/testkit"

	"github.com/gorilla/sessions"

	"github.com/go-twofactor/twofactor"
)

const (
	testPhone       = "+31612345678"
	testPhoneTyped  = "+31 6 1234 5678"
	testPhoneMasked = "+31 6 •••••678"
	testBalance     = "Balance: 1,234.56 EUR"
)

// flowApp is a test app served over TLS: /2fa/ is the flow, /account is
// gated, /peek reports m.Verified, POST /logout calls m.Reset. Its client
// keeps cookies and does not follow redirects, so tests see every 303.
type flowApp struct {
	t      *testing.T
	m      *twofactor.Manager
	mock   *twofactor.Mock
	codes  *testkit.Codes
	clock  *testkit.Clock
	srv    *httptest.Server
	jar    *cookiejar.Jar
	client *http.Client
	logs   *testkit.Buffer
	// next is the return target the last page's forms carry (a hidden
	// field), posted with every form as a browser would.
	next *string
}

var hiddenNext = regexp.MustCompile(`<input type="hidden" name="next" value="([^"]*)">`)

// appSetup changes what newFlowApp builds; zero fields take the defaults
// (the Mock, a cookie store with fixed keys).
type appSetup struct {
	provider twofactor.Provider
	store    sessions.Store
	prefix   string // where the flow is mounted; default /2fa/
	opts     []twofactor.Option
}

func newFlowApp(t *testing.T, opts ...twofactor.Option) *flowApp {
	return newFlowAppWith(t, appSetup{opts: opts})
}

func newFlowAppWith(t *testing.T, s appSetup) *flowApp {
	t.Helper()
	mock, rec, clock := newTestMock()
	state := new(twofactor.MemoryState)
	state.Now = clock.Now
	logs := &testkit.Buffer{}
	if s.prefix == "" {
		s.prefix = twofactor.DefaultPrefix
	}
	opts := append([]twofactor.Option{
		twofactor.WithClock(clock.Now),
		twofactor.WithState(state),
		twofactor.WithLogger(slog.New(slog.NewTextHandler(logs, nil))),
		twofactor.WithPrefix(s.prefix),
	}, s.opts...)
	provider := s.provider
	if provider == nil {
		provider = mock
	}
	store := s.store
	if store == nil {
		store = sessions.NewCookieStore([]byte("test hash key, 32 bytes long...."), []byte("test block key, 32 bytes long..."))
	}
	m, err := twofactor.New(provider, store, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(s.prefix, m.Handler())
	mux.Handle("/account", m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s (verified=%t)", testBalance, twofactor.GatePassed(r))
	})))
	mux.HandleFunc("/peek", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "verified=%t gate=%t", m.Verified(r), twofactor.GatePassed(r))
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Reset(w, r); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := srv.Client()
	client.Jar = jar
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &flowApp{t: t, m: m, mock: mock, codes: rec, clock: clock, srv: srv, jar: jar, client: client, logs: logs, next: new(string)}
}

// in returns the app for use in subtest t: its helpers then report to t.
func (a *flowApp) in(t *testing.T) *flowApp {
	b := *a
	b.t = t
	return &b
}

// flowResp is a response read in full. text is the body as a visitor reads
// it: tags dropped, entities decoded.
type flowResp struct {
	status  int
	header  http.Header
	body    string
	text    string
	cookies []*http.Cookie
}

// do sends a request; hdr holds header name/value pairs.
func (a *flowApp) do(method, path string, body io.Reader, hdr ...string) flowResp {
	a.t.Helper()
	req, err := http.NewRequestWithContext(a.t.Context(), method, a.srv.URL+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := a.client.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	if method == http.MethodGet && strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		*a.next = ""
		if m := hiddenNext.FindStringSubmatch(string(b)); m != nil {
			*a.next = html.UnescapeString(m[1])
		}
	}
	return flowResp{status: res.StatusCode, header: res.Header, body: string(b), text: html.UnescapeString(tag.ReplaceAllString(string(b), "")), cookies: res.Cookies()}
}

func (a *flowApp) get(path string, hdr ...string) flowResp {
	a.t.Helper()
	return a.do(http.MethodGet, path, nil, hdr...)
}

func (a *flowApp) post(path string, form url.Values, hdr ...string) flowResp {
	a.t.Helper()
	hdr = append([]string{"Content-Type", "application/x-www-form-urlencoded"}, hdr...)
	if _, ok := form["next"]; !ok && *a.next != "" {
		form = maps.Clone(form)
		if form == nil {
			form = url.Values{}
		}
		form.Set("next", *a.next)
	}
	return a.do(http.MethodPost, path, strings.NewReader(form.Encode()), hdr...)
}

func (a *flowApp) postJSON(path string, v any) flowResp {
	a.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		a.t.Fatal(err)
	}
	return a.do(http.MethodPost, path, bytes.NewReader(b), "Content-Type", "application/json", "Accept", "application/json")
}

// sendCode walks from the gate to a sent code: GET /account, the phone
// page, POST send. It returns the code the Mock sent.
func (a *flowApp) sendCode(phone string) string {
	a.t.Helper()
	res := a.get("/account")
	wantRedirect(a.t, res, "/2fa/?next=%2Faccount")
	wantStatus(a.t, a.get(res.header.Get("Location")), http.StatusOK)
	wantRedirect(a.t, a.post("/2fa/send", url.Values{"phone": {phone}}), "/2fa/")
	return a.codes.Last(a.t).Code
}

// verify runs the whole phone-entry flow and checks the gate lets the
// visitor through afterwards.
func (a *flowApp) verify() {
	a.t.Helper()
	code := a.sendCode(testPhoneTyped)
	wantRedirect(a.t, a.post("/2fa/check", url.Values{"code": {code}}), "/account")
	wantBody(a.t, a.get("/account"), http.StatusOK, testBalance)
}

// sessionCookie returns the jar's flow cookie.
func (a *flowApp) sessionCookie() *http.Cookie {
	a.t.Helper()
	u, _ := url.Parse(a.srv.URL)
	for _, c := range a.jar.Cookies(u) {
		if c.Name == hostCookie || c.Name == twofactor.DefaultSessionName {
			return c
		}
	}
	a.t.Fatal("no session cookie in the jar")
	return nil
}

// setSessionCookie replaces the jar's flow cookie by value.
func (a *flowApp) setSessionCookie(value string) {
	u, _ := url.Parse(a.srv.URL)
	name := hostCookie
	for _, c := range a.jar.Cookies(u) {
		if c.Name == twofactor.DefaultSessionName {
			name = c.Name // an app with Cookie.Insecure
		}
	}
	a.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// hostCookie is the session cookie's name when it is Secure, Path=/ and has
// no Domain: the default name with the __Host- prefix.
const hostCookie = "__Host-" + twofactor.DefaultSessionName

func wantStatus(t *testing.T, res flowResp, status int) {
	t.Helper()
	if res.status != status {
		t.Fatalf("status %d, want %d; body:\n%s", res.status, status, res.text)
	}
}

func wantRedirect(t *testing.T, res flowResp, location string) {
	t.Helper()
	wantStatus(t, res, http.StatusSeeOther)
	if got := res.header.Get("Location"); got != location {
		t.Fatalf("Location %q, want %q", got, location)
	}
}

// wantBody checks the status and that the markup or the visible text
// holds each of want.
func wantBody(t *testing.T, res flowResp, status int, want ...string) {
	t.Helper()
	wantStatus(t, res, status)
	for _, w := range want {
		if !strings.Contains(res.body, w) && !strings.Contains(res.text, w) {
			t.Fatalf("body lacks %q:\n%s", w, res.text)
		}
	}
}

// wantJSONError checks a JSON error answer and returns its message.
func wantJSONError(t *testing.T, res flowResp, status int, code string) string {
	t.Helper()
	wantStatus(t, res, status)
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(res.body), &body); err != nil {
		t.Fatalf("not JSON (%v): %s", err, res.body)
	}
	if body.Error.Code != code || body.Error.Message == "" {
		t.Fatalf("error %+v, want code %q and a message", body.Error, code)
	}
	return body.Error.Message
}

func decodeJSON(t *testing.T, res flowResp) map[string]any {
	t.Helper()
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON", ct)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(res.body), &v); err != nil {
		t.Fatalf("not JSON (%v): %s", err, res.body)
	}
	return v
}

var (
	tag      = regexp.MustCompile(`<[^>]*>`)
	inputTag = regexp.MustCompile(`<input\b[^>]*>`)
	attr     = regexp.MustCompile(`([a-z-]+)(?:="([^"]*)")?`)
)

// inputs returns the attributes of every <input> of a page, by name.
func inputs(page string) map[string]map[string]string {
	all := map[string]map[string]string{}
	for _, tag := range inputTag.FindAllString(page, -1) {
		attrs := map[string]string{}
		for _, m := range attr.FindAllStringSubmatch(strings.TrimPrefix(tag, "<input"), -1) {
			attrs[m[1]] = html.UnescapeString(m[2])
		}
		all[attrs["name"]] = attrs
	}
	return all
}

func TestGate(t *testing.T) {
	a := newFlowApp(t)
	t.Run("GET redirects into the flow", func(t *testing.T) {
		a := a.in(t)
		res := a.get("/account")
		wantRedirect(t, res, "/2fa/?next=%2Faccount")
		if cc := res.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
		wantRedirect(t, a.get("/account?tab=savings"), "/2fa/?next=%2Faccount%3Ftab%3Dsavings")
	})
	t.Run("HEAD redirects too", func(t *testing.T) {
		a := a.in(t)
		wantStatus(t, a.do(http.MethodHead, "/account", nil), http.StatusSeeOther)
	})
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		t.Run(method+" is refused", func(t *testing.T) {
			a := a.in(t)
			wantBody(t, a.do(method, "/account", strings.NewReader("x=1")), http.StatusUnauthorized, "Please verify your phone number")
		})
	}
	t.Run("JSON clients get 401 JSON", func(t *testing.T) {
		a := a.in(t)
		wantJSONError(t, a.get("/account", "Accept", "application/json"), http.StatusUnauthorized, "verification_required")
	})
	t.Run("Verified is false outside and before", func(t *testing.T) {
		a := a.in(t)
		wantBody(t, a.get("/peek"), http.StatusOK, "verified=false gate=false")
	})
	a.verify()
	t.Run("verified visitors pass", func(t *testing.T) {
		a := a.in(t)
		wantBody(t, a.get("/account"), http.StatusOK, "(verified=true)")
		wantBody(t, a.do(http.MethodPost, "/account", nil), http.StatusOK, "(verified=true)")
		wantBody(t, a.get("/peek"), http.StatusOK, "verified=true gate=false")
	})
}

func TestFlowPhoneEntry(t *testing.T) {
	a := newFlowApp(t)
	res := a.get("/account")
	wantRedirect(t, res, "/2fa/?next=%2Faccount")

	page := a.get(res.header.Get("Location"))
	wantBody(t, page, http.StatusOK, "<title>Verify your phone</title>", "Verify your phone</h1>", "Send code")
	if ct := page.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	for h, want := range map[string]string{"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"} {
		if got := page.header.Get(h); got != want {
			t.Errorf("%s %q, want %q", h, got, want)
		}
	}
	if !strings.Contains(page.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("CSP %q does not forbid framing", page.header.Get("Content-Security-Policy"))
	}
	in := inputs(page.body)
	if p := in["phone"]; p["type"] != "tel" || p["autocomplete"] != "tel" {
		t.Errorf("phone input %v, want type=tel autocomplete=tel", p)
	}
	if _, ok := in["code"]; ok {
		t.Error("phone page has a code input")
	}
	if strings.Contains(page.body, `role="alert"`) {
		t.Error("phone page shows an error before anything went wrong")
	}

	wantRedirect(t, a.post("/2fa/send", url.Values{"phone": {testPhoneTyped}}), "/2fa/")
	sent := a.codes.Last(t)
	if sent.Verification.Phone != testPhone || a.mock.Sends() != 1 {
		t.Fatalf("Mock sent %d codes, last to %q; want 1 to %s", a.mock.Sends(), sent.Verification.Phone, testPhone)
	}

	page = a.get("/2fa/")
	wantBody(t, page, http.StatusOK, "<title>Enter your code</title>", "We've sent a code by SMS to "+testPhoneMasked, "You can ask for a new code in 30 seconds")
	for _, full := range []string{"612345678", "6 12345678", sent.Code} {
		if strings.Contains(page.text, full) {
			t.Errorf("code page shows %q", full)
		}
	}
	in = inputs(page.body)
	// No pattern or maxlength: a code pasted as "123 456" or "123-456" must
	// reach the server, which reads it.
	if c := in["code"]; c["autocomplete"] != "one-time-code" || c["inputmode"] != "numeric" || c["maxlength"] != "" || c["pattern"] != "" {
		t.Errorf("code input %v, want autocomplete=one-time-code inputmode=numeric, no maxlength or pattern", c)
	}
	if _, ok := in["phone"]; ok {
		t.Error("code page has a phone input")
	}
	for _, action := range []string{`action="/2fa/check"`, `action="/2fa/resend"`, `action="/2fa/restart"`} {
		if !strings.Contains(page.body, action) {
			t.Errorf("code page lacks a form with %s", action)
		}
	}
	if strings.Contains(page.body, sent.Verification.ID) {
		t.Error("the verification id is on the page")
	}

	// The code with spaces, as people type it from an SMS.
	wantRedirect(t, a.post("/2fa/check", url.Values{"code": {sent.Code[:3] + " " + sent.Code[3:]}}), "/account")
	wantBody(t, a.get("/account"), http.StatusOK, testBalance)
	wantRedirect(t, a.get("/2fa/"), "/") // nothing left to do in the flow

	if a.mock.Sends() != 1 {
		t.Errorf("Mock.Sends() = %d, want 1", a.mock.Sends())
	}
	logs := a.logs.String()
	for _, secret := range []string{"612345678", sent.Code, sent.Verification.ID} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "code sent") {
		t.Errorf("log does not record the send:\n%s", logs)
	}
}

func TestFlowRestart(t *testing.T) {
	a := newFlowApp(t, twofactor.WithLimits(func(l *twofactor.Limits) { l.ResendCooldown = 0 }))
	a.sendCode(testPhone)
	wantRedirect(t, a.post("/2fa/restart", nil), "/2fa/")
	page := a.get("/2fa/")
	wantBody(t, page, http.StatusOK, "Verify your phone")
	if _, ok := inputs(page.body)["phone"]; !ok {
		t.Fatal("no phone input after restart")
	}
	wantRedirect(t, a.post("/2fa/send", url.Values{"phone": {"+32 470 12 34 56"}}), "/2fa/")
	if got := a.codes.Last(t).Verification.Phone; got != "+32470123456" {
		t.Fatalf("code went to %s, want the new number", got)
	}
	wantRedirect(t, a.post("/2fa/check", url.Values{"code": {a.codes.Last(t).Code}}), "/account")
}

func TestFlowKnownNumber(t *testing.T) {
	const onFile = "+31 6 8765 4321"
	a := newFlowApp(t, twofactor.WithSubject(func(*http.Request) string { return "ann" }),
		twofactor.WithPhoneLookup(func(*http.Request) (string, error) { return onFile, nil }))
	res := a.get("/account")
	page := a.get(res.header.Get("Location"))
	wantBody(t, page, http.StatusOK, "We'll send a verification code to +31 6 •••••321", "Send code")
	if strings.Contains(page.text, "87654321") {
		t.Error("page shows the full number on file")
	}
	if _, ok := inputs(page.body)["phone"]; ok {
		t.Error("known-number page asks for a number")
	}

	// A number in the form is ignored: the code goes to the number on file.
	wantRedirect(t, a.post("/2fa/send", url.Values{"phone": {testPhone}}), "/2fa/")
	sent := a.codes.Last(t)
	if sent.Verification.Phone != "+31687654321" {
		t.Fatalf("code went to %s, want the number on file", sent.Verification.Phone)
	}
	page = a.get("/2fa/")
	wantBody(t, page, http.StatusOK, "+31 6 •••••321")
	if strings.Contains(page.body, `action="/2fa/restart"`) {
		t.Error(`known-number code page offers "use another number"`)
	}
	wantRedirect(t, a.post("/2fa/check", url.Values{"code": {sent.Code}}), "/account")
	wantBody(t, a.get("/account"), http.StatusOK, testBalance)

	t.Run("no number on file", func(t *testing.T) {
		a := newFlowApp(t, twofactor.WithSubject(func(*http.Request) string { return "ann" }),
			twofactor.WithPhoneLookup(func(*http.Request) (string, error) { return "", errors.New("no such user") }))
		wantBody(t, a.post("/2fa/send", url.Values{"phone": {testPhone}}), http.StatusConflict, "no phone number on file")
		if a.mock.Sends() != 0 {
			t.Error("a code was sent without a number on file")
		}
	})
}

func TestFlowCodeErrors(t *testing.T) {
	t.Run("wrong code", func(t *testing.T) {
		a := newFlowApp(t)
		code := a.sendCode(testPhone)
		res := a.post("/2fa/check", url.Values{"code": {wrongCode(code)}})
		wantBody(t, res, http.StatusBadRequest, "That code isn't right. You have 2 tries left.", "Enter your code")
		if !strings.Contains(res.body, `role="alert"`) || inputs(res.body)["code"]["aria-invalid"] != "true" {
			t.Errorf("error not announced: no role=alert or aria-invalid code input")
		}
		wantBody(t, a.post("/2fa/check", url.Values{"code": {wrongCode(code)}}), http.StatusBadRequest, "You have 1 try left.")
		wantRedirect(t, a.post("/2fa/check", url.Values{"code": {code}}), "/account")
	})
	t.Run("too many wrong codes", func(t *testing.T) {
		a := newFlowApp(t)
		code := a.sendCode(testPhone)
		for range 2 {
			wantStatus(t, a.post("/2fa/check", url.Values{"code": {wrongCode(code)}}), http.StatusBadRequest)
		}
		wantBody(t, a.post("/2fa/check", url.Values{"code": {wrongCode(code)}}), http.StatusBadRequest, "Too many wrong tries for this code")
		checks := a.mock.Checks()
		wantBody(t, a.post("/2fa/check", url.Values{"code": {code}}), http.StatusBadRequest, "Too many wrong tries for this code")
		if a.mock.Checks() != checks {
			t.Error("a check past the limit reached the provider")
		}
		wantRedirect(t, a.get("/account"), "/2fa/?next=%2Faccount")
	})
	t.Run("malformed code", func(t *testing.T) {
		a := newFlowApp(t)
		code := a.sendCode(testPhone)
		for _, bad := range []string{"", "12345", "12a456", code + "1"} {
			wantBody(t, a.post("/2fa/check", url.Values{"code": {bad}}), http.StatusBadRequest, "Please enter the 6-digit code")
		}
		if a.mock.Checks() != 0 {
			t.Error("malformed codes reached the provider")
		}
		wantRedirect(t, a.post("/2fa/check", url.Values{"code": {code}}), "/account") // and cost no try
	})
	t.Run("expired code", func(t *testing.T) {
		a := newFlowApp(t)
		code := a.sendCode(testPhone)
		a.clock.Advance(twofactor.DefaultValidity + time.Second)
		wantBody(t, a.post("/2fa/check", url.Values{"code": {code}}), http.StatusBadRequest, "That code has expired")
		// The code page stays, says so at once, and a resend goes to the
		// same number without typing it again.
		page := a.get("/2fa/")
		wantBody(t, page, http.StatusOK, "That code has expired")
		wantBody(t, page, http.StatusOK, "Enter your code")
		wantRedirect(t, a.get("/account"), "/2fa/?next=%2Faccount")
		wantRedirect(t, a.post("/2fa/resend", nil), "/2fa/")
		if a.mock.Sends() != 2 {
			t.Fatalf("Mock.Sends() = %d after the resend, want 2", a.mock.Sends())
		}
		wantRedirect(t, a.post("/2fa/check", url.Values{"code": {a.codes.Last(t).Code}}), "/account")
	})
	t.Run("no code sent", func(t *testing.T) {
		a := newFlowApp(t)
		wantBody(t, a.post("/2fa/check", url.Values{"code": {"123456"}}), http.StatusConflict, "There's no code waiting")
		wantBody(t, a.post("/2fa/resend", nil), http.StatusConflict, "There's no code waiting")
	})
}

func TestFlowResend(t *testing.T) {
	a := newFlowApp(t)
	old := a.sendCode(testPhone)

	t.Run("refresh does not send again", func(t *testing.T) {
		a := a.in(t)
		for range 3 {
			wantBody(t, a.get("/2fa/"), http.StatusOK, "Enter your code")
		}
		if a.mock.Sends() != 1 {
			t.Fatalf("Mock.Sends() = %d after refreshing, want 1", a.mock.Sends())
		}
	})
	t.Run("within the cooldown", func(t *testing.T) {
		a := a.in(t)
		a.clock.Advance(10 * time.Second)
		res := a.post("/2fa/resend", nil)
		wantBody(t, res, http.StatusTooManyRequests, "Please wait 20 seconds before asking for a new one")
		if ra := res.header.Get("Retry-After"); ra != "20" {
			t.Errorf("Retry-After %q, want 20", ra)
		}
		wantStatus(t, a.post("/2fa/send", url.Values{"phone": {testPhone}}), http.StatusTooManyRequests)
		if a.mock.Sends() != 1 {
			t.Fatalf("Mock.Sends() = %d, want 1", a.mock.Sends())
		}
	})
	t.Run("after the cooldown", func(t *testing.T) {
		a := a.in(t)
		a.clock.Advance(21 * time.Second)
		wantRedirect(t, a.post("/2fa/resend", nil), "/2fa/")
		sent := a.codes.Last(t)
		if a.mock.Sends() != 2 || sent.Verification.Phone != testPhone {
			t.Fatalf("resend: %d sends, last to %s", a.mock.Sends(), sent.Verification.Phone)
		}
		if old != sent.Code { // one chance in a million they are the same
			wantBody(t, a.post("/2fa/check", url.Values{"code": {old}}), http.StatusBadRequest, "That code isn't right")
		}
		wantRedirect(t, a.post("/2fa/check", url.Values{"code": {sent.Code}}), "/account")
	})
}

func TestSendOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []twofactor.Option
		form    url.Values
		status  int
		text    string            // on the answer, if set
		to      string            // number the code went to; "" means no code
		channel twofactor.Channel // of the code sent
	}{
		{"national number with a default region", []twofactor.Option{twofactor.WithDefaultRegion("NL")},
			url.Values{"phone": {"06 12345678"}}, http.StatusSeeOther, "", testPhone, twofactor.SMS},
		{"allowed region", []twofactor.Option{twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.Regions = []string{"NL", "BE"} })},
			url.Values{"phone": {"+32 470 12 34 56"}}, http.StatusSeeOther, "", "+32470123456", twofactor.SMS},
		{"region not allowed", []twofactor.Option{twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.Regions = []string{"BE"} })},
			url.Values{"phone": {testPhone}}, http.StatusBadRequest, "We can't send codes to numbers in that country", "", ""},
		{"voice", []twofactor.Option{twofactor.WithVoice()},
			url.Values{"phone": {testPhone}, "channel": {"voice"}}, http.StatusSeeOther, "", testPhone, twofactor.Voice},
		{"voice to a landline", []twofactor.Option{twofactor.WithVoice()},
			url.Values{"phone": {"+31 20 123 4567"}, "channel": {"voice"}}, http.StatusBadRequest, "We can only send codes to mobile numbers", "", ""},
		{"voice to a landline, allowed", []twofactor.Option{twofactor.WithVoice(), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.VoiceToLandlines = true })},
			url.Values{"phone": {"+31 20 123 4567"}, "channel": {"voice"}}, http.StatusSeeOther, "", "+31201234567", twofactor.Voice},
		{"SMS to a landline", []twofactor.Option{twofactor.WithVoice()},
			url.Values{"phone": {"+31 20 123 4567"}}, http.StatusBadRequest, "We can only send codes to mobile numbers", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFlowApp(t, tt.opts...)
			wantBody(t, a.post("/2fa/send", tt.form), tt.status, tt.text)
			if tt.to == "" {
				if a.mock.Sends() != 0 {
					t.Fatal("a refused number got a code")
				}
				return
			}
			sent := a.codes.Last(t)
			if sent.Verification.Phone != tt.to || sent.Verification.Channel != tt.channel {
				t.Fatalf("code went to %s by %s, want %s by %s", sent.Verification.Phone, sent.Verification.Channel, tt.to, tt.channel)
			}
			if tt.channel == twofactor.Voice {
				wantBody(t, a.get("/2fa/"), http.StatusOK, "We're calling you with a code at")
				a.clock.Advance(time.Minute)
				wantRedirect(t, a.post("/2fa/resend", nil), "/2fa/")
				if got := a.codes.Last(t).Verification.Channel; got != twofactor.Voice {
					t.Errorf("resend went by %s, want the channel of the first code", got)
				}
			}
			wantRedirect(t, a.post("/2fa/check", url.Values{"code": {a.codes.Last(t).Code}}), "/")
		})
	}
}

// TestParallelGuesses fires 100 wrong codes at once from one session: no
// more than the attempt limit reach the provider, and the code is closed.
func TestParallelGuesses(t *testing.T) {
	a := newFlowApp(t)
	code := a.sendCode(testPhone)
	const n = 100
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodPost, a.srv.URL+"/2fa/check", strings.NewReader("code="+wrongCode(code)))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := a.client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusBadRequest {
			t.Errorf("a wrong guess got status %d", s)
		}
	}
	if c := a.mock.Checks(); c > twofactor.DefaultMaxAttempts {
		t.Errorf("%d checks reached the provider, want at most %d", c, twofactor.DefaultMaxAttempts)
	}
	wantBody(t, a.post("/2fa/check", url.Values{"code": {code}}), http.StatusBadRequest, "Too many wrong tries")
	wantRedirect(t, a.get("/account"), "/2fa/?next=%2Faccount")
}

func TestFormEncodings(t *testing.T) {
	multipartBody := func(phone string) (io.Reader, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		if err := mw.WriteField("phone", phone); err != nil {
			t.Fatal(err)
		}
		if err := mw.Close(); err != nil {
			t.Fatal(err)
		}
		return &b, mw.FormDataContentType()
	}
	tests := []struct {
		name   string
		body   func() (io.Reader, string)
		status int
	}{
		{"urlencoded", func() (io.Reader, string) {
			return strings.NewReader("phone=%2B31612345678"), "application/x-www-form-urlencoded; charset=utf-8"
		}, http.StatusSeeOther},
		{"multipart", func() (io.Reader, string) { return multipartBody(testPhone) }, http.StatusSeeOther},
		{"oversized multipart", func() (io.Reader, string) { return multipartBody(strings.Repeat("1", 20<<10)) }, http.StatusRequestEntityTooLarge},
		{"multipart without boundary", func() (io.Reader, string) { return strings.NewReader("phone=1"), "multipart/form-data" }, http.StatusBadRequest},
		{"JSON", func() (io.Reader, string) { return strings.NewReader(`{"phone":"+31612345678"}`), "application/json" }, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFlowApp(t)
			body, ct := tt.body()
			wantStatus(t, a.do(http.MethodPost, "/2fa/send", body, "Content-Type", ct), tt.status)
			if sent := a.mock.Sends() == 1; sent != (tt.status < 300 || tt.status == http.StatusSeeOther) {
				t.Errorf("status %d but %d codes sent", tt.status, a.mock.Sends())
			}
		})
	}
}

func TestCookieAttributes(t *testing.T) {
	tests := []struct {
		name     string
		opts     []twofactor.Option
		secure   bool
		sameSite http.SameSite
		cookie   string
		path     string
		domain   string
	}{
		{"defaults", nil, true, http.SameSiteLaxMode, hostCookie, "/", ""},
		{"insecure for localhost", []twofactor.Option{twofactor.WithCookie(twofactor.Cookie{Insecure: true})}, false, http.SameSiteLaxMode, twofactor.DefaultSessionName, "/", ""},
		{"strict", []twofactor.Option{twofactor.WithCookie(twofactor.Cookie{SameSite: http.SameSiteStrictMode})}, true, http.SameSiteStrictMode, hostCookie, "/", ""},
		{"own name", []twofactor.Option{twofactor.WithCookie(twofactor.Cookie{Name: "bank2fa"})}, true, http.SameSiteLaxMode, "__Host-bank2fa", "/", ""},
		{"own __Host- name", []twofactor.Option{twofactor.WithCookie(twofactor.Cookie{Name: "__Host-bank2fa"})}, true, http.SameSiteLaxMode, "__Host-bank2fa", "/", ""},
		{"domain", []twofactor.Option{twofactor.WithCookie(twofactor.Cookie{Domain: "127.0.0.1"})}, true, http.SameSiteLaxMode, twofactor.DefaultSessionName, "/", "127.0.0.1"},
		{"path", []twofactor.Option{twofactor.WithCookie(twofactor.Cookie{Path: "/2fa/"})}, true, http.SameSiteLaxMode, twofactor.DefaultSessionName, "/2fa/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFlowApp(t, tt.opts...)
			res := a.post("/2fa/send", url.Values{"phone": {testPhone}})
			wantStatus(t, res, http.StatusSeeOther)
			if len(res.cookies) != 1 {
				t.Fatalf("%d cookies set, want 1: %v", len(res.cookies), res.header["Set-Cookie"])
			}
			c := res.cookies[0]
			if c.Name != tt.cookie || !c.HttpOnly || c.Secure != tt.secure || c.SameSite != tt.sameSite || c.Path != tt.path || c.Domain != tt.domain {
				t.Errorf("cookie %s, want %s, HttpOnly, Secure=%t, SameSite=%v, Path=%s, Domain=%q", c, tt.cookie, tt.secure, tt.sameSite, tt.path, tt.domain)
			}
			if c.MaxAge <= 0 || c.MaxAge > int(twofactor.DefaultMaxAge/time.Second) {
				t.Errorf("cookie Max-Age %d, want 1 to %d", c.MaxAge, int(twofactor.DefaultMaxAge/time.Second))
			}
		})
	}
}

func TestSessionRenewalAndReset(t *testing.T) {
	a := newFlowApp(t)
	code := a.sendCode(testPhone)
	before := a.sessionCookie().Value
	res := a.post("/2fa/check", url.Values{"code": {code}})
	wantRedirect(t, res, "/account")
	// One live session cookie; the spent return-target cookie is deleted.
	live := 0
	for _, ck := range res.cookies {
		switch {
		case ck.MaxAge > 0 && ck.Name == a.sessionCookie().Name:
			live++
		case ck.MaxAge > 0 || !strings.HasSuffix(ck.Name, "_next"):
			t.Errorf("verification set cookie %s", ck)
		}
	}
	if live != 1 {
		t.Fatalf("verification set cookies %v, want one live session cookie", res.header["Set-Cookie"])
	}
	verified := a.sessionCookie().Value
	if verified == before {
		t.Fatal("session cookie not renewed on verification")
	}
	wantStatus(t, a.get("/account"), http.StatusOK)

	t.Run("pre-verification cookie", func(t *testing.T) {
		a := a.in(t)
		a.setSessionCookie(before)
		wantRedirect(t, a.get("/account"), "/2fa/?next=%2Faccount")
		// The code it holds was used: it works once.
		wantBody(t, a.post("/2fa/check", url.Values{"code": {code}}), http.StatusBadRequest, "can't be used any more")
		a.setSessionCookie(verified)
		wantStatus(t, a.get("/account"), http.StatusOK)
	})
	t.Run("reset", func(t *testing.T) {
		a := a.in(t)
		res := a.post("/logout", nil)
		wantRedirect(t, res, "/")
		if len(res.cookies) != 1 || res.cookies[0].MaxAge >= 0 {
			t.Errorf("logout cookies %v, want the session cookie deleted", res.header["Set-Cookie"])
		}
		wantRedirect(t, a.get("/account"), "/2fa/?next=%2Faccount")
		a.setSessionCookie(verified) // a copy kept from before the logout
		wantRedirect(t, a.get("/account"), "/2fa/?next=%2Faccount")
		wantBody(t, a.get("/peek"), http.StatusOK, "verified=false")
	})
}

// idStore is a server-side session store: the cookie holds only an id.
// Like redisstore, it keeps the id a cookie names even when it holds no
// record for it.
type idStore struct {
	mu      sync.Mutex
	records map[string]map[any]any
}

func (s *idStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return s.New(r, name)
}

func (s *idStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	sess.IsNew = true
	if c, err := r.Cookie(name); err == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		sess.ID = c.Value
		if vals, ok := s.records[c.Value]; ok {
			maps.Copy(sess.Values, vals)
			sess.IsNew = false
		}
	}
	return sess, nil
}

func (s *idStore) Save(_ *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.Options.MaxAge < 0 {
		delete(s.records, sess.ID)
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	if sess.ID == "" {
		sess.ID = rand.Text()
	}
	if s.records == nil {
		s.records = map[string]map[any]any{}
	}
	s.records[sess.ID] = maps.Clone(sess.Values)
	http.SetCookie(w, sessions.NewCookie(sess.Name(), sess.ID, sess.Options))
	return nil
}

func (s *idStore) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.records[id]
	return ok
}

// TestSessionFixation checks renewal with a server-side store, where the
// cookie is only an id: an id planted before the flow is never adopted,
// verification moves the session to a new id and deletes the old record,
// and Reset deletes the verified one.
func TestSessionFixation(t *testing.T) {
	store := &idStore{}
	a := newFlowAppWith(t, appSetup{store: store})
	a.setSessionCookie("planted-by-an-attacker")
	code := a.sendCode(testPhone)
	pending := a.sessionCookie().Value
	if pending == "planted-by-an-attacker" || store.has("planted-by-an-attacker") {
		t.Fatal("the flow adopted a session id the store never issued")
	}
	wantRedirect(t, a.post("/2fa/check", url.Values{"code": {code}}), "/account")
	verified := a.sessionCookie().Value
	if verified == pending || store.has(pending) || !store.has(verified) {
		t.Fatalf("session %q before and %q after verification; old record kept: %t", pending, verified, store.has(pending))
	}
	wantStatus(t, a.get("/account"), http.StatusOK)

	a.setSessionCookie(pending)
	wantRedirect(t, a.get("/account"), "/2fa/?next=%2Faccount")
	a.setSessionCookie(verified)
	wantStatus(t, a.post("/logout", nil), http.StatusSeeOther)
	if store.has(verified) {
		t.Error("Reset left the session record")
	}
	a.setSessionCookie(verified)
	wantRedirect(t, a.get("/account"), "/2fa/?next=%2Faccount")
}

func TestEvents(t *testing.T) {
	var (
		mu     sync.Mutex
		events []twofactor.Event
	)
	a := newFlowApp(t, twofactor.WithEvents(func(e twofactor.Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}))
	code := a.sendCode(testPhone)
	wantStatus(t, a.post("/2fa/check", url.Values{"code": {wrongCode(code)}}), http.StatusBadRequest)
	wantStatus(t, a.post("/2fa/resend", nil), http.StatusTooManyRequests)
	wantStatus(t, a.post("/2fa/check", url.Values{"code": {code}}), http.StatusSeeOther)
	wantStatus(t, a.post("/logout", nil), http.StatusSeeOther)

	mu.Lock()
	defer mu.Unlock()
	want := []twofactor.EventType{twofactor.EventCodeSent, twofactor.EventCheckFailed, twofactor.EventRateLimited, twofactor.EventVerified, twofactor.EventReset}
	if len(events) != len(want) {
		t.Fatalf("events %+v, want types %v", events, want)
	}
	for i, e := range events {
		if e.Type != want[i] || e.Phone != testPhone || e.IP != "127.0.0.1" || !e.Time.Equal(a.clock.Now()) {
			t.Errorf("event %d = %+v, want %s for %s from 127.0.0.1 at %v", i, e, want[i], testPhone, a.clock.Now())
		}
	}
	if !errors.Is(events[1].Err, twofactor.ErrInvalidCode) {
		t.Errorf("check_failed Err = %v, want ErrInvalidCode", events[1].Err)
	}
}

func TestVerifiedAgesOut(t *testing.T) {
	t.Run("idle timeout", func(t *testing.T) {
		a := newFlowApp(t)
		a.verify()
		a.clock.Advance(twofactor.DefaultIdleTimeout - time.Second)
		wantStatus(t, a.get("/account"), http.StatusOK) // and this resets the idle timer
		a.clock.Advance(twofactor.DefaultIdleTimeout - time.Second)
		wantStatus(t, a.get("/account"), http.StatusOK)
		a.clock.Advance(twofactor.DefaultIdleTimeout + time.Second)
		wantRedirect(t, a.get("/account"), "/2fa/?next=%2Faccount")
	})
	t.Run("max age", func(t *testing.T) {
		a := newFlowApp(t, twofactor.WithCookie(twofactor.Cookie{MaxAge: time.Hour}))
		a.verify()
		for range 2 {
			a.clock.Advance(25 * time.Minute)
			wantStatus(t, a.get("/account"), http.StatusOK)
		}
		a.clock.Advance(11 * time.Minute) // 61 minutes, never idle for long
		wantRedirect(t, a.get("/account"), "/2fa/?next=%2Faccount")
	})
}

func TestJSONAPI(t *testing.T) {
	a := newFlowApp(t)
	st := decodeJSON(t, a.get("/2fa/?next=%2Faccount", "Accept", "application/json"))
	if st["verified"] != false || st["pending"] != false {
		t.Fatalf("status %v, want not verified, nothing pending", st)
	}

	// A visitor with no session has none written by looking: the return
	// target travels with the first POST.
	res := a.postJSON("/2fa/send", map[string]string{"phone": testPhoneTyped, "next": "/account"})
	wantStatus(t, res, http.StatusOK)
	sent := decodeJSON(t, res)
	if sent["status"] != "code_sent" || sent["phone"] != testPhoneMasked || sent["channel"] != "sms" || sent["resend_after"] != 30.0 {
		t.Fatalf("send answered %v", sent)
	}
	if want := a.clock.Now().Add(twofactor.DefaultValidity).UTC().Format(time.RFC3339); sent["expires_at"] != want {
		t.Errorf("expires_at %v, want %s", sent["expires_at"], want)
	}
	if strings.Contains(res.body, "612345678") {
		t.Errorf("send answer holds the full number: %s", res.body)
	}

	st = decodeJSON(t, a.get("/2fa/status"))
	if st["verified"] != false || st["pending"] != true || st["phone"] != testPhoneMasked {
		t.Fatalf("status %v, want pending with the masked number", st)
	}

	code := a.codes.Last(t).Code
	msg := wantJSONError(t, a.postJSON("/2fa/check", map[string]string{"code": wrongCode(code)}), http.StatusBadRequest, "invalid_code")
	if !strings.Contains(msg, "2 tries left") {
		t.Errorf("message %q", msg)
	}
	wantJSONError(t, a.postJSON("/2fa/send", map[string]string{"phone": "hello"}), http.StatusBadRequest, "invalid_phone")
	wantJSONError(t, a.postJSON("/2fa/resend", nil), http.StatusTooManyRequests, "rate_limited")

	res = a.postJSON("/2fa/check", map[string]string{"code": code})
	wantStatus(t, res, http.StatusOK)
	if v := decodeJSON(t, res); v["status"] != "verified" || v["redirect"] != "/account" || v["method"] != "sms" {
		t.Fatalf("check answered %v", v)
	}
	if st := decodeJSON(t, a.get("/2fa/status")); st["verified"] != true {
		t.Fatalf("status after verification %v", st)
	}
	wantStatus(t, a.get("/account", "Accept", "application/json"), http.StatusOK)
}

func TestCrossOriginPosts(t *testing.T) {
	tests := []struct {
		name    string
		hdr     []string
		allowed bool
	}{
		{"cross-site fetch", []string{"Sec-Fetch-Site", "cross-site"}, false},
		{"same-site other origin", []string{"Sec-Fetch-Site", "same-site"}, false},
		{"foreign Origin", []string{"Origin", "https://evil.example"}, false},
		{"trusted Origin", []string{"Origin", "https://app.example"}, true},
		{"same-origin fetch", []string{"Sec-Fetch-Site", "same-origin"}, true},
		{"no browser headers", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFlowApp(t, twofactor.WithTrustedOrigins("https://app.example"))
			res := a.post("/2fa/send", url.Values{"phone": {testPhone}}, tt.hdr...)
			if !tt.allowed {
				wantBody(t, res, http.StatusForbidden, "came from another site")
				if a.mock.Sends() != 0 {
					t.Fatal("a cross-origin POST sent an SMS")
				}
				return
			}
			wantRedirect(t, res, "/2fa/")
			code := a.codes.Last(t).Code
			wantStatus(t, a.post("/2fa/check", url.Values{"code": {code}}, tt.hdr...), http.StatusSeeOther)
		})
	}
	t.Run("check", func(t *testing.T) {
		a := newFlowApp(t)
		code := a.sendCode(testPhone)
		wantStatus(t, a.post("/2fa/check", url.Values{"code": {code}}, "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
		if a.mock.Checks() != 0 {
			t.Fatal("a cross-origin check reached the provider")
		}
	})
}

// blockingProvider never answers before its context ends.
type blockingProvider struct{}

func (blockingProvider) Send(ctx context.Context, _ twofactor.Request) (twofactor.Verification, error) {
	<-ctx.Done()
	return twofactor.Verification{}, fmt.Errorf("%w: %w", twofactor.ErrUnavailable, ctx.Err())
}

func (blockingProvider) Check(ctx context.Context, _, _ string) error {
	<-ctx.Done()
	return fmt.Errorf("%w: %w", twofactor.ErrUnavailable, ctx.Err())
}

func TestProviderFailure(t *testing.T) {
	const friendly = "We couldn't reach our messaging service. Please try again in a moment."
	t.Run("send", func(t *testing.T) {
		a := newFlowApp(t)
		a.mock.Fail = func(string) error { return fmt.Errorf("%w: HTTP 502 from upstream", twofactor.ErrUnavailable) }
		wantStatus(t, a.get("/2fa/?next=%2Faccount"), http.StatusOK)
		res := a.post("/2fa/send", url.Values{"phone": {testPhone}})
		wantBody(t, res, http.StatusServiceUnavailable, friendly)
		if strings.Contains(res.text, "502") || strings.Contains(res.text, "upstream") {
			t.Errorf("provider error text on the page:\n%s", res.text)
		}
		if !strings.Contains(a.logs.String(), "provider send failed") {
			t.Error("provider failure not logged")
		}
		wantRedirect(t, a.get("/account"), "/2fa/?next=%2Faccount")
		wantJSONError(t, a.postJSON("/2fa/send", map[string]string{"phone": testPhone, "next": "/account"}), http.StatusServiceUnavailable, "provider_unavailable")

		// The page says "try again in a moment": once the provider is
		// back, trying again works, no cooldown for codes never sent.
		a.mock.Fail = nil
		wantRedirect(t, a.post("/2fa/send", url.Values{"phone": {testPhone}, "next": {"/account"}}), "/2fa/")
		wantRedirect(t, a.post("/2fa/check", url.Values{"code": {a.codes.Last(t).Code}}), "/account")
	})
	t.Run("check", func(t *testing.T) {
		a := newFlowApp(t)
		code := a.sendCode(testPhone)
		a.mock.Fail = func(string) error { return twofactor.ErrUnavailable }
		wantBody(t, a.post("/2fa/check", url.Values{"code": {code}}), http.StatusServiceUnavailable,
			"We couldn't check your code just now. Please try again: this didn't count as a try.")
		wantRedirect(t, a.get("/account"), "/2fa/?next=%2Faccount")
	})
	t.Run("timeout", func(t *testing.T) {
		a := newFlowAppWith(t, appSetup{provider: blockingProvider{}, opts: []twofactor.Option{twofactor.WithProviderTimeout(50 * time.Millisecond)}})
		start := time.Now()
		wantBody(t, a.post("/2fa/send", url.Values{"phone": {testPhone}}), http.StatusServiceUnavailable, friendly)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("send took %v with a 50ms provider timeout", d)
		}
		wantRedirect(t, a.get("/account"), "/2fa/?next=%2Faccount")
	})
}

// brokenStore is a session store that fails like a Redis store with Redis
// down.
type brokenStore struct{ sessions.Store }

var errRedisDown = errors.New("dial tcp 127.0.0.1:6379: connection refused")

func (brokenStore) New(*http.Request, string) (*sessions.Session, error) { return nil, errRedisDown }
func (brokenStore) Get(*http.Request, string) (*sessions.Session, error) { return nil, errRedisDown }
func (brokenStore) Save(*http.Request, http.ResponseWriter, *sessions.Session) error {
	return errRedisDown
}

func TestStoreFailure(t *testing.T) {
	a := newFlowAppWith(t, appSetup{store: brokenStore{}})
	const friendly = "We can't check your session right now"
	wantBody(t, a.get("/account"), http.StatusServiceUnavailable, friendly)
	wantJSONError(t, a.get("/account", "Accept", "application/json"), http.StatusServiceUnavailable, "store_unavailable")
	wantBody(t, a.do(http.MethodPost, "/account", nil), http.StatusServiceUnavailable, friendly)
	wantBody(t, a.get("/peek"), http.StatusOK, "verified=false")
	wantBody(t, a.get("/2fa/"), http.StatusServiceUnavailable, friendly)
	wantStatus(t, a.get("/2fa/status"), http.StatusServiceUnavailable)
	wantBody(t, a.post("/2fa/send", url.Values{"phone": {testPhone}}), http.StatusServiceUnavailable, friendly)
	wantStatus(t, a.post("/2fa/check", url.Values{"code": {"123456"}}), http.StatusServiceUnavailable)
	wantStatus(t, a.post("/logout", nil), http.StatusServiceUnavailable)
	if a.mock.Sends() != 0 {
		t.Error("an SMS was sent without a session to remember it")
	}
	if strings.Contains(a.get("/account").text, "6379") {
		t.Error("store error text on the page")
	}
}

func TestBadCookies(t *testing.T) {
	a := newFlowApp(t)
	a.verify()
	good := a.sessionCookie().Value
	tampered := []byte(good)
	tampered[len(tampered)/2] ^= 1
	for name, value := range map[string]string{
		"garbage":  "garbage",
		"tampered": string(tampered),
		"empty":    "",
		"huge":     strings.Repeat("A", 3500),
		"other key": func() string {
			b := newFlowAppWith(t, appSetup{store: sessions.NewCookieStore([]byte("another hash key, 32 bytes long.."))})
			b.verify()
			return b.sessionCookie().Value
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			a := a.in(t)
			a.setSessionCookie(value)
			wantRedirect(t, a.get("/account"), "/2fa/?next=%2Faccount")
			wantBody(t, a.get("/2fa/"), http.StatusOK, "Verify your phone")
			wantRedirect(t, a.post("/2fa/send", url.Values{"phone": {testPhone}}), "/2fa/")
			a.clock.Advance(time.Hour) // out of the cooldown and the send window for the next case
		})
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		hdr    []string
		status int
		text   string // on the page, if set
	}{
		{"oversized body", "POST", "/2fa/send", "phone=" + strings.Repeat("1", 20<<10), []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusRequestEntityTooLarge, ""},
		{"oversized JSON", "POST", "/2fa/send", `{"phone":"` + strings.Repeat("1", 20<<10) + `"}`, []string{"Content-Type", "application/json"}, http.StatusRequestEntityTooLarge, ""},
		{"PUT send", "PUT", "/2fa/send", "phone=1", nil, http.StatusMethodNotAllowed, ""},
		{"GET check", "GET", "/2fa/check", "", nil, http.StatusMethodNotAllowed, ""},
		{"DELETE page", "DELETE", "/2fa/", "", nil, http.StatusMethodNotAllowed, ""},
		{"non-UTF-8 phone", "POST", "/2fa/send", "phone=%2B3161234567%FF", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusBadRequest, "We couldn't read that request"},
		{"junk phone", "POST", "/2fa/send", "phone=call+me+maybe", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusBadRequest, "That isn't a phone number"},
		{"national phone", "POST", "/2fa/send", "phone=0612345678", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusBadRequest, "Add your country code"},
		{"national phone of a country chosen", "POST", "/2fa/send", "phone=012&country=nl", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusBadRequest, "doesn't look like a valid mobile number"},
		{"unknown country", "POST", "/2fa/send", "phone=0612345678&country=XX", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusBadRequest, "We couldn't read that request"},
		{"landline", "POST", "/2fa/send", "phone=%2B31201234567", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusBadRequest, "only send codes to mobile numbers"},
		{"no phone", "POST", "/2fa/send", "", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusBadRequest, "valid mobile number"},
		{"bad form encoding", "POST", "/2fa/send", "phone=%zz", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusBadRequest, ""},
		{"bad channel", "POST", "/2fa/send", "phone=%2B31612345678&channel=fax", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusBadRequest, ""},
		{"voice disabled", "POST", "/2fa/send", "phone=%2B31612345678&channel=voice", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusBadRequest, "Calls aren't available"},
		{"unknown path", "GET", "/2fa/nope", "", nil, http.StatusNotFound, ""},
		{"unknown nested path", "GET", "/2fa/send/x", "", nil, http.StatusNotFound, ""},
		{"next //host", "GET", "/2fa/?next=%2F%2Fevil.example", "", nil, http.StatusBadRequest, "That return address isn't allowed"},
		{"next absolute", "GET", "/2fa/?next=https%3A%2F%2Fevil.example%2F", "", nil, http.StatusBadRequest, ""},
		{"next backslash", "GET", "/2fa/?next=%2F%5Cevil.example", "", nil, http.StatusBadRequest, ""},
		{"next encoded", "GET", "/2fa/?next=%2F%252Fevil.example", "", nil, http.StatusBadRequest, ""},
		{"next double encoded", "GET", "/2fa/?next=%252F%252Fevil.example", "", nil, http.StatusBadRequest, ""},
		{"next empty", "GET", "/2fa/?next=", "", nil, http.StatusBadRequest, ""},
		{"next control char", "GET", "/2fa/?next=%2Fa%0D%0ALocation%3A%20x", "", nil, http.StatusBadRequest, ""},
		{"JSON as text/plain", "POST", "/2fa/send", `{"phone":"+31612345678"}`, []string{"Content-Type", "text/plain", "Accept", "application/json"}, http.StatusUnsupportedMediaType, ""},
		{"XML", "POST", "/2fa/check", `<code>1</code>`, []string{"Content-Type", "application/xml"}, http.StatusUnsupportedMediaType, ""},
		{"malformed JSON", "POST", "/2fa/send", `{"phone":`, []string{"Content-Type", "application/json"}, http.StatusBadRequest, ""},
		{"JSON of the wrong shape", "POST", "/2fa/send", `{"phone":["+31612345678"]}`, []string{"Content-Type", "application/json"}, http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newFlowApp(t)
			res := a.do(tt.method, tt.path, strings.NewReader(tt.body), tt.hdr...)
			wantBody(t, res, tt.status, tt.text)
			if a.mock.Sends() != 0 {
				t.Error("bad input sent an SMS")
			}
		})
	}
	t.Run("local next is kept", func(t *testing.T) {
		a := newFlowApp(t)
		code := a.sendCode(testPhone) // visits /2fa/?next=%2Faccount, which replaces it
		wantStatus(t, a.get("/2fa/?next=%2Faccount%3Ftab%3D1"), http.StatusOK)
		wantRedirect(t, a.post("/2fa/check", url.Values{"code": {code}}), "/account?tab=1")
	})
}

func TestPagesLanguage(t *testing.T) {
	a := newFlowApp(t)
	page := a.get("/2fa/", "Accept-Language", "nl-NL,nl;q=0.9,en;q=0.5")
	wantBody(t, page, http.StatusOK, `<html lang="nl">`, "<title>Bevestig uw telefoonnummer</title>")
	if cl := page.header.Get("Content-Language"); cl != "nl" {
		t.Errorf("Content-Language %q", cl)
	}
	wantBody(t, a.get("/2fa/", "Accept-Language", "fr-FR"), http.StatusOK, `<html lang="en">`, "Verify your phone")
	wantBody(t, a.post("/2fa/send", url.Values{"phone": {"hallo"}}, "Accept-Language", "nl"), http.StatusBadRequest, "Dat is geen telefoonnummer")
	wantBody(t, a.post("/2fa/send", url.Values{"phone": {"+31 20 123 4567"}}, "Accept-Language", "nl"), http.StatusBadRequest, "alleen codes naar mobiele nummers")
	wantBody(t, a.post("/2fa/send", url.Values{"phone": {"+31 6"}}, "Accept-Language", "nl"), http.StatusBadRequest, "Dat lijkt geen geldig mobiel nummer")
}

// requestRecorder is a Provider that keeps every Request it is sent and
// passes it on to a Mock.
type requestRecorder struct {
	*twofactor.Mock
	mu   sync.Mutex
	reqs []twofactor.Request
}

func (p *requestRecorder) Send(ctx context.Context, req twofactor.Request) (twofactor.Verification, error) {
	p.mu.Lock()
	p.reqs = append(p.reqs, req)
	p.mu.Unlock()
	return p.Mock.Send(ctx, req)
}

// The provider gets a voice locale it can speak, only for calls: a bare
// page language such as "nl" is not one MessageBird accepts.
func TestSendLanguage(t *testing.T) {
	for _, tt := range []struct {
		accept, channel, want string
	}{
		{"nl-NL,nl", "voice", "nl-nl"},
		{"en-US", "voice", "en-gb"},
		{"fr", "voice", "en-gb"},
		{"nl", "", ""},
	} {
		rec := &requestRecorder{Mock: &twofactor.Mock{}}
		a := newFlowAppWith(t, appSetup{provider: rec, opts: []twofactor.Option{twofactor.WithVoice()}})
		wantRedirect(t, a.post("/2fa/send", url.Values{"phone": {testPhone}, "channel": {tt.channel}}, "Accept-Language", tt.accept), "/2fa/")
		if len(rec.reqs) != 1 || rec.reqs[0].Language != tt.want {
			t.Errorf("Accept-Language %q, channel %q: requests %+v, want one with Language %q", tt.accept, tt.channel, rec.reqs, tt.want)
		}
	}
}

func TestTemplatesOverride(t *testing.T) {
	fsys := fstest.MapFS{"phone.html": {Data: []byte(`{{define "title"}}Welcome to BirdBank{{end}}{{define "content"}}<input name="phone" type="tel">{{end}}`)}}
	a := newFlowApp(t, twofactor.WithTemplates(fsys))
	wantBody(t, a.get("/2fa/"), http.StatusOK, "<title>Welcome to BirdBank</title>", `<input name="phone" type="tel">`)
	a.sendCode(testPhone)
	wantBody(t, a.get("/2fa/"), http.StatusOK, "Enter your code") // the built-in code page
	res := a.get("/2fa/style.css")
	if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/css") || !strings.Contains(res.body, ".tf-card") {
		t.Errorf("style.css: %d %q", res.status, res.header.Get("Content-Type"))
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	mock := &twofactor.Mock{}
	tests := []struct {
		name     string
		provider twofactor.Provider
		opts     []twofactor.Option
	}{
		{"nil provider", nil, nil},
		{"typed nil provider", (*twofactor.Mock)(nil), nil},
		{"5-digit codes", &twofactor.Mock{Digits: 5}, nil},
		{"prefix without slashes", mock, []twofactor.Option{twofactor.WithPrefix("nope")}},
		{"prefix /", mock, []twofactor.Option{twofactor.WithPrefix("/")}},
		{"prefix without trailing slash", mock, []twofactor.Option{twofactor.WithPrefix("/2fa")}},
		{"SameSite None", mock, []twofactor.Option{twofactor.WithCookie(twofactor.Cookie{SameSite: http.SameSiteNoneMode})}},
		{"SameSite default", mock, []twofactor.Option{twofactor.WithCookie(twofactor.Cookie{SameSite: http.SameSiteDefaultMode})}},
		{"0 attempts", mock, []twofactor.Option{twofactor.WithLimits(func(l *twofactor.Limits) { l.MaxAttempts = 0 })}},
		{"11 attempts", mock, []twofactor.Option{twofactor.WithLimits(func(l *twofactor.Limits) { l.MaxAttempts = 11 })}},
		{"session name with a space", mock, []twofactor.Option{twofactor.WithCookie(twofactor.Cookie{Name: "a b"})}},
		{"session name with ;", mock, []twofactor.Option{twofactor.WithCookie(twofactor.Cookie{Name: "a;b"})}},
		{"cookie path", mock, []twofactor.Option{twofactor.WithCookie(twofactor.Cookie{Path: "app"})}},
		{"max age a second", mock, []twofactor.Option{twofactor.WithCookie(twofactor.Cookie{MaxAge: time.Second})}},
		{"max age a year", mock, []twofactor.Option{twofactor.WithCookie(twofactor.Cookie{MaxAge: 365 * 24 * time.Hour})}},
		{"negative idle timeout", mock, []twofactor.Option{twofactor.WithCookie(twofactor.Cookie{IdleTimeout: -time.Minute})}},
		{"provider timeout 0", mock, []twofactor.Option{twofactor.WithProviderTimeout(0)}},
		{"negative cooldown", mock, []twofactor.Option{twofactor.WithLimits(func(l *twofactor.Limits) { l.ResendCooldown = -time.Second })}},
		{"zero account limit", mock, []twofactor.Option{twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{} })}},
		{"region NLD", mock, []twofactor.Option{twofactor.WithDefaultRegion("NLD")}},
		{"allowed region Netherlands", mock, []twofactor.Option{twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.Regions = []string{"NL", "Netherlands"} })}},
		{"no allowed regions", mock, []twofactor.Option{twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.Regions = []string{} })}},
		{"trusted proxy", mock, []twofactor.Option{twofactor.WithTrustedProxies("10.0.0.1")}},
		{"trusted origin", mock, []twofactor.Option{twofactor.WithTrustedOrigins("not an origin")}},
		{"nil clock", mock, []twofactor.Option{twofactor.WithClock(nil)}},
		{"nil state", mock, []twofactor.Option{twofactor.WithState(nil)}},
		{"nil logger", mock, []twofactor.Option{twofactor.WithLogger(nil)}},
		{"nil lookup", mock, []twofactor.Option{twofactor.WithPhoneLookup(nil)}},
		{"phone lookup without subject", mock, []twofactor.Option{twofactor.WithPhoneLookup(func(*http.Request) (string, error) { return "+31612345678", nil })}},
		{"nil subject", mock, []twofactor.Option{twofactor.WithSubject(nil)}},
		{"nil templates", mock, []twofactor.Option{twofactor.WithTemplates(nil)}},
		{"broken template", mock, []twofactor.Option{twofactor.WithTemplates(fstest.MapFS{"code.html": {Data: []byte("{{define")}})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := twofactor.New(tt.provider, nil, tt.opts...)
			if err == nil || m != nil {
				t.Fatalf("New = %v, %v; want an error", m, err)
			}
			if !strings.HasPrefix(err.Error(), "twofactor: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
		})
	}
	t.Run("good config", func(t *testing.T) {
		_, err := twofactor.New(mock, nil,
			twofactor.WithPrefix("/verify/"), twofactor.WithCookie(twofactor.Cookie{SameSite: http.SameSiteStrictMode}), twofactor.WithLimits(func(l *twofactor.Limits) { l.MaxAttempts = 5 }),
			twofactor.WithDefaultRegion("nl"), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.Regions = []string{"NL", "be"} }), twofactor.WithTrustedProxies("10.0.0.0/8"),
			twofactor.WithTrustedOrigins("https://app.example"), nil)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
	})
}

func TestCustomPrefix(t *testing.T) {
	// The flow mounted elsewhere: every link and redirect follows.
	a := newFlowAppWith(t, appSetup{prefix: "/verify/"})
	wantRedirect(t, a.get("/account"), "/verify/?next=%2Faccount")
	wantBody(t, a.get("/verify/?next=%2Faccount"), http.StatusOK, `action="/verify/send"`, `href="/verify/style.css"`)
	wantRedirect(t, a.post("/verify/send", url.Values{"phone": {testPhone}}), "/verify/")
	wantBody(t, a.get("/verify/"), http.StatusOK, `action="/verify/check"`, `action="/verify/resend"`)
	wantRedirect(t, a.post("/verify/check", url.Values{"code": {a.codes.Last(t).Code}}), "/account")
	wantStatus(t, a.get("/account"), http.StatusOK)
	wantStatus(t, a.get("/2fa/"), http.StatusNotFound)
}
