package redisstate_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/redistest"
	"github.com/go-twofactor/twofactor/redisstate"
	"github.com/go-twofactor/twofactor/statetest"
)

// client returns a go-redis client for srv, closed when the test ends.
func client(t *testing.T, srv *redistest.Server, contextTimeout bool) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	opt.ContextTimeoutEnabled = contextTimeout
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newState(t *testing.T, c redis.UniversalClient, opts ...redisstate.Option) *redisstate.State {
	t.Helper()
	s, err := redisstate.New(c, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv, false)
	var n atomic.Int64
	statetest.Run(t, func(t *testing.T) (twofactor.State, func(time.Duration)) {
		// One server for all subtests; a prefix each keeps them apart.
		return newState(t, c, redisstate.WithPrefix(fmt.Sprintf("test%d:", n.Add(1)))), nil
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv, false)
	if _, err := redisstate.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	for _, opt := range []redisstate.Option{
		redisstate.WithTimeout(0),
		redisstate.WithTimeout(-time.Second),
		redisstate.WithPrefix("app{"),
		redisstate.WithPrefix("app}:"),
	} {
		if s, err := redisstate.New(c, opt); err == nil || s != nil {
			t.Errorf("New with a bad option = %v, %v; want an error", s, err)
		}
	}
}

// keys returns the sorted names of all keys on the server.
func keys(t *testing.T, c *redis.Client) []string {
	t.Helper()
	var all []string
	iter := c.Scan(t.Context(), 0, "*", 100).Iterator()
	for iter.Next(t.Context()) {
		all = append(all, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(all)
	return all
}

func TestKeyLayout(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv, false)
	ctx := t.Context()
	def := newState(t, c)
	app := newState(t, c, redisstate.WithPrefix("app1:"))

	if _, _, err := def.Incr(ctx, "attempts:v1", 3, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := def.SetNX(ctx, "used:v1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, _, err := app.Incr(ctx, "attempts:v1", 5, time.Minute); err != nil {
		t.Fatal(err)
	}
	want := []string{"app1:{attempts:v1}", "twofactor:{attempts:v1}", "twofactor:{used:v1}"}
	if got := keys(t, c); !slices.Equal(got, want) {
		t.Fatalf("keys = %q, want %q", got, want)
	}
	for key, want := range map[string]string{
		"twofactor:{attempts:v1}": "3",
		"app1:{attempts:v1}":      "5",
		"twofactor:{used:v1}":     "1",
	} {
		if got, err := c.Get(ctx, key).Result(); err != nil || got != want {
			t.Errorf("GET %s = %q, %v; want %q", key, got, err, want)
		}
	}

	// The prefix separates apps sharing a database.
	if err := def.Delete(ctx, "attempts:v1"); err != nil {
		t.Fatal(err)
	}
	if n, _, err := app.Incr(ctx, "attempts:v1", 0, time.Minute); err != nil || n != 5 {
		t.Errorf("other prefix's counter after Delete = %d, %v; want 5", n, err)
	}
}

// TestEveryKeyHasTTL checks after each operation that no key on the server
// lacks a time to live.
func TestEveryKeyHasTTL(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv, false)
	s := newState(t, c)
	ctx := t.Context()

	ops := []struct {
		name string
		do   func() error
	}{
		{"Incr new", func() error { _, _, err := s.Incr(ctx, "a", 1, time.Minute); return err }},
		{"Incr existing", func() error { _, _, err := s.Incr(ctx, "a", 1, time.Hour); return err }},
		{"Incr zero", func() error { _, _, err := s.Incr(ctx, "zero", 0, time.Minute); return err }},
		{"Incr negative", func() error { _, _, err := s.Incr(ctx, "neg", -1, time.Minute); return err }},
		{"Incr on a key without expiry", func() error {
			// A counter someone wrote without expiry gets one.
			if err := c.Set(ctx, "twofactor:{legacy}", 7, 0).Err(); err != nil {
				return err
			}
			n, ttl, err := s.Incr(ctx, "legacy", 1, time.Minute)
			if err == nil && (n != 8 || ttl <= 0 || ttl > time.Minute) {
				err = fmt.Errorf("Incr on a key without expiry = %d, %v; want 8 and a ttl within the window", n, ttl)
			}
			return err
		}},
		{"SetNX", func() error { _, err := s.SetNX(ctx, "m", time.Minute); return err }},
		{"SetNX existing", func() error { _, err := s.SetNX(ctx, "m", time.Hour); return err }},
		{"Touch", func() error { _, err := s.Touch(ctx, "m", time.Hour); return err }},
		{"Touch missing", func() error { _, err := s.Touch(ctx, "missing", time.Hour); return err }},
		{"Delete", func() error { return s.Delete(ctx, "a") }},
		{"Incr after Delete", func() error { _, _, err := s.Incr(ctx, "a", 1, time.Minute); return err }},
		{"SetField", func() error { return s.SetField(ctx, "h", "f", "v", time.Minute) }},
		{"SetField again", func() error { return s.SetField(ctx, "h", "g", "w", time.Hour) }},
		{"DeleteField", func() error { _, err := s.DeleteField(ctx, "h", "f"); return err }},
	}
	for _, op := range ops {
		if err := op.do(); err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		for _, key := range keys(t, c) {
			ttl, err := c.PTTL(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			// go-redis reports PTTL's -1 (no expiry) and -2 (no key) as
			// that many nanoseconds. Keys here live for minutes, so only
			// -1 can be non-positive.
			if ttl <= 0 {
				t.Errorf("after %s: key %q has PTTL %v, want a positive time to live", op.name, key, ttl)
			}
		}
	}
	if slices.Contains(keys(t, c), "twofactor:{missing}") {
		t.Error("Touch created a missing key")
	}
}

func TestSubMillisecondTTL(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv, false)
	s := newState(t, c)
	// Redis wants whole milliseconds; 1µs must not become 0, which SET
	// rejects and PEXPIRE takes as "delete now".
	if ok, err := s.SetNX(t.Context(), "m", time.Microsecond); err != nil || !ok {
		t.Fatalf("SetNX with 1µs = %v, %v; want true", ok, err)
	}
	if n, ttl, err := s.Incr(t.Context(), "k", 1, 1500*time.Microsecond); err != nil || n != 1 || ttl != 2*time.Millisecond {
		t.Fatalf("Incr with 1.5ms = %d, %v, %v; want 1, 2ms", n, ttl, err)
	}
	if ttl, err := c.PTTL(t.Context(), "twofactor:{k}").Result(); err != nil || ttl > 2*time.Millisecond {
		t.Errorf("PTTL after Incr with 1.5ms = %v, %v; want at most 2ms", ttl, err)
	}
}

func TestNonPositiveTTL(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv, false)
	s := newState(t, c)
	ctx := t.Context()
	checks := map[string]error{}
	_, _, checks["Incr"] = s.Incr(ctx, "a", 1, 0)
	_, checks["SetNX"] = s.SetNX(ctx, "b", -time.Second)
	_, checks["Touch"] = s.Touch(ctx, "c", 0)
	checks["SetField"] = s.SetField(ctx, "d", "f", "v", 0)
	for op, err := range checks {
		if !errors.Is(err, twofactor.ErrStoreUnavailable) {
			t.Errorf("%s with a non-positive ttl: err = %v, want one matching ErrStoreUnavailable", op, err)
		}
	}
	if got := keys(t, c); len(got) != 0 {
		t.Errorf("keys %q written with a non-positive ttl", got)
	}
}

// call runs every State method once and returns their errors by name.
func call(ctx context.Context, s twofactor.State) map[string]error {
	errs := map[string]error{}
	_, _, errs["Incr"] = s.Incr(ctx, "k", 1, time.Minute)
	_, errs["SetNX"] = s.SetNX(ctx, "m", time.Minute)
	_, errs["Touch"] = s.Touch(ctx, "m", time.Minute)
	_, errs["Exists"] = s.Exists(ctx, "m")
	errs["Delete"] = s.Delete(ctx, "k")
	errs["SetField"] = s.SetField(ctx, "h", "f", "v", time.Minute)
	_, errs["Fields"] = s.Fields(ctx, "h")
	_, errs["DeleteField"] = s.DeleteField(ctx, "h", "f")
	return errs
}

// wantUnavailable calls every method of s and checks that each fails with
// ErrStoreUnavailable within limit.
func wantUnavailable(t *testing.T, s twofactor.State, limit time.Duration) {
	t.Helper()
	for _, op := range []string{"Incr", "SetNX", "Touch", "Exists", "Delete", "SetField", "Fields", "DeleteField"} {
		start := time.Now()
		var err error
		switch op {
		case "Incr":
			_, _, err = s.Incr(t.Context(), "k", 1, time.Minute)
		case "SetNX":
			_, err = s.SetNX(t.Context(), "m", time.Minute)
		case "Touch":
			_, err = s.Touch(t.Context(), "m", time.Minute)
		case "Delete":
			err = s.Delete(t.Context(), "k")
		case "Exists":
			_, err = s.Exists(t.Context(), "m")
		case "SetField":
			err = s.SetField(t.Context(), "h", "f", "v", time.Minute)
		case "Fields":
			_, err = s.Fields(t.Context(), "h")
		case "DeleteField":
			_, err = s.DeleteField(t.Context(), "h", "f")
		}
		elapsed := time.Since(start)
		if !errors.Is(err, twofactor.ErrStoreUnavailable) {
			t.Errorf("%s: err = %v, want one matching ErrStoreUnavailable", op, err)
		}
		if elapsed > limit {
			t.Errorf("%s took %v, want at most %v", op, elapsed, limit)
		}
	}
}

// waitWorking polls s until every method succeeds, or fails the test.
func waitWorking(t *testing.T, s twofactor.State) {
	t.Helper()
	const wait = 30 * time.Second // generous: a loaded machine, or a pause still running
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		errs := call(t.Context(), s)
		failed := false
		for _, err := range errs {
			failed = failed || err != nil
		}
		if !failed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("State still failing %v after Redis came back: %v", wait, errs)
		}
		<-tick.C
	}
}

func TestServerDownAndBack(t *testing.T) {
	srv := redistest.Start(t)
	for _, ctxTimeout := range []bool{false, true} {
		t.Run(fmt.Sprintf("ContextTimeoutEnabled=%v", ctxTimeout), func(t *testing.T) {
			const timeout = 300 * time.Millisecond
			s := newState(t, client(t, srv, ctxTimeout), redisstate.WithTimeout(timeout))
			// Warm the connection pool, so the stop breaks live connections
			// (polling: on a busy machine one call may miss its deadline).
			waitWorking(t, s)

			srv.Stop()
			wantUnavailable(t, s, timeout+3*time.Second) // generous: the point is "bounded", not "fast"

			srv.Restart()
			waitWorking(t, s)
			// The restarted server starts empty: the counter starts again.
			if n, _, err := s.Incr(t.Context(), "fresh", 2, time.Minute); err != nil || n != 2 {
				t.Errorf("Incr after restart = %d, %v; want 2", n, err)
			}
		})
	}
}

func TestPausedServer(t *testing.T) {
	srv := redistest.Start(t)
	admin := client(t, srv, false)
	const timeout = 50 * time.Millisecond
	var states []*redisstate.State
	for _, ctxTimeout := range []bool{false, true} {
		s := newState(t, client(t, srv, ctxTimeout), redisstate.WithTimeout(timeout))
		waitWorking(t, s) // warm up: 50 ms is short for a first call on a busy machine
		states = append(states, s)
	}

	// Every client, including admin, hangs for the pause; a paused server
	// cannot be unpaused, so the pause must outlast the calls below.
	pause := 12 * time.Second
	if err := admin.Do(t.Context(), "CLIENT", "PAUSE", pause.Milliseconds(), "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	for i, s := range states {
		t.Logf("client %d (ContextTimeoutEnabled=%v)", i, i == 1)
		wantUnavailable(t, s, 2*time.Second) // far below the pause, with room for a loaded machine
		if _, _, err := s.Incr(t.Context(), "k", 1, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Incr on a paused server: err = %v, want one matching context.DeadlineExceeded", err)
		}
	}
	if time.Since(paused) >= pause {
		t.Fatal("the calls took longer than the pause; the test proves nothing")
	}
	for _, s := range states {
		waitWorking(t, s)
	}
}

// Zero takes no memory: reading a missing counter (adding 0) creates no key,
// and a counter given back to 0 (twofactor's refused sends) is deleted,
// so a flood of refused requests leaves Redis as it was.
func TestZeroCountersTakeNoKeys(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv, false)
	s := newState(t, c)
	ctx := t.Context()
	if n, ttl, err := s.Incr(ctx, "account:n:+31612345678", 0, time.Hour); err != nil || n != 0 || ttl != time.Hour {
		t.Fatalf("read of a missing counter = %d, %v, %v; want 0, 1h", n, ttl, err)
	}
	for i := range 100 {
		key := fmt.Sprintf("ip:2001:db8:%x::/64", i)
		if n, _, err := s.Incr(ctx, key, 1, time.Hour); err != nil || n != 1 {
			t.Fatal(n, err)
		}
		if n, _, err := s.Incr(ctx, key, -1, time.Hour); err != nil || n != 0 {
			t.Fatal(n, err)
		}
	}
	if got := keys(t, c); len(got) != 0 {
		t.Errorf("keys left behind: %q", got)
	}
	// A live counter is read without change, and given back to a count above
	// zero it keeps its window.
	if _, _, err := s.Incr(ctx, "phone:x", 2, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n, _, err := s.Incr(ctx, "phone:x", -1, 5*time.Hour); err != nil || n != 1 {
		t.Fatalf("give back one of two = %d, %v", n, err)
	}
	if ttl := c.PTTL(ctx, "twofactor:{phone:x}").Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("window after a give-back = %v, want at most the first window", ttl)
	}
}
