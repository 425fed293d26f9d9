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

func keys2(t *testing.T, c *redis.Client) string {
	return strings.Join(keys(t, c), " ")
}

// Through the flow on Redis: a refused send costs at most two round trips
// (here one) and leaves no key behind, whichever limit refuses it.
func TestRefusedSendRoundTrips(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv, false)
	trips := &tripCounter{}
	c.AddHook(trips)
	s := newState(t, c, redisstate.WithLogger(slog.New(slog.DiscardHandler)))
	clock := testkit.NewClock(time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC))
	m, err := twofactor.New(&twofactor.Mock{Now: clock.Now}, nil, twofactor.WithState(s), twofactor.WithSecret([]byte("redisstate tests: one secret shared by every server")), twofactor.WithClock(clock.Now),
		twofactor.WithLogger(slog.New(slog.DiscardHandler)), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.CountryBudgets["BE"] = 2 }))
	if err != nil {
		t.Fatal(err)
	}
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
