package twofactor_test

// security12_test.go attacks the rules of issue 12 (limits that cannot be
// turned against users, bounded memory, the fraud guard, forwarded headers,
// the __Host- cookie, deadlines on the backends), through real HTTP in the
// style of security_test.go.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
)

// Known-number mode without a subject verified "someone holds the number
// on file" for whoever signed in next: New refuses it, and with a subject
// the verification belongs to the user whose number it is.
func TestSecurity_KnownNumberNeedsSubject(t *testing.T) {
	onFile := map[string]string{"alice": secPhone, "bob": "+31687654321"}
	lookup := twofactor.WithPhoneLookup(func(r *http.Request) (string, error) { return onFile[secSubject(r)], nil })
	if m, err := twofactor.New(&twofactor.Mock{}, nil, lookup); err == nil || m != nil || !strings.Contains(err.Error(), "WithSubject") {
		t.Fatalf("New(WithPhoneLookup) without WithSubject = %v, %v; want an error naming WithSubject", m, err)
	}
	e := secNew(t, secSetup{subject: true, opts: []twofactor.Option{lookup}})
	c := e.client()
	c.user = "alice"
	c.mustVerify(secPhone)
	c.user = "bob" // alice signs in as bob in the same browser
	if c.verified() {
		t.Fatal("bob is verified by alice's phone")
	}
	before := e.mock.Sends()
	secWant(t, "send as bob", c.send(secPhone), http.StatusOK, "")
	if e.mock.Sends() != before+1 || e.code("+31687654321") == "" || e.lastEvent().Phone != "+31687654321" {
		t.Errorf("bob's code did not go to bob's number on file: %+v", e.lastEvent())
	}
	if c.verified() {
		t.Error("bob verified before typing his code")
	}
}

// Proxies write the client address with a port, in brackets, quoted or
// obfuscated. Each client behind a trusted proxy must land in its own
// window (not the proxy's one bucket), and what names no address must fall
// back to the connection's address, never to something the client chose.
func TestSecurity_ForwardedHeadersParse(t *testing.T) {
	limit := twofactor.WithIPSendLimit(twofactor.Limit{N: 2, Per: time.Hour})
	n := 0
	sendVia := func(e *secEnv, header, value string) secResp {
		n++
		c := e.client()
		c.hdr.Set(header, value)
		return c.send(fmt.Sprintf("+316123420%02d", n))
	}
	for _, tc := range []struct {
		header, value, want string
	}{
		{"X-Forwarded-For", "203.0.113.7:5423", "203.0.113.7"},
		{"X-Forwarded-For", "192.0.2.1, [2001:db8::1]:443", "2001:db8::1"},
		{"X-Forwarded-For", "[2001:db8::2]", "2001:db8::2"},
		{"X-Forwarded-For", "2001:db8::3", "2001:db8::3"},
		{"X-Forwarded-For", `"203.0.113.8:80"`, "203.0.113.8"},
		{"X-Forwarded-For", "::ffff:203.0.113.9", "203.0.113.9"},
		{"X-Forwarded-For", "203.0.113.10, 127.0.0.5:999", "203.0.113.10"}, // the trusted hop is skipped
		{"X-Forwarded-For", "unknown", "127.0.0.1"},
		{"X-Forwarded-For", "192.0.2.77, garbage", "127.0.0.1"}, // not the forged left part
		{"X-Forwarded-For", "[2001:db8::1]443", "127.0.0.1"},
		{"X-Forwarded-For", "203.0.113.7:99999", "127.0.0.1"},
		{"X-Forwarded-For", "fe80::1%eth0", "127.0.0.1"},
		{"Forwarded", `for="[2001:db8:cafe::17]:4711";proto=https`, "127.0.0.1"}, // Forwarded is not read by default
	} {
		e := secNew(t, secSetup{opts: []twofactor.Option{limit, twofactor.WithTrustedProxies("127.0.0.0/8")}})
		secWant(t, tc.header+": "+tc.value, sendVia(e, tc.header, tc.value), http.StatusOK, "")
		if ip := e.lastEvent().IP; ip != tc.want {
			t.Errorf("%s: %s → client IP %q, want %q", tc.header, tc.value, ip, tc.want)
		}
	}
	t.Run("Forwarded", func(t *testing.T) {
		e := secNew(t, secSetup{opts: []twofactor.Option{limit, twofactor.WithTrustedProxies("127.0.0.0/8"), twofactor.WithForwardedHeader("forwarded")}})
		for _, tc := range []struct{ value, want string }{
			{`for="[2001:db8:cafe::17]:4711";proto=https;by=203.0.113.43`, "2001:db8:cafe::17"},
			{`for=192.0.2.60;proto=http, For="198.51.100.17:8080"`, "198.51.100.17"},
			{`for=192.0.2.61, for=127.0.0.9`, "192.0.2.61"},
			{`for=unknown`, "127.0.0.1"},
			{`for=_hidden, for=_SEVKISEK`, "127.0.0.1"},
			{`proto=https`, "127.0.0.1"},
			{`for=192.0.2.62, by=10.0.0.1`, "127.0.0.1"}, // the last element names no client
		} {
			secWant(t, tc.value, sendVia(e, "Forwarded", tc.value), http.StatusOK, "")
			if ip := e.lastEvent().IP; ip != tc.want {
				t.Errorf("Forwarded: %s → client IP %q, want %q", tc.value, ip, tc.want)
			}
			e.clock.Advance(time.Hour) // a fresh window for the next row
		}
		// X-Forwarded-For is now the client's to write: it is ignored.
		secWant(t, "XFF", sendVia(e, "X-Forwarded-For", "203.0.113.50"), http.StatusOK, "")
		if ip := e.lastEvent().IP; ip != "127.0.0.1" {
			t.Errorf("X-Forwarded-For read although Forwarded was chosen: %q", ip)
		}
	})
	t.Run("ports share one window", func(t *testing.T) {
		e := secNew(t, secSetup{opts: []twofactor.Option{limit, twofactor.WithTrustedProxies("127.0.0.0/8")}})
		secWant(t, "port 1", sendVia(e, "X-Forwarded-For", "203.0.113.7:1"), http.StatusOK, "")
		secWant(t, "port 2", sendVia(e, "X-Forwarded-For", "203.0.113.7:2"), http.StatusOK, "")
		secWant(t, "port 3", sendVia(e, "X-Forwarded-For", "203.0.113.7:3"), http.StatusTooManyRequests, "rate_limited")
		secWant(t, "another client", sendVia(e, "X-Forwarded-For", "203.0.113.8:3"), http.StatusOK, "")
	})
	if _, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithForwardedHeader("X-Real-IP")); err == nil {
		t.Error("New accepted an unknown forwarded header")
	}
}

// A sibling subdomain (or a plain-http response) can plant a cookie named
// "twofactor" for the whole domain, and browsers send it first: with the
// __Host- prefix the session cookie is another name, which only the host
// itself can set, over https, for /.
func TestSecurity_HostPrefixCookie(t *testing.T) {
	e := secNew(t, secSetup{})
	victim := e.client()
	r := victim.send(secPhone)
	var set *http.Cookie
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		set = ck
	}
	if set == nil || set.Name != "__Host-twofactor" || !set.Secure || set.Path != "/" || set.Domain != "" {
		t.Fatalf("session cookie %v, want __Host-twofactor, Secure, Path=/, no Domain", set)
	}
	// The attacker's own session, verified for the attacker's number, planted
	// under the unprefixed name and sent first, as a sibling subdomain's
	// Domain cookie would be.
	att := e.client()
	att.mustVerify("+31687654321")
	planted := att.cookie()
	raw := func(cookies string) secResp {
		req, _ := http.NewRequest(http.MethodPost, victim.url("/2fa/check"), strings.NewReader("code="+e.code(secPhone)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Cookie", cookies)
		return e.roundTrip(&http.Client{Transport: e.srv.Client().Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, req)
	}
	secWant(t, "victim's check with a planted cookie sent first", raw("twofactor="+planted+"; __Host-twofactor="+victim.cookie()), http.StatusOK, "")
	if ev := e.lastEvent(); ev.Type != twofactor.EventVerified || ev.Phone != secPhone {
		t.Errorf("the planted cookie took over the victim's flow: %+v", ev)
	}
	t.Run("not with a domain, a path or plain http", func(t *testing.T) {
		for name, opt := range map[string]twofactor.Option{
			"insecure": twofactor.WithInsecureCookie(),
			"domain":   twofactor.WithCookieDomain("127.0.0.1"),
			"path":     twofactor.WithCookiePath("/2fa/"),
		} {
			e := secNew(t, secSetup{opts: []twofactor.Option{opt}})
			r := e.client().send(secPhone)
			if got := r.header.Get("Set-Cookie"); !strings.HasPrefix(got, "twofactor=") {
				t.Errorf("%s: Set-Cookie %q, want the unprefixed name", name, got)
			}
			if _, err := twofactor.New(&twofactor.Mock{}, nil, opt, twofactor.WithSessionName("__Host-x")); err == nil {
				t.Errorf("%s: New accepted a __Host- name it cannot honour", name)
			}
		}
	})
}
