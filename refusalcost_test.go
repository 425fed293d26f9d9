package twofactor_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/batch"
)

// countingState is a State that counts its calls: each is one round trip
// to a shared backend such as Redis.
type countingState struct {
	twofactor.State
	mu    sync.Mutex
	calls map[string]int
}

func (s *countingState) count(op string) {
	s.mu.Lock()
	s.calls[op]++
	s.mu.Unlock()
}

// CallTimeout implements twofactor.CallTimeouter: the wrapped MemoryState
// answers at once, so the Manager need not put a deadline of its own (a
// goroutine) around each call, as for the MemoryState itself.
func (s *countingState) CallTimeout() time.Duration { return time.Nanosecond }

// take returns the calls counted since the last take, and starts afresh.
func (s *countingState) take() (int, map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, calls := 0, s.calls
	for _, c := range calls {
		n += c
	}
	s.calls = map[string]int{}
	return n, calls
}

func (s *countingState) Incr(ctx context.Context, key string, delta int64, window time.Duration) (int64, time.Duration, error) {
	s.count("Incr")
	return s.State.Incr(ctx, key, delta, window)
}

func (s *countingState) SetNX(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	s.count("SetNX")
	return s.State.SetNX(ctx, key, ttl)
}

func (s *countingState) Touch(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	s.count("Touch")
	return s.State.Touch(ctx, key, ttl)
}

func (s *countingState) Exists(ctx context.Context, key string) (bool, error) {
	s.count("Exists")
	return s.State.Exists(ctx, key)
}

func (s *countingState) Delete(ctx context.Context, key string) error {
	s.count("Delete")
	return s.State.Delete(ctx, key)
}

func (s *countingState) SetField(ctx context.Context, key, field, value string, ttl time.Duration) error {
	s.count("SetField")
	return s.State.SetField(ctx, key, field, value, ttl)
}

func (s *countingState) Fields(ctx context.Context, key string) (map[string]string, error) {
	s.count("Fields")
	return s.State.Fields(ctx, key)
}

func (s *countingState) DeleteField(ctx context.Context, key, field string) (bool, error) {
	s.count("DeleteField")
	return s.State.DeleteField(ctx, key, field)
}

func (s *countingState) Generation(ctx context.Context, key, gen string, ttl time.Duration) (string, error) {
	s.count("Generation")
	return s.State.Generation(ctx, key, gen, ttl)
}

func (s *countingState) NewGeneration(ctx context.Context, key, gen, keep string, ttl time.Duration) error {
	s.count("NewGeneration")
	return s.State.NewGeneration(ctx, key, gen, keep, ttl)
}

func (s *countingState) AddGrant(ctx context.Context, key, grant, gen, device string, now, idle, end time.Time, max int, ttl time.Duration) (bool, error) {
	s.count("AddGrant")
	return s.State.AddGrant(ctx, key, grant, gen, device, now, idle, end, max, ttl)
}

func (s *countingState) CheckGrant(ctx context.Context, key, grant string, now, idle time.Time) (bool, error) {
	s.count("CheckGrant")
	return s.State.CheckGrant(ctx, key, grant, now, idle)
}

// Issue 16's targets, counted in State calls (a batch is one, as one
// pipeline to Redis is; redisstate's TestFlowRoundTrips counts the same
// on a real redis-server): a send costs at most 3 round trips, a refused
// send at most 2, a check, wrong or right, at most 3, a step-up's send
// and check too; for a user the app names, whose generation a send and a
// check read too, and for a visitor it does not.
func TestSecurity_FlowRoundTrips(t *testing.T) {
	var cs *countingState
	e := secNew(t, secSetup{
		subject: true,
		state: func(s *twofactor.MemoryState) twofactor.State {
			cs = &countingState{State: s, calls: map[string]int{}}
			return cs
		},
	})
	counted := func(what string, most int, fn func() secResp, status int) {
		t.Helper()
		cs.take()
		r := fn()
		trips, calls := cs.take()
		t.Logf("%s: %d State round trips %v", what, trips, calls)
		if r.status != status {
			t.Fatalf("%s: %v, want status %d", what, r, status)
		}
		if trips > most {
			t.Errorf("%s: %d State round trips %v, want at most %d", what, trips, calls, most)
		}
	}
	for i, user := range []string{"alice", ""} {
		c := e.client()
		c.user = user
		phone := nlPhone(10 + i)
		p, _ := twofactor.ParsePhone(phone, "")
		counted(user+" send", 3, func() secResp { return c.send(phone) }, http.StatusOK)
		counted(user+" refused send", 2, c.resend, http.StatusTooManyRequests) // the session's cooldown
		counted(user+" wrong check", 3, func() secResp { return c.check(secWrong(e.code(p))) }, http.StatusBadRequest)
		counted(user+" check", 3, func() secResp { return c.check(e.code(p)) }, http.StatusOK)
		if !c.verified() {
			t.Fatalf("%s: not verified after the right code", user)
		}
		// A step-up: the send checks the session's grant, the check ends
		// it with the code's spending.
		e.clock.Advance(time.Minute)
		before := c.cookie()
		counted(user+" step-up send", 3, func() secResp { return c.send(phone) }, http.StatusOK)
		counted(user+" step-up check", 3, func() secResp { return c.check(e.code(p)) }, http.StatusOK)
		if !c.verified() {
			t.Fatalf("%s: not verified after the step-up", user)
		}
		c.setCookie(before)
		if c.verified() {
			t.Errorf("%s: the grant a step-up replaced still opens the gate", user)
		}
	}
}

// maxRefusalTrips is the most State round trips a refused send may cost.
const maxRefusalTrips = 2

// A refused send is cheap: at most maxRefusalTrips State calls, and it
// leaves nothing in the State, whichever limit refuses it.
func TestSecurity_RefusalsAreCheap(t *testing.T) {
	var cs *countingState
	e := secNew(t, secSetup{
		opts: []twofactor.Option{twofactor.WithTrustedProxies("127.0.0.0/8"),
			twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.CountryBudgets["BE"] = 3 }), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.GlobalBudget = 30 }),
			twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.ConversionTrickle = 5 })}, // its slow-down mark is read with the rest
		state: func(s *twofactor.MemoryState) twofactor.State {
			cs = &countingState{State: s, calls: map[string]int{}}
			return cs
		},
	})
	be := func(i int) string { return fmt.Sprintf("+3247012%04d", i) }
	n := 0
	ip := func() string { n++; return fmt.Sprintf("192.0.2.%d", n) }
	// Spend each limit, then count what one more refused send costs.
	for i := range twofactor.DefaultIPSends.N {
		e.from("198.51.100.1").send(nlPhone(100 + i))
	}
	for range twofactor.DefaultPhoneSends.N {
		e.from(ip()).send(nlPhone(1))
	}
	for i := range 3 {
		e.from(ip()).send(be(i))
	}
	cooled := e.from(ip())
	cooled.send(nlPhone(2))
	cases := []struct {
		name string
		send func() secResp
		code string
	}{
		{"the address's window", func() secResp { return e.from("198.51.100.1").send(nlPhone(999)) }, "rate_limited"},
		{"the session's cooldown", func() secResp { return cooled.send(nlPhone(3)) }, "rate_limited"},
		{"the number's window", func() secResp { return e.from(ip()).send(nlPhone(1)) }, "rate_limited"},
		{"the country budget", func() secResp { return e.from(ip()).send(be(50)) }, "challenge_required"}, // issuing a challenge stores nothing
	}
	for _, tc := range cases {
		tc.send() // the first refusal of a window may log and mark it once
		keys := e.state.Len()
		cs.take()
		r := tc.send()
		trips, calls := cs.take()
		if r.errCode() != tc.code {
			t.Fatalf("%s: %v, want %s", tc.name, r, tc.code)
		}
		t.Logf("refused by %s: %d State round trips %v", tc.name, trips, calls)
		if trips > maxRefusalTrips {
			t.Errorf("refused by %s: %d State round trips %v, want at most %d", tc.name, trips, calls, maxRefusalTrips)
		}
		if got := e.state.Len(); got != keys {
			t.Errorf("refused by %s: the State went from %d to %d keys", tc.name, keys, got)
		}
	}
	// The global budget, last: it pauses everything.
	for e.from(ip()).send(nlPhone(200+n)).status == http.StatusOK {
	}
	e.from(ip()).send(nlPhone(500))
	cs.take()
	keys := e.state.Len()
	r := e.from(ip()).send(nlPhone(501))
	trips, calls := cs.take()
	t.Logf("refused by the global budget: %d State round trips %v", trips, calls)
	if r.errCode() != "challenge_required" || trips > maxRefusalTrips || e.state.Len() != keys {
		t.Errorf("refused by the global budget: %v, %d round trips %v, %d keys from %d", r, trips, calls, e.state.Len(), keys)
	}
}

// POST /2fa/restart from a visitor without a session writes no session:
// a server-side store keeps no record for it.
func TestSecurity_AnonymousRestartWritesNothing(t *testing.T) {
	store := &secMapStore{data: map[string]map[any]any{}}
	e := secNew(t, secSetup{store: store})
	for range 50 {
		c := e.browser()
		r := c.post("/2fa/restart", nil)
		if r.status != http.StatusSeeOther || r.location() != "/2fa/" {
			t.Fatalf("restart: %v", r)
		}
		if r.header.Get("Set-Cookie") != "" && c.cookie() != "" {
			t.Fatalf("restart set a session cookie: %v", r.header.Values("Set-Cookie"))
		}
		r = e.client().post("/2fa/restart", nil)
		if r.status != http.StatusOK {
			t.Fatalf("JSON restart: %v", r)
		}
	}
	store.mu.Lock()
	n := len(store.data)
	store.mu.Unlock()
	if n != 0 || e.state.Len() != 0 {
		t.Errorf("100 anonymous restarts left %d session records and %d State keys", n, e.state.Len())
	}
	// With a session, restart still forgets the number.
	c := e.client()
	c.mustSend(secPhone)
	if r := c.post("/2fa/restart", nil); r.status != http.StatusOK {
		t.Fatalf("restart: %v", r)
	}
	if r := c.get("/2fa/status"); r.status != http.StatusOK || strings.Contains(r.body, `"pending":true`) {
		t.Errorf("status after restart: %v", r)
	}
}

// Batch counts as one round trip, as one pipeline to Redis does.
func (s *countingState) Batch(ctx context.Context, ops []batch.Op) error {
	s.count("Batch")
	return s.State.(batch.Batcher).Batch(ctx, ops)
}
