package twofactor_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
)

// hangingState is a State backend that, once slow, answers every call
// after delay (or gives up when the call's context ends first), as a
// Redis that has become slow does with a client that honours deadlines. It
// counts the calls that got their slow answer.
type hangingState struct {
	twofactor.State
	delay    time.Duration
	hung     atomic.Bool
	answered atomic.Int64
	calls    atomic.Int64
}

func (s *hangingState) wait(ctx context.Context) error {
	if !s.hung.Load() {
		return nil
	}
	s.calls.Add(1)
	select {
	case <-time.After(s.delay): // the slowness simulated, not a synchronisation
		s.answered.Add(1)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *hangingState) Incr(ctx context.Context, key string, delta int64, window time.Duration) (int64, time.Duration, error) {
	if err := s.wait(ctx); err != nil {
		return 0, 0, err
	}
	return s.State.Incr(ctx, key, delta, window)
}

func (s *hangingState) SetNX(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := s.wait(ctx); err != nil {
		return false, err
	}
	return s.State.SetNX(ctx, key, ttl)
}

func (s *hangingState) Delete(ctx context.Context, key string) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.State.Delete(ctx, key)
}

func (s *hangingState) Generation(ctx context.Context, key, gen string, ttl time.Duration) (string, error) {
	if err := s.wait(ctx); err != nil {
		return "", err
	}
	return s.State.Generation(ctx, key, gen, ttl)
}

func (s *hangingState) CheckGrant(ctx context.Context, key, grant string, now, idle time.Time) (bool, error) {
	if err := s.wait(ctx); err != nil {
		return false, err
	}
	return s.State.CheckGrant(ctx, key, grant, now, idle)
}

// One budget per request: with every State call answering just inside the
// store timeout, a request gets at most one answer in its budget and then
// gives up. Before, every call had a deadline of its own, so each slow
// answer came in time and a send waited for all of them in turn.
func TestOneStoreBudgetPerRequest(t *testing.T) {
	var hs *hangingState
	e := secNew(t, secSetup{
		subject: true,
		state: func(m *twofactor.MemoryState) twofactor.State {
			hs = &hangingState{State: m, delay: 180 * time.Millisecond}
			return hs
		},
		opts: []twofactor.Option{twofactor.WithStoreTimeout(200 * time.Millisecond)},
	})
	c := e.client()
	c.user = "alice"
	c.mustVerify(secPhone)
	e.clock.Advance(time.Minute)
	c.mustSend(secPhone) // a step-up code, for the check below
	hs.hung.Store(true)
	for _, tc := range []struct {
		name string
		do   func() secResp
	}{
		{"send", func() secResp { b := e.client(); b.user = "bob"; return b.send("+31655556666") }},
		{"gate", func() secResp { return c.get("/account") }},
		{"check", func() secResp { return c.check("123456") }},
	} {
		before, calls := hs.answered.Load(), hs.calls.Load()
		r := tc.do()
		if n := hs.answered.Load() - before; n > 1 {
			t.Errorf("%s: %d slow State answers (of %d calls) within one request, want at most one: the budget is per request, not per call", tc.name, n, hs.calls.Load()-calls)
		}
		if n := hs.calls.Load() - calls; n > 1 && r.status != http.StatusServiceUnavailable {
			t.Errorf("%s with the State slow: %v, want 503", tc.name, r)
		}
	}
}

// slowProvider answers after delay: a provider having a slow day.
type slowProvider struct {
	*secProvider
	delay time.Duration
}

func (p slowProvider) Send(ctx context.Context, req twofactor.Request) (twofactor.Verification, error) {
	select {
	case <-time.After(p.delay): // the slowness simulated, not a synchronisation
	case <-ctx.Done():
		return twofactor.Verification{}, ctx.Err()
	}
	return p.secProvider.Send(ctx, req)
}

// The budget's clock stops while the provider is asked: a provider slower
// than the whole store budget does not make the session save after it fail.
func TestStoreBudgetPausesForTheProvider(t *testing.T) {
	e := secNew(t, secSetup{
		state: func(m *twofactor.MemoryState) twofactor.State { return struct{ twofactor.State }{m} },
		// The provider takes longer than the whole budget; the store calls
		// themselves take far less, even on a busy machine.
		provider: func(p *secProvider) twofactor.Provider { return slowProvider{p, 1500 * time.Millisecond} },
		opts:     []twofactor.Option{twofactor.WithStoreTimeout(time.Second)},
	})
	c := e.client()
	if r := c.send(secPhone); r.status != http.StatusOK {
		t.Fatalf("send through a provider slower than the store budget: %v", r)
	}
	if r := c.check(e.code(secPhone)); r.status != http.StatusOK {
		t.Fatalf("check: %v", r)
	}
}

// The budget never reaches what the gate lets through: the app's handler
// gets the request's own context, with no store deadline.
func TestGateBudgetStaysInTheGate(t *testing.T) {
	var mu sync.Mutex
	var deadline bool
	e := secNew(t, secSetup{
		state: func(m *twofactor.MemoryState) twofactor.State { return struct{ twofactor.State }{m} },
		routes: func(mux *http.ServeMux, m *twofactor.Manager) {
			mux.Handle("/deadline", m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				_, deadline = r.Context().Deadline()
				mu.Unlock()
			})))
		},
	})
	c := e.client()
	c.mustVerify(secPhone)
	if r := c.get("/deadline"); r.status != http.StatusOK {
		t.Fatalf("gated page: %v", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if deadline {
		t.Fatal("the gated handler's context carries the gate's store deadline")
	}
}
