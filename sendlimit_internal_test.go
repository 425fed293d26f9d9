package twofactor

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// The send limiter on its own, on plain data: a send counts against every
// rule or none, a refusal by the read changes nothing and names its rule
// and time left, and a reservation given back frees its room.
func TestLimitSendReservesRefusesAndGivesBack(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &MemoryState{Now: func() time.Time { return now }}
	log := slog.New(slog.DiscardHandler)
	plan := sendPlan{rules: []rule{
		{name: "own", key: "own", limit: Limit{N: 1, Per: time.Minute}, own: true},
		{name: "shared", key: "shared", limit: Limit{N: 3, Per: time.Hour}},
	}}
	count := func(key string) int64 {
		t.Helper()
		n, _, err := st.Incr(ctx, key, 0, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	s, no, err := limitSend(ctx, st, log, plan)
	if err != nil || no != nil || s == nil {
		t.Fatalf("first send: %v, %+v, %v", s, no, err)
	}
	if count("own") != 1 || count("shared") != 1 {
		t.Fatalf("after a send: own %d, shared %d; want 1, 1", count("own"), count("shared"))
	}

	now = now.Add(20 * time.Second)
	s2, no, err := limitSend(ctx, st, log, plan)
	if err != nil || s2 != nil || no == nil {
		t.Fatalf("second send: %v, %+v, %v; want a refusal", s2, no, err)
	}
	if no.rule.name != "own" || no.lock != nil || !no.read || no.ttl != 40*time.Second {
		t.Errorf("refusal %+v; want the own rule, by the read, 40s left", no)
	}
	if count("shared") != 1 {
		t.Errorf("a refused send counted the shared rule: %d", count("shared"))
	}

	s.cancel(ctx)
	if count("own") != 0 || count("shared") != 0 {
		t.Fatalf("after cancel: own %d, shared %d; want 0, 0", count("own"), count("shared"))
	}
	if _, no, err := limitSend(ctx, st, log, plan); err != nil || no != nil {
		t.Fatalf("send after cancel: %+v, %v", no, err)
	}
}

// A spent lock of wrong codes refuses at the read, after the requester's
// own rules and before the shared ones, and nothing is counted.
func TestLimitSendLockRefusesAtTheRead(t *testing.T) {
	ctx := context.Background()
	st := new(MemoryState)
	lock := guessLock{name: "account locked", key: "lock", limit: Limit{N: 1, Per: time.Hour}}
	if _, _, err := st.Incr(ctx, lock.key, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	plan := sendPlan{
		rules: []rule{
			{name: "own", key: "own", limit: Limit{N: 5, Per: time.Minute}, own: true},
			{name: "shared", key: "shared", limit: Limit{N: 5, Per: time.Hour}},
		},
		locks: []guessLock{lock},
	}
	s, no, err := limitSend(ctx, st, slog.New(slog.DiscardHandler), plan)
	if err != nil || s != nil || no == nil {
		t.Fatalf("send: %v, %+v, %v; want a refusal", s, no, err)
	}
	if no.lock == nil || no.lock.key != "lock" || !no.read || no.ttl <= 0 || no.ttl > time.Hour {
		t.Errorf("refusal %+v; want the lock, by the read, with its time left", no)
	}
	for _, key := range []string{"own", "shared"} {
		if n, _, err := st.Incr(ctx, key, 0, time.Hour); err != nil || n != 0 {
			t.Errorf("%s counted %d (%v) by a refused send", key, n, err)
		}
	}
}
