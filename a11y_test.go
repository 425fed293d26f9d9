package twofactor_test

// What a screen-reader or keyboard user meets when something goes wrong,
// read from the pages the flow serves. The browser tests of BirdBank
// (examples/birdbank) check the same in Chromium, with axe-core.

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
)

// title returns the page's <title>.
func title(body string) string {
	m := regexp.MustCompile(`<title>([^<]*)</title>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// h1 returns the text of the page's heading.
func h1(body string) string {
	m := regexp.MustCompile(`<h1 id="tf-title">([^<]*)</h1>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// autofocused returns the id of each element with autofocus.
func autofocused(body string) []string {
	var ids []string
	for _, tag := range regexp.MustCompile(`<(?:input|button)[^>]*\bautofocus\b[^>]*>`).FindAllString(body, -1) {
		id := regexp.MustCompile(`\bid="([^"]*)"`).FindStringSubmatch(tag)
		cls := regexp.MustCompile(`\bclass="([^"]*)"`).FindStringSubmatch(tag)
		switch {
		case id != nil:
			ids = append(ids, id[1])
		case cls != nil:
			ids = append(ids, "."+cls[1])
		default:
			ids = append(ids, tag)
		}
	}
	return ids
}

// Page titles follow the state: an error reaches the title, and a code
// that can't be used any more is not titled "Enter your code"; the heading
// stays.
func TestTitlesFollowTheState(t *testing.T) {
	e := secNew(t, secSetup{})
	c := e.browser()
	code := c.mustSend(secPhone)
	page := c.get("/2fa/")
	if title(page.body) != "Enter your code" {
		t.Errorf("code page title %q", title(page.body))
	}
	wrong := []byte(code)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	r := c.check(string(wrong))
	if title(r.body) != "Error: Enter your code" || h1(r.body) != "Enter your code" {
		t.Errorf("wrong code: title %q, heading %q", title(r.body), h1(r.body))
	}
	e.clock.Advance(10 * time.Minute) // the code expires
	r = c.check(code)
	if title(r.body) != "Error: Get a new code" || h1(r.body) != "Enter your code" || !strings.Contains(r.body, "That code has expired") {
		t.Errorf("expired code: status %d, title %q, heading %q", r.status, title(r.body), h1(r.body))
	}
	page = c.get("/2fa/")
	if !strings.HasSuffix(title(page.body), "Get a new code") {
		t.Errorf("expired code, reloaded: title %q", title(page.body))
	}

	nl := e.browser()
	nl.hdr.Set("Accept-Language", "nl")
	if r := nl.send("+31 6"); title(r.body) != "Fout: Bevestig uw telefoonnummer" {
		t.Errorf("Dutch error title %q", title(r.body))
	}
}

// On "too many tries" and "expired" the focus is on the button that sends
// a new code, which the countdown never disables (the script marks it
// aria-disabled instead), and the button is described by the error and the
// wait.
func TestDeadCodeFocusAndReason(t *testing.T) {
	e := secNew(t, secSetup{})
	c := e.browser()
	code := c.mustSend(secPhone)
	wrong := []byte(code)
	for i := range twofactor.DefaultMaxAttempts {
		wrong[0] = '0' + (code[0]-'0'+byte(i)+1)%10
		c.check(string(wrong))
	}
	page := c.get("/2fa/")
	if got := autofocused(page.body); len(got) != 1 || got[0] != ".tf-primary" {
		t.Errorf("autofocus on %q, want the one primary button", got)
	}
	if !regexp.MustCompile(`<button type="submit" class="tf-primary" autofocus data-tf-wait aria-describedby="tf-resend-wait">Send a new code</button>`).MatchString(page.body) {
		t.Errorf("the new-code button during the cooldown:\n%s", page.body)
	}
	r := c.check(code) // the error is on the page now
	if !regexp.MustCompile(`class="tf-primary" autofocus data-tf-wait aria-describedby="tf-error tf-resend-wait">`).MatchString(r.body) {
		t.Errorf("the new-code button is not described by the error:\n%s", r.body)
	}
	if strings.Contains(r.body, "disabled") {
		t.Error("the page disables a button itself")
	}
	js := c.get("/2fa/flow.js").body
	if strings.Contains(js, ".disabled") || !strings.Contains(js, `"aria-disabled"`) || !strings.Contains(js, "preventDefault") {
		t.Error("flow.js does not hold the buttons back with aria-disabled")
	}
}

// The wait says "1 second", and its element carries the words the script
// needs for the countdown and for the end of it.
func TestWaitWords(t *testing.T) {
	e := secNew(t, secSetup{})
	c := e.browser()
	c.mustSend(secPhone)
	e.clock.Advance(twofactor.DefaultResendCooldown - time.Second)
	page := c.get("/2fa/")
	if !strings.Contains(page.body, `<strong class="tf-count">1</strong> second.`) {
		t.Errorf("one second left:\n%s", page.body)
	}
	if !strings.Contains(page.body, `data-tf-one="second" data-tf-other="seconds" data-tf-ready="You can ask for a new code now."`) {
		t.Errorf("wait without the script's words:\n%s", page.body)
	}
	nl := e.browser()
	nl.hdr.Set("Accept-Language", "nl")
	nl.mustSend("+31687654321")
	page = nl.get("/2fa/")
	if !strings.Contains(page.body, `data-tf-one="seconde" data-tf-other="seconden" data-tf-ready="U kunt nu een nieuwe code aanvragen."`) {
		t.Errorf("Dutch wait without the script's words:\n%s", page.body)
	}
}

// A wrong recovery code puts the focus on the recovery field, where the
// error is, not on the SMS code field.
func TestRecoveryErrorFocus(t *testing.T) {
	a := newLCApp(t)
	c := a.as("alice")
	c.json = false
	c.mustSend(secPhone)
	r := c.post("/2fa/recover", url.Values{"recovery_code": {"aaaa-bbbb-cccc"}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "recovery code isn") {
		t.Fatalf("wrong recovery code: %v", r)
	}
	if got := autofocused(r.body); len(got) != 1 || got[0] != "tf-recovery" {
		t.Errorf("autofocus on %q, want the recovery field", got)
	}
	// Without an error the code field has it.
	if got := autofocused(c.get("/2fa/").body); len(got) != 1 || got[0] != "tf-code" {
		t.Errorf("code page: autofocus on %q, want the code field", got)
	}
}

// The phone field's hint, placeholder and error agree on the format; the
// "Back to" link sits in a landmark; the pages name their own icon, which
// the flow serves, so the browser asks for no /favicon.ico.
func TestPhonePageAgreesAndLandmarks(t *testing.T) {
	e := secNew(t, secSetup{opts: []twofactor.Option{twofactor.WithBranding(twofactor.Branding{Name: "BirdBank", HomeURL: "/"})}})
	c := e.browser()
	page := c.get("/2fa/")
	placeholder := regexp.MustCompile(`id="tf-phone"[^>]*placeholder="([^"]*)"`).FindStringSubmatch(page.body)
	if placeholder == nil {
		t.Fatalf("no placeholder:\n%s", page.body)
	}
	hint := regexp.MustCompile(`<p class="tf-hint" id="tf-phone-hint">([^<]*)</p>`).FindStringSubmatch(page.body)
	r := c.send("+31 6")
	errMsg := regexp.MustCompile(`<p class="tf-error" role="alert" id="tf-error">([^<]*)</p>`).FindStringSubmatch(r.body)
	if hint == nil || errMsg == nil {
		t.Fatalf("hint %q, error %q", hint, errMsg)
	}
	for _, s := range []string{html.UnescapeString(hint[1]), html.UnescapeString(errMsg[1])} {
		if !strings.Contains(s, "for example "+placeholder[1]) || !strings.Contains(s, "+ and the country code") || strings.Contains(s, "international format") {
			t.Errorf("%q does not agree with the placeholder %q and the country list", s, placeholder[1])
		}
	}
	if !strings.Contains(page.body, `<footer class="tf-back"><p><a href="/">Back to BirdBank</a></p></footer>`) {
		t.Errorf("the Back link is not in a footer landmark:\n%s", page.body)
	}
	if !strings.Contains(page.body, `<link rel="icon" href="/2fa/icon.svg" type="image/svg+xml">`) {
		t.Error("no icon link")
	}
	icon := c.get("/2fa/icon.svg")
	if icon.status != http.StatusOK || icon.header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(icon.body, "<svg") {
		t.Errorf("icon: %d %q", icon.status, icon.header.Get("Content-Type"))
	}
	css := c.get("/2fa/style.css").body
	if !strings.Contains(css, "input::placeholder { color: var(--tf-placeholder); opacity: 1; }") || !strings.Contains(css, "@media (max-width: 30rem)") {
		t.Error("style.css: placeholder contrast or the narrow phone row")
	}
}
