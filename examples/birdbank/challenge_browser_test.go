package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/go-twofactor/twofactor"
)

// Past the spent budget for first-time numbers, the phone page asks for
// the proof of work; flow.js (script-src 'self', no inline script) solves
// it and sends the form again, and the code goes out.
func TestBrowserChallenge(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium; skipped with -short")
	}
	browserCtx := startChromium(t)
	b := newTabWith(t, browserCtx, phoneViewport, "", tabTimeout, func(*twofactor.Mock) []twofactor.Option {
		return []twofactor.Option{
			twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.CountryBudgets["NL"] = 1 }),
			twofactor.WithLimits(func(l *twofactor.Limits) { l.ResendCooldown = 0 }),
		}
	})
	b.startFlow(sendButton) // the budget's one first-time number
	b.expectStatus(b.press(otherNumber), http.StatusOK)
	b.do(chromedp.WaitVisible(chromedp.CSS(phoneInput)))
	const second = "+31687654321"
	b.typeInto(phoneInput, second)
	b.expectStatus(b.press(sendButton), http.StatusTooManyRequests)
	// flow.js answers the challenge and sends the form again.
	b.do(chromedp.WaitVisible(chromedp.CSS(codeInput)))
	if s := b.nextCode(); s.v.Phone != second {
		t.Fatalf("code sent to %s, want %s", twofactor.MaskPhone(s.v.Phone), twofactor.MaskPhone(second))
	}
	if !strings.HasSuffix(b.path(), "/2fa/") {
		t.Errorf("ended at %s", b.path())
	}
}
