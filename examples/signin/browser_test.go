package main

// An end-to-end test of the sign-in app in headless Chromium, walking the
// whole lifecycle as a user would: sign-up, enrolment, recovery codes, a
// remembered device and its revocation, and sign out everywhere from a
// second browser.
//
// It needs the Debian package chromium (/usr/bin/chromium). Without it the
// test skips, except under CI=true, where a missing browser is an error.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/go-twofactor/twofactor"
)

const (
	// suiteTimeout bounds the whole browser test, so a hang fails instead
	// of waiting for go test's timeout.
	suiteTimeout = 60 * time.Second
	codeTimeout  = 5 * time.Second
	browserPhone = "+31611122233"
)

// Selectors of the flow's controls, by what they do.
const (
	phoneInput       = `input[name="phone"]`
	codeInput        = `input[name="code"]`
	sendButton       = `form[action$="/send"] button[type="submit"]:not([name])`
	checkButton      = `form[action$="/check"] button[type="submit"]`
	recoveryInput    = `form[action$="/recover"] input[name="recovery_code"]`
	recoveryRemember = `form[action$="/recover"] input[name="remember"]`
	recoveryButton   = `form[action$="/recover"] button[type="submit"]`
)

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

// startChromium starts one headless Chromium with a fresh profile.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	execPath := chromiumPath(t)
	profile := t.TempDir() // made first, so removed after the browser exits
	ctx, cancel := context.WithTimeout(t.Context(), suiteTimeout)
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

// server is the app on a local plain-http server, as in development, with
// a mock provider that hands its codes to the test.
type server struct {
	url   string
	codes chan sentCode
}

func startServer(t *testing.T) *server {
	t.Helper()
	return startServerWith(t, func(*config) {})
}

// startServerWith is startServer with the app's config changed by set.
func startServerWith(t *testing.T, set func(*config)) *server {
	t.Helper()
	s := &server{codes: make(chan sentCode, 8)}
	mock := &twofactor.Mock{OnCode: func(v twofactor.Verification, code string) {
		select {
		case s.codes <- sentCode{v: v, code: code}:
		default:
			t.Errorf("the mock sent more codes than the test read")
		}
	}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	cfg := config{Provider: mock, Log: log, PlainHTTP: true, BcryptCost: bcrypt.MinCost}
	set(&cfg)
	a, err := newApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		srv.Close()
		_ = a.Close()
	})
	s.url = srv.URL
	return s
}

// tab is a browser tab in a browser context of its own: its own cookies,
// as a second browser would have.
type tab struct {
	t   *testing.T
	ctx context.Context
	srv *server
}

func newTab(t *testing.T, browserCtx context.Context, srv *server) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	b := &tab{t: t, ctx: ctx, srv: srv}
	b.do(chromedp.EmulateViewport(1024, 768)) // opens the tab
	return b
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func result[T any](b *tab, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

func (b *tab) open(path string) *network.Response {
	b.t.Helper()
	return result(b, chromedp.NavigateResponse(b.srv.url+path))
}

// press clicks the button sel and waits for the page its form leads to.
func (b *tab) press(sel string) *network.Response {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("pressing %s: %v", sel, err)
	}
	return resp
}

func (b *tab) typeInto(sel, text string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

func (b *tab) present(sel string) bool {
	b.t.Helper()
	return result(b, chromedp.Evaluate[bool](fmt.Sprintf("document.querySelector(%q) !== null", sel)))
}

func (b *tab) path() string {
	b.t.Helper()
	u, err := url.Parse(result(b, chromedp.Location()))
	if err != nil {
		b.t.Fatal(err)
	}
	return u.Path
}

func (b *tab) body() string {
	b.t.Helper()
	return result(b, chromedp.Evaluate[string](`document.body.innerText`))
}

// expectPage fails unless resp is a 200 and the tab shows path.
func (b *tab) expectPage(resp *network.Response, path string) {
	b.t.Helper()
	if resp == nil || resp.Status != http.StatusOK {
		b.t.Fatalf("want a 200 page at %s, got %v", path, resp)
	}
	if p := b.path(); p != path {
		b.t.Fatalf("tab shows %s, want %s; page:\n%s", p, path, b.body())
	}
}

func (b *tab) nextCode() string {
	b.t.Helper()
	select {
	case s := <-b.srv.codes:
		return s.code
	case <-time.After(codeTimeout):
		b.t.Fatal("no code was sent")
	case <-b.ctx.Done():
		b.t.Fatal(b.ctx.Err())
	}
	return ""
}

func (b *tab) noCodeSent() {
	b.t.Helper()
	select {
	case <-b.srv.codes:
		b.t.Fatal("a code was sent")
	default:
	}
}

// login signs in with the login form.
func (b *tab) login(name, password string) *network.Response {
	b.t.Helper()
	b.open("/login")
	b.typeInto(`#username`, name)
	b.typeInto(`#password`, password)
	return b.press(`#login`)
}

// smsCode asks for a code on the flow's page it is on and types it.
func (b *tab) smsCode() *network.Response {
	b.t.Helper()
	b.press(sendButton)
	b.typeInto(codeInput, b.nextCode())
	return b.press(checkButton)
}

func (b *tab) expectAccount(name string) {
	b.t.Helper()
	if body := b.body(); !strings.Contains(body, "1,234.56") || !strings.Contains(body, "Signed in as "+name) {
		b.t.Fatalf("the account page does not show the balance and %s:\n%s", name, body)
	}
}

func TestBrowser(t *testing.T) {
	browserCtx := startChromium(t)
	srv := startServer(t)
	const name, password = "dora", "dora-password"
	b := newTab(t, browserCtx, srv)

	// Sign-up, then enrolment: dora has no number yet.
	b.open("/signup")
	b.typeInto(`#username`, name)
	b.typeInto(`#password`, password)
	b.expectPage(b.press(`#signup`), "/2fa/")
	b.typeInto(phoneInput, browserPhone)
	b.press(sendButton)
	b.typeInto(codeInput, b.nextCode())
	b.expectPage(b.press(checkButton), "/account")
	b.expectAccount(name)

	// New recovery codes, shown once.
	b.expectPage(b.open("/settings"), "/settings")
	b.press(`#new-codes`)
	codes := result(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#codes li")].map(e => e.textContent.trim())`))
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown: %q", len(codes), codes)
	}

	// Sign out; sign in with a recovery code, remembering this device.
	b.expectPage(b.press(`#logout`), "/login")
	b.expectPage(b.login(name, password), "/2fa/")
	b.typeInto(recoveryInput, codes[0])
	b.do(chromedp.Click(chromedp.CSS(recoveryRemember)))
	b.expectPage(b.press(recoveryButton), "/account")
	b.expectAccount(name)

	// Sign out; sign in again: the remembered device spares the code.
	b.expectPage(b.press(`#logout`), "/login")
	b.expectPage(b.login(name, password), "/account")
	b.noCodeSent()

	// The settings want a fresh code (a remembered device is not one);
	// then revoke the device.
	b.expectPage(b.open("/settings"), "/2fa/")
	b.expectPage(b.smsCode(), "/settings")
	if !b.present(`#devices .device`) {
		t.Fatalf("no remembered device listed:\n%s", b.body())
	}
	b.expectPage(b.press(`#devices form[action="/settings/devices/revoke"] button`), "/settings")
	if !b.present(`#no-devices`) {
		t.Fatalf("the device is still listed:\n%s", b.body())
	}

	// Sign out; signing in asks for a code again.
	b.expectPage(b.press(`#logout`), "/login")
	b.expectPage(b.login(name, password), "/2fa/")
	if !b.present(sendButton) {
		t.Fatalf("signing in after revoking the device does not ask for a code:\n%s", b.body())
	}
	b.expectPage(b.smsCode(), "/account")

	// Sign out everywhere from a second browser signs this one out.
	second := newTab(t, browserCtx, srv)
	second.expectPage(second.login(name, password), "/2fa/")
	second.expectPage(second.smsCode(), "/account")
	second.expectPage(second.open("/settings"), "/settings")
	second.expectPage(second.press(`#sign-out-everywhere`), "/settings/sign-out-everywhere")
	if !strings.Contains(second.body(), "signed out on every device") {
		t.Fatalf("no confirmation:\n%s", second.body())
	}
	b.expectPage(b.open("/account"), "/login")
	second.expectPage(second.open("/account"), "/login")
}

// TestBrowserPlaceholderFollowsCountry: with JavaScript on, the phone
// field's placeholder follows the country chosen, so a visitor never sees
// one country's number under another's name.
func TestBrowserPlaceholderFollowsCountry(t *testing.T) {
	browserCtx := startChromium(t)
	srv := startServer(t)
	b := newTab(t, browserCtx, srv)
	b.open("/signup")
	b.typeInto(`#username`, "erin")
	b.typeInto(`#password`, "erin-password")
	b.expectPage(b.press(`#signup`), "/2fa/")
	placeholder := func() string {
		return result(b, chromedp.Evaluate[string](`document.querySelector("#tf-phone").getAttribute("placeholder") || ""`))
	}
	for _, region := range []string{"GB", "BE", "NL", ""} {
		b.do(chromedp.WaitReady(chromedp.CSS(`#tf-country`)))
		result(b, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const s = document.querySelector("#tf-country"); s.value = %q; s.dispatchEvent(new Event("change")); return true })()`, region)))
		want := result(b, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector('#tf-country option[value=%q]').getAttribute("data-tf-example") || "")`, region)))
		if region != "" && want == "" {
			t.Fatalf("%s has no example on the page", region)
		}
		if got := placeholder(); got != want {
			t.Errorf("after choosing %q the placeholder is %q, want %q", region, got, want)
		}
	}
}
