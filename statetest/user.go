package statetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// The user record's operations: Generation, NewGeneration, AddGrant and
// CheckGrant. Times are the caller's (they are arguments), so none of
// these checks needs the State's clock.

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func (c *checker) gen(key, gen string) string {
	c.t.Helper()
	g, err := c.s.Generation(c.ctx, key, gen, Long)
	if err != nil {
		c.t.Fatalf("Generation(%q): %v", key, err)
	}
	return g
}

func (c *checker) newGen(key, gen, keep string) {
	c.t.Helper()
	if err := c.s.NewGeneration(c.ctx, key, gen, keep, Long); err != nil {
		c.t.Fatalf("NewGeneration(%q): %v", key, err)
	}
}

func (c *checker) addGrant(key, grant, gen, device string, now time.Time, max int) bool {
	c.t.Helper()
	ok, err := c.s.AddGrant(c.ctx, key, grant, gen, device, now, now.Add(30*time.Minute), now.Add(12*time.Hour), max, Long)
	if err != nil {
		c.t.Fatalf("AddGrant(%q, %q): %v", key, grant, err)
	}
	return ok
}

func (c *checker) wantGrant(key, grant string, now, idle time.Time, want bool) {
	c.t.Helper()
	ok, err := c.s.CheckGrant(c.ctx, key, grant, now, idle)
	if err != nil {
		c.t.Fatalf("CheckGrant(%q, %q): %v", key, grant, err)
	}
	if ok != want {
		c.t.Fatalf("CheckGrant(%q, %q) at %v = %v, want %v", key, grant, now.Sub(t0), ok, want)
	}
}

func testGeneration(t *testing.T, c *checker) {
	if g := c.gen("u", "g1"); g != "g1" {
		t.Fatalf("Generation of a new record = %q, want the one given, g1", g)
	}
	if g := c.gen("u", "g2"); g != "g1" {
		t.Fatalf("Generation of a record of g1 = %q, want g1 kept", g)
	}
	c.newGen("u", "g3", "")
	if g := c.gen("u", "g4"); g != "g3" {
		t.Fatalf("Generation after NewGeneration(g3) = %q, want g3", g)
	}
	c.wantFields("u", map[string]string{"g": "g3"})
}

func testGrantLife(t *testing.T, c *checker) {
	if !c.addGrant("u", "a", "g1", "", t0, 0) {
		t.Fatal("AddGrant to a new record = false, want true")
	}
	c.wantGrant("u", "a", t0.Add(time.Minute), time.Time{}, true)
	c.wantGrant("u", "missing", t0, time.Time{}, false)
	c.wantGrant("other", "a", t0, time.Time{}, false)
	// Idle: 30 minutes from t0 unless extended.
	c.wantGrant("u", "a", t0.Add(29*time.Minute), t0.Add(59*time.Minute), true) // extended to t0+59m
	c.wantGrant("u", "a", t0.Add(58*time.Minute), time.Time{}, true)
	c.wantGrant("u", "a", t0.Add(59*time.Minute), time.Time{}, false) // idle
	c.wantGrant("u", "a", t0, time.Time{}, false)                     // dropped when found dead
	if _, ok := c.fields("u")["s:a"]; ok {
		t.Fatal("a dead grant is still in the record, want it dropped")
	}
}

func testGrantEnd(t *testing.T, c *checker) {
	c.addGrant("u", "a", "g1", "", t0, 0)
	end := t0.Add(12 * time.Hour)
	now := t0
	for now.Add(20 * time.Minute).Before(end) {
		now = now.Add(20 * time.Minute)
		c.wantGrant("u", "a", now, now.Add(30*time.Minute), true)
	}
	c.wantGrant("u", "a", end, end.Add(30*time.Minute), false) // never past its end, however active
}

func testGrantIdleNeverShrinks(t *testing.T, c *checker) {
	c.addGrant("u", "a", "g1", "", t0, 0)
	c.wantGrant("u", "a", t0, t0.Add(time.Minute), true) // earlier than its idle time: unchanged
	c.wantGrant("u", "a", t0.Add(29*time.Minute), time.Time{}, true)
}

func testNewGenerationRevokes(t *testing.T, c *checker) {
	for i := range 5 {
		c.addGrant("u", fmt.Sprint("s", i), "g1", "", t0, 0)
	}
	c.newGen("u", "g2", "s0")
	c.wantGrant("u", "s0", t0, time.Time{}, true) // kept
	for i := 1; i < 5; i++ {
		c.wantGrant("u", fmt.Sprint("s", i), t0, time.Time{}, false)
	}
	if c.addGrant("u", "late", "g1", "", t0, 0) {
		t.Fatal("AddGrant of the old generation after NewGeneration = true, want false")
	}
	c.wantGrant("u", "late", t0, time.Time{}, false)
	if !c.addGrant("u", "new", "g2", "", t0, 0) {
		t.Fatal("AddGrant of the new generation = false, want true")
	}
	// keep moves only a grant of the generation it replaces.
	c.newGen("u", "g3", "s1")
	c.wantGrant("u", "s1", t0, time.Time{}, false)
}

func testGrantDevice(t *testing.T, c *checker) {
	c.gen("u", "g1")
	if c.addGrant("u", "a", "g1", "dev", t0, 0) {
		t.Fatal("AddGrant by an unknown device = true, want false")
	}
	c.setField("u", "d:dev", "g1 {}", Long)
	if !c.addGrant("u", "a", "g1", "dev", t0, 0) {
		t.Fatal("AddGrant by a device of the generation = false, want true")
	}
	c.addGrant("u", "b", "g1", "", t0, 0)
	c.wantGrant("u", "a", t0, time.Time{}, true)
	if had, err := c.s.DeleteField(c.ctx, "u", "d:dev"); err != nil || !had {
		t.Fatalf("DeleteField(d:dev) = %v, %v", had, err)
	}
	c.wantGrant("u", "a", t0, time.Time{}, false) // the device's sessions end with it
	c.wantGrant("u", "b", t0, time.Time{}, true)  // others stay
	// A device of an older generation opens nothing.
	c.setField("u", "d:old", "g0 {}", Long)
	if c.addGrant("u", "c", "g1", "old", t0, 0) {
		t.Fatal("AddGrant by a device of another generation = true, want false")
	}
	// NewGeneration ends a device's sessions even if kept... unless kept.
	c.setField("u", "d:d2", "g1 {}", Long)
	c.addGrant("u", "e", "g1", "d2", t0, 0)
	c.newGen("u", "g2", "e")
	c.wantGrant("u", "e", t0, time.Time{}, true) // kept, no longer tied to the old device
}

func testGrantMax(t *testing.T, c *checker) {
	for i := range 3 {
		now := t0.Add(time.Duration(i) * time.Minute)
		c.addGrant("u", fmt.Sprint("s", i), "g1", "", now, 3)
	}
	c.wantGrant("u", "s0", t0.Add(5*time.Minute), t0.Add(50*time.Minute), true) // s0 is now idle latest
	c.addGrant("u", "s3", "g1", "", t0.Add(6*time.Minute), 3)
	c.wantGrant("u", "s1", t0.Add(6*time.Minute), time.Time{}, false) // the one idle longest went
	for _, g := range []string{"s0", "s2", "s3"} {
		c.wantGrant("u", g, t0.Add(6*time.Minute), time.Time{}, true)
	}
	n := 0
	for f := range c.fields("u") {
		if strings.HasPrefix(f, "s:") {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d grants in the record, want at most 3", n)
	}
}

// testConcurrentRevocation races grants being added and checked against a
// NewGeneration: afterwards, no grant of the old generation is live,
// whatever the interleaving.
func testConcurrentRevocation(t *testing.T, c *checker) {
	c.gen("u", "g1")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var added []string
	for i := range 50 {
		wg.Go(func() {
			g := fmt.Sprint("s", i)
			if c.addGrant("u", g, "g1", "", t0, 0) {
				mu.Lock()
				added = append(added, g)
				mu.Unlock()
			}
		})
		if i == 25 {
			wg.Go(func() { c.newGen("u", "g2", "") })
		}
	}
	wg.Wait()
	for _, g := range added {
		c.wantGrant("u", g, t0, time.Time{}, false)
	}
	if c.addGrant("u", "after", "g1", "", t0, 0) {
		t.Fatal("AddGrant of the old generation after the race = true, want false")
	}
}
