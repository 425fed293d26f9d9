package twofactor_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor/internal/testkit"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/statetest"
)

func newMemoryState() (*twofactor.MemoryState, *testkit.Clock) {
	clock := testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s := new(twofactor.MemoryState)
	s.Now = clock.Now
	return s, clock
}

func TestMemoryStateConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) (twofactor.State, func(time.Duration)) {
		s, clock := newMemoryState()
		return s, clock.Advance
	})
}

func TestMemoryStateBounded(t *testing.T) {
	s, clock := newMemoryState()
	ctx := t.Context()
	const perRound = 1000
	for round := range 5 {
		for i := range perRound {
			key := fmt.Sprintf("round%d:%d", round, i)
			if _, err := s.SetNX(ctx, key, 30*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		if n := s.Len(); n != perRound {
			t.Fatalf("round %d: Len() = %d, want %d: expired keys of earlier rounds are kept", round, n, perRound)
		}
		clock.Advance(2 * time.Minute)
	}
	if _, _, err := s.Incr(ctx, "last", 1, time.Second); err != nil {
		t.Fatal(err)
	}
	if n := s.Len(); n != 1 {
		t.Errorf("Len() = %d after everything but one key expired, want 1", n)
	}
}

// A MemoryState's IncrBatch changes every counter or, when the state is
// full, none: the send limits then answer 503 and spend nothing.
func TestMemoryStateIncrBatchAllOrNothing(t *testing.T) {
	s, _ := newMemoryState()
	s.MaxKeys = 2
	ctx := t.Context()
	if _, _, err := s.Incr(ctx, "b", 3, time.Hour); err != nil {
		t.Fatal(err)
	}
	keys, windows := []string{"a", "b", "c"}, []time.Duration{time.Hour, time.Hour, time.Hour}
	if _, _, err := s.IncrBatch(ctx, keys, 1, windows); !errors.Is(err, twofactor.ErrStateFull) {
		t.Fatalf("IncrBatch on a full state = %v, want ErrStateFull", err)
	}
	if n, _, _ := s.Incr(ctx, "b", 0, time.Hour); n != 3 || s.Len() != 1 {
		t.Errorf("after a failed batch: b = %d, %d keys; want 3 and 1", n, s.Len())
	}
	if ns, _, err := s.IncrBatch(ctx, keys[:2], 1, windows[:2]); err != nil || ns[0] != 1 || ns[1] != 4 {
		t.Errorf("IncrBatch with room = %v, %v; want [1 4]", ns, err)
	}
}
