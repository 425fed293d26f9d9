package main

// Tests of BirdBank with REDIS_URL: two BirdBank instances on one Redis
// share sessions and limits, as two servers behind a load balancer would;
// a bad or unreachable REDIS_URL stops BirdBank with a clear error. They
// start their own redis-server (Debian package redis-server) and skip
// without it, except under CI=true.

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/redistest"
	"github.com/go-twofactor/twofactor/internal/testkit"
)

const (
	redisPhone   = "+31612345678"
	redisBalance = "1,234.56"
	// redisBound is the most a request may take while Redis is down.
	redisBound = 5 * time.Second
)

// startRedisApp starts a BirdBank with REDIS_URL set to redisURL.
func startRedisApp(t *testing.T, redisURL string, p twofactor.Provider) *httptest.Server {
	t.Helper()
	return startRedisAppKey(t, redisURL, p, "")
}

// startRedisAppKey is startRedisApp with SESSION_KEY set to sessionKey.
func startRedisAppKey(t *testing.T, redisURL string, p twofactor.Provider, sessionKey string) *httptest.Server {
	t.Helper()
	a, err := newApp(config{RedisURL: redisURL, SessionKey: sessionKey, Provider: p, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("newApp with REDIS_URL: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv
}

// redisPage is where a request ended after redirects, and what it showed.
type redisPage struct {
	status  int
	path    string
	body    string
	elapsed time.Duration
}

// redisVisitor is a browser: it keeps cookies and follows redirects.
// Cookies do not tell ports apart, so BirdBanks on two ports of 127.0.0.1
// get the same cookies, as servers behind one load balancer would.
type redisVisitor struct {
	t      *testing.T
	jar    *cookiejar.Jar
	client *http.Client
}

func newRedisVisitor(t *testing.T) *redisVisitor {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &redisVisitor{t: t, jar: jar, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// do sends a request to the BirdBank at base; a non-nil form is POSTed as a
// same-origin form submission.
func (v *redisVisitor) do(base, method, path string, form url.Values) redisPage {
	v.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(v.t.Context(), method, base+path, body)
	if err != nil {
		v.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
	}
	start := time.Now()
	res, err := v.client.Do(req)
	if err != nil {
		v.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		v.t.Fatal(err)
	}
	return redisPage{status: res.StatusCode, path: res.Request.URL.Path, body: string(b), elapsed: time.Since(start)}
}

// cookie returns the session cookie the visitor sends to base.
func (v *redisVisitor) cookie(base string) string {
	v.t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		v.t.Fatal(err)
	}
	for _, c := range v.jar.Cookies(u) {
		if c.Name == tfDefaultSessionName {
			return c.Value
		}
	}
	return ""
}

// signIn walks BirdBank's flow at base: /account, the phone page, the code
// page, back on /account with the balance.
func (v *redisVisitor) signIn(base string, codes *testkit.Codes) {
	v.t.Helper()
	p := v.do(base, http.MethodGet, "/account", nil)
	if p.status != http.StatusOK || p.path != "/2fa/" || !strings.Contains(p.body, `name="phone"`) || strings.Contains(p.body, redisBalance) {
		v.t.Fatalf("GET /account ended at %s (%d) without the phone form:\n%s", p.path, p.status, p.body)
	}
	p = v.do(base, http.MethodPost, "/2fa/send", url.Values{"phone": {redisPhone}})
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="code"`) {
		v.t.Fatalf("after sending: %s %d\n%s", p.path, p.status, p.body)
	}
	p = v.do(base, http.MethodPost, "/2fa/check", url.Values{"code": {codes.Last(v.t).Code}})
	if p.status != http.StatusOK || p.path != "/account" || !strings.Contains(p.body, redisBalance) {
		v.t.Fatalf("after the code: %s %d\n%s", p.path, p.status, p.body)
	}
}

// wantFlow checks that /account at base sends the visitor into the flow.
func (v *redisVisitor) wantFlow(base, when string) {
	v.t.Helper()
	p := v.do(base, http.MethodGet, "/account", nil)
	if p.path != "/2fa/" || strings.Contains(p.body, redisBalance) {
		v.t.Fatalf("%s: GET /account ended at %s (%d), want the flow", when, p.path, p.status)
	}
}

func redisAdmin(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Two BirdBanks on one REDIS_URL: a visitor verified on one is verified on
// the other with the same cookie, logging out on one logs out on both, and
// everything BirdBank keeps in Redis expires. Without SESSION_KEY the
// sessions are redisstore's (the cookie is the record's id); with one,
// redisstate's SessionStore (the cookie holds the id signed and encrypted).
func TestRedisURLSharedSessions(t *testing.T) {
	t.Run("no SESSION_KEY", func(t *testing.T) { redisSharedSessions(t, "") })
	t.Run("SESSION_KEY", func(t *testing.T) { redisSharedSessions(t, "a shared session key, 32 characters or more") })
}

func redisSharedSessions(t *testing.T, sessionKey string) {
	srv := redistest.Start(t)
	codes := &testkit.Codes{}
	mock := &twofactor.Mock{OnCode: codes.Record}
	one := startRedisAppKey(t, srv.URL(), mock, sessionKey)
	two := startRedisAppKey(t, srv.URL(), mock, sessionKey)
	admin := redisAdmin(t, srv)
	v := newRedisVisitor(t)

	v.wantFlow(two.URL, "before verification")
	v.signIn(one.URL, codes)
	id := v.cookie(one.URL)
	if id == "" || v.cookie(two.URL) != id {
		t.Fatalf("session cookie %q on the first BirdBank, %q on the second; want the same", id, v.cookie(two.URL))
	}
	if p := v.do(two.URL, http.MethodGet, "/account", nil); p.status != http.StatusOK || p.path != "/account" || !strings.Contains(p.body, redisBalance) {
		t.Fatalf("second BirdBank with the same cookie: %s %d, want the balance:\n%s", p.path, p.status, p.body)
	}
	if n := mock.Sends(); n != 1 {
		t.Errorf("%d codes sent, want 1", n)
	}

	// Sessions and limits live in Redis, under BirdBank's prefix, and expire.
	keys, err := admin.Keys(t.Context(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var session string // the session record's key
	for _, k := range keys {
		if (sessionKey == "" && k == "birdbank:session:"+id) || (sessionKey != "" && strings.HasPrefix(k, "birdbank:{session:")) {
			if session != "" {
				t.Errorf("two session records, %q and %q, for one visitor", session, k)
			}
			session = k
		}
		if !strings.HasPrefix(k, "birdbank:") {
			t.Errorf("key %q outside BirdBank's prefix", k)
		}
		if ttl, err := admin.PTTL(t.Context(), k).Result(); err != nil || ttl <= 0 {
			t.Errorf("key %q: PTTL %v, %v; want a time to live", k, ttl, err)
		}
	}
	if session == "" {
		t.Fatalf("no session record among %q", keys)
	}

	// Log out on the second: the first no longer lets the visitor in.
	if p := v.do(two.URL, http.MethodPost, "/logout", url.Values{}); p.status != http.StatusOK || p.path != "/" {
		t.Fatalf("logout: %s %d", p.path, p.status)
	}
	v.wantFlow(one.URL, "after logout on the other BirdBank")
	if n, err := admin.Exists(t.Context(), session).Result(); err != nil || n != 0 {
		t.Errorf("session record after logout: EXISTS = %d, %v; want 0", n, err)
	}
}

// With Redis gone, BirdBank refuses the account page with 503 rather than
// showing it, quickly; when Redis is back, the same BirdBank works again.
func TestRedisURLOutage(t *testing.T) {
	srv := redistest.Start(t)
	codes := &testkit.Codes{}
	bank := startRedisApp(t, srv.URL(), &twofactor.Mock{OnCode: codes.Record})
	v := newRedisVisitor(t)
	v.signIn(bank.URL, codes)

	srv.Stop()
	for _, path := range []string{"/account", "/2fa/"} {
		p := v.do(bank.URL, http.MethodGet, path, nil)
		if p.status != http.StatusServiceUnavailable || strings.Contains(p.body, redisBalance) || !strings.Contains(p.body, "try again") {
			t.Errorf("GET %s with Redis down: %s %d, want 503 asking to try again:\n%s", path, p.path, p.status, p.body)
		}
		if p.elapsed > redisBound {
			t.Errorf("GET %s with Redis down took %v, want at most %v", path, p.elapsed, redisBound)
		}
	}

	srv.Restart()
	// Wait for BirdBank's Redis client to reconnect. The restarted Redis is
	// empty, so the visitor must verify again; never is the balance shown.
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		p := v.do(bank.URL, http.MethodGet, "/account", nil)
		if strings.Contains(p.body, redisBalance) {
			t.Fatal("balance shown while Redis came back empty")
		}
		if p.status != http.StatusServiceUnavailable {
			if p.path != "/2fa/" || p.status != http.StatusOK {
				t.Fatalf("after Redis came back: %s %d, want the flow", p.path, p.status)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("BirdBank still answers 503 10s after Redis came back")
		}
		<-tick.C
	}
	v.signIn(bank.URL, codes)
}

// A REDIS_URL that does not parse, or names a server that is not there,
// stops BirdBank at start with an error that says what is wrong.
func TestRedisURLErrors(t *testing.T) {
	for _, bad := range []string{
		"not a url",
		"http://127.0.0.1:6379/0",
		"redis://127.0.0.1:6379/zero",
		"redis://127.0.0.1:notaport/0",
		"redis://:s3cret@127.0.0.1:notaport/0",
	} {
		a, err := newApp(config{RedisURL: bad, Provider: &twofactor.Mock{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil || a != nil || !strings.Contains(err.Error(), "REDIS_URL") {
			t.Errorf("REDIS_URL=%q: newApp = %v, %v; want an error naming REDIS_URL", bad, a, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error repeats the Redis password: %v", err)
		}
	}

	// A loopback port nobody listens on (it was free a moment ago).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	start := time.Now()
	a, err := newApp(config{RedisURL: "redis://" + addr + "/0", Provider: &twofactor.Mock{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || a != nil || !strings.Contains(err.Error(), "REDIS_URL") || !strings.Contains(err.Error(), "connect") {
		t.Errorf("unreachable REDIS_URL: newApp = %v, %v; want an error saying it cannot connect", a, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("unreachable REDIS_URL: newApp took %v to give up", d)
	}
}
