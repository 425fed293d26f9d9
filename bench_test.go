package twofactor_test

// Benchmarks of the gate, each beside its baseline in the same run:
//
//	go test -run '^$' -bench . -benchmem -count 5 .
//
//   - Bare: the protected handler alone.
//   - StoreFloor: the least any gate on gorilla cookie sessions can do:
//     decode the verified cookie (store.New: HMAC, AES, gob) and check one
//     value, then call the handler. No library code.
//   - Gate: Manager.Require on a verified session: cookie store, default
//     options, in-memory state. Its cookie cache (gatecache.go) skips the
//     decode; the max age, subject and grant checks still run.
//   - GateUncached: the same with the cache off, so the decode runs on
//     every request as in StoreFloor.
//   - GateRedis: the gate on Redis beside a Redis StoreFloor (redisstore's
//     New and one value check: one GET): on redisstore sessions (Gate, two
//     round trips) and on redisstate.SessionStore (GateOneTrip, one), each
//     with the redisstate backend, reporting round trips (trips/op) and
//     the server's commands, a script's own included (server-cmds/op);
//     GateRedisVsFloor interleaves the three for their ratios (both
//     skipped without redis-server).
//   - Flow: send → check → first gated request, with the Mock.
//
// Every gated request is served to an httptest.ResponseRecorder from a
// request built once, carrying a cookie that the real flow issued.
//
// TestGateAllocs holds the allocation budget: the gate allocates at most 5
// times more than StoreFloor per request. It counts allocations, which are
// deterministic; nothing here asserts a duration.

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/rbcervilla/redisstore/v9"
	"github.com/redis/go-redis/v9"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/redistest"
	"github.com/go-twofactor/twofactor/redisstate"
)

const benchPhone = "+31612345678"

// benchVerifiedKey is the session value the library keeps a verification's
// time under (session.go): the one value StoreFloor checks.
const benchVerifiedKey = "v"

// benchAccount is the protected handler.
var benchAccount = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "Balance: 1,234.56 EUR\n")
})

// benchApp is a Manager with the Mock, the flow at /2fa/ and the gated
// account at /account.
type benchApp struct {
	m     *twofactor.Manager
	store sessions.Store
	mux   *http.ServeMux
	gate  http.Handler // m.Require(benchAccount)

	mu   sync.Mutex
	code string // the Mock's last code
}

// newBenchApp makes the app on store with the library's default options,
// plus a silent logger and opts.
func newBenchApp(tb testing.TB, store sessions.Store, opts ...twofactor.Option) *benchApp {
	tb.Helper()
	a := &benchApp{store: store}
	mock := &twofactor.Mock{OnCode: func(_ twofactor.Verification, code string) {
		a.mu.Lock()
		a.code = code
		a.mu.Unlock()
	}}
	opts = append([]twofactor.Option{twofactor.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	m, err := twofactor.New(mock, store, opts...)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	a.m = m
	a.gate = m.Require(benchAccount)
	a.mux = http.NewServeMux()
	a.mux.Handle("/2fa/", m.Handler())
	a.mux.Handle("/account", a.gate)
	return a
}

// newBenchCookieStore returns a cookie store as a real app makes it: a
// signing and an encryption key, max age the library's.
func newBenchCookieStore() *sessions.CookieStore {
	cs := sessions.NewCookieStore([]byte("bench hash key, 32 bytes long..."), []byte("bench block key, 32 bytes long.."))
	cs.MaxAge(int(twofactor.DefaultMaxAge / time.Second))
	return cs
}

func (a *benchApp) lastCode() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.code
}

// serve sends one request to the app; form, if not empty, is a POST body.
func (a *benchApp) serve(method, path, form string, c *http.Cookie) *httptest.ResponseRecorder {
	var body io.Reader
	if form != "" {
		body = strings.NewReader(form)
	}
	req := httptest.NewRequest(method, path, body)
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c != nil {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	a.mux.ServeHTTP(rec, req)
	return rec
}

// flow runs the whole flow for a new visitor, as a browser does: send a
// code, check it, open the gated page. It returns the verified cookie.
func (a *benchApp) flow(tb testing.TB) *http.Cookie {
	rec := a.serve(http.MethodPost, "/2fa/send", "phone="+url.QueryEscape(benchPhone), nil)
	if rec.Code != http.StatusSeeOther {
		tb.Fatalf("send: status %d: %s", rec.Code, rec.Body)
	}
	c := benchCookie(tb, rec)
	rec = a.serve(http.MethodPost, "/2fa/check", "code="+a.lastCode(), c)
	if rec.Code != http.StatusSeeOther {
		tb.Fatalf("check: status %d: %s", rec.Code, rec.Body)
	}
	c = benchCookie(tb, rec)
	rec = a.serve(http.MethodGet, "/account", "", c)
	if rec.Code != http.StatusOK {
		tb.Fatalf("gated request: status %d", rec.Code)
	}
	return c
}

// benchCookie returns the session cookie a response set.
func benchCookie(tb testing.TB, rec *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == hostCookie && c.MaxAge >= 0 {
			return &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	tb.Fatal("no session cookie set")
	return nil
}

// accountRequest is the request every timed iteration serves.
func accountRequest(c *http.Cookie) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/account", nil)
	req.AddCookie(c)
	return req
}

// storeFloor is the least a gate on store can do: decode the session and
// check one value.
func storeFloor(store sessions.Store, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := store.New(r, hostCookie)
		if err != nil {
			http.Error(w, "store", http.StatusServiceUnavailable)
			return
		}
		if v, _ := sess.Values[benchVerifiedKey].(int64); v == 0 {
			http.Error(w, "verification required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// benchServe times h serving req, checking every answer is 200.
func benchServe(b *testing.B, h http.Handler, req *http.Request) {
	b.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("status %d, want 200", rec.Code)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d, want 200", rec.Code)
		}
	}
}

// cookieSetup is a cookie-store app with a verified cookie.
type cookieSetup struct {
	app   *benchApp
	store *sessions.CookieStore
	req   *http.Request // GET /account with the verified cookie
}

func newCookieSetup(tb testing.TB, cacheCapacity int) *cookieSetup {
	tb.Helper()
	cs := newBenchCookieStore()
	a := newBenchApp(tb, cs)
	if cacheCapacity != twofactor.DefaultGateCacheSize {
		twofactor.SetGateCacheCapacity(a.m, cacheCapacity)
	}
	return &cookieSetup{app: a, store: cs, req: accountRequest(a.flow(tb))}
}

func BenchmarkBare(b *testing.B) {
	s := newCookieSetup(b, twofactor.DefaultGateCacheSize)
	benchServe(b, benchAccount, s.req)
}

func BenchmarkStoreFloor(b *testing.B) {
	s := newCookieSetup(b, twofactor.DefaultGateCacheSize)
	benchServe(b, storeFloor(s.store, benchAccount), s.req)
}

func BenchmarkGate(b *testing.B) {
	s := newCookieSetup(b, twofactor.DefaultGateCacheSize)
	benchServe(b, s.app.gate, s.req)
	if st := twofactor.GateCacheStatsOf(s.app.m); st.Hits == 0 {
		b.Fatalf("cache %+v: no hits", st)
	}
}

func BenchmarkGateUncached(b *testing.B) {
	s := newCookieSetup(b, 0)
	benchServe(b, s.app.gate, s.req)
}

// BenchmarkGateVsFloor serves StoreFloor, Gate and GateUncached in turn,
// one request each per iteration, and reports each one's mean time per
// request and their ratios. Interleaved, they share whatever else the
// machine is doing, so the ratios hold even where the machine is busy and
// separate benchmarks' times are not comparable.
func BenchmarkGateVsFloor(b *testing.B) {
	cached := newCookieSetup(b, twofactor.DefaultGateCacheSize)
	uncached := newCookieSetup(b, 0)
	runs := []struct {
		unit string
		h    http.Handler
		req  *http.Request
	}{
		{"floor-ns/req", storeFloor(cached.store, benchAccount), cached.req},
		{"gate-ns/req", cached.app.gate, cached.req},
		{"uncached-ns/req", uncached.app.gate, uncached.req},
	}
	var spent [3]time.Duration
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for k := range runs {
			i := (n + k) % len(runs) // rotate who goes first
			rec := httptest.NewRecorder()
			t0 := time.Now()
			runs[i].h.ServeHTTP(rec, runs[i].req)
			spent[i] += time.Since(t0)
			if rec.Code != http.StatusOK {
				b.Fatalf("%s: status %d, want 200", runs[i].unit, rec.Code)
			}
		}
		n++
	}
	for i, r := range runs {
		b.ReportMetric(float64(spent[i].Nanoseconds())/float64(n), r.unit)
	}
	b.ReportMetric(float64(spent[1])/float64(spent[0]), "gate/floor")
	b.ReportMetric(float64(spent[2])/float64(spent[0]), "uncached/floor")
}

// redisSetup is the Redis benchmark's apps: one on redisstore, one on
// redisstate.SessionStore, both with redisstate, each with a verified
// cookie, and the round trips their client made.
type redisSetup struct {
	rs      *redisstore.RedisStore
	gorilla *benchApp
	oneTrip *benchApp
	greq    *http.Request // GET /account, verified on gorilla
	oreq    *http.Request // GET /account, verified on oneTrip
	trips   *tripCounter
	srv     *redistest.Server
	admin   *redis.Client
}

// tripCounter counts the commands a go-redis client sends: its round trips.
type tripCounter struct{ n atomic.Int64 }

func (c *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

func newRedisSetup(b *testing.B) *redisSetup {
	srv := redistest.Start(b)
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	opt.ContextTimeoutEnabled = true
	client := redis.NewClient(opt)
	b.Cleanup(func() { _ = client.Close() })
	admin := redis.NewClient(opt)
	b.Cleanup(func() { _ = admin.Close() })
	s := &redisSetup{trips: &tripCounter{}, srv: srv, admin: admin}
	client.AddHook(s.trips)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.rs, err = redisstore.NewRedisStore(ctx, client); err != nil {
		b.Fatal(err)
	}
	state, err := redisstate.New(client, redisstate.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	ss, err := redisstate.NewSessionStore(state, []byte("bench hash key, 32 bytes long..."), []byte("bench block key, 32 bytes long.."))
	if err != nil {
		b.Fatal(err)
	}
	s.gorilla = newBenchApp(b, s.rs, twofactor.WithState(state), twofactor.WithSecret(testSecret))
	s.oneTrip = newBenchApp(b, ss, twofactor.WithState(state), twofactor.WithSecret(testSecret))
	if twofactor.GateCacheStatsOf(s.gorilla.m).Enabled || twofactor.GateCacheStatsOf(s.oneTrip.m).Enabled {
		b.Fatal("gate cache enabled for a server-side store")
	}
	s.greq, s.oreq = accountRequest(s.gorilla.flow(b)), accountRequest(s.oneTrip.flow(b))
	return s
}

// processed returns the server's total_commands_processed, which counts
// a script's own commands too.
func (s *redisSetup) processed(b *testing.B) int64 {
	info, err := s.admin.Info(context.Background(), "stats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_commands_processed:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no total_commands_processed")
	return 0
}

// BenchmarkGateRedis times, each on its own, the Redis floor (redisstore's
// New of the verified session and one value check: one GET), the gate on
// redisstore (two round trips) and the gate on redisstate.SessionStore
// (one), and reports each one's round trips per request (trips/op) and the
// server's commands per request, a script's own included (server-cmds/op).
func BenchmarkGateRedis(b *testing.B) {
	s := newRedisSetup(b)
	for _, c := range []struct {
		name string
		h    http.Handler
		req  *http.Request
	}{
		{"StoreFloor", storeFloor(s.rs, benchAccount), s.greq},
		{"Gate", s.gorilla.gate, s.greq},
		{"GateOneTrip", s.oneTrip.gate, s.oreq},
	} {
		b.Run(c.name, func(b *testing.B) {
			trips, cmds := s.trips.n.Load(), s.processed(b)
			benchServe(b, c.h, c.req)
			n := float64(b.N + 1) // benchServe serves one request before the loop
			b.ReportMetric(float64(s.trips.n.Load()-trips)/n, "trips/op")
			b.ReportMetric(float64(s.processed(b)-cmds-1)/n, "server-cmds/op") // -1: the first INFO
		})
	}
}

// BenchmarkGateRedisVsFloor serves the Redis floor, the redisstore gate and
// the SessionStore gate in turn, one request each per iteration, and
// reports their mean times and ratios to the floor, as BenchmarkGateVsFloor
// does for cookies.
func BenchmarkGateRedisVsFloor(b *testing.B) {
	s := newRedisSetup(b)
	runs := []struct {
		unit string
		h    http.Handler
		req  *http.Request
	}{
		{"floor-ns/req", storeFloor(s.rs, benchAccount), s.greq},
		{"gate-ns/req", s.gorilla.gate, s.greq},
		{"onetrip-ns/req", s.oneTrip.gate, s.oreq},
	}
	var spent [3]time.Duration
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for k := range runs {
			i := (n + k) % len(runs)
			rec := httptest.NewRecorder()
			t0 := time.Now()
			runs[i].h.ServeHTTP(rec, runs[i].req)
			spent[i] += time.Since(t0)
			if rec.Code != http.StatusOK {
				b.Fatalf("%s: status %d, want 200", runs[i].unit, rec.Code)
			}
		}
		n++
	}
	for i, r := range runs {
		b.ReportMetric(float64(spent[i].Nanoseconds())/float64(n), r.unit)
	}
	b.ReportMetric(float64(spent[1])/float64(spent[0]), "gate/floor")
	b.ReportMetric(float64(spent[2])/float64(spent[0]), "onetrip/floor")
}

func BenchmarkFlow(b *testing.B) {
	// Every flow comes from the same number and address: lift the send
	// limits, or b.N flows would meet them.
	a := newBenchApp(b, newBenchCookieStore(),
		twofactor.WithLimits(func(l *twofactor.Limits) { l.Phone = twofactor.Limit{} }),
		twofactor.WithLimits(func(l *twofactor.Limits) { l.IP = twofactor.Limit{} }),
		twofactor.WithLimits(func(l *twofactor.Limits) { l.ResendCooldown = 0 }),
		twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.CountryBudgets["*"] = 1 << 30 }),
		twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.GlobalBudget = 1 << 30 }),
	)
	b.ReportAllocs()
	for b.Loop() {
		a.flow(b)
	}
}

// TestGateAllocs holds the gate to at most 5 allocations per request more
// than StoreFloor, with its cache and without.
func TestGateAllocs(t *testing.T) {
	const budget = 5
	allocs := func(h http.Handler, req *http.Request) float64 {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d, want 200", rec.Code)
		}
		return testing.AllocsPerRun(200, func() {
			h.ServeHTTP(httptest.NewRecorder(), req)
		})
	}
	cached := newCookieSetup(t, twofactor.DefaultGateCacheSize)
	uncached := newCookieSetup(t, 0)
	floor := allocs(storeFloor(cached.store, benchAccount), cached.req)
	bare := allocs(benchAccount, cached.req)
	for _, c := range []struct {
		name string
		s    *cookieSetup
	}{{"cached", cached}, {"uncached", uncached}} {
		got := allocs(c.s.app.gate, c.s.req)
		t.Logf("%s gate: %.0f allocs/op; StoreFloor %.0f, Bare %.0f", c.name, got, floor, bare)
		if got > floor+budget {
			t.Errorf("%s gate: %.0f allocs/op, want at most StoreFloor's %.0f + %d", c.name, got, floor, budget)
		}
	}
	if st := twofactor.GateCacheStatsOf(cached.app.m); st.Hits == 0 {
		t.Errorf("cache %+v: the cached gate never hit", st)
	}
	if st := twofactor.GateCacheStatsOf(uncached.app.m); st.Enabled {
		t.Errorf("cache %+v: want it off", st)
	}
}
