package redisstate_test

// Tests of SessionStore through real HTTP against a real redis-server: a
// TLS test server with the flow at /2fa/, a gated /account and a logout,
// one browser per cookie jar, the Manager's clock in the test's hands.

import (
	"bufio"
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
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/rbcervilla/redisstore/v9"
	"github.com/redis/go-redis/v9"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/redistest"
	"github.com/go-twofactor/twofactor/internal/testkit"
	"github.com/go-twofactor/twofactor/redisstate"
)

var gsHashKey, gsBlockKey = []byte("gatestore tests: hash key 32 B.."), []byte("gatestore tests: block key 32 B.")

// gsClock is the Manager's clock.
type gsClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *gsClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *gsClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// gsApp is an app whose sessions live in Redis.
type gsApp struct {
	redis *redistest.Server
	admin *redis.Client
	m     *twofactor.Manager
	clock *gsClock
	codes *testkit.Codes
	srv   *httptest.Server
}

// storeKind names the session store of a gsApp.
type storeKind int

const (
	newStore  storeKind = iota // redisstate.SessionStore on a single-server client
	ringStore                  // redisstate.SessionStore on a Ring: the cluster path
	gorilla                    // rbcervilla/redisstore
)

func newGSApp(t *testing.T, kind storeKind) *gsApp {
	t.Helper()
	srv := redistest.Start(t)
	a := &gsApp{redis: srv, admin: appClient(t, srv, calmTimeout), clock: &gsClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}, codes: &testkit.Codes{}}
	var rdb redis.UniversalClient = appClient(t, srv, outageTimeout)
	if kind == ringStore {
		ring := redis.NewRing(&redis.RingOptions{
			Addrs:                 map[string]string{"one": srv.Addr()},
			ContextTimeoutEnabled: true,
			DialTimeout:           outageTimeout, ReadTimeout: outageTimeout, WriteTimeout: outageTimeout,
		})
		t.Cleanup(func() { _ = ring.Close() })
		rdb = ring
	}
	state, err := redisstate.New(rdb, redisstate.WithTimeout(outageTimeout), redisstate.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	var store sessions.Store
	if kind == gorilla {
		rs, err := redisstore.NewRedisStore(t.Context(), rdb)
		if err != nil {
			t.Fatal(err)
		}
		store = rs
	} else {
		ss, err := redisstate.NewSessionStore(state, gsHashKey, gsBlockKey)
		if err != nil {
			t.Fatal(err)
		}
		store = ss
	}
	mock := &twofactor.Mock{OnCode: a.codes.Record}
	a.m, err = twofactor.New(mock, store,
		twofactor.WithState(state),
		twofactor.WithSecret([]byte("gatestore tests: a secret of 32 bytes or more")),
		twofactor.WithSubject(func(r *http.Request) string { return r.Header.Get("X-User") }),
		twofactor.WithRememberDevice(30*24*time.Hour),
		twofactor.WithClock(a.clock.Now),
		twofactor.WithStoreTimeout(tfDefaultStoreTimeout),
		twofactor.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/2fa/", a.m.Handler())
	mux.Handle("GET /account", a.m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, clusterBalance)
	})))
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := a.m.Reset(w, r); err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	a.srv = httptest.NewTLSServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

// gsBrowser is one browser of user, with its own cookie jar.
type gsBrowser struct {
	t    *testing.T
	a    *gsApp
	user string
	jar  *cookiejar.Jar
	hc   *http.Client
}

func (a *gsApp) browser(t *testing.T, user string) *gsBrowser {
	jar, _ := cookiejar.New(nil)
	hc := new(http.Client)
	*hc = *a.srv.Client()
	hc.Jar = jar
	hc.Timeout = 30 * time.Second
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &gsBrowser{t: t, a: a, user: user, jar: jar, hc: hc}
}

func (b *gsBrowser) do(method, path string, form url.Values) reply {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequestWithContext(b.t.Context(), method, b.a.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.a.srv.URL)
	}
	req.Header.Set("X-User", b.user)
	res, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, header: res.Header, body: string(data)}
}

// account reports whether the gate lets b in; it fails the test on
// anything but 200 or the redirect into the flow.
func (b *gsBrowser) account() bool {
	b.t.Helper()
	r := b.do(http.MethodGet, "/account", nil)
	switch {
	case r.status == http.StatusOK && strings.Contains(r.body, clusterBalance):
		return true
	case r.status == http.StatusSeeOther && r.header.Get("Location") == "/2fa/?next=%2Faccount":
		return false
	}
	b.t.Fatalf("GET /account: %d %q", r.status, r.body)
	return false
}

// verify runs the flow with a code, remembering the device if remember.
func (b *gsBrowser) verify(remember bool) {
	b.t.Helper()
	if b.account() {
		b.t.Fatal("let in before verifying")
	}
	wantStatus(b.t, b.do(http.MethodGet, "/2fa/?next=%2Faccount", nil), http.StatusOK)
	wantRedirect(b.t, b.do(http.MethodPost, "/2fa/send", url.Values{"phone": {clusterPhone}}), "/2fa/")
	form := url.Values{"code": {b.a.codes.Last(b.t).Code}}
	if remember {
		form.Set("remember", "1")
	}
	wantRedirect(b.t, b.do(http.MethodPost, "/2fa/check", form), "/account")
	if !b.account() {
		b.t.Fatal("verified session refused")
	}
}

func (b *gsBrowser) cookie(suffix string) *http.Cookie {
	u, _ := url.Parse(b.a.srv.URL + "/")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "__Host-"+tfDefaultSessionName+suffix {
			return c
		}
	}
	return nil
}

func (b *gsBrowser) setCookie(suffix, value string) {
	u, _ := url.Parse(b.a.srv.URL + "/")
	b.jar.SetCookies(u, []*http.Cookie{{Name: "__Host-" + tfDefaultSessionName + suffix, Value: value, Path: "/", Secure: true}})
}

// sessionID decodes the session cookie's id.
func (b *gsBrowser) sessionID() string {
	b.t.Helper()
	c := b.cookie("")
	if c == nil {
		b.t.Fatal("no session cookie")
	}
	var id string
	if err := securecookie.DecodeMulti(c.Name, c.Value, &id, securecookie.CodecsFromPairs(gsHashKey, gsBlockKey)...); err != nil {
		b.t.Fatal(err)
	}
	return id
}

// topLevel runs fn and returns the commands Redis received from clients
// meanwhile (MONITOR: a script's own commands, from "lua", are not
// counted), and the rise of INFO's total_commands_processed, which counts
// those too.
func (a *gsApp) topLevel(t *testing.T, fn func()) (cmds []string, total int64) {
	t.Helper()
	before := a.processed(t) // first: the admin's connection is open before MONITOR
	conn, err := net.Dial("tcp", a.redis.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	rd := bufio.NewReader(conn)
	io.WriteString(conn, "MONITOR\r\n")
	if line, err := rd.ReadString('\n'); err != nil || line != "+OK\r\n" {
		t.Fatalf("MONITOR: %q, %v", line, err)
	}
	fn()
	const marker = "gatestore-marker"
	if err := a.admin.Echo(t.Context(), marker).Err(); err != nil {
		t.Fatal(err)
	}
	// total counts the first INFO, the MONITOR and the ECHO too.
	total = a.processed(t) - before - 3
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("MONITOR: %v", err)
		}
		if strings.Contains(line, `"`+marker+`"`) {
			break
		}
		_, rest, ok := strings.Cut(line, "] ")
		if !ok || strings.Contains(line, " lua]") || strings.HasPrefix(rest, `"info"`) {
			continue
		}
		cmd, _, _ := strings.Cut(rest, " ")
		cmds = append(cmds, strings.Trim(strings.TrimSpace(cmd), `"`))
	}
	return cmds, total
}

func (a *gsApp) processed(t *testing.T) int64 {
	t.Helper()
	info, err := a.admin.Info(t.Context(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_commands_processed:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatal("no total_commands_processed")
	return 0
}

// A verified session passes the gate on one Redis command per request with
// the new store (two with the cluster path and with redisstore).
func TestSessionStoreGateRoundTrips(t *testing.T) {
	for _, c := range []struct {
		name string
		kind storeKind
		want []string
	}{
		{"SessionStore", newStore, []string{"evalsha"}},
		{"SessionStore on a Ring", ringStore, []string{"hmget", "evalsha"}},
		{"redisstore", gorilla, []string{"get", "evalsha"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newGSApp(t, c.kind)
			b := a.browser(t, "alice")
			b.verify(false)
			const n = 5
			cmds, total := a.topLevel(t, func() {
				for range n {
					if !b.account() {
						t.Fatal("verified session refused")
					}
				}
			})
			var want []string
			for range n {
				want = append(want, c.want...)
			}
			if strings.Join(cmds, " ") != strings.Join(want, " ") {
				t.Fatalf("%d gated requests sent Redis %q, want %q", n, cmds, want)
			}
			t.Logf("%s: %d command(s) per gated request; total_commands_processed (a script's own commands too) %.1f per request",
				c.name, len(c.want), float64(total)/n)
		})
	}
}

// Every revocation ends a session of the new store at its next request.
func TestSessionStoreRevocation(t *testing.T) {
	for _, kind := range []storeKind{newStore, ringStore} {
		t.Run(fmt.Sprint("kind", kind), func(t *testing.T) {
			t.Run("Reset", func(t *testing.T) {
				a := newGSApp(t, kind)
				b := a.browser(t, "alice")
				b.verify(false)
				saved := b.cookie("").Value
				wantRedirect(t, b.do(http.MethodPost, "/logout", url.Values{}), "/")
				b.setCookie("", saved) // a copy of the verified cookie
				if b.account() {
					t.Fatal("session passed the gate after Reset")
				}
			})
			t.Run("SignOutEverywhere", func(t *testing.T) {
				a := newGSApp(t, kind)
				b, other := a.browser(t, "alice"), a.browser(t, "alice")
				b.verify(false)
				other.verify(false)
				if err := a.m.SignOutEverywhere(t.Context(), "alice"); err != nil {
					t.Fatal(err)
				}
				if b.account() || other.account() {
					t.Fatal("session passed the gate after SignOutEverywhere")
				}
			})
			t.Run("RevokeDevice", func(t *testing.T) {
				a := newGSApp(t, kind)
				owner := a.browser(t, "alice")
				owner.verify(true)
				thief := a.browser(t, "alice")
				thief.setCookie("_device", owner.cookie("_device").Value)
				r := thief.do(http.MethodGet, "/2fa/?next=%2Faccount", nil)
				wantRedirect(t, r, "/account")
				if !thief.account() {
					t.Fatal("device sign-in refused by the gate")
				}
				devices, err := a.m.Devices(t.Context(), "alice")
				if err != nil || len(devices) != 1 {
					t.Fatalf("devices %v, %v", devices, err)
				}
				if err := a.m.RevokeDevice(t.Context(), "alice", devices[0].ID); err != nil {
					t.Fatal(err)
				}
				if thief.account() {
					t.Fatal("session opened by the revoked device passed the gate")
				}
				if !owner.account() {
					t.Fatal("the owner's code-verified session ended with the device")
				}
			})
			t.Run("another user", func(t *testing.T) {
				a := newGSApp(t, kind)
				b := a.browser(t, "alice")
				b.verify(false)
				b.user = "mallory"
				if b.account() {
					t.Fatal("alice's session let mallory in")
				}
				b.user = ""
				if b.account() {
					t.Fatal("alice's session let a signed-out visitor in")
				}
			})
		})
	}
}

// The idle timeout holds, and each gated request refreshes it.
func TestSessionStoreIdleTimeout(t *testing.T) {
	a := newGSApp(t, newStore)
	b := a.browser(t, "alice")
	b.verify(false)
	for range 3 {
		a.clock.Advance(tfDefaultIdleTimeout - time.Minute)
		if !b.account() {
			t.Fatal("active session refused before its idle timeout")
		}
	}
	a.clock.Advance(tfDefaultIdleTimeout + time.Second)
	if b.account() {
		t.Fatal("idle session passed the gate")
	}
}

// An id the store did not issue is never adopted, and the session is
// renewed at verification.
func TestSessionStoreFixation(t *testing.T) {
	a := newGSApp(t, newStore)
	b := a.browser(t, "alice")
	planted, err := securecookie.EncodeMulti("__Host-"+tfDefaultSessionName, "planted-by-attacker", securecookie.CodecsFromPairs(gsHashKey, gsBlockKey)...)
	if err != nil {
		t.Fatal(err)
	}
	b.setCookie("", planted)
	wantStatus(t, b.do(http.MethodGet, "/2fa/?next=%2Faccount", nil), http.StatusOK)
	wantRedirect(t, b.do(http.MethodPost, "/2fa/send", url.Values{"phone": {clusterPhone}}), "/2fa/")
	pending := b.sessionID()
	if pending == "planted-by-attacker" {
		t.Fatal("store adopted the planted id")
	}
	wantRedirect(t, b.do(http.MethodPost, "/2fa/check", url.Values{"code": {a.codes.Last(t).Code}}), "/account")
	verified := b.sessionID()
	if verified == pending {
		t.Fatal("session id kept across verification")
	}
	for _, id := range []string{"planted-by-attacker", pending} {
		if n, _ := a.admin.Exists(t.Context(), "twofactor:{session:"+id+"}").Result(); n != 0 {
			t.Fatalf("Redis still holds session %q", id)
		}
	}
	if ttl, err := a.admin.PTTL(t.Context(), "twofactor:{session:"+verified+"}").Result(); err != nil || ttl <= 0 || ttl > twofactor.DefaultMaxAge {
		t.Fatalf("verified session's time to live %v, %v; want (0, %v]", ttl, err, twofactor.DefaultMaxAge)
	}
	// At rest: the values encrypted (no number in a copy of Redis), the
	// user record and grant beside them in plain.
	rec, err := a.admin.HGetAll(t.Context(), "twofactor:{session:"+verified+"}").Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rec["v"], strings.TrimPrefix(clusterPhone, "+")) || rec["v"] == "" {
		t.Errorf("session values at rest %q: want them encrypted", rec["v"])
	}
	if rec["u"] != "user:alice" || rec["g"] == "" {
		t.Errorf("session record names user %q, grant %q; want user:alice and a grant", rec["u"], rec["g"])
	}
	if !b.account() {
		t.Fatal("verified session refused")
	}
	b.setCookie("", "garbage")
	if b.account() {
		t.Fatal("garbage cookie let in")
	}
}

// With Redis down, the gate answers 503 and lets nothing through.
func TestSessionStoreRedisDownFailsClosed(t *testing.T) {
	a := newGSApp(t, newStore)
	b := a.browser(t, "alice")
	b.verify(false)
	a.redis.Stop()
	r := b.do(http.MethodGet, "/account", nil)
	if r.status != http.StatusServiceUnavailable || strings.Contains(r.body, clusterBalance) {
		t.Fatalf("gate with Redis down: %d %q, want 503", r.status, r.body)
	}
}

// NewSessionStore refuses a missing State or keys.
func TestNewSessionStoreRejectsBadConfig(t *testing.T) {
	srv := redistest.Start(t)
	st := newState(t, client(t, srv, false))
	if _, err := redisstate.NewSessionStore(nil, gsHashKey); err == nil {
		t.Error("NewSessionStore(nil) succeeded")
	}
	if _, err := redisstate.NewSessionStore(st); err == nil {
		t.Error("NewSessionStore without keys succeeded")
	}
}
