package twofactor_test

// security12_test.go attacks the rules of issue 12 (limits that cannot be
// turned against users, bounded memory, the fraud guard, forwarded headers,
// the __Host- cookie, deadlines on the backends), through real HTTP in the
// style of security_test.go.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"

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
	limit := twofactor.WithLimits(func(l *twofactor.Limits) { l.IP = twofactor.Limit{N: 2, Per: time.Hour} })
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
			"insecure": twofactor.WithCookie(twofactor.Cookie{Insecure: true}),
			"domain":   twofactor.WithCookie(twofactor.Cookie{Domain: "127.0.0.1"}),
			"path":     twofactor.WithCookie(twofactor.Cookie{Path: "/2fa/"}),
		} {
			e := secNew(t, secSetup{opts: []twofactor.Option{opt}})
			r := e.client().send(secPhone)
			if got := r.header.Get("Set-Cookie"); !strings.HasPrefix(got, "twofactor=") {
				t.Errorf("%s: Set-Cookie %q, want the unprefixed name", name, got)
			}
			if _, err := twofactor.New(&twofactor.Mock{}, nil, opt, twofactor.WithCookie(twofactor.Cookie{Name: "__Host-x"})); err == nil {
				t.Errorf("%s: New accepted a __Host- name it cannot honour", name)
			}
		}
	})
}

// from returns a new cookie-less browser (JSON) whose requests a trusted
// proxy on 127.0.0.0/8 forwards for the client address ip.
func (e *secEnv) from(ip string) *secClient {
	c := e.client()
	c.hdr.Set("X-Forwarded-For", ip)
	return c
}

// proxied is secNew behind a trusted proxy on loopback, plus opts.
func proxied(t *testing.T, opts ...twofactor.Option) *secEnv {
	return secNew(t, secSetup{opts: append([]twofactor.Option{twofactor.WithTrustedProxies("127.0.0.0/8")}, opts...)})
}

// nlPhone returns the i-th of ten million Dutch mobile numbers, spread
// over a thousand number ranges (Limits.Range), so that consecutive
// ones meet no range's limit.
func nlPhone(i int) string { return fmt.Sprintf("+3161%03d%04d", i%1000, i/1000) }

// parallel runs f(i) for i in [0, n) on workers goroutines.
func parallel(n, workers int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// The review's first finding: 5,000 requests from one address blocked 1,000
// numbers for an hour with no SMS sent, because each refused request had
// already counted against the number's window. Now a request refused by
// the address limit spends nothing of the number's window (nor anything
// else), and leaves nothing in the State.
func TestSecurity_RefusedSendSpendsNothing(t *testing.T) {
	e := proxied(t)
	const attacker = "198.51.100.66"
	var refused, sent int64
	var mu sync.Mutex
	parallel(5000, 2, func(i int) { // 2: the transport keeps 2 idle connections, so no new TLS handshakes
		r := e.from(attacker).send(nlPhone(i % 1000))
		mu.Lock()
		defer mu.Unlock()
		switch r.status {
		case http.StatusOK:
			sent++
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Errorf("flood: %v", r)
		}
	})
	if sent != int64(twofactor.DefaultIPSends.N) || refused != 5000-sent {
		t.Fatalf("flood: %d sent, %d refused; want %d sent", sent, refused, twofactor.DefaultIPSends.N)
	}
	if n := e.state.Len(); n > 4*twofactor.DefaultIPSends.N+10 {
		t.Errorf("the State holds %d keys after the flood: refused requests left keys behind", n)
	}
	// Every number's window is whole: numbers the flood never reached get
	// their five codes, and those it reached get what is left of theirs.
	for i := 0; i < 1000; i += 97 {
		got := 0
		for j := range twofactor.DefaultPhoneSends.N + 1 {
			if r := e.from(fmt.Sprintf("203.0.%d.%d", i/200, j+1)).send(nlPhone(i)); r.status == http.StatusOK {
				got++
			}
		}
		want := twofactor.DefaultPhoneSends.N
		if i%1000 < int(sent) { // the first 20 numbers got one code each from the flood
			want--
		}
		if got != want {
			t.Errorf("number %d: %d codes after the flood, want %d", i, got, want)
		}
	}
	if logs := strings.Count(e.logs.String(), "limit=ip "); logs != 1 {
		t.Errorf("%d log lines for one address's refusals, want one per key and window", logs)
	}
	// When the window has turned, the next refusal says how many the last
	// one refused.
	e.clock.Advance(time.Hour)
	for i := range twofactor.DefaultIPSends.N + 1 {
		e.from(attacker).send(nlPhone(5000 + i))
	}
	if want := fmt.Sprintf("limit=ip refused=%d", refused); !strings.Contains(e.logs.String(), want) {
		t.Errorf("logs lack the count of the last window's refusals (%q):\n%s", want, e.logs.String())
	}
}

// The in-memory State has a ceiling. When it is full, new sends get "try
// again later" (503), logged once a minute, and no live limit is forgotten:
// a number at its limit stays refused, a verified session stays verified.
func TestSecurity_MemoryStateCeiling(t *testing.T) {
	const maxKeys = 60
	e := secNew(t, secSetup{
		// No cooldown: its key is new for every browser, so a full state
		// would refuse it before the number's window is reached.
		opts:  []twofactor.Option{twofactor.WithTrustedProxies("127.0.0.0/8"), twofactor.WithLimits(func(l *twofactor.Limits) { l.ResendCooldown = 0 })},
		state: func(s *twofactor.MemoryState) twofactor.State { s.MaxKeys = maxKeys; return s },
	})
	user := e.from("203.0.113.1")
	user.mustVerify(nlPhone(0))
	victim := nlPhone(1)
	for i := range twofactor.DefaultPhoneSends.N {
		secWant(t, "victim's codes", e.from(fmt.Sprintf("203.0.113.%d", i+10)).send(victim), http.StatusOK, "")
	}
	full := 0
	for i := range 200 {
		r := e.from(fmt.Sprintf("192.0.2.%d", i+1)).send(nlPhone(100 + i))
		if r.status == http.StatusServiceUnavailable {
			secWant(t, "send to a full state", r, http.StatusServiceUnavailable, "busy")
			full++
		}
	}
	if full == 0 || e.state.Len() > maxKeys {
		t.Fatalf("state never filled (%d refusals, %d keys)", full, e.state.Len())
	}
	if r := e.browser().send(nlPhone(999)); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "Please try again later") {
		t.Errorf("full state is not the friendly page: %v", r)
	}
	sends := e.prov.sends.Load()
	secWant(t, "the number at its limit, while full", e.from("203.0.113.10").send(victim), http.StatusTooManyRequests, "rate_limited")
	if r := e.from("198.51.100.1").send(victim); r.status != http.StatusTooManyRequests && r.status != http.StatusServiceUnavailable {
		t.Errorf("the number at its limit, from a new address: %v; want 429 or 503", r)
	}
	if e.prov.sends.Load() != sends {
		t.Error("a code went to a number at its limit while the state was full")
	}
	if !user.verified() {
		t.Error("a verified session lost its grant while the state was full")
	}
	if got := strings.Count(e.logs.String(), "state full"); got != 1 {
		t.Errorf("%d 'state full' log lines for %d refusals, want 1", got, full)
	}
	e.clock.Advance(time.Hour + time.Minute) // the windows end; their keys go
	secWant(t, "after the keys expired", e.from("192.0.2.250").send(nlPhone(900)), http.StatusOK, "")
}

// The other way round: a number at its limit (or a locked account) refuses
// a send without spending the sender's address window or cooldown.
func TestSecurity_NumberRefusalSpendsNoAddress(t *testing.T) {
	e := proxied(t)
	victim := nlPhone(1)
	for i := range twofactor.DefaultPhoneSends.N {
		secWant(t, "victim's codes", e.from(fmt.Sprintf("192.0.2.%d", i+1)).send(victim), http.StatusOK, "")
	}
	b := e.from("198.51.100.7")
	for range 50 {
		secWant(t, "a send to the full number", b.send(victim), http.StatusTooManyRequests, "rate_limited")
	}
	// Same browser, same address: the refused sends started no cooldown and
	// spent nothing of the address's window.
	secWant(t, "the same browser at once, to another number", b.send(nlPhone(99)), http.StatusOK, "")
	for i := 1; i < twofactor.DefaultIPSends.N; i++ {
		secWant(t, fmt.Sprintf("send %d to another number", i+1), e.from("198.51.100.7").send(nlPhone(100+i)), http.StatusOK, "")
	}
	secWant(t, "one more than the address's window", e.from("198.51.100.7").send(nlPhone(200)), http.StatusTooManyRequests, "rate_limited")
}

// 100 parallel sends for one number never exceed its window; 100 parallel
// sends from one address never exceed the address's; those refused spend
// nothing.
func TestSecurity_ParallelSendsNeverExceedLimits(t *testing.T) {
	e := proxied(t)
	parallel(100, 100, func(i int) { e.from(fmt.Sprintf("192.0.2.%d", i+1)).send(nlPhone(1)) })
	if got := e.prov.sends.Load(); got != int64(twofactor.DefaultPhoneSends.N) {
		t.Fatalf("100 parallel sends to one number: %d reached the provider, want %d", got, twofactor.DefaultPhoneSends.N)
	}
	parallel(100, 100, func(i int) { e.from("198.51.100.1").send(nlPhone(1000 + i)) })
	if got := e.prov.sends.Load() - int64(twofactor.DefaultPhoneSends.N); got != int64(twofactor.DefaultIPSends.N) {
		t.Fatalf("100 parallel sends from one address: %d reached the provider, want %d", got, twofactor.DefaultIPSends.N)
	}
	// The addresses refused by the number still have their whole windows.
	ok := 0
	for i := range 100 {
		if e.from(fmt.Sprintf("192.0.2.%d", i+1)).send(nlPhone(2000+i)).status == http.StatusOK {
			ok++
		}
	}
	if ok != 100 {
		t.Errorf("%d of 100 addresses could send after the parallel burst, want all", ok)
	}
}

// A refusal by a number's window is the same answer from any client at any
// time: status, body and Retry-After tell nothing about when or how often
// the number was sent codes.
func TestSecurity_NumberWindowLeaksNothing(t *testing.T) {
	e := proxied(t)
	for i := range twofactor.DefaultPhoneSends.N {
		e.from(fmt.Sprintf("192.0.2.%d", i+1)).send(nlPhone(1))
		e.clock.Advance(7 * time.Minute)
	}
	a := e.from("198.51.100.1").send(nlPhone(1))
	e.clock.Advance(13*time.Minute + 17*time.Second)
	b := e.from("203.0.113.9").send(nlPhone(1))
	if a.status != http.StatusTooManyRequests || a.body != b.body || a.header.Get("Retry-After") != b.header.Get("Retry-After") || a.header.Get("Retry-After") != "3600" {
		t.Errorf("two strangers at different times got\n%v\n%v\nwant the same 429 with Retry-After 3600", a, b)
	}
}

// IPv6 addresses count per /64, and also per /56 and /48: one household
// never reaches those, one attacker's block does. IPv4 /24 too (see also
// TestSecurity_IPv4NetworkDefault).
func TestSecurity_IPv6NetworkLimits(t *testing.T) {
	e := proxied(t, twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.CountryBudgets["*"] = 10_000 }))
	n := 0
	send := func(ip string) secResp { n++; return e.from(ip).send(nlPhone(n)) }
	// One /56: its /64s each under the /64 window, together past the /56's.
	for i := range twofactor.DefaultNet56Sends.N {
		secWant(t, "send from a /64 of one /56", send(fmt.Sprintf("2001:db8:aa:%x::1", i%200)), http.StatusOK, "")
	}
	secWant(t, "one more from the /56", send("2001:db8:aa:ff::1"), http.StatusTooManyRequests, "rate_limited")
	// Other /56s of the same /48, until the /48 is spent.
	sent := twofactor.DefaultNet56Sends.N
	for i := 1; sent < twofactor.DefaultNet48Sends.N; i++ {
		secWant(t, "send from another /56 of the /48", send(fmt.Sprintf("2001:db8:aa:%x00::1", i)), http.StatusOK, "")
		sent++
	}
	secWant(t, "one more from a fresh /56 of the spent /48", send("2001:db8:aa:fe00::1"), http.StatusTooManyRequests, "rate_limited")
	secWant(t, "another /48", send("2001:db8:bb::1"), http.StatusOK, "")
	// IPv4: per address, and per /24 (200 by default, 3 here).
	for i := range 30 {
		secWant(t, "IPv4 neighbours", send(fmt.Sprintf("192.0.2.%d", i+1)), http.StatusOK, "")
	}
	e = proxied(t, twofactor.WithLimits(func(l *twofactor.Limits) { l.Net24 = twofactor.Limit{N: 3, Per: time.Hour} }))
	for i := range 3 {
		secWant(t, "IPv4 /24", send(fmt.Sprintf("192.0.2.%d", i+1)), http.StatusOK, "")
	}
	secWant(t, "4th from the /24", send("192.0.2.200"), http.StatusTooManyRequests, "rate_limited")
	secWant(t, "another /24", send("192.0.3.1"), http.StatusOK, "")
	for _, bad := range []twofactor.Option{
		twofactor.WithLimits(func(l *twofactor.Limits) { l.Net56 = twofactor.Limit{N: -1, Per: time.Hour} }),
		twofactor.WithLimits(func(l *twofactor.Limits) { l.Net48 = twofactor.Limit{N: 1} }),
		twofactor.WithLimits(func(l *twofactor.Limits) { l.IP = twofactor.Limit{N: 5, Per: -time.Hour} }),
		twofactor.WithLimits(func(l *twofactor.Limits) { l.Phone = twofactor.Limit{N: 5, Per: 365 * 24 * time.Hour} }),
	} {
		if _, err := twofactor.New(&twofactor.Mock{}, nil, bad); err == nil {
			t.Error("New accepted an invalid limit")
		}
	}
}

func exampleNonGeo(t *testing.T, cc int) string {
	t.Helper()
	n := phonenumbers.GetExampleNumberForNonGeoEntity(cc)
	if n == nil {
		t.Fatalf("no example number for +%d", cc)
	}
	return phonenumbers.Format(n, phonenumbers.E164)
}

func (c *secClient) call(phone string) secResp {
	return c.post("/2fa/send", url.Values{"phone": {phone}, "channel": {"voice"}})
}

// Satellite and international-network numbers are refused by default;
// voice has its own, lower windows (landlines, when allowed, too).
func TestSecurity_FraudGuardNumbers(t *testing.T) {
	e := proxied(t, twofactor.WithVoice(), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.VoiceToLandlines = true }))
	n := 0
	ip := func() string { n++; return fmt.Sprintf("192.0.2.%d", n) }
	for _, cc := range []int{870, 881, 882, 883, 888} {
		p := exampleNonGeo(t, cc)
		secWant(t, p+" by SMS", e.from(ip()).send(p), http.StatusBadRequest, "unsupported_number")
		secWant(t, p+" by voice", e.from(ip()).call(p), http.StatusBadRequest, "unsupported_number")
	}
	if got := e.prov.sends.Load(); got != 0 {
		t.Fatalf("%d codes went to international networks", got)
	}
	allowed := proxied(t, twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.InternationalNetworks = true }))
	p := exampleNonGeo(t, 882)
	if r := allowed.from("192.0.2.1").send(p); r.errCode() == "unsupported_number" {
		t.Errorf("WithInternationalNetworks: %s still refused: %v", p, r)
	}
	// Voice: a landline (allowed here) may be called, three times an hour by default,
	// and one address may ask for ten calls.
	const landline = "+31201234567"
	for i := range twofactor.DefaultVoicePhoneSends.N {
		secWant(t, fmt.Sprintf("call %d to a landline", i+1), e.from(ip()).call(landline), http.StatusOK, "")
	}
	secWant(t, "one call too many to the number", e.from(ip()).call(landline), http.StatusTooManyRequests, "rate_limited")
	secWant(t, "SMS to the landline", e.from(ip()).send(landline), http.StatusBadRequest, "unsupported_number")
	caller := "198.51.100.9"
	for i := range twofactor.DefaultVoiceIPSends.N {
		secWant(t, "calls from one address", e.from(caller).call(nlPhone(i)), http.StatusOK, "")
	}
	secWant(t, "one call too many from the address", e.from(caller).call(nlPhone(50)), http.StatusTooManyRequests, "rate_limited")
	secWant(t, "an SMS from that address", e.from(caller).send(nlPhone(51)), http.StatusOK, "")
	if _, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithLimits(func(l *twofactor.Limits) { l.VoicePhone, l.VoiceIP = twofactor.Limit{N: 1}, twofactor.Limit{} })); err == nil {
		t.Error("New accepted an invalid voice limit")
	}
}

// Per-country and global budgets: past one, sends stop with "try again
// later", one event and one error log line per window, until it turns.
func TestSecurity_FraudGuardBudgets(t *testing.T) {
	// Challenges off: a spent budget pauses first-time numbers (503), as
	// before challenges (challenge_test.go tests the default).
	e := proxied(t, twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.CountryBudgets["be"] = 3 }), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.CountryBudgets["KZ"] = 0 }), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.GlobalBudget = 8 }), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.NoChallenge = true }))
	n := 0
	ip := func() string { n++; return fmt.Sprintf("192.0.2.%d", n) }
	be := func(i int) string { return fmt.Sprintf("+3247012%04d", i) }
	for i := range 3 {
		secWant(t, "BE within its budget", e.from(ip()).send(be(i)), http.StatusOK, "")
	}
	for i := range 20 {
		r := e.from(ip()).send(be(10 + i))
		secWant(t, "BE past its budget", r, http.StatusServiceUnavailable, "sending_paused")
		if i == 0 {
			secRetryAfter(t, r)
		}
	}
	if r := e.browser().send(be(99)); !strings.Contains(r.body, "We can&#39;t send codes right now. Please try again later.") {
		t.Errorf("budget refusal is not the friendly page: %v", r)
	}
	secWant(t, "KZ, budget 0", e.from(ip()).send("+77012345678"), http.StatusBadRequest, "region_not_allowed")
	for i := range 5 {
		secWant(t, "NL within the global budget", e.from(ip()).send(nlPhone(i)), http.StatusOK, "")
	}
	for i := range 20 {
		secWant(t, "past the global budget", e.from(ip()).send(nlPhone(100+i)), http.StatusServiceUnavailable, "sending_paused")
	}
	if got := e.prov.sends.Load(); got != 8 {
		t.Errorf("%d codes sent, want the global budget of 8", got)
	}
	count := func(t twofactor.EventType) (n int) {
		for _, et := range e.eventTypes() {
			if et == t {
				n++
			}
		}
		return n
	}
	if got := count(twofactor.EventBudgetExceeded); got != 2 {
		t.Errorf("%d budget events, want 2 (BE, global)", got)
	}
	logs := e.logs.String()
	if strings.Count(logs, "global SMS budget reached") != 1 || strings.Count(logs, "country SMS budget reached") != 1 || !strings.Contains(logs, "region=BE") {
		t.Errorf("want one error line per budget:\n%s", logs)
	}
	e.clock.Advance(time.Hour)
	secWant(t, "after the window turns", e.from(ip()).send(be(50)), http.StatusOK, "")
	for _, bad := range []twofactor.Option{twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.GlobalBudget = 0 }), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.CountryBudgets["BEL"] = 1 }), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.CountryBudgets["NL"] = -1 }),
		twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.ConversionMin, g.ConversionSends = 0, 50 }), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.ConversionMin, g.ConversionSends = 20, 5 }), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.ConversionTrickle = -1 })} {
		if _, err := twofactor.New(&twofactor.Mock{}, nil, bad); err == nil {
			t.Error("New accepted an invalid fraud guard option")
		}
	}
}

// The conversion watch: when few codes sent to a country are verified, an
// event and one warning; with the trickle option, the country slows down.
func TestSecurity_FraudGuardConversionWatch(t *testing.T) {
	for _, trickle := range []bool{false, true} {
		t.Run(fmt.Sprintf("trickle=%t", trickle), func(t *testing.T) {
			opts := []twofactor.Option{twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.ConversionMin, g.ConversionSends = 20, 10 })}
			if trickle {
				opts = append(opts, twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.ConversionTrickle = 2 }))
			}
			e := proxied(t, opts...)
			// A real user verifies; nine pumped numbers never do.
			c := e.from("192.0.2.1")
			c.mustVerify(nlPhone(0))
			for i := 1; i < 10; i++ {
				secWant(t, "pumped send", e.from(fmt.Sprintf("192.0.2.%d", i+1)).send(nlPhone(i)), http.StatusOK, "")
			}
			var low []twofactor.Event
			e.mu.Lock()
			for _, ev := range e.events {
				if ev.Type == twofactor.EventConversionLow {
					low = append(low, ev)
				}
			}
			e.mu.Unlock()
			if len(low) != 1 || low[0].Region != "NL" {
				t.Fatalf("conversion events %+v, want one for NL", low)
			}
			if got := strings.Count(e.logs.String(), "few codes sent to this country are verified"); got != 1 {
				t.Errorf("%d warnings, want 1", got)
			}
			ok := 0
			for i := range 5 {
				if e.from(fmt.Sprintf("198.51.100.%d", i+1)).send(nlPhone(100+i)).status == http.StatusOK {
					ok++
				}
			}
			if want := map[bool]int{false: 5, true: 2}[trickle]; ok != want {
				t.Errorf("%d of 5 sends to NL after the warning went out, want %d", ok, want)
			}
			secWant(t, "another country", e.from("198.51.100.99").send("+32470123456"), http.StatusOK, "")
		})
	}
}
