package twofactor_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor/internal/testkit"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/statetest"
)

func newMemoryState() (*twofactor.MemoryState, *testkit.Clock) {
	clock := testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s := twofactor.NewMemoryState()
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
