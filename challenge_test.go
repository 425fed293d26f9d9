package twofactor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
)

// challengeOf returns the challenge of a JSON challenge_required answer.
func challengeOf(t *testing.T, r secResp) twofactor.ChallengeData {
	t.Helper()
	var v struct {
		Error struct {
			Code      string                   `json:"code"`
			Challenge *twofactor.ChallengeData `json:"challenge"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &v); err != nil || r.status != http.StatusTooManyRequests ||
		v.Error.Code != "challenge_required" || v.Error.Challenge == nil {
		t.Fatalf("want 429 challenge_required with a challenge, got %v", r)
	}
	return *v.Error.Challenge
}

// sendSolved sends a code to phone with the answer to c.
func (c *secClient) sendSolved(phone string, ch twofactor.ChallengeData, answer string) secResp {
	return c.post("/2fa/send", url.Values{"phone": {phone}, "challenge_token": {ch.Token}, "challenge_answer": {answer}})
}

// A spent budget for first-time numbers degrades to a challenge: the send
// answers 429 challenge_required with a proof of work; solving it sends
// the code; the proof works once, for its number and sender only, and not
// after it expires; the operator hears of it once per window; and a second
// budget as large bounds what challenged sends get.
func TestSecurity_BudgetChallenge(t *testing.T) {
	const budget = 2
	e := proxied(t, twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.CountryBudgets["NL"] = budget }))
	n := 0
	ip := func() string { n++; return fmt.Sprintf("192.0.2.%d", n) }
	for i := range budget {
		secWant(t, "within the budget", e.from(ip()).send(nlPhone(i)), http.StatusOK, "")
	}
	sends := e.prov.sends.Load()
	c := e.from(ip())
	r := c.send(nlPhone(10))
	ch := challengeOf(t, r)
	secRetryAfter(t, r)
	if ch.Kind != "pow" || ch.Difficulty != twofactor.DefaultChallengeBits || !ch.Expires.After(e.clock.Now()) {
		t.Errorf("challenge %+v", ch)
	}
	answer, err := twofactor.SolveChallenge(ch)
	if err != nil {
		t.Fatal(err)
	}
	if e.prov.sends.Load() != sends {
		t.Fatal("a challenged send sent a code")
	}
	// Another number, or another sender, cannot use the proof.
	challengeOf(t, c.sendSolved(nlPhone(11), ch, answer))
	challengeOf(t, e.from(ip()).sendSolved(nlPhone(10), ch, answer))
	// A wrong answer neither.
	challengeOf(t, c.sendSolved(nlPhone(10), ch, answer+"0"))
	if e.prov.sends.Load() != sends {
		t.Fatal("a bad proof sent a code")
	}
	// The solved proof sends the code.
	secWant(t, "the solved challenge", c.sendSolved(nlPhone(10), ch, answer), http.StatusOK, "")
	if e.prov.sends.Load() != sends+1 {
		t.Fatal("the solved challenge sent no code")
	}
	// Replayed, from a fresh browser at the same address: refused.
	replay := e.from(fmt.Sprintf("192.0.2.%d", n-1))
	replay.hdr = c.hdr.Clone()
	challengeOf(t, replay.sendSolved(nlPhone(10), ch, answer))
	if e.prov.sends.Load() != sends+1 {
		t.Fatal("a replayed proof sent a code")
	}
	// An expired proof is refused.
	old := e.from(ip())
	ch2 := challengeOf(t, old.send(nlPhone(20)))
	a2, _ := twofactor.SolveChallenge(ch2)
	e.clock.Advance(6 * time.Minute)
	challengeOf(t, old.sendSolved(nlPhone(20), ch2, a2))
	// The challenged budget is as large as the budget: past it, paused.
	d := e.from(ip())
	ch3 := challengeOf(t, d.send(nlPhone(30)))
	a3, _ := twofactor.SolveChallenge(ch3)
	secWant(t, "the second challenged send", d.sendSolved(nlPhone(30), ch3, a3), http.StatusOK, "")
	f := e.from(ip())
	ch4 := challengeOf(t, f.send(nlPhone(40)))
	a4, _ := twofactor.SolveChallenge(ch4)
	secWant(t, "past the challenged budget", f.sendSolved(nlPhone(40), ch4, a4), http.StatusServiceUnavailable, "sending_paused")
	if got := e.prov.sends.Load(); got != 2*budget {
		t.Errorf("%d codes sent, want %d: the budget and the challenged budget", got, 2*budget)
	}
	// The operator: one event and one log line per budget and window.
	budgetEvents := 0
	for _, et := range e.eventTypes() {
		if et == twofactor.EventBudgetExceeded {
			budgetEvents++
		}
	}
	if logs := e.logs.String(); budgetEvents != 2 || strings.Count(logs, "country SMS budget reached; first-time numbers get a challenge") != 1 ||
		strings.Count(logs, "country SMS budget reached; sends to first-time numbers are paused") != 1 {
		t.Errorf("%d budget events (want 2: the budget, the challenged budget), log:\n%s", budgetEvents, logs)
	}
}

var (
	tokenField = regexp.MustCompile(`<input type="hidden" name="challenge_token" value="([^"]+)" data-tf-pow="(\d+)">`)
	scriptTag  = regexp.MustCompile(`<script[^>]*>`)
)

// The phone page carries the challenge for flow.js, says how long to wait
// without JavaScript, keeps the number typed, and runs no inline script;
// sending the form with the answer sends the code.
func TestSecurity_BudgetChallengePage(t *testing.T) {
	e := proxied(t, twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.CountryBudgets["NL"] = 1 }))
	e.from("192.0.2.1").send(nlPhone(0))
	b := e.browser()
	b.hdr.Set("X-Forwarded-For", "192.0.2.2")
	r := b.send(nlPhone(1))
	m := tokenField.FindStringSubmatch(r.body)
	if r.status != http.StatusTooManyRequests || m == nil {
		t.Fatalf("want the phone page with a challenge, got %v", r)
	}
	if !strings.Contains(r.body, "Without JavaScript, please try again in 60 minutes") || !strings.Contains(html.UnescapeString(r.body), `value="`+nlPhone(1)+`"`) {
		t.Errorf("page without the wait or the number typed:\n%s", r.body)
	}
	for _, tag := range scriptTag.FindAllString(r.body, -1) {
		if !strings.Contains(tag, "src=") {
			t.Errorf("inline script %s", tag)
		}
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	var bits int
	fmt.Sscan(m[2], &bits)
	ch := twofactor.ChallengeData{Kind: "pow", Token: html.UnescapeString(m[1]), Difficulty: bits}
	answer, err := twofactor.SolveChallenge(ch) // what flow.js does
	if err != nil {
		t.Fatal(err)
	}
	sends := e.prov.sends.Load()
	if r := b.sendSolved(nlPhone(1), ch, answer); r.status != http.StatusSeeOther || e.prov.sends.Load() != sends+1 {
		t.Fatalf("the solved form: %v", r)
	}
	if r := b.get("/2fa/"); !strings.Contains(r.body, `name="code"`) {
		t.Fatalf("after the solved form, no code page: %v", r)
	}
}

// A resend to a first-time number past the spent budget asks for the
// challenge too; answered, the new code goes out.
func TestSecurity_BudgetChallengeResend(t *testing.T) {
	e := proxied(t, twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.CountryBudgets["NL"] = 2 }))
	c := e.from("192.0.2.1")
	c.mustSend(nlPhone(0))
	e.from("192.0.2.2").send(nlPhone(1)) // the budget is spent
	e.clock.Advance(time.Minute)         // past the resend cooldown
	ch := challengeOf(t, c.resend())
	answer, err := twofactor.SolveChallenge(ch)
	if err != nil {
		t.Fatal(err)
	}
	sends := e.prov.sends.Load()
	r := c.post("/2fa/resend", url.Values{"challenge_token": {ch.Token}, "challenge_answer": {answer}})
	if r.status != http.StatusOK || e.prov.sends.Load() != sends+1 {
		t.Fatalf("the answered resend: %v", r)
	}
}

// appCaptcha is an app's own Challenge: its CAPTCHA, answered "human".
type appCaptcha struct{ issued int }

func (a *appCaptcha) Issue(_ context.Context, binding string) (twofactor.ChallengeData, error) {
	a.issued++
	return twofactor.ChallengeData{Kind: "captcha", Token: "site-key:" + binding}, nil
}

func (a *appCaptcha) Verify(_ context.Context, binding, token, answer string) (bool, error) {
	return token == "site-key:"+binding && answer == "human", nil
}

// An app fills the Challenge with its CAPTCHA; a nil one switches
// challenges off (503, as TestSecurity_FraudGuardBudgets tests).
func TestSecurity_AppChallenge(t *testing.T) {
	captcha := &appCaptcha{}
	e := proxied(t, twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.CountryBudgets["NL"] = 1 }), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.Challenge = captcha }))
	e.from("192.0.2.1").send(nlPhone(0))
	c := e.from("192.0.2.2")
	ch := challengeOf(t, c.send(nlPhone(1)))
	if ch.Kind != "captcha" || captcha.issued != 1 {
		t.Fatalf("challenge %+v, %d issued", ch, captcha.issued)
	}
	challengeOf(t, c.sendSolved(nlPhone(1), ch, "robot"))
	secWant(t, "the CAPTCHA solved", c.sendSolved(nlPhone(1), ch, "human"), http.StatusOK, "")
}
