package main

// Passkeys in headless Chromium with its virtual authenticator (the
// DevTools WebAuthn domain): sign up, add a passkey in the settings, sign
// out, sign in with the passkey, and confirm a transfer with it. Like browser_test.go it skips
// without Chromium, except under CI=true.

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/go-twofactor/twofactor"
)

// startLocalhostServer is startServer on http://localhost:port: browsers
// allow passkeys on https:// origins and on localhost, never on an IP
// address.
func startLocalhostServer(t *testing.T) *server {
	t.Helper()
	s := &server{codes: make(chan sentCode, 8)}
	mock := &twofactor.Mock{OnCode: func(v twofactor.Verification, code string) {
		select {
		case s.codes <- sentCode{v: v, code: code}:
		default:
			t.Errorf("the mock sent more codes than the test read")
		}
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.url = "http://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	a, err := newApp(config{Provider: mock, Log: log, PlainHTTP: true, BcryptCost: bcrypt.MinCost, PasskeyOrigin: s.url})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a)
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		_ = a.Close()
	})
	return s
}

// virtualAuthenticator gives the tab a platform authenticator that keeps
// passkeys (resident keys) and verifies its user at once, as a phone's
// fingerprint reader would.
func (b *tab) virtualAuthenticator() {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.t.Fatal(err)
	}
	if _, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	}); err != nil {
		b.t.Fatal(err)
	}
}

// screenshot saves the page as name (a .png) in the test's temporary
// directory and, with UPDATE_SCREENSHOTS=1, in docs/ for the README.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	png := result(b, chromedp.FullScreenshot(100))
	dirs := []string{b.t.TempDir()}
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		dirs = append(dirs, filepath.Join("..", "..", "docs"))
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		b.t.Logf("screenshot: %s", filepath.Join(d, name))
	}
}

// axeSource returns axe-core's axe.min.js (AXE_CORE_JS, or where .ci/run
// installs it), or "" with a note: the audit is then left out, except
// under CI=true, where that fails the test.
func axeSource(t *testing.T) string {
	t.Helper()
	paths := []string{os.Getenv("AXE_CORE_JS")}
	if home, err := os.UserHomeDir(); err == nil {
		paths = append(paths, filepath.Join(home, ".cache", "twofactor-ci", "node_modules", "axe-core", "axe.min.js"))
	}
	for _, p := range paths {
		if b, err := os.ReadFile(p); p != "" && err == nil {
			return string(b)
		}
	}
	const msg = "axe-core not found (set AXE_CORE_JS, or npm install --prefix ~/.cache/twofactor-ci axe-core)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true: the accessibility audit must run")
	}
	t.Log(msg + "; the accessibility audit is left out")
	return ""
}

// accessible audits the page with axe-core (WCAG 2.2 A and AA).
func (b *tab) accessible(axe, state string) {
	b.t.Helper()
	if axe == "" {
		return
	}
	if !result(b, chromedp.Evaluate[bool](`typeof axe !== "undefined"`)) {
		result(b, chromedp.Evaluate[bool](axe+";true"))
	}
	type violation struct {
		ID, Help string
		Nodes    []string
	}
	vs := result(b, chromedp.Evaluate[[]violation](`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]}})
		.then(r => r.violations.map(v => ({ID: v.id, Help: v.help, Nodes: v.nodes.map(n => n.target.join(" "))})))`, chromedp.EvalAwaitPromise))
	for _, v := range vs {
		b.t.Errorf("%s: axe-core: %s: %s at %s", state, v.ID, v.Help, strings.Join(v.Nodes, ", "))
	}
}

func TestBrowserPasskey(t *testing.T) {
	axe := axeSource(t)
	browserCtx := startChromium(t)
	srv := startLocalhostServer(t)
	const name, password = "erin", "erin-password"
	b := newTab(t, browserCtx, srv)
	b.virtualAuthenticator()

	// Sign-up and enrolment, as in TestBrowser.
	b.open("/signup")
	b.typeInto(`#username`, name)
	b.typeInto(`#password`, password)
	b.expectPage(b.press(`#signup`), "/2fa/")
	b.typeInto(phoneInput, browserPhone)
	b.press(sendButton)
	b.typeInto(codeInput, b.nextCode())
	b.expectPage(b.press(checkButton), "/account")

	// Add a passkey from the settings: the script asks the authenticator
	// and the page comes back with the passkey listed.
	b.expectPage(b.open("/settings"), "/settings")
	if b.present(`#add-passkey[hidden]`) || !b.present(`#passkey-nojs[hidden]`) {
		t.Fatalf("the script did not show the add button:\n%s", b.body())
	}
	b.typeInto(`#passkey-name`, "Test laptop")
	b.do(chromedp.Click(chromedp.CSS(`#add-passkey`)), chromedp.WaitVisible(chromedp.CSS(`#passkeys .passkey`)))
	if body := b.body(); !strings.Contains(body, "Test laptop — added") || !strings.Contains(body, "never used") {
		t.Fatalf("the new passkey is not listed:\n%s", body)
	}
	b.screenshot("passkey-add.png")
	b.accessible(axe, "settings with a passkey")

	// Sign out; after the password the passkey comes first.
	b.expectPage(b.press(`#logout`), "/login")
	b.expectPage(b.login(name, password), "/2fa/passkey")
	if b.present(`#tf-passkey[hidden]`) || !strings.Contains(b.body(), "Text me a code instead") {
		t.Fatalf("the passkey page:\n%s", b.body())
	}
	b.screenshot("passkey-signin.png")
	b.accessible(axe, "the passkey page")
	b.do(chromedp.Click(chromedp.CSS(`#tf-passkey`)), chromedp.WaitVisible(chromedp.CSS(`#balance`)))
	if p := b.path(); p != "/account" {
		t.Fatalf("after the passkey: at %s:\n%s", p, b.body())
	}
	b.expectAccount(name)
	b.noCodeSent()

	// The settings show it used.
	b.expectPage(b.open("/settings"), "/settings")
	if body := b.body(); !strings.Contains(body, "last used") {
		t.Fatalf("the passkey is not shown as used:\n%s", body)
	}

	// A transfer, confirmed with the passkey over a challenge made from
	// its amount and payee: no SMS.
	b.expectPage(b.open("/transfer"), "/transfer")
	b.typeInto(`#amount`, "250")
	b.typeInto(`#iban`, "NL91 ABNA 0417 1643 00")
	b.expectPage(b.press(`#transfer`), "/transfer")
	if body := b.body(); !strings.Contains(body, "EUR 250.00") || !strings.Contains(body, "NL91 ABNA 0417 1643 00") || b.present(`#confirm-passkey[hidden]`) || !b.present(`#confirm-nojs[hidden]`) {
		t.Fatalf("the confirmation page:\n%s", body)
	}
	b.screenshot("passkey-transfer.png")
	b.accessible(axe, "confirming a transfer with a passkey")
	b.do(chromedp.Click(chromedp.CSS(`#confirm-passkey`)), chromedp.WaitVisible(chromedp.CSS(`#transfer-done`)))
	if body := b.body(); !strings.Contains(body, "EUR 250.00 is on its way to NL91 ABNA 0417 1643 00") {
		t.Fatalf("after confirming:\n%s", body)
	}
	b.noCodeSent()
	if resp := b.open("/account"); resp.Status != http.StatusOK {
		t.Fatalf("account: %v", resp.Status)
	}
}
