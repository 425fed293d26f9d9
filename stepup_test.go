package twofactor_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
)

// browserAccept is the Accept header a browser sends with a navigation.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// A form behind RequireFresh that went stale leads a browser through the
// step-up and back to the page the form was on, where sending it again
// works; scripts and JSON clients get 401 with the code step_up_required.
func TestStepUpForForms(t *testing.T) {
	a := newLCApp(t)
	c := a.as("alice")
	c.signIn(secPhone, nil)
	a.clock.Advance(6 * time.Minute) // the settings want a code of the last 5

	form := url.Values{"action": {"new-recovery-codes"}}
	page := a.srv.URL + "/settings?tab=security"

	// JSON: 401 with the stable code.
	if r := c.post("/settings", form); r.status != http.StatusUnauthorized || r.errCode() != "step_up_required" {
		t.Fatalf("stale POST, JSON: %v", r)
	}
	// A script (no HTML wanted): 401, the gate's page.
	s := *c
	s.json, s.next, s.hdr = false, "", http.Header{"Accept": {"*/*"}, "Referer": {page}}
	if r := s.post("/settings", form); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "?stepup=1") {
		t.Fatalf("stale POST, script: %v", r)
	}

	// A browser: through the step-up and back to the form's page.
	b := *c
	b.json, b.next, b.hdr = false, "", http.Header{"Accept": {browserAccept}, "Referer": {page}}
	r := b.post("/settings", form)
	if r.status != http.StatusSeeOther || r.location() != "/2fa/?next=%2Fsettings%3Ftab%3Dsecurity&stepup=1" {
		t.Fatalf("stale POST, browser: %v", r)
	}
	if r = b.get(r.location()); r.status != http.StatusOK || !strings.Contains(r.body, "confirm it&#39;s still you") {
		t.Fatalf("step-up page: %v", r)
	}
	sends := a.mock.Sends()
	if r = b.post("/2fa/send", nil); r.status != http.StatusSeeOther || a.mock.Sends() != sends+1 {
		t.Fatalf("step-up send: %v", r)
	}
	p, _ := twofactor.ParsePhone(secPhone, "")
	if r = b.post("/2fa/check", url.Values{"code": {a.code(p)}}); r.status != http.StatusSeeOther || r.location() != "/settings?tab=security" {
		t.Fatalf("step-up check: %v, want a redirect to the form's page", r)
	}
	// Sent again, the form goes through.
	if r = b.post("/settings", form); r.status != http.StatusOK || !strings.Contains(r.body, `"Subject":"alice"`) {
		t.Fatalf("the form after the step-up: %v", r)
	}
}

// Where a browser's refused form comes back to: its page when that is a
// page of this site outside the flow, else the app's home; never another
// origin.
func TestStepUpForFormsReturn(t *testing.T) {
	a := newLCApp(t)
	c := a.as("alice")
	c.signIn(secPhone, nil)
	a.clock.Advance(6 * time.Minute)
	host := strings.TrimPrefix(a.srv.URL, "https://")
	for _, tt := range []struct {
		name string
		hdr  http.Header
		want string // Location
	}{
		{"the form's page", http.Header{"Accept": {browserAccept}, "Referer": {a.srv.URL + "/settings"}}, "/2fa/?next=%2Fsettings&stepup=1"},
		{"a navigation without Accept", http.Header{"Sec-Fetch-Mode": {"navigate"}, "Referer": {a.srv.URL + "/record?x=1"}}, "/2fa/?next=%2Frecord%3Fx%3D1&stepup=1"},
		{"no Referer", http.Header{"Accept": {browserAccept}}, "/2fa/?next=%2F&stepup=1"},
		{"another origin", http.Header{"Accept": {browserAccept}, "Referer": {"https://evil.example/settings"}}, "/2fa/?next=%2F&stepup=1"},
		{"another origin on the same host name", http.Header{"Accept": {browserAccept}, "Referer": {"https://" + host + ".evil.example/settings"}}, "/2fa/?next=%2F&stepup=1"},
		{"not a web page", http.Header{"Accept": {browserAccept}, "Referer": {"javascript://" + host + "/%0aalert(1)"}}, "/2fa/?next=%2F&stepup=1"},
		{"the flow's own page", http.Header{"Accept": {browserAccept}, "Referer": {a.srv.URL + "/2fa/?stepup=1"}}, "/2fa/?next=%2F&stepup=1"},
		{"a path a browser reads as another host", http.Header{"Accept": {browserAccept}, "Referer": {a.srv.URL + "//evil.example/x"}}, "/2fa/?next=%2F&stepup=1"},
	} {
		b := *c
		b.json, b.next, b.hdr = false, "", tt.hdr
		if r := b.post("/settings", nil); r.status != http.StatusSeeOther || r.location() != tt.want {
			t.Errorf("%s: %v, want a redirect to %s", tt.name, r, tt.want)
		}
	}

	// A browser whose session is not verified at all (it ended while the
	// page was open) goes through the flow and back to the page too.
	n := a.browser()
	n.user = "alice"
	n.hdr = http.Header{"Accept": {browserAccept}, "Referer": {a.srv.URL + "/settings"}}
	if r := n.post("/record", nil); r.status != http.StatusSeeOther || r.location() != "/2fa/?next=%2Fsettings" {
		t.Errorf("unverified browser POST: %v", r)
	}
}

// The app's home is the way back when the Referer can't be used.
func TestStepUpForFormsHome(t *testing.T) {
	a := newLCApp(t, twofactor.WithBranding(twofactor.Branding{Name: "App", HomeURL: "/home"}))
	c := a.as("alice")
	c.signIn(secPhone, nil)
	a.clock.Advance(6 * time.Minute)
	b := *c
	b.json, b.next, b.hdr = false, "", http.Header{"Accept": {browserAccept}}
	if r := b.post("/settings", nil); r.status != http.StatusSeeOther || r.location() != "/2fa/?next=%2Fhome&stepup=1" {
		t.Errorf("no Referer: %v, want the app's home", r)
	}
}
