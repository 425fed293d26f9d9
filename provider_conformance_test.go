package twofactor_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/testkit"
	"github.com/go-twofactor/twofactor/providertest"
)

// mockFake gives the conformance suite its hooks into a Mock.
type mockFake struct {
	m     *twofactor.Mock
	clock *testkit.Clock
	mu    sync.Mutex
	code  string
	down  bool
}

func (f *mockFake) LastCode() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.code
}

func (f *mockFake) Expire() { f.clock.Advance(twofactor.MaxValidity + time.Minute) }

func (f *mockFake) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *mockFake) Calls() int { return f.m.Sends() + f.m.Checks() }

// newMockFake returns a Mock on clock and its hooks.
func newMockFake(clock *testkit.Clock) *mockFake {
	f := &mockFake{clock: clock}
	f.m = &twofactor.Mock{
		Now: clock.Now,
		OnCode: func(_ twofactor.Verification, code string) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.code = code
		},
		Fail: func(string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.down {
				return twofactor.ErrUnavailable
			}
			return nil
		},
	}
	return f
}

func TestMockConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{New: func(t *testing.T) (twofactor.Provider, providertest.Fake) {
		f := newMockFake(testkit.NewClock(time.Date(2026, 5, 3, 14, 0, 0, 0, time.UTC)))
		return f.m, f
	}})
}

// A Mock that keeps its codes in a State behaves the same.
func TestMockInStateConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{New: func(t *testing.T) (twofactor.Provider, providertest.Fake) {
		clock := testkit.NewClock(time.Date(2026, 5, 3, 14, 0, 0, 0, time.UTC))
		f := newMockFake(clock)
		st := new(twofactor.MemoryState)
		st.Now = clock.Now
		f.m.State = st
		return f.m, f
	}})
}

// Two servers, each with a Mock of its own on one State: a code sent by
// one is checked by the other, once, and wrong tries add up across them.
func TestMocksShareCodesThroughTheState(t *testing.T) {
	st := new(twofactor.MemoryState)
	var code string
	a := &twofactor.Mock{State: st, OnCode: func(_ twofactor.Verification, c string) { code = c }}
	b := &twofactor.Mock{State: st}
	v, err := a.Send(t.Context(), twofactor.Request{Phone: "+31612345678"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Check(t.Context(), v.ID, code); err != nil {
		t.Fatalf("B checks A's code: %v", err)
	}
	if err := a.Check(t.Context(), v.ID, code); !errors.Is(err, twofactor.ErrAlreadyUsed) {
		t.Fatalf("A checks the code B accepted: %v, want ErrAlreadyUsed", err)
	}
	v, _ = a.Send(t.Context(), twofactor.Request{Phone: "+31612345678"})
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i, m := range []*twofactor.Mock{a, b, a} {
		if err := m.Check(t.Context(), v.ID, wrong); !errors.Is(err, twofactor.ErrInvalidCode) {
			t.Fatalf("wrong try %d: %v", i, err)
		}
	}
	if err := b.Check(t.Context(), v.ID, code); !errors.Is(err, twofactor.ErrAlreadyUsed) {
		t.Fatalf("right code after three wrong tries across servers: %v, want the verification closed", err)
	}
}
