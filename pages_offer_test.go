package twofactor_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-twofactor/twofactor"
)

// The phone form offers no country the Manager refuses: nobody picks
// Somalia only to be told it gets no codes. An app that serves a refused
// country gets it back in the list.
func TestCountryListLeavesOutRefusedRegions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []twofactor.Option
		listed map[string]bool
	}{
		{"default", nil, map[string]bool{"NL": true, "SO": false, "IL": false, "KP": false}},
		{"IL served", []twofactor.Option{twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.Regions = []string{"*", "IL"} })}, map[string]bool{"NL": true, "SO": false, "IL": true}},
		{"NL and BE only", []twofactor.Option{twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.Regions = []string{"NL", "BE"} })}, map[string]bool{"NL": true, "BE": true, "DE": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := secNew(t, secSetup{opts: tc.opts})
			c := e.client()
			c.json = false
			r := c.get("/2fa/")
			if r.status != http.StatusOK {
				t.Fatalf("phone page: %v", r)
			}
			for region, want := range tc.listed {
				if got := strings.Contains(r.body, `value="`+region+`"`); got != want {
					t.Errorf("%s listed: %v, want %v", region, got, want)
				}
			}
		})
	}
}

// A user proving a first number is offered neither recovery codes nor
// "remember this device", and a remember ticked anyway remembers nothing.
func TestEnrolmentOffersNoRecoveryOrRemember(t *testing.T) {
	a := newLCApp(t)
	bob := a.as("bob")
	bob.json = false
	for _, page := range []string{"/2fa/", ""} {
		if page == "" {
			if r := bob.send("+31655556666"); r.status != http.StatusSeeOther {
				t.Fatalf("enrolment send: %v", r)
			}
			page = "/2fa/"
		}
		r := bob.get(page)
		if r.status != http.StatusOK || strings.Contains(r.body, `name="remember"`) || strings.Contains(r.body, "recover") {
			t.Fatalf("enrolling user's page offers remember or recovery codes: %v", r)
		}
	}
	r := bob.post("/2fa/check", url.Values{"code": {a.code("+31655556666")}, "remember": {"1"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("enrolment check: %v", r)
	}
	if d, _ := a.m.Devices(t.Context(), "bob"); len(d) != 0 {
		t.Fatalf("an enrolment remembered a device: %v", d)
	}
	// Signing in later offers both again.
	alice := a.as("alice")
	alice.json = false
	if r := alice.get("/2fa/"); !strings.Contains(r.body, "recover") {
		t.Errorf("a signing-in user is not offered recovery codes: %v", r)
	}
}
