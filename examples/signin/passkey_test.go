package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor/internal/redistest"
	"github.com/go-twofactor/twofactor/internal/testkit"
)

const (
	testOrigin = "https://bank.example" // the origin the test's "browser" claims
	testRPID   = "bank.example"
)

func startPasskeyApp(t *testing.T) *testApp {
	t.Helper()
	return startAppWith(t, func(c *config) { c.PasskeyOrigin = testOrigin })
}

// postJSON posts body as a same-origin script would, not following
// redirects; it returns the status and the body.
func (v *visitor) postJSON(path string, body []byte) (int, string) {
	v.t.Helper()
	req, err := http.NewRequest(http.MethodPost, v.ta.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		v.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", v.ta.srv.URL)
	resp, err := v.client.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// addPasskey runs the settings page's registration with k.
func (v *visitor) addPasskey(k *testkit.Passkey, name string) {
	v.t.Helper()
	status, body := v.postJSON("/2fa/passkey/register/begin", []byte(`{"name":"`+name+`"}`))
	if status != http.StatusOK {
		v.t.Fatalf("register begin: %d %s", status, body)
	}
	if status, body = v.postJSON("/2fa/passkey/register/finish", k.Create(testkit.ReadPasskeyOptions(v.t, body))); status != http.StatusCreated {
		v.t.Fatalf("register finish: %d %s", status, body)
	}
}

// usePasskey runs the passkey page's sign-in with k and returns where the
// flow sends the browser.
func (v *visitor) usePasskey(k *testkit.Passkey) string {
	v.t.Helper()
	status, body := v.postJSON("/2fa/passkey/begin", []byte(`{}`))
	if status != http.StatusOK {
		v.t.Fatalf("passkey begin: %d %s", status, body)
	}
	o := testkit.ReadPasskeyOptions(v.t, body)
	if status, body = v.postJSON("/2fa/passkey/finish", k.Get(o.PublicKey.Challenge)); status != http.StatusOK || !strings.Contains(body, `"method":"passkey"`) {
		v.t.Fatalf("passkey finish: %d %s", status, body)
	}
	var redirect struct{ Redirect string }
	_ = jsonUnmarshal(body, &redirect)
	return redirect.Redirect
}

func TestPasskeyAddSignInRemove(t *testing.T) {
	ta := startPasskeyApp(t)
	v := ta.visitor()
	v.signedIn("alice")
	resp, body := v.get("/settings")
	expect(t, resp, body, http.StatusOK, "/settings", "Add a passkey", `id="no-passkeys"`, `src="/2fa/passkey.js"`, "Adding a passkey needs JavaScript.")
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Fatalf("the settings page can't run passkey.js: CSP %q", csp)
	}

	k := testkit.NewPasskey(t, testRPID, testOrigin)
	v.addPasskey(k, "My phone")
	resp, body = v.get("/settings")
	expect(t, resp, body, http.StatusOK, "/settings", `<li class="passkey">My phone — added `, "never used", `action="/settings/passkeys/remove"`)

	// Signed out and in again: the password leads to the passkey first,
	// with a text message as the way out.
	resp, body = v.post("/logout")
	expect(t, resp, body, http.StatusOK, "/login")
	resp, body = v.post("/login", "username", "alice", "password", "alice-password")
	expect(t, resp, body, http.StatusOK, "/2fa/passkey", "Use your passkey", "Text me a code instead")
	if q := resp.Request.URL.Query().Get("next"); q != "/account" {
		t.Fatalf("passkey page's next = %q", q)
	}
	if to := v.usePasskey(k); to != "/account" {
		t.Fatalf("after the passkey: sent to %q", to)
	}
	resp, body = v.get("/account")
	expect(t, resp, body, http.StatusOK, "/account", "1,234.56")
	resp, body = v.get("/settings")
	expect(t, resp, body, http.StatusOK, "/settings", "My phone — added ", "last used ")

	// "Text me a code instead" still works.
	w := ta.visitor()
	w.post("/login", "username", "alice", "password", "alice-password")
	resp, body = w.post("/2fa/send", "next", "/account")
	expect(t, resp, body, http.StatusOK, "/2fa/", `name="code"`)
	resp, body = w.post("/2fa/check", "code", ta.nextCode().code)
	expect(t, resp, body, http.StatusOK, "/account")

	// Remove it: this session stays, the other browser must verify again.
	id := k.IDString()
	resp, body = v.post("/settings/passkeys/remove", "id", id)
	expect(t, resp, body, http.StatusOK, "/settings", "Passkey removed", `id="no-passkeys"`)
	resp, body = w.get("/account")
	expect(t, resp, body, http.StatusOK, "/2fa/")
	resp, body = v.post("/settings/passkeys/remove", "id", id)
	expect(t, resp, body, http.StatusNotFound, "", "isn&#39;t on your account")
}

func TestPasskeyIsNotRemovedWhenLast(t *testing.T) {
	ta := startPasskeyApp(t)
	v := ta.visitor()
	v.signedIn("alice")
	k := testkit.NewPasskey(t, testRPID, testOrigin)
	v.addPasskey(k, "only")
	// alice has no number any more (as a support desk might leave her).
	if err := ta.app.st.setPhone(t.Context(), "alice", ""); err != nil {
		t.Fatal(err)
	}
	resp, body := v.post("/settings/passkeys/remove", "id", k.IDString())
	expect(t, resp, body, http.StatusConflict, "", "it&#39;s your only way to verify")
	resp, body = v.get("/settings")
	expect(t, resp, body, http.StatusOK, "/settings", "only — added ")
}

func TestPasskeyAddNeedsStepUp(t *testing.T) {
	ta := startPasskeyApp(t)
	v := ta.visitor()
	v.signedIn("alice")
	ta.advance(11 * time.Minute)
	status, body := v.postJSON("/2fa/passkey/register/begin", []byte(`{}`))
	if status != http.StatusUnauthorized || !strings.Contains(body, "step_up_required") {
		t.Fatalf("register begin after 11 minutes: %d %s", status, body)
	}
	resp, body := v.post("/settings/passkeys/remove", "id", "x")
	expect(t, resp, body, http.StatusUnauthorized, "")
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

var confirmID = regexp.MustCompile(`name="id" value="([0-9a-f]{32})"`)

// A transfer is confirmed with the passkey when the user has one (no SMS),
// else with a code; either way once.
func TestTransferConfirmedWithPasskey(t *testing.T) {
	ta := startPasskeyApp(t)
	v := ta.visitor()
	v.signedIn("alice")
	k := testkit.NewPasskey(t, testRPID, testOrigin)
	v.addPasskey(k, "My phone")

	resp, body := v.post("/transfer", "amount", "500", "iban", "nl91 abna 0417 1643 00")
	expect(t, resp, body, http.StatusOK, "/transfer", "Confirm your transfer", "EUR 500.00", "NL91 ABNA 0417 1643 00",
		"Confirm with your passkey", "data-tf-passkey-confirm", `src="/2fa/passkey.js"`)
	ta.noCodeSent()
	m := confirmID.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no confirmation id on the page:\n%s", body)
	}
	status, opts := v.postJSON("/2fa/passkey/confirm/begin", []byte(`{"id":"`+m[1]+`"}`))
	if status != http.StatusOK {
		t.Fatalf("confirm begin: %d %s", status, opts)
	}
	answer := string(k.Get(testkit.ReadPasskeyOptions(t, opts).PublicKey.Challenge))
	resp, body = v.post("/transfer/confirm", "id", m[1], "code", answer)
	expect(t, resp, body, http.StatusOK, "/transfer/confirm", "Transfer made", "EUR 500.00 is on its way to NL91 ABNA 0417 1643 00")
	resp, body = v.post("/transfer/confirm", "id", m[1], "code", answer)
	expect(t, resp, body, http.StatusConflict, "", "has not been made a second time")

	// bob has no passkey: a code by SMS, for this transfer.
	if err := ta.app.st.setPhone(t.Context(), "bob", "+31687654321"); err != nil {
		t.Fatal(err)
	}
	b := ta.visitor()
	b.signedIn("bob")
	resp, body = b.post("/transfer", "amount", "12.50", "iban", "NL02ABNA0123456789")
	expect(t, resp, body, http.StatusOK, "/transfer", "EUR 12.50", "sent a code for this transfer", `name="code"`)
	code := ta.nextCode().code
	m = confirmID.FindStringSubmatch(body)
	resp, body = b.post("/transfer/confirm", "id", m[1], "code", code)
	expect(t, resp, body, http.StatusOK, "/transfer/confirm", "Transfer made")

	resp, body = v.post("/transfer", "amount", "lots", "iban", "NL02ABNA0123456789")
	expect(t, resp, body, http.StatusBadRequest, "", "Enter an amount in euros", `id="amount" name="amount" inputmode="decimal" required value="lots" autofocus aria-invalid="true"`)
	resp, body = v.get("/transfer")
	expect(t, resp, body, http.StatusOK, "/transfer", "New transfer", `id="iban"`, "</html>")
}

// Two servers on one Redis: a passkey added on one signs in on the other,
// and a ceremony begun on one is finished on the other (its challenge is
// in the State, not in a server's memory), once.
func TestTwoServersSharePasskeys(t *testing.T) {
	r := redistest.Start(t)
	const key = "a test session key of at least 32 characters"
	a := startAppWith(t, func(c *config) { c.RedisURL, c.SessionKey, c.PasskeyOrigin = r.URL(), key, testOrigin })
	b := startAppWith(t, func(c *config) {
		c.RedisURL, c.SessionKey, c.PasskeyOrigin, c.Provider = r.URL(), key, testOrigin, a.mock
	})
	b.codes = a.codes

	v := a.visitor()
	v.signedIn("alice")
	k := testkit.NewPasskey(t, testRPID, testOrigin)
	v.addPasskey(k, "shared")

	w := b.visitor()
	resp, body := w.post("/login", "username", "alice", "password", "alice-password")
	expect(t, resp, body, http.StatusOK, "/2fa/passkey", "Use your passkey")
	status, opts := w.postJSON("/2fa/passkey/begin", []byte(`{}`)) // on B
	if status != http.StatusOK {
		t.Fatalf("begin on B: %d %s", status, opts)
	}
	answer := k.Get(testkit.ReadPasskeyOptions(t, opts).PublicKey.Challenge)
	wa := w.on(a)
	if status, body := wa.postJSON("/2fa/passkey/finish", answer); status != http.StatusOK { // on A
		t.Fatalf("finish on A: %d %s", status, body)
	}
	if status, body := w.postJSON("/2fa/passkey/finish", answer); status != http.StatusBadRequest { // again, on B
		t.Fatalf("the same answer on B: %d %s", status, body)
	}
	resp, body = w.get("/account")
	expect(t, resp, body, http.StatusOK, "/account", "Signed in as alice")
}
