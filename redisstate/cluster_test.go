package redisstate_test

// Tests of twofactor running on several app servers that share one Redis:
// each app server has its own Manager, its own go-redis client, its own
// redisstore session store and its own redisstate.State, all talking to the
// same redis-server. A small front server plays the load balancer, so one
// browser (one cookie jar) reaches whichever app server the test names. The
// servers share one Mock provider, as real servers share one MessageBird
// account.

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor/internal/testkit"

	"github.com/rbcervilla/redisstore/v9"
	"github.com/redis/go-redis/v9"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/redistest"
	"github.com/go-twofactor/twofactor/redisstate"
)

const (
	clusterPhone   = "+31612345678"
	clusterBalance = "Balance: 1,234.56 EUR"
	tryAgain       = "try again"
	// sessionPrefix is redisstore's default key prefix.
	sessionPrefix = "session:"
	// outageTimeout bounds each Redis command of the app servers' clients
	// in the tests that take Redis away.
	outageTimeout = time.Second
	// calmTimeout bounds each Redis command elsewhere: generous, so that a
	// loaded test machine does not turn a slow answer into a 503.
	calmTimeout = 10 * time.Second
	// requestBound is the most one request may take while Redis is down or
	// hangs: each Redis call gives up after outageTimeout (twice, with the
	// one retry the clients are allowed, and the pool's wait), with room
	// for a loaded machine: the point is "bounded", not "fast". A request
	// that hung on Redis would run into the visitors' 30 s client timeout.
	requestBound = 20 * time.Second
	// recoverDeadline bounds the wait for the app servers to reach Redis
	// again after it restarts.
	recoverDeadline = 10 * time.Second
)

// wrongCode returns a well-formed code that is not code.
func wrongCode(code string) string {
	b := []byte(code)
	b[len(b)-1] = '0' + (b[len(b)-1]-'0'+1)%10
	return string(b)
}

// appClient returns a go-redis client for srv configured as an app server
// should: every command bounded, context deadlines honoured, one retry.
func appClient(t *testing.T, srv *redistest.Server, timeout time.Duration) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = timeout, timeout, timeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = 1
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// appServer is one app server: a Manager with its own Redis client, session
// store and state, and the app's routes around it.
type appServer struct {
	name    string
	handler http.Handler
}

func newAppServer(t *testing.T, name string, srv *redistest.Server, timeout time.Duration, p twofactor.Provider, logs io.Writer, opts ...twofactor.Option) *appServer {
	t.Helper()
	rdb := appClient(t, srv, timeout)
	store, err := redisstore.NewRedisStore(t.Context(), rdb)
	if err != nil {
		t.Fatalf("NewRedisStore: %v", err)
	}
	state, err := redisstate.New(rdb, redisstate.WithTimeout(timeout))
	if err != nil {
		t.Fatalf("redisstate.New: %v", err)
	}
	opts = append([]twofactor.Option{
		twofactor.WithState(state),
		twofactor.WithSecret([]byte("redisstate tests: one secret shared by every server")),
		// The Manager's own deadline on each store call (2 s by default)
		// must be as generous as the clients': a loaded machine must not
		// turn a slow answer into a 503 in the calm tests.
		twofactor.WithStoreTimeout(max(timeout, tfDefaultStoreTimeout)),
		twofactor.WithLogger(slog.New(slog.NewTextHandler(logs, nil)).With("server", name)),
	}, opts...)
	m, err := twofactor.New(p, store, opts...)
	if err != nil {
		t.Fatalf("twofactor.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/2fa/", m.Handler())
	mux.Handle("GET /account", m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, clusterBalance)
	})))
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Reset(w, r); err != nil {
			http.Error(w, "Logging out failed; please try again.", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	return &appServer{name: name, handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", name)
		mux.ServeHTTP(w, r)
	})}
}

// cluster is two app servers sharing one redis-server behind one front
// server. The front sends each request to the app server the X-Backend
// header names (and strips it), or in turn when there is none.
type cluster struct {
	redis *redistest.Server
	admin *redis.Client // the test's own look into Redis
	mock  *twofactor.Mock
	codes *testkit.Codes
	logs  *testkit.Buffer
	apps  []*appServer
	front *httptest.Server
	url   *url.URL
}

// newCluster starts a redis-server and two app servers whose Redis clients
// give up on a command after timeout.
func newCluster(t *testing.T, timeout time.Duration, opts ...twofactor.Option) *cluster {
	t.Helper()
	srv := redistest.Start(t)
	c := &cluster{redis: srv, admin: appClient(t, srv, calmTimeout), codes: &testkit.Codes{}, logs: &testkit.Buffer{}}
	c.mock = &twofactor.Mock{OnCode: c.codes.Record}
	for _, name := range []string{"A", "B"} {
		c.apps = append(c.apps, newAppServer(t, name, srv, timeout, c.mock, c.logs, opts...))
	}
	var turn atomic.Uint64
	c.front = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(turn.Add(1) % uint64(len(c.apps)))
		if b := r.Header.Get("X-Backend"); b != "" {
			var err error
			if i, err = strconv.Atoi(b); err != nil || i < 0 || i >= len(c.apps) {
				http.Error(w, "bad X-Backend", http.StatusBadGateway)
				return
			}
			r.Header.Del("X-Backend")
		}
		c.apps[i].handler.ServeHTTP(w, r)
	}))
	t.Cleanup(c.front.Close)
	c.url, _ = url.Parse(c.front.URL)
	return c
}

// A and B name the app servers for visitor requests.
const (
	A = 0
	B = 1
)

// visitor is one browser: a cookie jar that does not follow redirects.
type visitor struct {
	t      *testing.T
	c      *cluster
	jar    *cookiejar.Jar
	client *http.Client
}

// visitor returns a new browser whose failures are reported to t.
func (c *cluster) visitor(t *testing.T) *visitor {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := new(http.Client)
	*client = *c.front.Client() // a copy: Client returns one shared *http.Client
	client.Jar = jar
	client.Timeout = 30 * time.Second // a hang fails the test instead of stalling it
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &visitor{t: t, c: c, jar: jar, client: client}
}

// reply is a response read in full.
type reply struct {
	status  int
	header  http.Header
	body    string
	elapsed time.Duration
}

// try sends a request through the front to app server app. hdr holds header
// name/value pairs. It is safe to call from several goroutines.
func (v *visitor) try(app int, method, path string, body io.Reader, hdr ...string) (reply, error) {
	req, err := http.NewRequestWithContext(v.t.Context(), method, v.c.front.URL+path, body)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("X-Backend", strconv.Itoa(app))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	start := time.Now()
	res, err := v.client.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if got, want := res.Header.Get("X-Served-By"), v.c.apps[app].name; got != want {
		return reply{}, fmt.Errorf("%s %s served by %q, want %q", method, path, got, want)
	}
	return reply{status: res.StatusCode, header: res.Header, body: string(b), elapsed: time.Since(start)}, nil
}

func (v *visitor) do(app int, method, path string, body io.Reader, hdr ...string) reply {
	v.t.Helper()
	r, err := v.try(app, method, path, body, hdr...)
	if err != nil {
		v.t.Fatal(err)
	}
	return r
}

func (v *visitor) get(app int, path string, hdr ...string) reply {
	v.t.Helper()
	return v.do(app, http.MethodGet, path, nil, hdr...)
}

func (v *visitor) post(app int, path string, form url.Values) reply {
	v.t.Helper()
	return v.do(app, http.MethodPost, path, strings.NewReader(form.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "Origin", v.c.front.URL)
}

// checkJSON posts a code as a JSON client and returns the answer's status
// and its error code ("" on success).
func (v *visitor) checkJSON(app int, code string) (int, string, error) {
	r, err := v.try(app, http.MethodPost, "/2fa/check", strings.NewReader(`{"code":"`+code+`"}`),
		"Content-Type", "application/json", "Accept", "application/json")
	if err != nil {
		return 0, "", err
	}
	var body struct{ Error struct{ Code string } }
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		return 0, "", fmt.Errorf("check answered %d, not JSON: %q", r.status, r.body)
	}
	return r.status, body.Error.Code, nil
}

// cookie returns the session cookie's value: redisstore's session id.
func (v *visitor) cookie() string {
	for _, c := range v.jar.Cookies(v.c.url) {
		if c.Name == "__Host-"+tfDefaultSessionName { // Secure, Path=/, no Domain
			return c.Value
		}
	}
	return ""
}

func (v *visitor) setCookie(value string) {
	v.jar.SetCookies(v.c.url, []*http.Cookie{{Name: "__Host-" + tfDefaultSessionName, Value: value, Path: "/"}})
}

// sendCode walks from the gate to a sent code, the gate on app gate, the
// phone page and the send on app send. It returns the code.
func (v *visitor) sendCode(gate, send int) string {
	v.t.Helper()
	sends := v.c.mock.Sends()
	r := v.get(gate, "/account")
	wantRedirect(v.t, r, "/2fa/?next=%2Faccount")
	wantStatus(v.t, v.get(send, r.header.Get("Location")), http.StatusOK)
	wantRedirect(v.t, v.post(send, "/2fa/send", url.Values{"phone": {clusterPhone}}), "/2fa/")
	if got := v.c.mock.Sends(); got != sends+1 {
		v.t.Fatalf("provider sent %d codes, want %d", got-sends, 1)
	}
	return v.c.codes.Last(v.t).Code
}

// verify runs the flow, the code sent through app send and checked through
// app check, and checks the gate on both app servers lets the visitor in.
func (v *visitor) verify(send, check int) {
	v.t.Helper()
	code := v.sendCode(send, send)
	wantBody(v.t, v.get(check, "/2fa/"), http.StatusOK, `name="code"`)
	wantRedirect(v.t, v.post(check, "/2fa/check", url.Values{"code": {code}}), "/account")
	for _, app := range []int{A, B} {
		wantBody(v.t, v.get(app, "/account"), http.StatusOK, clusterBalance)
	}
}

func wantStatus(t *testing.T, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body:\n%s", r.status, status, r.body)
	}
}

func wantRedirect(t *testing.T, r reply, location string) {
	t.Helper()
	wantStatus(t, r, http.StatusSeeOther)
	if got := r.header.Get("Location"); got != location {
		t.Fatalf("Location %q, want %q", got, location)
	}
}

func wantBody(t *testing.T, r reply, status int, want ...string) {
	t.Helper()
	wantStatus(t, r, status)
	for _, w := range want {
		if !strings.Contains(r.body, w) {
			t.Fatalf("body lacks %q:\n%s", w, r.body)
		}
	}
}

// exists reports whether Redis holds key.
func (c *cluster) exists(t *testing.T, key string) bool {
	t.Helper()
	n, err := c.admin.Exists(t.Context(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// allKeys returns every key on the server.
func (c *cluster) allKeys(t *testing.T) []string {
	t.Helper()
	var all []string
	iter := c.admin.Scan(t.Context(), 0, "*", 100).Iterator()
	for iter.Next(t.Context()) {
		all = append(all, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return all
}

// The code is sent through one app server and checked through the other;
// the verified session passes the gate on both; logging out on one revokes
// the verification on the other.
func TestTwoServersShareRedis(t *testing.T) {
	c := newCluster(t, calmTimeout)
	v := c.visitor(t)

	code := v.sendCode(A, A)
	// B knows the code is on its way: the session lives in Redis.
	wantBody(t, v.get(B, "/2fa/"), http.StatusOK, `name="code"`)
	wantBody(t, v.get(B, "/2fa/status", "Accept", "application/json"), http.StatusOK, `"pending":true`)
	// Still not through on either server.
	wantRedirect(t, v.get(B, "/account"), "/2fa/?next=%2Faccount")
	wantRedirect(t, v.get(A, "/account"), "/2fa/?next=%2Faccount")
	// B checks the code A sent, and sends the visitor where A was asked for.
	wantRedirect(t, v.post(B, "/2fa/check", url.Values{"code": {code}}), "/account")
	wantBody(t, v.get(B, "/account"), http.StatusOK, clusterBalance)
	wantBody(t, v.get(A, "/account"), http.StatusOK, clusterBalance)
	if n := c.mock.Sends(); n != 1 {
		t.Errorf("provider sent %d codes, want 1", n)
	}

	// Keep a copy of the verified session record, as if it leaked.
	id := v.cookie()
	leaked, err := c.admin.Get(t.Context(), sessionPrefix+id).Bytes()
	if err != nil {
		t.Fatalf("verified session %s… not in Redis: %v", id[:8], err)
	}

	// Log out on A: B no longer lets the visitor through.
	wantRedirect(t, v.post(A, "/logout", url.Values{}), "/")
	if c.exists(t, sessionPrefix+id) {
		t.Error("logout left the session record in Redis")
	}
	wantRedirect(t, v.get(B, "/account"), "/2fa/?next=%2Faccount")

	// Even the restored record of the verified session does not pass B:
	// logging out on A revoked the server-side grant every server checks.
	if err := c.admin.Set(t.Context(), sessionPrefix+id, leaked, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	replay := c.visitor(t)
	replay.setCookie(id)
	for _, app := range []int{B, A} {
		if r := replay.get(app, "/account"); r.status == http.StatusOK || strings.Contains(r.body, clusterBalance) {
			t.Fatalf("%s let a logged-out session through: %d", c.apps[app].name, r.status)
		}
	}
}

// Wrong guesses spread over both app servers in parallel share one attempt
// counter per code and one per account.
func TestAttemptCapAcrossServers(t *testing.T) {
	const perAccount = 4
	c := newCluster(t, calmTimeout,
		twofactor.WithLimits(func(l *twofactor.Limits) { l.ResendCooldown = 0 }),
		twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: perAccount, Per: time.Hour} }),
	)
	v := c.visitor(t)
	code := v.sendCode(A, A)

	const guesses = 50
	type result struct {
		app, status int
		code        string
		err         error
	}
	results := make(chan result, guesses)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range guesses {
		wg.Go(func() {
			<-start
			// Each guess differs: the flow does not count the same wrong
			// code twice in a row for a session (a reload).
			status, errCode, err := v.checkJSON(i%2, distinctWrong(code, i))
			results <- result{i % 2, status, errCode, err}
		})
	}
	close(start)
	wg.Wait()
	close(results)
	byCode := map[string]int{}
	byApp := map[int]int{}
	for r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.status != http.StatusBadRequest {
			t.Errorf("guess on %s: status %d (%s), want 400", c.apps[r.app].name, r.status, r.code)
		}
		byCode[r.code]++
		byApp[r.app]++
	}
	t.Logf("answers %v, served %v", byCode, byApp)
	if byCode["store_unavailable"] > 0 {
		t.Log(c.logs.String())
	}
	if byApp[A] == 0 || byApp[B] == 0 {
		t.Fatalf("guesses were not spread over both servers: %v", byApp)
	}
	// Exactly the per-code cap reached the provider; every other guess was
	// refused before it, whichever server it hit.
	if n := c.mock.Checks(); n != tfDefaultMaxAttempts {
		t.Fatalf("provider checked %d codes, want %d (the per-code cap)", n, tfDefaultMaxAttempts)
	}
	// The last of the capped guesses is told the code is used up, like
	// every guess after it.
	if byCode["invalid_code"] != tfDefaultMaxAttempts-1 || byCode["too_many_attempts"] != guesses-tfDefaultMaxAttempts+1 {
		t.Errorf("answers %v, want %d invalid_code and the rest too_many_attempts", byCode, tfDefaultMaxAttempts-1)
	}
	// The number's account counter is keyed by a keyed hash of the number:
	// a Redis dump names no customer's number.
	accts, err := c.admin.Keys(t.Context(), redisstate.DefaultPrefix+"{account:n:*").Result()
	if err != nil || len(accts) != 1 {
		t.Fatalf("account counters %v, %v; want one", accts, err)
	}
	all, _ := c.admin.Keys(t.Context(), "*").Result()
	for _, k := range all {
		if strings.Contains(k, strings.TrimPrefix(clusterPhone, "+")[2:]) {
			t.Errorf("Redis key %q holds the phone number in clear", k)
		}
	}
	acctKey := accts[0]
	if n, err := c.admin.Get(t.Context(), acctKey).Int(); err != nil || n != tfDefaultMaxAttempts {
		t.Errorf("account counter %s = %d, %v; want %d", acctKey, n, err, tfDefaultMaxAttempts)
	}
	// The right code no longer works: the code's attempts are used up.
	if status, errCode, err := v.checkJSON(B, code); err != nil || errCode != "too_many_attempts" {
		t.Fatalf("right code after the cap = %d %q, %v; want too_many_attempts", status, errCode, err)
	}

	// A new code, sent through B. The account counter carries over from
	// both servers: one more wrong guess is allowed (the 4th), then the
	// account is locked on either server, even for the right code.
	wantRedirect(t, v.post(B, "/2fa/resend", url.Values{}), "/2fa/")
	code = c.codes.Last(t).Code
	if status, errCode, err := v.checkJSON(B, wrongCode(code)); err != nil || errCode != "invalid_code" {
		t.Fatalf("wrong guess %d on B = %d %q, %v; want invalid_code", perAccount, status, errCode, err)
	}
	if status, errCode, err := v.checkJSON(A, distinctWrong(code, 7)); err != nil || status != http.StatusTooManyRequests || errCode != "locked" {
		t.Fatalf("wrong guess %d on A = %d %q, %v; want 429 locked", perAccount+1, status, errCode, err)
	}
	if status, errCode, err := v.checkJSON(B, code); err != nil || errCode != "locked" {
		t.Fatalf("right code on a locked account = %d %q, %v; want locked", status, errCode, err)
	}
	if n := c.mock.Checks(); n != perAccount {
		t.Errorf("provider checked %d codes, want %d (the account cap)", n, perAccount)
	}
	for _, app := range []int{A, B} {
		wantRedirect(t, v.get(app, "/account"), "/2fa/?next=%2Faccount")
	}
}

// Verification replaces the session id: the old record is deleted from
// Redis and a fresh id issued. An id the store never issued is not adopted.
func TestSessionRenewedInRedis(t *testing.T) {
	c := newCluster(t, calmTimeout)

	t.Run("IssuedID", func(t *testing.T) {
		v := c.visitor(t)
		code := v.sendCode(A, B)
		before := v.cookie()
		if before == "" || !c.exists(t, sessionPrefix+before) {
			t.Fatalf("no session record for the cookie %q before verification", before)
		}
		// Someone who knows the pre-verification id (planted it, or read it).
		fixer := c.visitor(t)
		fixer.setCookie(before)

		wantRedirect(t, v.post(A, "/2fa/check", url.Values{"code": {code}}), "/account")
		after := v.cookie()
		if after == "" || after == before {
			t.Fatalf("session id not renewed: %q before, %q after", before, after)
		}
		if c.exists(t, sessionPrefix+before) {
			t.Error("the pre-verification session record is still in Redis")
		}
		if !c.exists(t, sessionPrefix+after) {
			t.Error("no record for the renewed session in Redis")
		}
		wantBody(t, v.get(B, "/account"), http.StatusOK, clusterBalance)

		for _, app := range []int{A, B} {
			wantRedirect(t, fixer.get(app, "/account"), "/2fa/?next=%2Faccount")
		}
		// Starting the flow with the old id writes nothing under it; the
		// first send gets a new one.
		wantStatus(t, fixer.get(A, "/2fa/?next=%2Faccount"), http.StatusOK)
		fixer.post(A, "/2fa/send", url.Values{"phone": {"+31687654321"}})
		if got := fixer.cookie(); got == before || got == after {
			t.Errorf("flow adopted a known id %q", got)
		}
		if c.exists(t, sessionPrefix+before) {
			t.Error("the pre-verification session record came back")
		}
	})

	t.Run("PlantedID", func(t *testing.T) {
		const planted = "attacker"
		v := c.visitor(t)
		v.setCookie(planted)
		code := v.sendCode(B, A)
		if got := v.cookie(); got == planted {
			t.Fatal("the flow adopted the planted session id")
		}
		wantRedirect(t, v.post(B, "/2fa/check", url.Values{"code": {code}}), "/account")
		if got := v.cookie(); got == planted || got == "" {
			t.Fatalf("session cookie after verification = %q", got)
		}
		wantBody(t, v.get(A, "/account"), http.StatusOK, clusterBalance)
		if c.exists(t, sessionPrefix+planted) {
			t.Error("Redis holds a session under the planted id")
		}
		attacker := c.visitor(t)
		attacker.setCookie(planted)
		for _, app := range []int{A, B} {
			wantRedirect(t, attacker.get(app, "/account"), "/2fa/?next=%2Faccount")
		}
	})
}

// Every key the flow leaves in Redis, sessions included, has a time to live.
func TestRedisKeysHaveTTL(t *testing.T) {
	c := newCluster(t, calmTimeout)
	v := c.visitor(t)
	code := v.sendCode(A, B)
	if status, errCode, err := v.checkJSON(A, wrongCode(code)); err != nil || errCode != "invalid_code" {
		t.Fatalf("wrong guess = %d %q, %v", status, errCode, err)
	}
	wantRedirect(t, v.post(B, "/2fa/check", url.Values{"code": {code}}), "/account")
	wantBody(t, v.get(A, "/account"), http.StatusOK, clusterBalance)
	// Another visitor who only opened the flow page.
	wantStatus(t, c.visitor(t).get(B, "/2fa/?next=%2Faccount"), http.StatusOK)

	state := func(kind string) string { return redisstate.DefaultPrefix + "{" + kind + ":" }
	checkTTLs := func(when string, want ...string) {
		t.Helper()
		all := c.allKeys(t)
		for _, key := range all {
			ttl, err := c.admin.PTTL(t.Context(), key).Result()
			if err != nil {
				t.Fatal(err)
			}
			// go-redis reports "no expiry" (-1) as -1ns.
			if ttl <= 0 {
				t.Errorf("%s: key %q has PTTL %v, want a time to live", when, key, ttl)
			}
			// The longest window is the account's: a day; but a verified
			// number stays known (a mark the fraud guard's budgets pass)
			// for DefaultKnownNumbers, and so does the mark of its
			// owner (the requester who proved it).
			longest := max(twofactor.DefaultMaxAge, 24*time.Hour) // the default account window is a day
			if strings.HasPrefix(key, state("known")) || strings.HasPrefix(key, state("owner")) {
				longest = tfDefaultKnownNumbers
			}
			if ttl > longest {
				t.Errorf("%s: key %q lives %v, longer than the longest window %v", when, key, ttl, longest)
			}
		}
		for _, w := range want {
			found := false
			for _, key := range all {
				found = found || strings.HasPrefix(key, w)
			}
			if !found {
				t.Errorf("%s: no key starting %q among %q", when, w, all)
			}
		}
	}
	checkTTLs("after verification", sessionPrefix,
		state("attempts"), state("account"), state("used"), state("grant"),
		state("cooldown"), state("phone"), state("ip"), state("known"), state("owner"))

	wantRedirect(t, v.post(B, "/logout", url.Values{}), "/")
	checkTTLs("after logout")
	for _, key := range c.allKeys(t) {
		if strings.HasPrefix(key, state("grant")) {
			t.Errorf("grant %q survived the logout", key)
		}
	}
}

// With Redis gone, both app servers fail closed with 503 and a page that
// says to try again, quickly; when Redis is back (empty), the same app
// servers work again without a restart.
func TestRedisDownFailsClosed(t *testing.T) {
	c := newCluster(t, outageTimeout)
	v := c.visitor(t)
	v.verify(A, B)
	fresh := c.visitor(t)
	wantRedirect(t, fresh.get(A, "/account"), "/2fa/?next=%2Faccount")

	c.redis.Stop()
	outage(t, c, v, fresh)
	if !strings.Contains(c.logs.String(), "session store or state backend failed") || !strings.Contains(c.logs.String(), "path=/account") {
		t.Error("the gate logged no error for the outage")
	}

	c.redis.Restart()
	recovered(t, c, v)
}

// A Redis that accepts connections but never answers is as bad as none:
// every request still ends within the bound with 503.
func TestRedisHangsFailsClosed(t *testing.T) {
	c := newCluster(t, outageTimeout)
	v := c.visitor(t)
	v.verify(B, A)
	fresh := c.visitor(t)

	c.redis.Stop()
	hole, err := net.Listen("tcp", c.redis.Addr())
	if err != nil {
		t.Fatalf("listen on Redis's port: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			conn, err := hole.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn) // hold it open, say nothing
			mu.Unlock()
		}
	}()
	closeHole := func() {
		_ = hole.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, conn := range conns {
			_ = conn.Close()
		}
	}
	t.Cleanup(closeHole)

	outage(t, c, v, fresh)

	closeHole()
	c.redis.Restart()
	recovered(t, c, v)
}

// outage checks, while Redis is unusable, that every request on both app
// servers ends within requestBound, nothing passes the gate, and the flow
// answers 503 with a page that says to try again. v is a verified visitor,
// fresh one without a session. The requests run in parallel, as they would.
func outage(t *testing.T, c *cluster, v, fresh *visitor) {
	t.Helper()
	type probe struct {
		who  *visitor
		app  int
		desc string
		req  func(v *visitor, app int) (reply, error)
		// want is the status; 0 means "anything but 200".
		want int
		body string
	}
	get := func(path string, hdr ...string) func(*visitor, int) (reply, error) {
		return func(v *visitor, app int) (reply, error) { return v.try(app, http.MethodGet, path, nil, hdr...) }
	}
	post := func(path, form string) func(*visitor, int) (reply, error) {
		return func(v *visitor, app int) (reply, error) {
			return v.try(app, http.MethodPost, path, strings.NewReader(form),
				"Content-Type", "application/x-www-form-urlencoded", "Origin", c.front.URL)
		}
	}
	var probes []probe
	for _, app := range []int{A, B} {
		probes = append(probes,
			probe{v, app, "verified gate", get("/account"), http.StatusServiceUnavailable, tryAgain},
			probe{v, app, "verified gate (JSON)", get("/account", "Accept", "application/json"), http.StatusServiceUnavailable, "store_unavailable"},
			probe{v, app, "flow page", get("/2fa/"), http.StatusServiceUnavailable, tryAgain},
			probe{v, app, "flow page with next", get("/2fa/?next=%2Faccount"), http.StatusServiceUnavailable, tryAgain},
			probe{v, app, "status", get("/2fa/status", "Accept", "application/json"), http.StatusServiceUnavailable, "store_unavailable"},
			probe{v, app, "send", post("/2fa/send", "phone=%2B31612345678"), http.StatusServiceUnavailable, tryAgain},
			probe{v, app, "resend", post("/2fa/resend", ""), http.StatusServiceUnavailable, tryAgain},
			probe{v, app, "check", post("/2fa/check", "code=123456"), http.StatusServiceUnavailable, tryAgain},
			probe{v, app, "restart", post("/2fa/restart", ""), http.StatusServiceUnavailable, tryAgain},
			probe{v, app, "logout", post("/logout", ""), http.StatusServiceUnavailable, tryAgain},
			// Without a session there is nothing to read: the gate sends
			// the visitor to the flow, which cannot send a code.
			probe{fresh, app, "fresh gate", get("/account"), 0, ""},
			// Looking at the flow writes nothing (no server-side record
			// for a visitor who has submitted nothing), so that page
			// shows; sending is where Redis is needed, and that fails.
			probe{fresh, app, "fresh flow page with next", get("/2fa/?next=%2Faccount"), http.StatusOK, "Verify your phone"},
			probe{fresh, app, "fresh send", post("/2fa/send", "phone=%2B31612345678"), http.StatusServiceUnavailable, tryAgain},
		)
	}
	type outcome struct {
		r   reply
		err error
	}
	outcomes := make([]outcome, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Go(func() {
			r, err := p.req(p.who, p.app)
			outcomes[i] = outcome{r, err}
		})
	}
	wg.Wait()
	for i, p := range probes {
		name := p.desc + " on " + c.apps[p.app].name
		r, err := outcomes[i].r, outcomes[i].err
		switch {
		case err != nil:
			t.Errorf("%s: %v", name, err)
			continue
		case r.elapsed > requestBound:
			t.Errorf("%s took %v, want at most %v", name, r.elapsed, requestBound)
		}
		if strings.Contains(r.body, clusterBalance) || r.status == http.StatusOK && p.want != http.StatusOK {
			t.Errorf("%s: let through with %d while Redis is out", name, r.status)
			continue
		}
		if p.want != 0 && r.status != p.want {
			t.Errorf("%s: status %d, want %d; body:\n%s", name, r.status, p.want, r.body)
		}
		if !strings.Contains(r.body, p.body) {
			t.Errorf("%s: body lacks %q:\n%s", name, p.body, r.body)
		}
	}
	if n := c.mock.Sends(); n != 1 {
		t.Errorf("provider sent %d codes in all, want only the one before the outage", n)
	}
}

// recovered waits for the app servers to reach the restarted (empty) Redis
// and checks that they work as before: v's session is gone, so the gate
// sends v into the flow, and the flow verifies v again.
func recovered(t *testing.T, c *cluster, v *visitor) {
	t.Helper()
	deadline := time.Now().Add(recoverDeadline)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for _, app := range []int{A, B} {
		for {
			r := v.get(app, "/account")
			if r.status == http.StatusOK || strings.Contains(r.body, clusterBalance) {
				t.Fatalf("%s let a visitor through while Redis came back", c.apps[app].name)
			}
			if r.status != http.StatusServiceUnavailable {
				wantRedirect(t, r, "/2fa/?next=%2Faccount")
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still answers 503 %v after Redis came back", c.apps[app].name, recoverDeadline)
			}
			<-tick.C
		}
	}
	sends := c.mock.Sends()
	code := v.sendCode(B, A)
	wantRedirect(t, v.post(B, "/2fa/check", url.Values{"code": {code}}), "/account")
	for _, app := range []int{A, B} {
		wantBody(t, v.get(app, "/account"), http.StatusOK, clusterBalance)
	}
	if got := c.mock.Sends(); got != sends+1 {
		t.Errorf("provider sent %d codes after recovery, want 1", got-sends)
	}
}

// distinctWrong returns a code of code's length that is not code, different
// for each i below 100.
func distinctWrong(code string, i int) string {
	last, _ := strconv.Atoi(code[len(code)-2:])
	return code[:len(code)-2] + fmt.Sprintf("%02d", (last+1+i%99)%100)
}
