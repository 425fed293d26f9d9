package twofactor_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/go-twofactor/twofactor"
)

// reasonHandler is an app's deny handler: it answers 418 with the name of
// the reason the gate gave, so tests see that the app answered and what it
// read.
func reasonHandler(calls *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		reason := "none"
		switch err := twofactor.DenyReason(r); {
		case errors.Is(err, twofactor.ErrStepUpRequired):
			reason = "step_up"
		case errors.Is(err, twofactor.ErrNotVerified):
			reason = "not_verified"
		case errors.Is(err, twofactor.ErrStoreUnavailable):
			reason = "store"
		case err != nil:
			reason = "other: " + err.Error()
		}
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprintf(w, "app says no: %s %s", reason, r.URL.Path)
	})
}

// With WithDenyHandler the app answers every refusal of Require and
// RequireFresh itself, for pages, forms and JSON alike, and reads why;
// verified requests never reach it, and the flow itself is unchanged.
func TestDenyHandler(t *testing.T) {
	var calls atomic.Int32
	a := newLCApp(t, twofactor.WithDenyHandler(reasonHandler(&calls)))

	c := a.as("alice")
	b := a.as("alice")
	b.json, b.hdr = false, http.Header{"Accept": {browserAccept}}
	for _, tt := range []struct {
		name   string
		r      secResp
		reason string
	}{
		{"JSON", c.get("/record"), "not_verified /record"},
		{"page", b.get("/record"), "not_verified /record"},
		{"form", b.post("/settings", nil), "not_verified /settings"},
	} {
		if tt.r.status != http.StatusTeapot || tt.r.body != "app says no: "+tt.reason {
			t.Errorf("%s, not verified: %v, want 418 %q", tt.name, tt.r, tt.reason)
		}
		if tt.r.location() != "" {
			t.Errorf("%s: the gate redirected too (%s)", tt.name, tt.r.location())
		}
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("deny handler called %d times, want 3", n)
	}

	// The flow is not the gate: its pages answer as before.
	if r := b.get("/2fa/"); r.status != http.StatusOK {
		t.Fatalf("flow page: %v", r)
	}
	c.signIn(secPhone, nil)
	calls.Store(0)
	if _, r, ok := c.record("/record"); !ok {
		t.Fatalf("verified, Require: %v", r)
	}
	if _, r, ok := c.record("/settings"); !ok {
		t.Fatalf("fresh, RequireFresh: %v", r)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("deny handler called %d times for verified requests", n)
	}

	a.clock.Advance(6 * time.Minute) // the settings want a code of the last 5
	if r := c.get("/settings"); r.status != http.StatusTeapot || r.body != "app says no: step_up /settings" {
		t.Errorf("stale, RequireFresh: %v", r)
	}
	if _, r, ok := c.record("/record"); !ok {
		t.Errorf("stale, Require still passes: %v", r)
	}
}

// A failing session store reaches the deny handler with a reason matching
// ErrStoreUnavailable, and is still logged; nothing is let through.
func TestDenyHandlerStoreFailure(t *testing.T) {
	var calls atomic.Int32
	a := newFlowAppWith(t, appSetup{store: brokenStore{}, opts: []twofactor.Option{twofactor.WithDenyHandler(reasonHandler(&calls))}})
	wantBody(t, a.get("/account"), http.StatusTeapot, "app says no: store /account")
	wantBody(t, a.get("/account", "Accept", "application/json"), http.StatusTeapot, "app says no: store /account")
	if n := calls.Load(); n != 2 {
		t.Errorf("deny handler called %d times, want 2", n)
	}
	if !strings.Contains(a.logs.String(), "session store or state backend failed") {
		t.Errorf("store failure not logged: %q", a.logs.String())
	}
	// The flow answers its own store failures, as before.
	wantStatus(t, a.get("/2fa/"), http.StatusServiceUnavailable)
}

// DenyReason is nil outside a refusal, and New refuses a nil handler.
func TestDenyReasonOutsideGate(t *testing.T) {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	if err := twofactor.DenyReason(r); err != nil {
		t.Errorf("DenyReason of a plain request = %v, want nil", err)
	}
	if _, err := twofactor.New(&twofactor.Mock{}, sessions.NewCookieStore([]byte("test hash key, 32 bytes long....")), twofactor.WithDenyHandler(nil)); err == nil || !strings.Contains(err.Error(), "deny handler") {
		t.Errorf("WithDenyHandler(nil): err = %v", err)
	}
}
