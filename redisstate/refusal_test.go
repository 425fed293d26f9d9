package redisstate_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/batch"
	"github.com/go-twofactor/twofactor/internal/redistest"
	"github.com/go-twofactor/twofactor/internal/testkit"
	"github.com/go-twofactor/twofactor/redisstate"
)

// tripCounter counts round trips to Redis: a command, or a pipeline; not
// New's background CONFIG GET, which may come at any time.
type tripCounter struct{ n atomic.Int64 }

func (h *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "config" {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// IncrBatch is Incr on every key in one pipeline: the same values and
// times to live, reads create nothing, a count given back leaves no key,
// and a server that lost its script cache still runs it.
func TestIncrBatch(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv, false)
	s := newState(t, c)
	ctx := t.Context()
	keys := []string{"a", "b", "c"}
	windows := []time.Duration{time.Minute, time.Hour, 2 * time.Hour}
	if _, _, err := s.Incr(ctx, "b", 4, time.Hour); err != nil {
		t.Fatal(err)
	}
	ns, ttls, err := s.IncrBatch(ctx, keys, 0, windows)
	if err != nil || fmt.Sprint(ns) != "[0 4 0]" {
		t.Fatalf("read = %v, %v; want [0 4 0]", ns, err)
	}
	if ttls[0] != time.Minute || ttls[2] != 2*time.Hour || ttls[1] <= 59*time.Minute {
		t.Errorf("read ttls = %v", ttls)
	}
	if got := keys2(t, c); got != "twofactor:{b}" {
		t.Fatalf("keys after a read: %s", got)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	ns, _, err = s.IncrBatch(ctx, keys, 1, windows)
	if err != nil || fmt.Sprint(ns) != "[1 5 1]" {
		t.Fatalf("count after SCRIPT FLUSH = %v, %v; want [1 5 1]", ns, err)
	}
	ns, _, err = s.IncrBatch(ctx, keys, -1, windows)
	if err != nil || fmt.Sprint(ns) != "[0 4 0]" {
		t.Fatalf("give back = %v, %v; want [0 4 0]", ns, err)
	}
	if got := keys2(t, c); got != "twofactor:{b}" {
		t.Fatalf("keys after giving back: %s", got)
	}
	if _, _, err := s.IncrBatch(ctx, keys, 1, windows[:2]); err == nil {
		t.Error("IncrBatch took fewer windows than keys")
	}
}

// Batch runs its scripts again by their source on a server that lost its
// script cache, with the arguments it was given (a Generation's too), and
// the plain commands of the batch once.
func TestBatchAfterScriptFlush(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv, false)
	s := newState(t, c)
	ctx := t.Context()
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	ops := []batch.Op{
		{Kind: batch.Incr, Key: "a", Delta: 1, TTL: time.Minute},
		{Kind: batch.SetNX, Key: "m", TTL: time.Minute},
		{Kind: batch.Generation, Key: "u", Gen: "g1", TTL: time.Minute},
	}
	if err := s.Batch(ctx, ops); err != nil {
		t.Fatal(err)
	}
	if ops[0].N != 1 || !ops[1].OK || ops[2].Gen != "g1" {
		t.Fatalf("Batch after SCRIPT FLUSH: %+v, want 1, true, g1", ops)
	}
	ops[1].OK = false
	ops[2].Gen = "g2"
	if err := s.Batch(ctx, ops); err != nil {
		t.Fatal(err)
	}
	if ops[0].N != 2 || ops[1].OK || ops[2].Gen != "g1" {
		t.Fatalf("Batch again: %+v, want 2, false, g1", ops)
	}
}

// countedManager returns a Manager with provider and opts on a State in a
// fresh redis-server, the client, and the counter of its round trips.
func countedManager(t *testing.T, provider twofactor.Provider, opts ...twofactor.Option) (*redis.Client, *tripCounter, *twofactor.Manager) {
	t.Helper()
	c := client(t, redistest.Start(t), false)
	trips := &tripCounter{}
	c.AddHook(trips)
	s := newState(t, c, redisstate.WithLogger(slog.New(slog.DiscardHandler)))
	m, err := twofactor.New(provider, nil, append([]twofactor.Option{twofactor.WithState(s),
		twofactor.WithSecret([]byte("redisstate tests: one secret shared by every server")),
		twofactor.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c, trips, m
}

func keys2(t *testing.T, c *redis.Client) string {
	return strings.Join(keys(t, c), " ")
}

// Through the flow on Redis: a refused send costs at most two round trips
// (here one) and leaves no key behind, whichever limit refuses it.
func TestRefusedSendRoundTrips(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC))
	c, trips, m := countedManager(t, &twofactor.Mock{Now: clock.Now}, twofactor.WithClock(clock.Now), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.CountryBudgets["BE"] = 2 }))
	h := m.Handler()
	send := func(ip, phone string) int {
		req := httptest.NewRequest(http.MethodPost, "/2fa/send", strings.NewReader(`{"phone":"`+phone+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = net.JoinHostPort(ip, "4242")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for i := range 20 { // the default address window
		send("198.51.100.1", fmt.Sprintf("+3161%03d%04d", i, 1))
	}
	for i := range 5 { // the default number window
		send(fmt.Sprintf("192.0.2.%d", i+1), "+31612345678")
	}
	for i := range 2 {
		send(fmt.Sprintf("192.0.2.%d", 50+i), fmt.Sprintf("+3247012%04d", i))
	}
	for _, tc := range []struct {
		name, ip, phone string
		status          int
	}{
		{"the address's window", "198.51.100.1", "+31687654321", http.StatusTooManyRequests},
		{"the number's window", "192.0.2.99", "+31612345678", http.StatusTooManyRequests},
		{"the country budget", "192.0.2.98", "+32470129999", http.StatusTooManyRequests}, // challenge_required: issuing it stores nothing
	} {
		send(tc.ip, tc.phone) // the first refusal of a window logs it once
		before := c.DBSize(t.Context()).Val()
		trips.n.Store(0)
		if got := send(tc.ip, tc.phone); got != tc.status {
			t.Fatalf("%s: status %d, want %d", tc.name, got, tc.status)
		}
		n := trips.n.Load()
		t.Logf("refused by %s: %d round trips to Redis", tc.name, n)
		if n > 2 {
			t.Errorf("refused by %s: %d round trips to Redis, want at most 2", tc.name, n)
		}
		if after := c.DBSize(t.Context()).Val(); after != before {
			t.Errorf("refused by %s: %d keys before, %d after", tc.name, before, after)
		}
	}
}

// Issue 16's targets, through the flow on Redis: a send costs at most 3
// round trips, a refused send at most 2, a check (wrong or right) at most
// 3, a step-up's send and check too, for a user the app names (whose generation a send and a check read
// too) and for a visitor it does not.
func TestFlowRoundTrips(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC))
	codes := map[string]string{}
	mock := &twofactor.Mock{Now: clock.Now, OnCode: func(v twofactor.Verification, code string) { codes[v.Phone] = code }}
	_, trips, m := countedManager(t, mock, twofactor.WithClock(clock.Now),
		twofactor.WithSubject(func(r *http.Request) string { return r.Header.Get("X-User") }))
	h := m.Handler()
	post := func(user, path, body string, cookies []*http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-User", user)
		req.RemoteAddr = "192.0.2.1:4242"
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	var warm bool // the first pass loads Redis's script cache and connection pool
	counted := func(what string, max int64, status int, fn func() *httptest.ResponseRecorder) *httptest.ResponseRecorder {
		t.Helper()
		trips.n.Store(0)
		rec := fn()
		n := trips.n.Load()
		if rec.Code != status {
			t.Fatalf("%s: status %d, want %d: %s", what, rec.Code, status, rec.Body)
		}
		if warm {
			t.Logf("%s: %d round trips to Redis", what, n)
			if n > max {
				t.Errorf("%s: %d round trips to Redis, want at most %d", what, n, max)
			}
		}
		return rec
	}
	for i, user := range []string{"alice", "", "bob", ""} {
		warm = i >= 2
		phone := fmt.Sprintf("+3161234%04d", i)
		sent := counted(user+" send", 3, http.StatusOK, func() *httptest.ResponseRecorder {
			return post(user, "/2fa/send", `{"phone":"`+phone+`"}`, nil)
		})
		cookies := sent.Result().Cookies()
		counted(user+" refused send", 2, http.StatusTooManyRequests, func() *httptest.ResponseRecorder {
			return post(user, "/2fa/resend", `{}`, cookies) // the session's cooldown
		})
		wrong := fmt.Sprintf("%06d", (atoi(codes[phone])+1)%1000000)
		counted(user+" wrong check", 3, http.StatusBadRequest, func() *httptest.ResponseRecorder {
			return post(user, "/2fa/check", `{"code":"`+wrong+`"}`, cookies)
		})
		verified := counted(user+" check", 3, http.StatusOK, func() *httptest.ResponseRecorder {
			return post(user, "/2fa/check", `{"code":"`+codes[phone]+`"}`, cookies)
		})
		clock.Advance(time.Minute)
		cookies = verified.Result().Cookies()
		sent = counted(user+" step-up send", 3, http.StatusOK, func() *httptest.ResponseRecorder {
			return post(user, "/2fa/send", `{"phone":"`+phone+`"}`, cookies)
		})
		cookies = append(sent.Result().Cookies(), cookies...) // the renewed session first
		counted(user+" step-up check", 3, http.StatusOK, func() *httptest.ResponseRecorder {
			return post(user, "/2fa/check", `{"code":"`+codes[phone]+`"}`, cookies[:1])
		})
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
