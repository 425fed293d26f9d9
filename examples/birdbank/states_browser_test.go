package main

// Browser tests of every state of the flow (issue 13) at phone and desktop
// width, with JavaScript on and off: a live code, the resend cooldown, too
// many wrong tries, an expired code, errors that keep the input, a reload
// after a wrong code, another number during the cooldown, and BirdBank's
// name on the pages. BirdBank runs on a test clock (the library's, its
// limits' and the mock provider's), so expiry and cooldowns need no waiting;
// only the page's countdown runs in real time. With UPDATE_SCREENSHOTS=1 the
// phone-sized tabs with JavaScript on write docs/cooldown.png,
// docs/too-many-tries.png and docs/expired.png:
//
//	UPDATE_SCREENSHOTS=1 go test -run TestBrowserStates ./examples/birdbank

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/testkit"
)

// Selectors of the states' controls.
const (
	primaryButton = `button.tf-primary`
	primaryForm   = `form:has(button.tf-primary)`
	countrySelect = `select[name="country"]`
	countDown     = `#tf-resend-wait .tf-count`
	waitButtons   = `[data-tf-wait]`
)

// TestBrowserStates runs 24 scenarios, tabsAtOnce at a time, each in a tab
// of one browser. statesTimeout and statesTabTimeout bound the test and
// each scenario, with room for a machine shared with other work (on a busy
// 2-core one the test takes about a minute).
const (
	tabsAtOnce       = 4
	statesTimeout    = 3 * time.Minute
	statesTabTimeout = time.Minute
)

// stateTab is a tab on a BirdBank whose time moves only when the test says.
type stateTab struct {
	*browser
	clock  *testkit.Clock
	js     bool   // JavaScript runs in the tab
	readme bool   // this tab writes the README's screenshots of the states
	axe    string // axe-core's script; "" leaves the audit out
}

// TestBrowserStates runs every scenario below at 390 px and 1280 px wide,
// with JavaScript on and off, each in a tab of one Chromium on a BirdBank
// of its own.
func TestBrowserStates(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium; skipped with -short")
	}
	browserCtx := startChromiumFor(t, statesTimeout)
	axe := axeSource(t)
	scenarios := []struct {
		name string
		run  func(*testing.T, *stateTab)
	}{
		{"LiveCode", stateLiveCode},
		{"Cooldown", stateCooldown},
		{"TooManyTries", stateTooManyTries},
		{"Expired", stateExpired},
		{"DeadCodeDuringCooldown", stateDeadCodeDuringCooldown},
		{"ErrorsKeepInput", stateErrorsKeepInput},
		{"AnotherNumberDuringCooldown", stateAnotherNumber},
	}
	// The scenarios mostly wait for the browser, so more of them run at
	// once than t.Parallel would allow on a small machine (-parallel is
	// GOMAXPROCS): each in a goroutine, as many at a time as tabsAtOnce.
	sem := make(chan struct{}, tabsAtOnce)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, vp := range []viewport{phoneViewport, desktopViewport} {
		for _, js := range []bool{true, false} {
			mode := "JS"
			if !js {
				mode = "NoJS"
			}
			for _, sc := range scenarios {
				wg.Go(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					t.Run(fmt.Sprintf("%s/%dpx/%s", sc.name, vp.width, mode), func(t *testing.T) {
						clock := testkit.NewClock(time.Now())
						b := newTabWith(t, browserCtx, vp, "", statesTabTimeout, func(mock *twofactor.Mock) []twofactor.Option {
							mock.Now = clock.Now
							return []twofactor.Option{
								twofactor.WithClock(clock.Now),
								twofactor.WithState(&twofactor.MemoryState{Now: clock.Now}), // the cooldown and the try counters
							}
						})
						st := &stateTab{browser: b, clock: clock, js: js, readme: js && vp == phoneViewport, axe: axe}
						if !js {
							b.disableJavaScript()
						}
						sc.run(t, st)
					})
				})
			}
		}
	}
}

// expectMain checks the page's main action: the primary button's label and
// the end of its form's action.
func (b *stateTab) expectMain(label, action string) {
	b.t.Helper()
	if got := b.text(primaryButton); got != label {
		b.t.Errorf("main button says %q, want %q", got, label)
	}
	if got := evalJS[string](b.browser, fmt.Sprintf(`document.querySelector(%q).getAttribute("action")`, primaryForm)); !strings.HasSuffix(got, action) {
		b.t.Errorf("main button's form goes to %q, want …%s", got, action)
	}
}

// expectBranding checks BirdBank's name on the page and the way back.
func (b *stateTab) expectBranding() {
	b.t.Helper()
	got := evalJS[struct {
		App, Title string
		Back       []string
	}](b.browser, `({
		App: (e => e ? e.textContent.trim() : "")(document.querySelector(".tf-app")),
		Title: document.title,
		Back: [...document.querySelectorAll("a")].filter(a => a.textContent.trim() === "Back to BirdBank").map(a => a.getAttribute("href")),
	})`)
	if got.App != "BirdBank" || !strings.Contains(got.Title, "BirdBank") {
		b.t.Errorf("the page names the app %q, title %q; want BirdBank in both", got.App, got.Title)
	}
	if len(got.Back) != 1 || got.Back[0] != "/" {
		b.t.Errorf(`"Back to BirdBank" links: %q, want one to /`, got.Back)
	}
}

// countdown reads the seconds left on the cooldown hint, which must say
// "You can ask for a new code in N seconds".
func (b *stateTab) countdown() int {
	b.t.Helper()
	hint := b.text(resendWait)
	if !strings.HasPrefix(hint, "You can ask for a new code in ") || !strings.HasSuffix(hint, " seconds.") {
		b.t.Errorf("cooldown hint %q", hint)
	}
	n, err := strconv.Atoi(b.text(countDown))
	if err != nil {
		b.t.Fatalf("cooldown hint %q: %v", hint, err)
	}
	return n
}

// serverSeconds is the time left the server wrote on the page, which the
// page's script does not change.
func (b *stateTab) serverSeconds() int {
	b.t.Helper()
	return evalJS[int](b.browser, fmt.Sprintf(`parseInt(document.querySelector(%q).dataset.tfSeconds, 10)`, resendWait))
}

// waitButtonsDisabled reports for each button held back by the cooldown
// whether it is disabled.
func (b *stateTab) waitButtonsDisabled() []bool {
	b.t.Helper()
	return evalJS[[]bool](b.browser, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.disabled || e.getAttribute("aria-disabled") === "true")`, waitButtons))
}

// setValue sets the value of the form control sel, as a choice from a list
// or a cleared field would.
func (b *stateTab) setValue(sel, value string) {
	b.t.Helper()
	if !evalJS[bool](b.browser, fmt.Sprintf(`(e => (e.value = %q, e.value === %q))(document.querySelector(%q))`, value, value, sel)) {
		b.t.Fatalf("could not set %s to %q", sel, value)
	}
}

// paste puts text into the empty input sel in one go, as a paste or a
// keyboard's suggestion does (and quicker for the test than typing).
func (b *stateTab) paste(sel, text string) {
	b.t.Helper()
	b.setValue(sel, "")
	b.do(chromedp.Focus(chromedp.CSS(sel)))
	if _, err := chromedp.Call(b.ctx, input.InsertText, input.InsertTextParams{Text: text}); err != nil {
		b.t.Fatal(err)
	}
}

// start opens the account page and has a code sent to browserPhone.
func (b *stateTab) start() sentCode {
	b.t.Helper()
	b.expectStatus(b.open("/account"), http.StatusOK)
	b.paste(phoneInput, browserPhone)
	b.expectStatus(b.press(sendButton), http.StatusOK)
	s := b.nextCode()
	if s.v.Phone != browserPhone {
		b.t.Fatalf("code sent to %s, want %s", s.v.Phone, browserPhone)
	}
	return s
}

// submitCode enters code and presses Verify, expecting status.
func (b *stateTab) submitCode(code string, status int) {
	b.t.Helper()
	b.paste(codeInput, code)
	b.expectStatus(b.press(checkButton), status)
}

// verifies enters the right code and checks the visitor lands on /account.
func (b *stateTab) verifies(code string) {
	b.t.Helper()
	b.submitCode(code, http.StatusOK)
	if p := b.path(); p != "/account" {
		b.t.Fatalf("after the right code the page is %s, want /account", p)
	}
}

// stateLiveCode: Verify leads; the code field takes what a phone keyboard
// or a paste gives; a reload after a wrong code costs no try; the right
// code typed with a space verifies; BirdBank's name is on every page.
func stateLiveCode(t *testing.T, b *stateTab) {
	b.expectStatus(b.open("/account"), http.StatusOK)
	b.do(chromedp.WaitVisible(chromedp.CSS(phoneInput)))
	b.expectBranding()
	s := b.start()
	b.expectFlowPage("en")
	b.expectBranding()
	b.expectMain("Verify", "/check")
	b.expectAccessible("live code")

	attrs := result(b.browser, chromedp.Attributes(chromedp.CSS(codeInput)))
	if attrs["autocomplete"] != "one-time-code" || attrs["inputmode"] != "numeric" {
		t.Errorf("code input autocomplete=%q inputmode=%q, want one-time-code and numeric", attrs["autocomplete"], attrs["inputmode"])
	}
	for _, a := range []string{"pattern", "maxlength"} {
		if v, ok := attrs[a]; ok {
			t.Errorf("code input has %s=%q: the browser refuses a pasted \"123 456\"", a, v)
		}
	}
	// The browser takes the code as typed or pasted, spaces and dashes
	// included.
	for _, typed := range []string{"123 456", "123-456"} {
		if typed == "123 456" {
			b.setValue(codeInput, "")
			b.typeInto(codeInput, typed) // key by key
		} else {
			b.paste(codeInput, typed)
		}
		got := evalJS[struct {
			Value string
			Valid bool
		}](b.browser, fmt.Sprintf(`(e => ({Value: e.value, Valid: e.checkValidity()}))(document.querySelector(%q))`, codeInput))
		if got.Value != typed || !got.Valid {
			t.Errorf("typed %q: the field holds %q, valid %v", typed, got.Value, got.Valid)
		}
	}

	// A wrong code, then a reload: the browser sends the form again, and
	// the answer is the same, with no try spent.
	b.submitCode(wrongCode(s.code), http.StatusBadRequest)
	if msg := b.expectAlertFor(codeInput); !strings.Contains(msg, "2 tries left") {
		t.Errorf("wrong code shows %q", msg)
	}
	b.expectAccessible("wrong code")
	checks := b.mock.Checks()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Reload())
	if err != nil {
		t.Fatalf("reloading: %v", err)
	}
	b.expectStatus(resp, http.StatusBadRequest)
	if !b.present(alert) {
		t.Fatal("after a reload the page shows no error: the browser did not send the form again")
	}
	if msg := b.text(alert); !strings.Contains(msg, "2 tries left") {
		t.Errorf("after a reload the page says %q, want still 2 tries left", msg)
	}
	if n := b.mock.Checks(); n != checks {
		t.Errorf("the reload had the provider check a code again (%d checks, want %d)", n, checks)
	}
	b.expectMain("Verify", "/check")
	if got := b.focused(); got != "code" {
		t.Errorf("after the error focus is on %q, want the code input", got)
	}

	// The right code, entered as "123 456", verifies.
	b.verifies(s.code[:3] + " " + s.code[3:])
	b.noCodeSent()
}

// stateCooldown: right after a code is sent, the page says how long until
// a new one. With JavaScript the resend buttons are disabled and the
// seconds count down to an enabled button; without, the button can be
// pressed early and the answer is 429 with the time left.
func stateCooldown(t *testing.T, b *stateTab) {
	b.start()
	cooldown := int(tfDefaultResendCooldown / time.Second)
	// The server's figure (the clock stands still); the page's own may
	// already have counted down, in real time.
	if n := b.serverSeconds(); n != cooldown {
		t.Errorf("right after sending the page was given %d seconds, want %d", n, cooldown)
	}
	if n := b.countdown(); n < 1 || n > cooldown {
		t.Errorf("right after sending the page says %d seconds, want 1 to %d", n, cooldown)
	}
	disabled := b.waitButtonsDisabled()
	if len(disabled) == 0 {
		t.Fatal("no button is held back by the cooldown")
	}
	for i, d := range disabled {
		if d != b.js {
			t.Errorf("resend button %d disabled=%v with JavaScript %v", i, d, b.js)
		}
	}
	if b.readme {
		b.screenshot("cooldown.png")
	}
	b.expectAccessible("cooldown")

	if !b.js {
		b.expectStatus(b.press(resendButton), http.StatusTooManyRequests)
		b.noCodeSent()
		if msg := b.text(alert); !strings.Contains(msg, fmt.Sprintf("wait %d seconds", cooldown)) {
			t.Errorf("early resend shows %q, want the %d seconds left", msg, cooldown)
		}
		b.clock.Advance(tfDefaultResendCooldown)
		b.expectStatus(b.press(resendButton), http.StatusOK)
		b.nextCode()
		b.expectMain("Verify", "/check")
		return
	}

	// A few seconds before the end: the page counts them down in real
	// time with the buttons disabled, then enables them and hides the hint.
	const left = 4
	b.clock.Advance(tfDefaultResendCooldown - left*time.Second)
	b.expectStatus(b.open("/2fa/"), http.StatusOK)
	if n := b.serverSeconds(); n != left {
		t.Fatalf("%d s before the end the page was given %d seconds", left, n)
	}
	// Seen in one poll, so that no tick slips in between.
	down := result(b.browser, chromedp.Poll[struct {
		Count    int
		Disabled bool
	}](fmt.Sprintf(`(() => {
		const hint = document.querySelector(%q), n = parseInt(document.querySelector(%q).textContent, 10);
		if (hint.hidden || !(n < %d)) return false;
		return {Count: n, Disabled: [...document.querySelectorAll(%q)].every(e => e.getAttribute("aria-disabled") === "true" && !e.disabled)};
	})()`, resendWait, countDown, left, waitButtons),
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(2*left*time.Second)))
	if down.Count < 1 || !down.Disabled {
		t.Errorf("counting down: %d seconds shown, buttons disabled %v; want 1 to %d, disabled", down.Count, down.Disabled, left-1)
	}
	b.do(chromedp.Poll[chromedp.Void](fmt.Sprintf(`[...document.querySelectorAll(%q)].every(e => !e.disabled && !e.hasAttribute("aria-disabled")) && document.querySelector(%q).textContent === "You can ask for a new code now."`, waitButtons, resendWait),
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(2*left*time.Second)))
	b.expectAccessible("cooldown over")
	b.clock.Advance(left * time.Second)
	b.expectStatus(b.press(resendButton), http.StatusOK)
	b.nextCode()
	b.expectMain("Verify", "/check")
	b.noCodeSent()
}

// stateTooManyTries: after three wrong codes the main action is "Send a
// new code", the code field is gone, and the button sends a new code.
func stateTooManyTries(t *testing.T, b *stateTab) {
	s := b.start()
	b.clock.Advance(tfDefaultResendCooldown) // past the cooldown: the new code can be asked for at once
	for i := range tfDefaultMaxAttempts {
		w := []byte(s.code)
		w[0] = '0' + (w[0]-'0'+byte(i)+1)%10 // three different wrong codes
		b.submitCode(string(w), http.StatusBadRequest)
	}
	if msg := b.text(alert); !strings.Contains(msg, "Too many wrong tries") {
		t.Errorf("after %d wrong codes the page says %q", tfDefaultMaxAttempts, msg)
	}
	b.expectFlowPage("en")
	b.expectMain("Send a new code", "/resend")
	if b.present(codeInput) {
		t.Error("the page still asks for the used-up code")
	}
	if got := b.focused(); got != "BUTTON" {
		t.Errorf("focus on %q, want the main button", got)
	}
	b.expectBranding()
	b.expectAccessible("too many tries")
	if b.readme {
		b.screenshot("too-many-tries.png")
	}

	sends := b.mock.Sends()
	b.expectStatus(b.press(primaryButton), http.StatusOK)
	next := b.nextCode()
	if n := b.mock.Sends(); n != sends+1 || next.v.Phone != browserPhone {
		t.Errorf("the mock sent %d codes (to %s), want one more to %s", n-sends, next.v.Phone, browserPhone)
	}
	b.expectMain("Verify", "/check")
	b.verifies(next.code)
	b.noCodeSent()
}

// stateExpired: a code typed after its validity gets the expired message
// and "Send a new code" as the main action; so does the page reopened.
func stateExpired(t *testing.T, b *stateTab) {
	s := b.start()
	b.clock.Advance(tfDefaultValidity + time.Second)
	b.submitCode(s.code, http.StatusBadRequest)
	if msg := b.text(alert); !strings.Contains(msg, "expired") {
		t.Errorf("a code typed too late shows %q", msg)
	}
	b.expectMain("Send a new code", "/resend")
	if b.present(codeInput) {
		t.Error("the page still asks for the expired code")
	}

	// Coming back to the page later: the same, said up front.
	b.expectStatus(b.open("/account"), http.StatusOK)
	b.expectFlowPage("en")
	if msg := b.text(alert); !strings.Contains(msg, "That code has expired") {
		t.Errorf("the reopened page says %q", msg)
	}
	b.expectMain("Send a new code", "/resend")
	if b.present(codeInput) || b.present(resendWait) {
		t.Error("the expired page asks for the code or for waiting")
	}
	b.expectBranding()
	b.expectAccessible("expired")
	if got := b.focused(); got != "BUTTON" {
		t.Errorf("expired: focus on %q, want the main button", got)
	}
	if got := result(b.browser, chromedp.Title()); got != "Error: Get a new code · BirdBank" {
		t.Errorf("expired: title %q", got)
	}
	if b.readme {
		b.screenshot("expired.png")
	}

	b.expectStatus(b.press(primaryButton), http.StatusOK)
	next := b.nextCode()
	b.expectMain("Verify", "/check")
	b.verifies(next.code)
	b.noCodeSent()
}

// stateErrorsKeepInput: a national number with "Country…" chosen is told to
// add the country code, keeps what was typed and marks only its field;
// the Netherlands, BirdBank's default, then makes it work.
func stateErrorsKeepInput(t *testing.T, b *stateTab) {
	b.expectStatus(b.open("/account"), http.StatusOK)
	b.do(chromedp.WaitVisible(chromedp.CSS(phoneInput)))
	if got := result(b.browser, chromedp.Value(chromedp.CSS(countrySelect))); got != "NL" {
		t.Errorf("country preselected %q, want NL", got)
	}
	if !b.present(countrySelect + ` option[value=""]`) {
		t.Fatal(`no "Country…" choice in the country list`)
	}
	b.setValue(countrySelect, "")
	const national = "06 12345678"
	b.typeInto(phoneInput, national)
	b.expectStatus(b.press(sendButton), http.StatusBadRequest)
	b.noCodeSent()
	b.expectFlowPage("en")
	if msg := b.expectAlertFor(phoneInput); !strings.Contains(msg, "Add your country code") {
		t.Errorf("national number without a country shows %q", msg)
	}
	if got := result(b.browser, chromedp.Value(chromedp.CSS(phoneInput))); got != national {
		t.Errorf("phone field holds %q after the error, want %q", got, national)
	}
	if got := evalJS[[]string](b.browser, `[...document.querySelectorAll('[aria-invalid="true"]')].map(e => e.name)`); len(got) != 1 || got[0] != "phone" {
		t.Errorf("fields marked invalid: %q, want the phone field only", got)
	}
	if got := b.focused(); got != "phone" {
		t.Errorf("focus on %q, want the phone input", got)
	}
	b.expectBranding()
	b.expectAccessible("phone error")

	// The Netherlands chosen again: the same typing works.
	b.setValue(countrySelect, "NL")
	b.expectStatus(b.press(sendButton), http.StatusOK)
	s := b.nextCode()
	if s.v.Phone != browserPhone {
		t.Errorf("code sent to %s, want %s", s.v.Phone, browserPhone)
	}
	b.verifies(s.code)
}

// stateAnotherNumber: "Use another number" during the cooldown; the new
// number is refused with a message about it, and stays in the field.
func stateAnotherNumber(t *testing.T, b *stateTab) {
	b.start()
	b.expectStatus(b.press(otherNumber), http.StatusOK)
	b.do(chromedp.WaitVisible(chromedp.CSS(phoneInput)))
	b.expectBranding()
	const other = "+31687654321"
	b.paste(phoneInput, other)
	// The whole number shows in the field, at 390 px too.
	if fits := evalJS[bool](b.browser, fmt.Sprintf(`(e => e.scrollWidth <= e.clientWidth)(document.querySelector(%q))`, phoneInput)); !fits {
		t.Errorf("%s does not fit in the phone field (%v px wide)", other, evalJS[float64](b.browser, fmt.Sprintf(`document.querySelector(%q).getBoundingClientRect().width`, phoneInput)))
	}
	b.expectStatus(b.press(sendButton), http.StatusTooManyRequests)
	b.noCodeSent()
	msg := b.expectAlertFor(phoneInput)
	if !strings.Contains(msg, "for this number in") || strings.Contains(msg, "on its way") {
		t.Errorf("another number during the cooldown shows %q, want a message about that number", msg)
	}
	if got := result(b.browser, chromedp.Value(chromedp.CSS(phoneInput))); got != other {
		t.Errorf("phone field holds %q after the refusal, want %q", got, other)
	}
	if got := b.focused(); got != "phone" {
		t.Errorf("after the refusal focus is on %q, want the phone input", got)
	}
	b.expectAccessible("another number refused")
	if b.present(codeInput) {
		t.Error("the refusal went back to the code page of the abandoned number")
	}
	// Once the cooldown is over, the same number goes through.
	b.clock.Advance(tfDefaultResendCooldown)
	b.expectStatus(b.press(sendButton), http.StatusOK)
	if s := b.nextCode(); s.v.Phone != other {
		t.Errorf("code sent to %s, want %s", s.v.Phone, other)
	}
	b.expectMain("Verify", "/check")
}

// stateDeadCodeDuringCooldown: too many wrong tries while a new code must
// still wait. The focus is on "Send a new code", which the countdown holds
// back without disabling it (a disabled button would drop the focus to the
// page), described by the reason and the wait; when the wait ends the
// focus is still there and the hint says a new code can be asked for now.
func stateDeadCodeDuringCooldown(t *testing.T, b *stateTab) {
	s := b.start()
	for i := range tfDefaultMaxAttempts {
		w := []byte(s.code)
		w[0] = '0' + (w[0]-'0'+byte(i)+1)%10
		b.submitCode(string(w), http.StatusBadRequest)
	}
	b.expectMain("Send a new code", "/resend")
	if got := b.focused(); got != "BUTTON" {
		t.Errorf("focus on %q, want the main button", got)
	}
	if d := b.description(primaryButton); !strings.Contains(d, "Too many wrong tries") || !strings.Contains(d, "You can ask for a new code in") {
		t.Errorf("the main button is described as %q, want the reason and the wait", d)
	}
	if got := b.waitButtonsDisabled(); len(got) == 0 || got[0] != b.js {
		t.Errorf("held back %v with JavaScript %v", got, b.js)
	}
	if evalJS[bool](b.browser, fmt.Sprintf(`document.querySelector(%q).disabled`, primaryButton)) {
		t.Error("the main button is disabled: the focus has nowhere to stay")
	}
	b.expectAccessible("too many tries during the cooldown")
	if !b.js {
		return
	}
	// Two seconds before the end, reopened: the page counts down, then
	// lets the button go with the focus still on it.
	b.clock.Advance(tfDefaultResendCooldown - 2*time.Second)
	b.expectStatus(b.open("/2fa/"), http.StatusOK)
	if got := b.focusedSoon("BUTTON"); got != "BUTTON" {
		t.Errorf("reopened: focus on %q, want the main button", got)
	}
	b.do(chromedp.Poll[chromedp.Void](fmt.Sprintf(`!document.querySelector(%q).hasAttribute("aria-disabled") && document.querySelector(%q).textContent === "You can ask for a new code now."`, primaryButton, resendWait),
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
	if got := b.focused(); got != "BUTTON" {
		t.Errorf("after the wait: focus on %q, want the main button", got)
	}
	if d := b.description(primaryButton); !strings.Contains(d, "You can ask for a new code now.") || strings.Contains(d, "second") {
		t.Errorf("after the wait the main button is described as %q", d)
	}
	b.expectAccessible("too many tries, wait over")
	b.clock.Advance(2 * time.Second)
	b.expectStatus(b.press(primaryButton), http.StatusOK)
	next := b.nextCode()
	b.verifies(next.code)
}
