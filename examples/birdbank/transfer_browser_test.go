package main

// A transfer in headless Chromium, with the harness of browser_test.go:
// sign in, fill in the transfer, type a wrong code and then the right one,
// and submit the confirmation again. With UPDATE_SCREENSHOTS=1 it writes
// the confirmation page to docs/transfer.png:
//
//	UPDATE_SCREENSHOTS=1 go test -run TestBrowserTransfer ./examples/birdbank

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Selectors of the transfer pages.
const (
	amountInput     = `input[name="amount"]`
	ibanInput       = `input[name="iban"]`
	transferButton  = `form[action="/transfer"] button[type="submit"]`
	confirmButton   = `form[action="/transfer/confirm"] button[type="submit"]`
	transferLink    = `a[href="/transfer"]`
	confirmationID  = `form[action="/transfer/confirm"] input[name="id"]`
	transferHeading = `main h2`
)

func TestBrowserTransfer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium; skipped with -short")
	}
	b := newTab(t, startChromium(t), phoneViewport, "")

	// Signed in, the account page links to the transfer form.
	b.finish(b.startFlow(sendButton).code)
	b.expectStatus(b.press(transferLink), http.StatusOK)
	if p := b.path(); p != "/transfer" {
		t.Fatalf("the account's transfer link led to %s", p)
	}
	b.expectLabelled(amountInput, "Amount (EUR)")
	b.expectLabelled(ibanInput, "Payee IBAN")

	// A bad IBAN: a clear error, tied to its input, and no SMS.
	b.typeInto(amountInput, "500")
	b.typeInto(ibanInput, "NL92 ABNA 0417 1643 00")
	b.expectStatus(b.press(transferButton), http.StatusBadRequest)
	if msg := b.expectAlertFor(ibanInput); !strings.Contains(msg, "check digits") {
		t.Errorf("bad IBAN shows %q", msg)
	}
	b.noCodeSent()

	// Corrected, the code is sent and the page names the transfer.
	b.do(chromedp.Clear(chromedp.CSS(ibanInput)))
	b.typeInto(ibanInput, "NL91 ABNA 0417 1643 00")
	b.expectStatus(b.press(transferButton), http.StatusOK)
	s := b.nextCode()
	if s.v.Phone != browserPhone {
		t.Errorf("transfer code sent to %s, want the verified %s", s.v.Phone, browserPhone)
	}
	if got := b.text(transferHeading); got != "Confirm your transfer" {
		t.Errorf("confirmation page heading %q", got)
	}
	if got := b.text("dd.amount"); got != "EUR 500.00" {
		t.Errorf("amount shown %q", got)
	}
	if got := b.text("dd.payee"); !strings.Contains(got, "NL91 ABNA 0417 1643 00") {
		t.Errorf("payee shown %q", got)
	}
	if got := evalJS[string](b, fmt.Sprintf(`document.querySelector(%q).autocomplete`, codeInput)); got != "one-time-code" {
		t.Errorf("code input autocomplete=%q", got)
	}
	b.expectLabelled(codeInput, "Code")
	if got := b.focused(); got != "code" {
		t.Errorf("focus on %q, want the code input", got)
	}
	id := result(b, chromedp.Value(chromedp.CSS(confirmationID)))
	b.screenshot("transfer.png")

	// A wrong code: the same page, with the error and the tries left.
	b.typeInto(codeInput, wrongCode(s.code))
	b.expectStatus(b.press(confirmButton), http.StatusBadRequest)
	if msg := b.expectAlertFor(codeInput); !strings.Contains(msg, "2 tries left") {
		t.Errorf("wrong code shows %q", msg)
	}
	if got := b.text("dd.amount"); got != "EUR 500.00" {
		t.Errorf("after a wrong code the amount shown is %q", got)
	}

	// The right code makes the transfer.
	b.typeInto(codeInput, s.code)
	b.expectStatus(b.press(confirmButton), http.StatusOK)
	if got := b.text(transferHeading); got != "Transfer confirmed" {
		t.Fatalf("after the right code the heading is %q", got)
	}
	if got := b.text(".done"); !strings.Contains(got, "EUR 500.00") || !strings.Contains(got, "NL91ABNA0417164300") {
		t.Errorf("confirmed page says %q", got)
	}

	// The same confirmation submitted again, as a double submit or a
	// replayed form would: no second transfer.
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector("main").insertAdjacentHTML("beforeend",
		'<form method="post" action="/transfer/confirm" id="replay"><input type="hidden" name="id" value=%q>'+
		'<input type="hidden" name="code" value=%q><button type="submit">again</button></form>')`, id, s.code)))
	resp := b.press(`#replay button`)
	if int(resp.Status) == http.StatusOK {
		t.Errorf("the replay answered %d", resp.Status)
	}
	if got := b.text(transferHeading); got != "Already done" {
		t.Errorf("after the replay the heading is %q", got)
	}
	if body := b.text("main"); strings.Contains(strings.ToLower(body), "transfer confirmed") {
		t.Errorf("the replay says %q", body)
	}
	b.noCodeSent()
}
