package twofactor_test

// The flow's pages in every situation a person is in (issue 13): the right
// main action, input kept after errors, reloads that cost nothing, the
// country choice, branding, the small script, and answers in the flow's
// own voice for unknown routes.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-twofactor/twofactor"
)

// mainAction returns the action of the form that holds the page's primary
// button, and the button's label.
func mainAction(t *testing.T, body string) (action, label string) {
	t.Helper()
	i := strings.Index(body, `class="tf-primary"`)
	if i < 0 {
		t.Fatalf("no primary button on the page:\n%s", body)
	}
	f := strings.LastIndex(body[:i], `<form method="post" action="`)
	if f < 0 {
		t.Fatalf("primary button outside a form:\n%s", body)
	}
	action, _, _ = strings.Cut(body[f+len(`<form method="post" action="`):], `"`)
	rest := body[i:]
	label = rest[strings.Index(rest, ">")+1:]
	label, _, _ = strings.Cut(label, "<")
	return action, label
}

func TestPageMainActionWhenCodeIsDead(t *testing.T) {
	for _, tt := range []struct {
		name string
		kill func(e *secEnv, c *secClient, code string)
	}{
		{"too many wrong tries", func(e *secEnv, c *secClient, code string) {
			for range twofactor.DefaultMaxAttempts {
				c.check(secWrong(code))
			}
		}},
		{"expired", func(e *secEnv, c *secClient, code string) { e.clock.Advance(twofactor.DefaultValidity + time.Second) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := secNew(t, secSetup{opts: []twofactor.Option{twofactor.WithVoice()}})
			c := e.browser()
			code := c.mustSend(secPhone)
			if action, label := mainAction(t, c.get("/2fa/").body); action != "/2fa/check" || label != "Verify" {
				t.Fatalf("live code: main action %s %q", action, label)
			}
			tt.kill(e, c, code)
			e.clock.Advance(31 * time.Second)
			page := c.get("/2fa/")
			action, label := mainAction(t, page.body)
			if action != "/2fa/resend" || label != "Send a new code" {
				t.Errorf("dead code: main action %s %q, want /2fa/resend \"Send a new code\"", action, label)
			}
			if strings.Contains(page.body, `name="code"`) || !strings.Contains(page.body, `value="voice"`) {
				t.Errorf("dead code page still asks for the code, or offers no call:\n%s", page.body)
			}
			// The main action works: a new code, and Verify leads again.
			if r := c.post("/2fa/resend", nil); r.status != http.StatusSeeOther {
				t.Fatalf("resend: %v", r)
			}
			if action, _ := mainAction(t, c.get("/2fa/").body); action != "/2fa/check" {
				t.Errorf("after a new code: main action %s", action)
			}
		})
	}
}

func TestPageCooldownCountsDown(t *testing.T) {
	e := secNew(t, secSetup{})
	c := e.browser()
	c.mustSend(secPhone)
	e.clock.Advance(10 * time.Second)
	page := c.get("/2fa/")
	if !strings.Contains(page.body, `data-tf-seconds="20"`) || !strings.Contains(page.body, "in <strong class=\"tf-count\">20</strong> seconds") {
		t.Errorf("cooldown page without the time left:\n%s", page.body)
	}
	if !regexp.MustCompile(`<button type="submit" class="tf-link" data-tf-wait[^>]*>Didn&#39;t get it\? Send a new code</button>`).MatchString(page.body) || strings.Contains(page.body, "disabled") {
		t.Errorf("resend button not marked for the script, or disabled without it:\n%s", page.body)
	}
	if !strings.Contains(page.body, `<script src="/2fa/flow.js" defer></script>`) || strings.Contains(page.body, "<script>") {
		t.Error("no external script, or an inline one")
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	js := c.get("/2fa/flow.js")
	if js.status != http.StatusOK || !strings.HasPrefix(js.header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(js.body, "data-tf-seconds") || !strings.Contains(js.body, "OTPCredential") {
		t.Errorf("flow.js: %v", js)
	}
	// Without the script the button works, and says how long to wait.
	r := c.post("/2fa/resend", nil)
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "20 seconds") {
		t.Errorf("early resend: %v", r)
	}
}

func TestPageKeepsTypedNumberAndMarksOnlyItsField(t *testing.T) {
	e := secNew(t, secSetup{})
	c := e.browser()
	r := c.send("06 1234 5678")
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "Add your country code") {
		t.Fatalf("national number without a country: %v", r)
	}
	if !strings.Contains(r.body, `value="06 1234 5678"`) {
		t.Error("the typed number was not kept")
	}
	if n := strings.Count(r.body, `aria-invalid="true"`); n != 1 || !regexp.MustCompile(`id="tf-phone"[^>]*aria-invalid="true"`).MatchString(r.body) {
		t.Errorf("%d fields marked invalid, want the phone field only", n)
	}
	for _, tt := range []struct{ phone, want string }{
		{"call me maybe", "That isn&#39;t a phone number"},
		{"+31 20 123 4567", "only send codes to mobile numbers"},
		{"+31 6", "doesn&#39;t look like a valid mobile number"},
	} {
		if r := c.send(tt.phone); !strings.Contains(r.body, tt.want) {
			t.Errorf("%q: %v, want %q", tt.phone, r, tt.want)
		}
	}
	// A wrong code marks the code field, which is cleared.
	code := c.mustSend(secPhone)
	r = c.check(secWrong(code))
	if !regexp.MustCompile(`id="tf-code"[^>]*aria-invalid="true"`).MatchString(r.body) || strings.Contains(r.body, secWrong(code)[:4]) && strings.Contains(r.body, `name="code" value`) {
		t.Errorf("wrong code page:\n%s", r.body)
	}
}

func TestPageCountryChoice(t *testing.T) {
	e := secNew(t, secSetup{})
	c := e.browser()
	c.hdr.Set("Accept-Language", "nl-NL,nl;q=0.9")
	page := c.get("/2fa/")
	if !regexp.MustCompile(`<option value="NL" data-tf-example="6 12345678" selected>Nederland \+31</option>`).MatchString(page.body) {
		t.Fatalf("Dutch visitor: the Netherlands not preselected")
	}
	// The country makes a national number work.
	if r := c.post("/2fa/send", url.Values{"phone": {"06 12345678"}, "country": {"NL"}}); r.status != http.StatusSeeOther {
		t.Fatalf("national number with its country: %v", r)
	}
	if e.code(secPhone) == "" {
		t.Fatal("no code to the national number")
	}
	// A + number wins over the country chosen.
	e.clock.Advance(31 * time.Second)
	c2 := e.browser()
	if r := c2.post("/2fa/send", url.Values{"phone": {"+44 7400 123456"}, "country": {"NL"}}); r.status != http.StatusSeeOther || e.code("+447400123456") == "" {
		t.Fatalf("international number with another country chosen: %v", r)
	}
	// The form still works with the one field alone.
	c3 := e.client()
	c3.mustSend("+31 6 87654321")
	// With WithDefaultRegion, that region is preselected for everyone.
	e2 := secNew(t, secSetup{opts: []twofactor.Option{twofactor.WithDefaultRegion("BE")}})
	if page := e2.browser().get("/2fa/"); !selected(page.body, "BE") {
		t.Error("default region not preselected")
	}
}

// TestPageCountryNone: the country list starts with "Country…", chosen when
// there is nothing to preselect, so a browser never posts the first country
// of the list for a visitor who chose none; choosing it means no region, not
// even the default one, while a post without the field still gets the
// default region.
func TestPageCountryNone(t *testing.T) {
	none := regexp.MustCompile(`<select name="country"[^>]*>\s*<option value=""( selected)?>Country…</option>`)
	e := secNew(t, secSetup{})
	if m := none.FindStringSubmatch(e.browser().get("/2fa/").body); m == nil || m[1] == "" {
		t.Fatalf("no region to guess: \"Country…\" is not first and chosen (%q)", m)
	}
	e = secNew(t, secSetup{opts: []twofactor.Option{twofactor.WithDefaultRegion("NL")}})
	c := e.browser()
	page := c.get("/2fa/")
	if m := none.FindStringSubmatch(page.body); m == nil || m[1] != "" || !selected(page.body, "NL") {
		t.Fatalf("default region: want \"Country…\" first and the Netherlands chosen (%q)", m)
	}
	r := c.post("/2fa/send", url.Values{"phone": {"06 12345678"}, "country": {""}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "Add your country code") {
		t.Fatalf("national number with \"Country…\" chosen: %v", r)
	}
	if m := none.FindStringSubmatch(r.body); m == nil || m[1] == "" || selected(r.body, "NL") {
		t.Errorf("after the error \"Country…\" is not chosen any more")
	}
	if r := c.post("/2fa/send", url.Values{"phone": {"06 12345678"}}); r.status != http.StatusSeeOther || e.code(secPhone) == "" {
		t.Errorf("national number without the country field: %v, want the default region", r)
	}
}

func TestPageReloadCostsNoTry(t *testing.T) {
	e := secNew(t, secSetup{})
	c := e.browser()
	code := c.mustSend(secPhone)
	wrong := secWrong(code)
	first := c.check(wrong)
	if first.status != http.StatusBadRequest || !strings.Contains(first.body, "2 tries left") {
		t.Fatalf("wrong code: %v", first)
	}
	// The browser resubmits the same form (a reload): same page, nothing spent.
	for range 3 {
		if again := c.check(wrong); again.status != http.StatusBadRequest || !strings.Contains(again.body, "2 tries left") {
			t.Fatalf("reloaded wrong code: %v", again)
		}
	}
	if n := e.prov.checks.Load(); n != 1 {
		t.Errorf("provider saw %d checks, want 1", n)
	}
	if r := c.check(secWrong(code)); !strings.Contains(r.body, "1 try left") {
		t.Errorf("another wrong code: %v", r)
	}
	if r := c.check(code[:3] + "-" + code[3:]); r.status != http.StatusSeeOther {
		t.Errorf("right code typed with a dash: %v", r)
	}
}

func TestPageAnotherNumberDuringCooldown(t *testing.T) {
	e := secNew(t, secSetup{})
	c := e.browser()
	c.mustSend(secPhone)
	if r := c.post("/2fa/restart", nil); r.status != http.StatusSeeOther {
		t.Fatalf("restart: %v", r)
	}
	r := c.send("+31 6 87654321")
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "for this number in 30 seconds") || strings.Contains(r.body, "on its way") {
		t.Fatalf("another number during the cooldown: %v", r)
	}
	if !strings.Contains(r.body, `value="&#43;31 6 87654321"`) && !strings.Contains(r.body, `value="+31 6 87654321"`) {
		t.Errorf("the new number was not kept in the field:\n%s", r.body)
	}
	e.clock.Advance(31 * time.Second)
	if r := c.send("+31 6 87654321"); r.status != http.StatusSeeOther || e.code("+31687654321") == "" {
		t.Errorf("after the cooldown: %v", r)
	}
}

func TestPageBranding(t *testing.T) {
	e := secNew(t, secSetup{opts: []twofactor.Option{twofactor.WithBranding(twofactor.Branding{Name: "BirdBank", LogoURL: "/logo.svg", HomeURL: "/"})}})
	page := e.browser().get("/2fa/?next=/account")
	for _, want := range []string{"<title>Verify your phone · BirdBank</title>", `<img src="/logo.svg"`, `<span class="tf-app">BirdBank</span>`, `<a href="/">Back to BirdBank</a>`, `name="next" value="/account"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, b := range []twofactor.Branding{{LogoURL: "javascript:alert(1)"}, {HomeURL: "//evil.example"}, {HomeURL: "http://plain.example"}, {Name: strings.Repeat("x", 17)}} {
		if _, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithBranding(b)); err == nil {
			t.Errorf("WithBranding(%+v): no error", b)
		}
	}
}

func TestPageTryAgainKeepsReturnTarget(t *testing.T) {
	var fs *secFlakyState
	e := secNew(t, secSetup{state: func(m *twofactor.MemoryState) twofactor.State { fs = &secFlakyState{State: m}; return fs }})
	c := e.browser()
	fs.down.Store(true)
	r := c.post("/2fa/send", url.Values{"phone": {secPhone}, "next": {"/account?x=1"}})
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, `href="/2fa/?next=%2Faccount%3Fx%3D1">Try again</a>`) {
		t.Errorf("store down page: %v", r)
	}
}

func TestFlowNotFoundAndMethodInItsOwnVoice(t *testing.T) {
	e := secNew(t, secSetup{})
	c := e.client()
	if r := c.get("/2fa/nope"); r.status != http.StatusNotFound || r.errCode() != "not_found" {
		t.Errorf("JSON 404: %v", r)
	}
	r := c.do(http.MethodPut, "/2fa/send", strings.NewReader("{}"), "application/json")
	if r.status != http.StatusMethodNotAllowed || r.errCode() != "method_not_allowed" || !strings.Contains(r.header.Get("Allow"), "POST") {
		t.Errorf("JSON 405: %v (Allow %q)", r, r.header.Get("Allow"))
	}
	b := e.browser()
	if r := b.get("/2fa/nope"); r.status != http.StatusNotFound || !strings.Contains(r.body, "There&#39;s no page here") {
		t.Errorf("page 404: %v", r)
	}
}

func TestStatusPollingDoesNotKeepSessionAlive(t *testing.T) {
	e := secNew(t, secSetup{})
	c := e.client()
	c.mustVerify(secPhone)
	for range 4 { // 40 minutes of polling, past the 30-minute idle timeout
		e.clock.Advance(10 * time.Minute)
		c.get("/2fa/status")
		c.get("/2fa/")
	}
	if c.verified() {
		t.Error("status polling kept the session alive past the idle timeout")
	}
	// A gated request is activity.
	c2 := e.client()
	e.clock.Advance(time.Minute)
	c2.mustVerify("+31687654321")
	for range 4 {
		e.clock.Advance(10 * time.Minute)
		if !c2.verified() {
			t.Fatal("gated requests did not keep the session alive")
		}
	}
}

func TestNewRefusesBrokenTemplates(t *testing.T) {
	for name, body := range map[string]string{
		"syntax":    `{{define "content"}}{{if}}{{end}}`,
		"execution": `{{define "content"}}{{.NoSuchField}}{{end}}`,
		"call":      `{{define "content"}}{{template "missing" .}}{{end}}`,
	} {
		fsys := fstest.MapFS{"code.html": {Data: []byte(body)}}
		if _, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithTemplates(fsys)); err == nil {
			t.Errorf("%s error in code.html: New returned no error", name)
		}
	}
}

// msgRecorder is a provider that records the requests it is sent.
type msgRecorder struct {
	twofactor.Provider
	mu   sync.Mutex
	reqs []twofactor.Request
}

func (p *msgRecorder) Send(ctx context.Context, req twofactor.Request) (twofactor.Verification, error) {
	p.mu.Lock()
	p.reqs = append(p.reqs, req)
	p.mu.Unlock()
	return p.Provider.Send(ctx, req)
}

func TestSMSOrigin(t *testing.T) {
	rec := &msgRecorder{}
	e := secNew(t, secSetup{provider: func(p *secProvider) twofactor.Provider { rec.Provider = p; return rec },
		opts: []twofactor.Option{twofactor.WithSMSOrigin("bank.example")}})
	e.client().mustSend(secPhone)
	if len(rec.reqs) != 1 || rec.reqs[0].Origin != "bank.example" {
		t.Fatalf("requests %+v, want Origin bank.example", rec.reqs)
	}
	for _, bad := range []string{"", "https://bank.example", "bank.example:443", "bank..example", "-bank.example", "bank example"} {
		if _, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithSMSOrigin(bad)); err == nil {
			t.Errorf("WithSMSOrigin(%q): no error", bad)
		}
	}
}

// A visitor who has submitted nothing costs no server-side record; a
// script that posts the number alone still lands where it was going.
func TestPageViewsWriteNoSession(t *testing.T) {
	st := &secMapStore{data: map[string]map[any]any{}}
	e := secNew(t, secSetup{store: st})
	for range 50 {
		c := e.browser()
		c.get("/account")
		c.get("/2fa/?next=%2Faccount")
		c.get("/2fa/status")
	}
	st.mu.Lock()
	n := len(st.data)
	st.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d session records written by page views", n)
	}
	c := e.browser()
	c.get("/2fa/?next=%2Faccount")
	c.next = "" // the script posts the number alone, no hidden field
	code := c.mustSend(secPhone)
	if r := c.check(code); r.status != http.StatusSeeOther || r.location() != "/account" {
		t.Errorf("after the code: %v, want /account", r)
	}
	// A tampered return cookie is refused like a tampered next.
	c2 := e.browser()
	u, _ := url.Parse(e.srv.URL + "/")
	c2.jar.SetCookies(u, []*http.Cookie{{Name: "__Host-twofactor_next", Value: url.QueryEscape("//evil.example"), Path: "/", Secure: true}})
	e.clock.Advance(time.Minute)
	code = c2.mustSend("+31687654321")
	if r := c2.check(code); r.location() != "/" {
		t.Errorf("after the code with a tampered return cookie: %v, want /", r)
	}
}

// expiryProvider is a provider whose answers say a code expires at exp.
type expiryProvider struct {
	twofactor.Provider
	exp time.Time
}

func (p expiryProvider) Send(ctx context.Context, req twofactor.Request) (twofactor.Verification, error) {
	v, err := p.Provider.Send(ctx, req)
	v.ExpiresAt = p.exp
	return v, err
}

// Whatever expiry a provider answers, the flow treats a code as expired
// after at most 10 minutes, and never trusts one in the past or the far
// future: a 9999-12-31 expiry must not stretch the attempt window.
func TestProviderExpiryClamped(t *testing.T) {
	for _, tt := range []struct {
		name string
		exp  func(now time.Time) time.Time
		want time.Duration
	}{
		{"far future", func(time.Time) time.Time { return time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) }, twofactor.MaxValidity},
		{"in the past", func(now time.Time) time.Time { return now.Add(-time.Hour) }, twofactor.DefaultValidity},
		{"none", func(time.Time) time.Time { return time.Time{} }, twofactor.DefaultValidity},
		{"sensible", func(now time.Time) time.Time { return now.Add(2 * time.Minute) }, 2 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := secNew(t, secSetup{mockMaxAttempts: 10, provider: func(p *secProvider) twofactor.Provider {
				return expiryProvider{Provider: p, exp: tt.exp(secT0)}
			}})
			c := e.client()
			code := c.mustSend(secPhone)
			var st struct {
				ExpiresAt time.Time `json:"expires_at"`
			}
			if err := json.Unmarshal([]byte(c.get("/2fa/status").body), &st); err != nil {
				t.Fatal(err)
			}
			if want := secT0.Add(tt.want); !st.ExpiresAt.Equal(want) {
				t.Errorf("expires_at %v, want %v", st.ExpiresAt, want)
			}
			// Past the clamped expiry the code is refused, whatever the
			// provider would say.
			e.clock.Advance(tt.want + time.Second)
			if r := c.check(code); r.status != http.StatusBadRequest || r.errCode() != "expired" {
				t.Errorf("check after the clamped expiry: %v", r)
			}
			// And the attempt cap holds: three guesses at most reach the
			// provider for one code.
			e.clock.Advance(time.Minute)
			code = c.mustSend(secPhone)
			for range 6 {
				c.check(secWrong(code))
			}
			if n := e.prov.checks.Load(); n != twofactor.DefaultMaxAttempts {
				t.Errorf("provider saw %d checks, want %d", n, twofactor.DefaultMaxAttempts)
			}
		})
	}
}

// selected reports whether the phone page's country list has region chosen.
func selected(body, region string) bool {
	return regexp.MustCompile(`<option value="` + region + `"[^>]* selected>`).MatchString(body)
}
