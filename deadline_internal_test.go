package twofactor

import (
	"testing"
	"time"
)

type boundedState struct {
	State
	timeout time.Duration
}

func (b boundedState) CallTimeout() time.Duration { return b.timeout }

// A State that bounds its calls at least as tightly as the Manager would is
// called directly; any other is wrapped in the Manager's deadline.
func TestStateDeadlineWrapsOnlyWhenNeeded(t *testing.T) {
	mem := new(MemoryState)
	for _, tt := range []struct {
		name    string
		s       State
		wrapped bool
	}{
		{"memory", mem, false},
		{"own timeout shorter", boundedState{mem, time.Second}, false},
		{"own timeout equal", boundedState{mem, 2 * time.Second}, false},
		{"own timeout longer", boundedState{mem, 5 * time.Second}, true},
		{"no own timeout", boundedState{mem, 0}, true},
		{"unknown", struct{ State }{mem}, true},
	} {
		_, wrapped := withStateDeadline(tt.s, 2*time.Second).(timedState)
		if wrapped != tt.wrapped {
			t.Errorf("%s: wrapped %t, want %t", tt.name, wrapped, tt.wrapped)
		}
	}
}
