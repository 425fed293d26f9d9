package twofactor_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
)

// flood sends first-time numbers from fresh addresses (and, in known-number
// mode, fresh users enrolling them) until the country budget of NL and then
// the global budget pause sending, and returns the codes it got out.
func flood(t *testing.T, e *secEnv, from int) int {
	t.Helper()
	sent := 0
	paused := 0
	for i := from; paused < 20; i++ {
		phone := nlPhone(i)
		if i%2 == 1 {
			phone = fmt.Sprintf("+3247012%04d", i%10000) // BE, for the global budget
		}
		c := e.from(fmt.Sprintf("203.%d.%d.%d", i/60000, i/250%240, i%250+1))
		c.user = fmt.Sprintf("bot%d", i)
		r := c.send(phone)
		switch r.status {
		case http.StatusOK:
			sent++
		case http.StatusTooManyRequests:
			// Past a spent budget a first-time number gets a challenge
			// (challenge.go), which the flood does not solve.
			secWant(t, "a first-time number past the budgets", r, http.StatusTooManyRequests, "challenge_required")
			paused++
		default:
			t.Fatalf("flood: %v", r)
		}
	}
	return sent
}

// A customer verified before a flood still gets a code and signs in when
// the flood of first-time numbers has spent the country and global
// budgets; first-time numbers get a challenge, and the budgets hold.
func TestSecurity_KnownNumbersPassTheBudgets(t *testing.T) {
	const country, global = 10, 16
	opts := []twofactor.Option{twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.CountryBudgets["NL"] = country }), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.GlobalBudget = global })}
	e := proxied(t, opts...)
	customers := []string{nlPhone(900_000), nlPhone(900_001), nlPhone(900_002)}
	for i, p := range customers {
		e.from(fmt.Sprintf("192.0.2.%d", i+1)).mustVerify(p)
	}
	sent := flood(t, e, 0)
	if total := e.prov.sends.Load(); sent != global-len(customers) || total != global {
		t.Fatalf("the flood got %d codes out (%d in all), want the global budget %d less the customers' %d", sent, total, global, len(customers))
	}
	secWant(t, "a first-time NL number", e.from("198.51.100.1").send(nlPhone(777)), http.StatusTooManyRequests, "challenge_required")
	for i, p := range customers {
		// From another address and browser, as the customer would.
		e.from(fmt.Sprintf("198.51.100.%d", i+10)).mustVerify(p)
	}
	secWant(t, "still a first-time number", e.from("198.51.100.2").send(nlPhone(778)), http.StatusTooManyRequests, "challenge_required")

	t.Run("without the memory, the customer is paused with everyone", func(t *testing.T) {
		e := proxied(t, append(opts, twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.KnownNumbers = 0 }))...)
		e.from("192.0.2.1").mustVerify(customers[0])
		flood(t, e, 0)
		secWant(t, "the customer", e.from("198.51.100.1").send(customers[0]), http.StatusTooManyRequests, "challenge_required")
	})
	t.Run("the mark expires", func(t *testing.T) {
		e := proxied(t, append(opts, twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.KnownNumbers = 2 * time.Hour }))...)
		e.from("192.0.2.1").mustVerify(customers[0])
		e.clock.Advance(3 * time.Hour)
		flood(t, e, 0)
		secWant(t, "the customer after the mark's expiry", e.from("198.51.100.1").send(customers[0]), http.StatusTooManyRequests, "challenge_required")
	})
	t.Run("the number on file in known-number mode", func(t *testing.T) {
		onFile := nlPhone(800_000)
		e := secNew(t, secSetup{subject: true, opts: append([]twofactor.Option{
			twofactor.WithTrustedProxies("127.0.0.0/8"),
			twofactor.WithPhoneLookup(func(r *http.Request) (string, error) {
				if r.Header.Get("X-Test-User") == "alice" {
					return onFile, nil
				}
				return "", nil // the bots have none, and enrol typed numbers
			}),
			twofactor.WithEnrolment(func(*http.Request, string) error { return nil }),
		}, opts...)})
		flood(t, e, 0)
		alice := e.from("198.51.100.1")
		alice.user = "alice"
		code := alice.mustSend(onFile)
		if r := alice.check(code); r.status != http.StatusOK || !alice.verified() {
			t.Fatalf("alice's check: %v", r)
		}
	})
}
