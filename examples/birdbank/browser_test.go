package main

// End-to-end tests of BirdBank in headless Chromium: a visitor opens the
// account page, is sent into the verification flow, types a number and the
// code the mock provider hands to the test, and lands on the balance.
//
// They need the Debian package chromium (/usr/bin/chromium). Without it they
// skip, except under CI=true, where a missing browser is an error. With
// UPDATE_SCREENSHOTS=1 they also write the screenshots of the flow's pages
// to docs/ at the repository root, for the README:
//
//	UPDATE_SCREENSHOTS=1 go test -run TestBrowser/SignIn ./examples/birdbank

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/go-twofactor/twofactor"
)

const (
	browserPhone = "+31612345678"
	// suiteTimeout and tabTimeout bound the browser tests and each scenario,
	// so a hang fails instead of waiting for go test's timeout. They leave
	// room for a busy machine; on an idle one the suite takes a few seconds.
	suiteTimeout = 90 * time.Second
	tabTimeout   = 30 * time.Second
	// codeTimeout bounds the wait for the mock provider to hand over a code.
	codeTimeout = 5 * time.Second
	// accountBalance is what BirdBank's account page shows.
	accountBalance = "1,234.56"
)

// Selectors of the flow's controls, by what they do rather than by class.
const (
	phoneInput   = `input[name="phone"]`
	codeInput    = `input[name="code"]`
	sendButton   = `form[action$="/send"] button[type="submit"]:not([name])`
	callButton   = `form[action$="/send"] button[name="channel"][value="voice"]`
	checkButton  = `form[action$="/check"] button[type="submit"]`
	resendButton = `form[action$="/resend"] button[type="submit"]:not([name])`
	resendCall   = `form[action$="/resend"] button[name="channel"][value="voice"]`
	otherNumber  = `form[action$="/restart"] button[type="submit"]`
	alert        = `[role="alert"]`
	resendWait   = `#tf-resend-wait`
)

type viewport struct {
	width, height int64
	scale         float64
	mobile        bool
}

var (
	phoneViewport   = viewport{width: 390, height: 844, scale: 2, mobile: true} // a current iPhone
	desktopViewport = viewport{width: 1280, height: 800, scale: 1}
)

// sentCode is a code the mock provider was asked to deliver.
type sentCode struct {
	v    twofactor.Verification
	code string
}

// browser is a headless Chromium tab, in a browser context of its own (its
// own cookies), on a BirdBank of its own.
type browser struct {
	t     *testing.T
	ctx   context.Context
	url   string
	codes chan sentCode
	mock  *twofactor.Mock // BirdBank's provider
	shots string          // the test's screenshot directory

	mu         sync.Mutex
	cspReports []string // console messages about Content-Security-Policy violations
}

// chromiumPath finds Debian's Chromium. A missing browser skips the test,
// or fails it under CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/usr/bin/chromium"); err == nil && !fi.IsDir() {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	const msg = "chromium not installed; apt-get install -y chromium"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// startChromium starts one headless Chromium for the test and its subtests,
// with a fresh profile, and returns its context.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	return startChromiumFor(t, suiteTimeout)
}

// startChromiumFor is startChromium for a test that needs up to timeout.
func startChromiumFor(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	execPath := chromiumPath(t)
	// Made first, so that it is removed only after the browser has exited
	// (cleanups run last first).
	profile := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(execPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile),
	)
	t.Cleanup(cancelAlloc) // also waits for the browser to exit
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browserCtx); err != nil { // starts Chromium
		t.Fatalf("starting %s: %v", execPath, err)
	}
	return browserCtx
}

// newTab starts BirdBank with a mock provider on a local plain-http server,
// and opens a tab on it in a new browser context of browserCtx, with the
// given viewport. A non-empty acceptLanguage is sent as the browser's
// Accept-Language header.
func newTab(t *testing.T, browserCtx context.Context, vp viewport, acceptLanguage string) *browser {
	t.Helper()
	return newTabWith(t, browserCtx, vp, acceptLanguage, tabTimeout, nil)
}

// newTabWith is newTab with a time limit of its own, and setup, if not
// nil, adjusting the mock provider before BirdBank starts and returning
// library options for BirdBank (such as a test clock).
func newTabWith(t *testing.T, browserCtx context.Context, vp viewport, acceptLanguage string, timeout time.Duration, setup func(*twofactor.Mock) []twofactor.Option) *browser {
	t.Helper()
	b := &browser{t: t, codes: make(chan sentCode, 8), shots: t.TempDir()}

	mock := &twofactor.Mock{OnCode: func(v twofactor.Verification, code string) {
		select {
		case b.codes <- sentCode{v: v, code: code}:
		default:
			t.Errorf("the mock sent more codes than the test read")
		}
	}}
	b.mock = mock
	var opts []twofactor.Option
	if setup != nil {
		opts = setup(mock)
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	app, err := newApp(config{Provider: mock, Log: log, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app) // 127.0.0.1, plain http, like localhost in development
	t.Cleanup(func() {
		srv.Close()
		if err := app.Close(); err != nil {
			t.Error(err)
		}
	})
	b.url = srv.URL

	ctx, cancel := context.WithTimeout(browserCtx, timeout)
	t.Cleanup(cancel)
	tab, cancelTab := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancelTab)
	b.ctx = tab

	vpOpts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(vp.scale)}
	if vp.mobile {
		vpOpts = append(vpOpts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	}
	b.do(chromedp.EmulateViewport(vp.width, vp.height, vpOpts...)) // opens the tab
	if acceptLanguage != "" {
		if _, err := chromedp.Call(tab, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Accept-Language": acceptLanguage},
		}); err != nil {
			t.Fatal(err)
		}
	}
	console := chromedp.Console(tab)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if s := m.String(); strings.Contains(s, "Content Security Policy") {
				b.mu.Lock()
				b.cspReports = append(b.cspReports, s)
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, r := range b.cspReports {
			t.Errorf("the page broke its Content-Security-Policy: %s", r)
		}
	})
	return b
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func result[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// evalJS evaluates a JavaScript expression in the page.
func evalJS[T any](b *browser, js string) T {
	b.t.Helper()
	return result(b, chromedp.Evaluate[T](js))
}

// open loads path and returns the response of the page it ends on.
func (b *browser) open(path string) *network.Response {
	b.t.Helper()
	return result(b, chromedp.NavigateResponse(b.url+path))
}

// press clicks the button sel, like a visitor, and waits for the page the
// form leads to.
func (b *browser) press(sel string) *network.Response {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("pressing %s: %v", sel, err)
	}
	return resp
}

// typeInto types text into the input sel, key by key.
func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

// text returns the visible text of the first element sel, waiting for it to
// be visible.
func (b *browser) text(sel string) string {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	return strings.TrimSpace(result(b, chromedp.Text(chromedp.CSS(sel))))
}

// present reports whether the page has an element sel, without waiting.
func (b *browser) present(sel string) bool {
	b.t.Helper()
	return evalJS[bool](b, fmt.Sprintf("document.querySelector(%q) !== null", sel))
}

// path is the path of the page the tab shows.
func (b *browser) path() string {
	b.t.Helper()
	u, err := url.Parse(result(b, chromedp.Location()))
	if err != nil {
		b.t.Fatal(err)
	}
	return u.Path
}

// focused is the name (or id) of the element that has the keyboard focus.
func (b *browser) focused() string {
	b.t.Helper()
	return evalJS[string](b, `(e => e ? (e.name || e.id || e.tagName) : "")(document.activeElement)`)
}

// nextCode returns the code the mock provider was last asked to deliver.
func (b *browser) nextCode() sentCode {
	b.t.Helper()
	select {
	case s := <-b.codes:
		return s
	case <-time.After(codeTimeout):
		b.t.Fatal("no code was sent")
	case <-b.ctx.Done():
		b.t.Fatal(b.ctx.Err())
	}
	return sentCode{}
}

// noCodeSent fails if the mock was asked to deliver a code the test has not
// read. Sending is synchronous in the request, so once a page has loaded
// every code it caused is in the channel.
func (b *browser) noCodeSent() {
	b.t.Helper()
	select {
	case s := <-b.codes:
		b.t.Fatalf("unexpected code sent to %s by %s", twofactor.MaskPhone(s.v.Phone), s.v.Channel)
	default:
	}
}

// screenshot saves the whole page as name (a .png) in the test's temporary
// directory and, with UPDATE_SCREENSHOTS=1, in docs/ for the README.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png := result(b, chromedp.FullScreenshot(100))
	p := filepath.Join(b.shots, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", p)
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		docs := filepath.Join("..", "..", "docs")
		if err := os.MkdirAll(docs, 0o755); err != nil {
			b.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(docs, name), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		b.t.Logf("screenshot: %s", filepath.Join(docs, name))
	}
}

// expectStatus fails unless resp has the HTTP status want.
func (b *browser) expectStatus(resp *network.Response, want int) {
	b.t.Helper()
	if resp == nil {
		b.t.Fatalf("no response, want %d", want)
	}
	if int(resp.Status) != want {
		b.t.Fatalf("%s answered %d %s, want %d", resp.URL, resp.Status, resp.StatusText, want)
	}
}

// expectFlowPage checks what every page of the flow must be: served under
// the flow's prefix, in the language lang, styled by its own stylesheet
// (which the CSP lets through), and no wider than the viewport.
func (b *browser) expectFlowPage(lang string) {
	b.t.Helper()
	if p := b.path(); !strings.HasPrefix(p, "/2fa/") {
		b.t.Fatalf("page is %s, want the flow under /2fa/", p)
	}
	if got := evalJS[string](b, `document.documentElement.lang`); got != lang {
		b.t.Errorf("page language %q, want %q", got, lang)
	}
	if !evalJS[bool](b, `[...document.styleSheets].some(s => s.href && s.href.endsWith("/2fa/style.css") && s.cssRules.length > 0)`) {
		b.t.Error("the flow's stylesheet is not applied")
	}
	if evalJS[bool](b, `document.documentElement.scrollWidth > window.innerWidth`) {
		b.t.Error("the page is wider than the viewport: it scrolls sideways")
	}
	// One small script file of the flow's own, nothing inline: the pages
	// work without it (see WithoutJavaScript).
	if n := evalJS[int](b, `[...document.scripts].filter(s => !s.src.endsWith("/2fa/flow.js")).length`); n != 0 {
		b.t.Errorf("the page has %d scripts besides /2fa/flow.js", n)
	}
}

// expectLabelled checks that input sel has exactly one label, with the given text.
func (b *browser) expectLabelled(sel, label string) {
	b.t.Helper()
	got := evalJS[[]string](b, fmt.Sprintf(`[...document.querySelector(%q).labels].map(l => l.textContent.trim())`, sel))
	if len(got) != 1 || got[0] != label {
		b.t.Errorf("labels of %s = %q, want [%q]", sel, got, label)
	}
}

// expectAlertFor checks that the error on the page is announced (role
// alert) and tied to input sel with aria-describedby and aria-invalid, and
// returns its text.
func (b *browser) expectAlertFor(sel string) string {
	b.t.Helper()
	msg := b.text(alert)
	ok := evalJS[bool](b, fmt.Sprintf(`(() => {
		const input = document.querySelector(%q), a = document.querySelector(%q);
		return a.id !== "" && input.getAttribute("aria-invalid") === "true" &&
			(input.getAttribute("aria-describedby") || "").split(/\s+/).includes(a.id);
	})()`, sel, alert))
	if !ok {
		b.t.Errorf("the alert %q is not tied to %s with aria-describedby and aria-invalid", msg, sel)
	}
	return msg
}

// startFlow opens the account page, checks it leads to the phone page, and
// sends a code to browserPhone with the button sel.
func (b *browser) startFlow(button string) sentCode {
	b.t.Helper()
	b.expectStatus(b.open("/account"), http.StatusOK)
	b.do(chromedp.WaitVisible(chromedp.CSS(phoneInput)))
	b.typeInto(phoneInput, browserPhone)
	b.expectStatus(b.press(button), http.StatusOK)
	b.do(chromedp.WaitVisible(chromedp.CSS(codeInput)))
	s := b.nextCode()
	if s.v.Phone != browserPhone {
		b.t.Fatalf("code sent to %s, want %s", s.v.Phone, browserPhone)
	}
	return s
}

// finish types the code and checks the visitor lands on the balance.
func (b *browser) finish(code string) {
	b.t.Helper()
	b.typeInto(codeInput, code)
	b.expectStatus(b.press(checkButton), http.StatusOK)
	if p := b.path(); p != "/account" {
		b.t.Fatalf("after the right code the page is %s, want /account", p)
	}
	if got := b.text(".balance"); !strings.Contains(got, accountBalance) {
		b.t.Fatalf("account page shows %q, want the balance %s", got, accountBalance)
	}
}

var number = regexp.MustCompile(`[0-9]+`)

// waitSeconds reads the number of seconds in the resend cooldown hint.
func (b *browser) waitSeconds() int {
	b.t.Helper()
	hint := b.text(resendWait)
	n, err := strconv.Atoi(number.FindString(hint))
	if err != nil {
		b.t.Fatalf("the cooldown hint %q has no number of seconds", hint)
	}
	if n < 1 || n > int(tfDefaultResendCooldown/time.Second) {
		b.t.Fatalf("the cooldown hint %q says %d seconds, want 1 to %d", hint, n, int(tfDefaultResendCooldown/time.Second))
	}
	return n
}

// wrongCode returns a code of the same length that is not code.
func wrongCode(code string) string {
	w := []byte(code)
	w[0] = '0' + (w[0]-'0'+1)%10
	return string(w)
}

// TestBrowser runs the scenarios below in one headless Chromium, each in a
// tab with its own cookies, against its own BirdBank.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium; skipped with -short")
	}
	browserCtx := startChromium(t)
	for _, sc := range []struct {
		name     string
		viewport viewport
		lang     string // Accept-Language
		run      func(*testing.T, *browser)
	}{
		{"SignIn", phoneViewport, "", browserSignIn},
		{"WrongNumber", phoneViewport, "", browserWrongNumber},
		{"ResendCooldown", phoneViewport, "", browserResendCooldown},
		{"CallMeInstead", phoneViewport, "", browserCallMeInstead},
		{"UseAnotherNumber", phoneViewport, "", browserUseAnotherNumber},
		{"Dutch", phoneViewport, "nl-NL,nl;q=0.9,en;q=0.5", browserDutch},
		{"Desktop", desktopViewport, "", browserDesktop},
		{"WithoutJavaScript", phoneViewport, "", browserWithoutJavaScript},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel() // tabs of one browser; the parent's cleanups wait for them
			sc.run(t, newTab(t, browserCtx, sc.viewport, sc.lang))
		})
	}
}

// browserSignIn is the whole flow on a phone-sized screen, with a wrong
// code on the way, and the screenshots of every page.
func browserSignIn(t *testing.T, b *browser) {
	// The account page sends the visitor into the flow.
	b.expectStatus(b.open("/account"), http.StatusOK)
	b.do(chromedp.WaitVisible(chromedp.CSS(phoneInput)))
	b.expectFlowPage("en")
	if got := b.text("h1"); got != "Verify your phone" {
		t.Errorf("phone page heading %q", got)
	}
	b.expectLabelled(phoneInput, "Mobile number")
	if got := b.focused(); got != "phone" {
		t.Errorf("focus on %q, want the phone input", got)
	}
	if b.present(alert) {
		t.Errorf("fresh phone page shows an error: %q", b.text(alert))
	}
	b.screenshot("phone.png")

	b.typeInto(phoneInput, browserPhone)
	b.expectStatus(b.press(sendButton), http.StatusOK)
	s := b.nextCode()
	if s.v.Phone != browserPhone || s.v.Channel != twofactor.SMS {
		t.Errorf("code sent to %s by %s, want %s by SMS", s.v.Phone, s.v.Channel, browserPhone)
	}

	// The code page: masked number, focus on the code, the cooldown.
	b.do(chromedp.WaitVisible(chromedp.CSS(codeInput)))
	b.expectFlowPage("en")
	if got := b.text("h1"); got != "Enter your code" {
		t.Errorf("code page heading %q", got)
	}
	b.expectLabelled(codeInput, "Verification code")
	if got := b.focused(); got != "code" {
		t.Errorf("focus on %q, want the code input", got)
	}
	masked := twofactor.MaskPhone(browserPhone)
	if got := b.text("#tf-code-intro"); !strings.Contains(got, "sent a code by SMS") || !strings.Contains(got, masked) {
		t.Errorf("code page says %q, want the SMS sent to %s", got, masked)
	}
	if html := result(b, chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, browserPhone[3:]) {
		t.Error("the code page shows the full phone number")
	}
	b.waitSeconds()
	if got := b.text(resendButton); !strings.Contains(got, "Didn't get it?") {
		t.Errorf("resend button says %q", got)
	}
	if !b.present(otherNumber) {
		t.Error(`no "use another number" on the code page`)
	}
	b.screenshot("code.png")

	// A wrong code: the error is announced and tied to the input.
	b.typeInto(codeInput, wrongCode(s.code))
	b.expectStatus(b.press(checkButton), http.StatusBadRequest)
	if msg := b.expectAlertFor(codeInput); !strings.Contains(msg, "isn't right") || !strings.Contains(msg, "2 tries left") {
		t.Errorf("wrong code shows %q", msg)
	}
	if got := b.focused(); got != "code" {
		t.Errorf("after an error focus is on %q, want the code input", got)
	}
	b.screenshot("error.png")

	// The right code opens the account.
	b.finish(s.code)
	b.screenshot("account.png")
	b.noCodeSent()
}

// browserWrongNumber shows the error for a number that is not one, on
// the phone page, tied to the input.
func browserWrongNumber(t *testing.T, b *browser) {
	b.expectStatus(b.open("/account"), http.StatusOK)
	b.typeInto(phoneInput, "12345")
	b.expectStatus(b.press(sendButton), http.StatusBadRequest)
	b.expectFlowPage("en")
	if msg := b.expectAlertFor(phoneInput); !strings.Contains(msg, "valid mobile number") {
		t.Errorf("bad number shows %q", msg)
	}
	if got := b.focused(); got != "phone" {
		t.Errorf("after an error focus is on %q, want the phone input", got)
	}
	b.noCodeSent()
}

// browserResendCooldown checks that the code page shows how long to wait
// before a new code, and that asking earlier sends nothing.
func browserResendCooldown(t *testing.T, b *browser) {
	s := b.startFlow(sendButton)
	before := b.waitSeconds()
	if got := evalJS[string](b, fmt.Sprintf(`document.querySelector(%q).getAttribute("aria-describedby")`, resendButton)); got != strings.TrimPrefix(resendWait, "#") {
		t.Errorf("resend button aria-describedby=%q, want the cooldown hint", got)
	}

	// The script counts down and holds the button back until zero: marked
	// aria-disabled (focusable still), a press does nothing.
	if !evalJS[bool](b, fmt.Sprintf(`document.querySelector(%q).getAttribute("aria-disabled") === "true"`, resendButton)) {
		t.Error("resend button not held back during the cooldown")
	}
	sends := b.mock.Sends()
	if evalJS[bool](b, fmt.Sprintf(`(() => { let sent = false; const f = document.querySelector(%q).form;
		const watch = e => { sent = true; e.preventDefault(); };
		f.addEventListener("submit", watch);
		document.querySelector(%q).click();
		f.removeEventListener("submit", watch);
		return sent; })()`, resendButton, resendButton)) || b.mock.Sends() != sends {
		t.Error("pressing the held-back resend button sent the form")
	}
	// Without the script the button can be pressed; the server says to wait.
	evalJS[bool](b, fmt.Sprintf(`(document.querySelector(%q).removeAttribute("aria-disabled"), true)`, resendButton))
	b.expectStatus(b.press(resendButton), http.StatusTooManyRequests)
	b.noCodeSent()
	b.expectFlowPage("en")
	if msg := b.text(alert); !strings.Contains(msg, "wait") {
		t.Errorf("early resend shows %q, want to be told to wait", msg)
	}
	if after := b.waitSeconds(); after > before {
		t.Errorf("cooldown went up from %d to %d seconds", before, after)
	}

	// The first code still works.
	b.finish(s.code)
	b.noCodeSent()
}

// browserCallMeInstead takes the voice path: the code is read out in a
// phone call, and the code page says so.
func browserCallMeInstead(t *testing.T, b *browser) {
	b.expectStatus(b.open("/account"), http.StatusOK)
	if got := b.text(callButton); got != "Call me instead" {
		t.Errorf("call button says %q", got)
	}
	s := b.startFlow(callButton)
	if s.v.Channel != twofactor.Voice {
		t.Errorf("code sent by %q, want %q", s.v.Channel, twofactor.Voice)
	}
	if got := b.text("#tf-code-intro"); !strings.Contains(got, "calling you") {
		t.Errorf("code page says %q, want that we are calling", got)
	}
	if !b.present(resendCall) {
		t.Error(`no "call me instead" on the code page`)
	}
	b.finish(s.code)
	b.noCodeSent()
}

// browserUseAnotherNumber goes back from the code page to the phone
// page, which is empty again and says how long until a code can be sent.
func browserUseAnotherNumber(t *testing.T, b *browser) {
	b.startFlow(sendButton)
	if got := b.text(otherNumber); got != "Use another number" {
		t.Errorf("restart button says %q", got)
	}
	b.expectStatus(b.press(otherNumber), http.StatusOK)
	b.do(chromedp.WaitVisible(chromedp.CSS(phoneInput)))
	b.expectFlowPage("en")
	if got := result(b, chromedp.Value(chromedp.CSS(phoneInput))); got != "" {
		t.Errorf("phone input holds %q, want it empty", got)
	}
	if got := b.focused(); got != "phone" {
		t.Errorf("focus on %q, want the phone input", got)
	}
	if b.present(codeInput) {
		t.Error("the phone page still asks for the code")
	}
	b.waitSeconds()
	if got := evalJS[string](b, fmt.Sprintf(`document.querySelector(%q).getAttribute("aria-describedby")`, sendButton)); got != strings.TrimPrefix(resendWait, "#") {
		t.Errorf("send button aria-describedby=%q, want the cooldown hint", got)
	}

	// Within the cooldown, a new number waits too: the page says for how long.
	b.typeInto(phoneInput, "+31687654321")
	b.expectStatus(b.press(sendButton), http.StatusTooManyRequests)
	b.noCodeSent()
	if msg := b.text(alert); !strings.Contains(msg, "for this number in") {
		t.Errorf("early send shows %q, want to be told when this number can have a code", msg)
	}
	if got := result(b, chromedp.Value(chromedp.CSS(phoneInput))); got != "+31687654321" {
		t.Errorf("phone input holds %q after the refusal, want the number typed", got)
	}
}

// browserDutch follows the flow with a browser set to Dutch.
func browserDutch(t *testing.T, b *browser) {
	b.expectStatus(b.open("/account"), http.StatusOK)
	b.do(chromedp.WaitVisible(chromedp.CSS(phoneInput)))
	b.expectFlowPage("nl")
	if got := b.text("h1"); got != "Bevestig uw telefoonnummer" {
		t.Errorf("Dutch phone page heading %q", got)
	}
	b.expectLabelled(phoneInput, "Mobiel nummer")
	if got := b.text(sendButton); got != "Code versturen" {
		t.Errorf("Dutch send button %q", got)
	}
	if got := b.text(callButton); got != "Bel mij liever" {
		t.Errorf("Dutch call button %q", got)
	}

	b.typeInto(phoneInput, browserPhone)
	b.expectStatus(b.press(sendButton), http.StatusOK)
	s := b.nextCode()
	b.do(chromedp.WaitVisible(chromedp.CSS(codeInput)))
	b.expectFlowPage("nl")
	if got := b.text("h1"); got != "Vul uw code in" {
		t.Errorf("Dutch code page heading %q", got)
	}
	if got := b.text(resendWait); !strings.Contains(got, "seconden") {
		t.Errorf("Dutch cooldown hint %q", got)
	}

	b.typeInto(codeInput, wrongCode(s.code))
	b.expectStatus(b.press(checkButton), http.StatusBadRequest)
	if msg := b.expectAlertFor(codeInput); !strings.Contains(msg, "Die code klopt niet") {
		t.Errorf("Dutch wrong-code message %q", msg)
	}
	b.finish(s.code)
}

// browserDesktop follows the flow on a desktop screen, where the form
// sits in a narrow card in the middle.
func browserDesktop(t *testing.T, b *browser) {
	s := b.startFlow(sendButton)
	b.expectFlowPage("en")
	card := evalJS[struct {
		Left, Width, Viewport float64
	}](b, `(() => { const r = document.querySelector("main").getBoundingClientRect();
		return {Left: r.left, Width: r.width, Viewport: document.documentElement.clientWidth}; })()`)
	if card.Width > 480 {
		t.Errorf("card is %.0fpx wide on a %.0fpx screen, want a narrow card", card.Width, card.Viewport)
	}
	if mid := card.Left + card.Width/2; mid < card.Viewport/2-2 || mid > card.Viewport/2+2 {
		t.Errorf("card centre at %.0fpx on a %.0fpx screen, want it centred", mid, card.Viewport)
	}
	b.finish(s.code)
}

// browserWithoutJavaScript follows the flow with JavaScript switched off
// in the page: plain forms do everything.
func browserWithoutJavaScript(t *testing.T, b *browser) {
	b.disableJavaScript()
	s := b.startFlow(sendButton)
	b.typeInto(codeInput, wrongCode(s.code))
	b.expectStatus(b.press(checkButton), http.StatusBadRequest)
	b.expectAlertFor(codeInput)
	b.finish(s.code)
}

// disableJavaScript switches JavaScript off in the tab, and checks that a
// page's script does not run.
func (b *browser) disableJavaScript() {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		b.t.Fatal(err)
	}
	b.do(chromedp.Navigate(`data:text/html,<title>off</title><script>document.title="on"</script>`))
	if title := result(b, chromedp.Title()); title != "off" {
		b.t.Fatalf("JavaScript still runs: title %q", title)
	}
}
