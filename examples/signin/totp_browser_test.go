package main

// The authenticator app in headless Chromium: the QR code shows under the
// page's CSP, the app is added with its first code, and the next sign-in
// offers it first and takes its code with JavaScript switched off.
//
// The app's clock is the test's: codes are computed at it, so no code runs
// out while a busy machine drives the browser.

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// codeAt is the code of secret at t.
func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestBrowserAuthenticatorApp(t *testing.T) {
	axe := axeSource(t)
	browserCtx := startChromium(t)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	srv := startServerWith(t, func(c *config) { c.Now = clock })
	b := newTab(t, browserCtx, srv)
	b.expectPage(b.login("alice", "alice-password"), "/2fa/")
	b.expectPage(b.smsCode(), "/account")

	b.expectPage(b.open("/settings"), "/settings")
	b.expectPage(b.press(`a#add-totp`), "/settings/totp")
	secret := result(b, chromedp.Evaluate[string](`document.querySelector("#totp-secret").textContent.trim()`))
	if len(secret) != 32 || strings.Trim(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
		t.Fatalf("secret %q is not 160 bits in base 32", secret)
	}
	if w := result(b, chromedp.Evaluate[int](`document.querySelector("#totp-qr").naturalWidth`)); w != 256 {
		t.Fatalf("the QR code did not load (naturalWidth %d): blocked by the CSP?", w)
	}
	b.accessible(axe, "adding an authenticator app")
	b.screenshot("totp-add.png")
	b.typeInto(`input[name="code"]`, codeAt(t, secret, clock()))
	if resp := b.press(`button#add-totp`); resp == nil || resp.Status != http.StatusOK || !strings.Contains(b.body(), "Authenticator app added") {
		t.Fatalf("the app was not added:\n%s", b.body())
	}
	b.accessible(axe, "an authenticator app added")
	// The page that asks for its code, audited while JavaScript still runs.
	audit := newTab(t, browserCtx, srv)
	audit.expectPage(audit.login("alice", "alice-password"), "/2fa/totp")
	audit.accessible(axe, "the authenticator app's page")
	audit.screenshot("totp-signin.png")
	b.expectPage(b.press(`#logout`), "/login")

	// The next sign-in offers the app first; no JavaScript needed.
	if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(`data:text/html,<title>off</title><script>document.title="on"</script>`))
	if title := result(b, chromedp.Title()); title != "off" {
		t.Fatalf("JavaScript still runs: title %q", title)
	}
	b.expectPage(b.login("alice", "alice-password"), "/2fa/totp")
	if !b.present(`input[name="code"][autocomplete="one-time-code"]`) || !strings.Contains(b.body(), "authenticator app") || !strings.Contains(b.body(), "Text me a code instead") {
		t.Fatalf("the sign-in does not offer the app:\n%s", b.body())
	}
	advance(30 * time.Second) // the step after the one the setup spent
	b.typeInto(codeInput, codeAt(t, secret, clock()))
	b.expectPage(b.press(`form[action$="/totp"] button[type="submit"]`), "/account")
	b.expectAccount("alice")
	b.noCodeSent()
}
