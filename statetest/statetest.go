// Package statetest is a conformance suite for implementations of
// twofactor.State. Every State the library ships runs it, and an app that
// writes its own State (SQL, Memcached, …) runs it the same way:
//
//	func TestConformance(t *testing.T) {
//		statetest.Run(t, func(t *testing.T) (twofactor.State, func(time.Duration)) {
//			return newMyState(t), nil // nil: the State runs on real time
//		})
//	}
package statetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/batch"
)

// Factory returns a fresh, empty State for one subtest, together with a
// function that moves that State's clock forward by d.
//
// A State that runs on real time, such as one backed by Redis, returns a nil
// advance. The suite then waits for keys to expire by polling with a
// deadline, using time to live of Short, and skips the checks that need to
// stop the clock just before an expiry.
type Factory func(t *testing.T) (s twofactor.State, advance func(d time.Duration))

const (
	// Short is the time to live the suite uses for keys it expects to expire.
	Short = 100 * time.Millisecond
	// Long is the time to live for keys that must outlive a test.
	Long = time.Minute
	// expiryDeadline bounds the wait for a Short key to expire in real time.
	expiryDeadline = 10 * time.Second
)

// Run runs the conformance suite as parallel subtests of t, each on a State
// from newState.
func Run(t *testing.T, newState Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, c *checker)
	}{
		{"IncrStartsAtDelta", testIncrStartsAtDelta},
		{"IncrNegativeDelta", testIncrNegativeDelta},
		{"IncrFixedWindow", testIncrFixedWindow},
		{"IncrWindowResets", testIncrWindowResets},
		{"IncrBoundary", testIncrBoundary},
		{"SetNX", testSetNX},
		{"SetNXExpires", testSetNXExpires},
		{"SetNXBoundary", testSetNXBoundary},
		{"TouchMissing", testTouchMissing},
		{"TouchExtends", testTouchExtends},
		{"TouchShortens", testTouchShortens},
		{"Delete", testDelete},
		{"KeysIndependent", testKeysIndependent},
		{"ConcurrentIncr", testConcurrentIncr},
		{"ConcurrentSetNX", testConcurrentSetNX},
		{"Exists", testExists},
		{"FieldsMissing", testFieldsMissing},
		{"SetFieldAndFields", testSetFieldAndFields},
		{"DeleteField", testDeleteField},
		{"FieldsExpire", testFieldsExpire},
		{"FieldsDelete", testFieldsDelete},
		{"ConcurrentSetField", testConcurrentSetField},
		{"Generation", testGeneration},
		{"GrantLife", testGrantLife},
		{"GrantEnd", testGrantEnd},
		{"GrantIdleNeverShrinks", testGrantIdleNeverShrinks},
		{"NewGenerationRevokes", testNewGenerationRevokes},
		{"GrantDevice", testGrantDevice},
		{"GrantMax", testGrantMax},
		{"ConcurrentRevocation", testConcurrentRevocation},
		{"IncrBatch", testIncrBatch},
		{"Batch", testBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, advance := newState(t)
			tt.fn(t, &checker{t: t, s: s, advance: advance, ctx: t.Context()})
		})
	}
}

// checker wraps a State with assertions.
type checker struct {
	t       *testing.T
	s       twofactor.State
	advance func(time.Duration)
	ctx     context.Context
}

func (c *checker) incr(key string, delta int64, window time.Duration) (int64, time.Duration) {
	c.t.Helper()
	n, ttl, err := c.s.Incr(c.ctx, key, delta, window)
	if err != nil {
		c.t.Fatalf("Incr(%q, %d, %v): %v", key, delta, window, err)
	}
	if ttl <= 0 || ttl > window {
		c.t.Fatalf("Incr(%q, %d, %v) ttl = %v, want in (0, %v]", key, delta, window, ttl, window)
	}
	return n, ttl
}

// wantIncr checks that Incr returns want.
func (c *checker) wantIncr(key string, delta int64, window time.Duration, want int64) time.Duration {
	c.t.Helper()
	n, ttl := c.incr(key, delta, window)
	if n != want {
		c.t.Fatalf("Incr(%q, %d, %v) = %d, want %d", key, delta, window, n, want)
	}
	return ttl
}

// value reads a counter without changing it: adding zero to a live counter
// keeps its value and expiry.
func (c *checker) value(key string) int64 {
	c.t.Helper()
	n, _ := c.incr(key, 0, Long)
	return n
}

func (c *checker) setNX(key string, ttl time.Duration) bool {
	c.t.Helper()
	ok, err := c.s.SetNX(c.ctx, key, ttl)
	if err != nil {
		c.t.Fatalf("SetNX(%q, %v): %v", key, ttl, err)
	}
	return ok
}

func (c *checker) wantSetNX(key string, ttl time.Duration, want bool) {
	c.t.Helper()
	if got := c.setNX(key, ttl); got != want {
		c.t.Fatalf("SetNX(%q, %v) = %v, want %v", key, ttl, got, want)
	}
}

func (c *checker) wantTouch(key string, ttl time.Duration, want bool) {
	c.t.Helper()
	got, err := c.s.Touch(c.ctx, key, ttl)
	if err != nil {
		c.t.Fatalf("Touch(%q, %v): %v", key, ttl, err)
	}
	if got != want {
		c.t.Fatalf("Touch(%q, %v) = %v, want %v", key, ttl, got, want)
	}
}

func (c *checker) del(key string) {
	c.t.Helper()
	if err := c.s.Delete(c.ctx, key); err != nil {
		c.t.Fatalf("Delete(%q): %v", key, err)
	}
}

// afterExpiry lets a key with time to live ttl expire, then requires probe
// to report true. With a fake clock it advances the clock by ttl and probes
// once; on real time it polls probe until a deadline. probe may change the
// State once it reports true, but must not while it reports false.
func (c *checker) afterExpiry(ttl time.Duration, what string, probe func() bool) {
	c.t.Helper()
	if c.advance != nil {
		c.advance(ttl)
		if !probe() {
			c.t.Fatalf("%s: still live after the clock moved %v", what, ttl)
		}
		return
	}
	deadline := time.Now().Add(ttl + expiryDeadline)
	tick := time.NewTicker(ttl / 10)
	defer tick.Stop()
	for !probe() {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: still live %v after a time to live of %v", what, expiryDeadline, ttl)
		}
		<-tick.C
	}
}

// needClock skips the test for States on real time.
func (c *checker) needClock() {
	if c.advance == nil {
		c.t.Skip("needs a State with a controllable clock")
	}
}

func testIncrStartsAtDelta(t *testing.T, c *checker) {
	ttl := c.wantIncr("k", 1, Long, 1)
	if ttl < Long-10*time.Second {
		t.Errorf("new counter ttl = %v, want close to the window %v", ttl, Long)
	}
	c.wantIncr("k", 1, Long, 2)
	c.wantIncr("k", 5, Long, 7)
	c.wantIncr("fresh", 3, Long, 3)
	if got := c.value("k"); got != 7 {
		t.Errorf("counter after 1+1+5 = %d, want 7", got)
	}
}

func testIncrNegativeDelta(t *testing.T, c *checker) {
	c.wantIncr("k", -3, Long, -3)
	c.wantIncr("k", 10, Long, 7)
	c.wantIncr("k", -7, Long, 0)
	c.wantIncr("k", -1, Long, -1)
}

// A live counter keeps the expiry of the call that created it: a longer
// window on a later call must not stretch it.
func testIncrFixedWindow(t *testing.T, c *checker) {
	first := c.wantIncr("k", 1, Short, 1)
	second := c.wantIncr("k", 1, Long, 2)
	if second > first {
		t.Errorf("second Incr ttl = %v, more than the first's %v: the window moved", second, first)
	}
}

func testIncrWindowResets(t *testing.T, c *checker) {
	c.wantIncr("k", 5, Short, 5)
	c.wantIncr("other", 1, Long, 1)
	// Once expired, adding zero restarts the counter at zero with the new
	// window; while live, it reads the counter without changing it.
	c.afterExpiry(Short, "counter", func() bool {
		n, _ := c.incr("k", 0, Long)
		return n == 0
	})
	ttl := c.wantIncr("k", 2, Long, 2)
	if ttl <= Short {
		t.Errorf("counter restarted with window %v has ttl %v: the old window lives on", Long, ttl)
	}
	if got := c.value("other"); got != 1 {
		t.Errorf("unexpired counter = %d after another expired, want 1", got)
	}
}

func testIncrBoundary(t *testing.T, c *checker) {
	c.needClock()
	c.wantIncr("k", 4, Short, 4)
	c.advance(Short / 2)
	ttl := c.wantIncr("k", 1, Short, 5)
	if ttl != Short/2 {
		t.Errorf("ttl halfway through the window = %v, want %v", ttl, Short/2)
	}
	c.advance(Short/2 - time.Nanosecond)
	c.wantIncr("k", 0, Short, 5)
	c.advance(time.Nanosecond)
	c.wantIncr("k", 1, Short, 1)
}

func testSetNX(t *testing.T, c *checker) {
	c.wantSetNX("k", Long, true)
	c.wantSetNX("k", Long, false)
	c.wantSetNX("k", Short, false)
	c.wantSetNX("other", Long, true)
}

func testSetNXExpires(t *testing.T, c *checker) {
	c.wantSetNX("k", Short, true)
	c.wantSetNX("long", Long, true)
	c.afterExpiry(Short, "SetNX mark", func() bool { return c.setNX("k", Long) })
	c.wantSetNX("k", Long, false)
	c.wantSetNX("long", Long, false)
}

func testSetNXBoundary(t *testing.T, c *checker) {
	c.needClock()
	c.wantSetNX("k", Short, true)
	c.advance(Short - time.Nanosecond)
	c.wantSetNX("k", Short, false)
	c.advance(time.Nanosecond)
	c.wantSetNX("k", Short, true)
}

func testTouchMissing(t *testing.T, c *checker) {
	c.wantTouch("missing", Long, false)
	// Touch on a missing key must not create it.
	c.wantSetNX("missing", Long, true)

	// Nor revive an expired one. The control mark, created after the
	// counter with the same time to live, expires no earlier than it.
	c.wantIncr("counter", 1, Short, 1)
	c.wantSetNX("control", Short, true)
	c.afterExpiry(Short, "control mark", func() bool { return c.setNX("control", Long) })
	c.wantTouch("counter", Long, false)
	c.wantIncr("counter", 1, Long, 1)
}

func testTouchExtends(t *testing.T, c *checker) {
	// A counter's remaining time is visible through Incr.
	c.wantIncr("counter", 1, Short, 1)
	c.wantTouch("counter", Long, true)
	n, ttl := c.incr("counter", 0, Long)
	if n != 1 {
		t.Errorf("Touch changed the counter to %d, want 1", n)
	}
	if ttl <= Short {
		t.Errorf("ttl after Touch(%v) = %v, want more than the old %v", Long, ttl, Short)
	}

	// A mark outlives a control mark that had the same time to live.
	c.wantSetNX("mark", Short, true)
	c.wantSetNX("control", Short, true)
	c.wantTouch("mark", Long, true)
	c.afterExpiry(Short, "control mark", func() bool { return c.setNX("control", Long) })
	c.wantSetNX("mark", Long, false)
	c.wantTouch("mark", Long, true)
	if got := c.value("counter"); got != 1 {
		t.Errorf("touched counter = %d after its first window, want 1", got)
	}
}

// Touch sets the time to live from now, also when that is shorter.
func testTouchShortens(t *testing.T, c *checker) {
	c.wantSetNX("mark", Long, true)
	c.wantTouch("mark", Short, true)
	c.afterExpiry(Short, "shortened mark", func() bool { return c.setNX("mark", Long) })
}

func testDelete(t *testing.T, c *checker) {
	c.del("missing")
	c.del("missing")

	c.wantSetNX("mark", Long, true)
	c.del("mark")
	c.del("mark")
	c.wantTouch("mark", Long, false)
	c.wantSetNX("mark", Long, true)

	c.wantIncr("counter", 5, Long, 5)
	c.del("counter")
	c.wantIncr("counter", 2, Long, 2)
}

func testKeysIndependent(t *testing.T, c *checker) {
	keys := []string{"a", "b", "A", "a:b", "a b", "{a}", "a}", "{", "ü", "a\x00b", "twofactor:a"}
	for i, k := range keys {
		c.wantIncr(k, int64(i+1), Long, int64(i+1))
	}
	c.del("a")
	for i, k := range keys[1:] {
		if got := c.value(k); got != int64(i+2) {
			t.Errorf("counter %q = %d, want %d", k, got, i+2)
		}
	}
	c.wantIncr("a", 100, Long, 100)
	c.wantSetNX("mark-a", Long, true)
	c.wantSetNX("mark-b", Long, true)
	c.del("mark-a")
	c.wantSetNX("mark-b", Long, false)
	c.wantSetNX("mark-a", Long, true)
}

const goroutines = 50

// run starts fn in goroutines goroutines at once and waits for them.
func run(fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range goroutines {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func testConcurrentIncr(t *testing.T, c *checker) {
	got := make([]int64, goroutines)
	run(func(i int) {
		n, _, err := c.s.Incr(c.ctx, "k", 1, Long)
		if err != nil {
			t.Errorf("Incr: %v", err)
		}
		got[i] = n
	})
	seen := make(map[int64]bool)
	for _, n := range got {
		if n < 1 || n > goroutines || seen[n] {
			t.Errorf("Incr results %v: want each of 1..%d once", got, goroutines)
			break
		}
		seen[n] = true
	}
	if n := c.value("k"); n != goroutines {
		t.Errorf("counter after %d concurrent Incr = %d", goroutines, n)
	}
}

func testConcurrentSetNX(t *testing.T, c *checker) {
	var mu sync.Mutex
	var won []int
	run(func(i int) {
		ok, err := c.s.SetNX(c.ctx, "k", Long)
		if err != nil {
			t.Errorf("SetNX: %v", err)
		}
		if ok {
			mu.Lock()
			won = append(won, i)
			mu.Unlock()
		}
	})
	if len(won) != 1 {
		t.Errorf("%d concurrent SetNX: goroutines %v reported creating the key, want exactly one", goroutines, won)
	}
}

func (c *checker) fields(key string) map[string]string {
	c.t.Helper()
	m, err := c.s.Fields(c.ctx, key)
	if err != nil {
		c.t.Fatalf("Fields(%q): %v", key, err)
	}
	if m == nil {
		c.t.Fatalf("Fields(%q) = nil map, want an empty one", key)
	}
	return m
}

func (c *checker) setField(key, field, value string, ttl time.Duration) {
	c.t.Helper()
	if err := c.s.SetField(c.ctx, key, field, value, ttl); err != nil {
		c.t.Fatalf("SetField(%q, %q): %v", key, field, err)
	}
}

func (c *checker) wantFields(key string, want map[string]string) {
	c.t.Helper()
	got := c.fields(key)
	if len(got) != len(want) {
		c.t.Fatalf("Fields(%q) = %v, want %v", key, got, want)
	}
	for f, v := range want {
		if got[f] != v {
			c.t.Fatalf("Fields(%q) = %v, want %v", key, got, want)
		}
	}
}

func testFieldsMissing(t *testing.T, c *checker) {
	c.wantFields("m", map[string]string{})
	if had, err := c.s.DeleteField(c.ctx, "m", "x"); err != nil || had {
		t.Fatalf("DeleteField on a missing map = %v, %v; want false, nil", had, err)
	}
}

func testSetFieldAndFields(t *testing.T, c *checker) {
	c.setField("m", "a", "1", Long)
	c.setField("m", "b", `{"name":"Firefox on Linux"}`, Long)
	c.setField("m", "a", "2", Long) // overwrite
	c.wantFields("m", map[string]string{"a": "2", "b": `{"name":"Firefox on Linux"}`})
	c.wantFields("other", map[string]string{})
}

func testDeleteField(t *testing.T, c *checker) {
	c.setField("m", "a", "1", Long)
	c.setField("m", "b", "2", Long)
	for _, tt := range []struct {
		field string
		had   bool
	}{{"a", true}, {"a", false}, {"zz", false}} {
		had, err := c.s.DeleteField(c.ctx, "m", tt.field)
		if err != nil || had != tt.had {
			t.Fatalf("DeleteField(%q) = %v, %v; want %v", tt.field, had, err, tt.had)
		}
	}
	c.wantFields("m", map[string]string{"b": "2"})
	if had, err := c.s.DeleteField(c.ctx, "m", "b"); err != nil || !had {
		t.Fatalf("DeleteField(last) = %v, %v", had, err)
	}
	c.wantFields("m", map[string]string{})
	// The map is gone: a counter of the same name starts afresh.
	c.wantIncr("m", 1, Long, 1)
}

func testFieldsExpire(t *testing.T, c *checker) {
	c.setField("m", "a", "1", Short)
	c.afterExpiry(Short, "map m", func() bool { return len(c.fields("m")) == 0 })
	// A write gives the whole map the new time to live.
	c.setField("n", "a", "1", Short)
	c.setField("n", "b", "2", Long)
	c.wantFields("n", map[string]string{"a": "1", "b": "2"})
}

func testFieldsDelete(t *testing.T, c *checker) {
	c.setField("m", "a", "1", Long)
	c.del("m")
	c.wantFields("m", map[string]string{})
}

func testConcurrentSetField(t *testing.T, c *checker) {
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.s.SetField(c.ctx, "m", fmt.Sprint(i), "v", Long)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := len(c.fields("m")); got != n {
		t.Fatalf("%d fields after %d parallel SetField, want %d", got, n, n)
	}
}

func (c *checker) wantExists(key string, want bool) {
	c.t.Helper()
	got, err := c.s.Exists(c.ctx, key)
	if err != nil {
		c.t.Fatalf("Exists(%q): %v", key, err)
	}
	if got != want {
		c.t.Fatalf("Exists(%q) = %v, want %v", key, got, want)
	}
}

func testExists(t *testing.T, c *checker) {
	c.wantExists("k", false)
	c.wantSetNX("k", Short, true)
	c.wantExists("k", true)
	c.wantIncr("n", 1, Long, 1)
	c.wantExists("n", true)
	c.setField("m", "f", "v", Long)
	c.wantExists("m", true)
	// Exists changes nothing: the key still expires on time, and a
	// missing key is not created.
	c.afterExpiry(Short, "key k after Exists", func() bool {
		ok, err := c.s.Exists(c.ctx, "k")
		return err == nil && !ok
	})
	c.wantSetNX("k", Long, true)
	c.del("k")
	c.wantExists("k", false)
}

// incrBatcher is the optional IncrBatch of a State (MemoryState's
// signature): Incr on several keys in one round trip.
type incrBatcher interface {
	IncrBatch(ctx context.Context, keys []string, delta int64, windows []time.Duration) ([]int64, []time.Duration, error)
}

// testIncrBatch checks, for a State that has IncrBatch, that it is Incr on
// every key: values, windows of their own, reads that create nothing, and
// counts given back that leave no key.
func testIncrBatch(t *testing.T, c *checker) {
	b, ok := c.s.(incrBatcher)
	if !ok {
		t.Skip("the State has no IncrBatch")
	}
	batch := func(keys []string, delta int64, windows []time.Duration) []int64 {
		t.Helper()
		ns, ttls, err := b.IncrBatch(c.ctx, keys, delta, windows)
		if err != nil || len(ns) != len(keys) || len(ttls) != len(keys) {
			t.Fatalf("IncrBatch(%q, %d) = %v, %v, %v", keys, delta, ns, ttls, err)
		}
		for i, ttl := range ttls {
			if ttl <= 0 || ttl > windows[i] {
				t.Fatalf("IncrBatch: ttl of %q = %v, want in (0, %v]", keys[i], ttl, windows[i])
			}
		}
		return ns
	}
	c.wantIncr("b", 4, Long, 4)
	keys := []string{"a", "b", "c"}
	windows := []time.Duration{Long, Long, 2 * Long}
	if ns := batch(keys, 0, windows); fmt.Sprint(ns) != "[0 4 0]" {
		t.Fatalf("read = %v, want [0 4 0]", ns)
	}
	c.wantExists("a", false)
	if ns := batch(keys, 2, windows); fmt.Sprint(ns) != "[2 6 2]" {
		t.Fatalf("count = %v, want [2 6 2]", ns)
	}
	if n, _ := c.incr("c", 0, 2*Long); n != 2 {
		t.Fatalf("Incr after IncrBatch = %d, want 2", n)
	}
	if ns := batch(keys, -2, windows); fmt.Sprint(ns) != "[0 4 0]" {
		t.Fatalf("give back = %v, want [0 4 0]", ns)
	}
	c.wantExists("a", false)
	c.wantExists("c", false)
	if _, _, err := b.IncrBatch(c.ctx, keys, 1, windows[:2]); err == nil {
		t.Error("IncrBatch took fewer windows than keys")
	}
}

// testBatch checks, for a State that has twofactor's Batch (MemoryState,
// redisstate), that a batch answers as the calls one by one would: Incr's
// values and windows, SetNX and Touch of keys there and not, Delete,
// Generation of a record with and without one, DeleteField of a field
// there and not.
func testBatch(t *testing.T, c *checker) {
	b, ok := c.s.(batch.Batcher)
	if !ok {
		t.Skip("the State has no Batch")
	}
	c.wantIncr("n", 4, Long, 4)
	c.wantSetNX("m", Long, true)
	c.gen("u", "g1")
	ops := []batch.Op{
		{Kind: batch.Incr, Key: "n", Delta: 1, TTL: Long},
		{Kind: batch.Incr, Key: "fresh", Delta: 0, TTL: Long},
		{Kind: batch.Incr, Key: "c", Delta: 2, TTL: 2 * Long},
		{Kind: batch.SetNX, Key: "m", TTL: Long},
		{Kind: batch.SetNX, Key: "s", TTL: Long},
		{Kind: batch.Touch, Key: "m", TTL: 2 * Long},
		{Kind: batch.Touch, Key: "none", TTL: Long},
		{Kind: batch.Delete, Key: "n2"},
		{Kind: batch.Generation, Key: "u", Gen: "g2", TTL: Long},
		{Kind: batch.Generation, Key: "v", Gen: "g3", TTL: Long},
		{Kind: batch.DeleteField, Key: "h", Field: "a"},
		{Kind: batch.DeleteField, Key: "h", Field: "none"},
	}
	c.wantIncr("n2", 1, Long, 1)
	c.setField("h", "a", "1", Long)
	c.setField("h", "b", "2", Long)
	if err := b.Batch(c.ctx, ops); err != nil {
		t.Fatalf("Batch: %v", err)
	}
	got := fmt.Sprintln(ops[0].N, ops[1].N, ops[2].N, ops[3].OK, ops[4].OK, ops[5].OK, ops[6].OK, ops[8].Gen, ops[9].Gen, ops[10].OK, ops[11].OK)
	if want := "5 0 2 false true true false g1 g3 true false\n"; got != want {
		t.Fatalf("Batch answers %s, want %s", got, want)
	}
	for _, i := range []int{0, 1, 2} {
		if ttl := ops[i].Left; ttl <= 0 || ttl > ops[i].TTL {
			t.Errorf("Batch: Incr(%q) ttl = %v, want in (0, %v]", ops[i].Key, ttl, ops[i].TTL)
		}
	}
	c.wantExists("fresh", false) // a read creates nothing
	c.wantExists("s", true)
	c.wantExists("none", false)
	c.wantExists("n2", false)
	if n, _ := c.incr("c", 0, 2*Long); n != 2 {
		t.Errorf("Incr after Batch = %d, want 2", n)
	}
	c.wantFields("h", map[string]string{"b": "2"})
	if g := c.gen("v", "other"); g != "g3" {
		t.Errorf("Generation after Batch = %q, want g3", g)
	}
	if err := b.Batch(c.ctx, []batch.Op{{Kind: batch.Incr, Key: "c", Delta: -2, TTL: Long}}); err != nil {
		t.Fatal(err)
	}
	c.wantExists("c", false) // a count given back leaves no key
}
