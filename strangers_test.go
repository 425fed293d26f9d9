package twofactor_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
)

// stranger attacks a customer's number from the addresses and users that
// next returns, an hour at a time: he asks for codes until the number's
// window refuses him, and guesses every code until he is told it is spent
// or he is locked, until a fresh stranger is refused outright
// ("locked"). It returns the codes sent and the wrong guesses the provider
// judged.
func stranger(t *testing.T, e *secEnv, phone string, next func() *secClient) (sent, guessed int) {
	t.Helper()
	for hour := 0; ; hour++ {
		if hour == 48 {
			t.Fatal("the stranger was never locked out of the number")
		}
		for {
			c := next()
			before := e.prov.sends.Load()
			r := c.send(phone)
			if r.status == http.StatusTooManyRequests {
				if code := r.errCode(); code == "locked" {
					return sent, guessed
				} else if code != "rate_limited" {
					t.Fatalf("a stranger's send: %v", r)
				}
				break // the number's window: wait an hour
			}
			if r.status != http.StatusOK || e.prov.sends.Load() != before+1 {
				t.Fatalf("a stranger's send: %v", r)
			}
			sent++
			p, _ := twofactor.ParsePhone(phone, "")
			for range 3 {
				r := c.check(secWrong(e.code(p)))
				if r.status != http.StatusBadRequest {
					secWant(t, "a stranger's guess", r, http.StatusTooManyRequests, "locked")
					break
				}
				guessed++
			}
		}
		e.clock.Advance(time.Hour)
	}
}

// A stranger, from address after address, sends to a customer's number and
// guesses its codes until the number refuses strangers: the customer, from
// where he proved the number, still gets a code and signs in. The number's
// protections hold: strangers got at most its window's codes an hour and at
// most 25 wrong guesses a day.
func TestSecurity_StrangerCannotLockOutTheCustomer(t *testing.T) {
	customer := nlPhone(4242)
	t.Run("another network", func(t *testing.T) {
		e := proxied(t)
		home := e.from("192.0.2.7")
		home.mustVerify(customer)
		start := e.clock.Now()
		i := 0
		sent, guessed := stranger(t, e, customer, func() *secClient {
			i++
			return e.from(fmt.Sprintf("198.51.%d.%d", 100+i/200, i%200+1))
		})
		hours := int(e.clock.Now().Sub(start)/time.Hour) + 1
		if guessed > 25 || sent > 5*hours {
			t.Errorf("strangers got %d codes in %d hours and %d wrong guesses judged; want at most 5 an hour and 25", sent, hours, guessed)
		}
		if guessed < 25 {
			t.Errorf("strangers were locked out after %d wrong guesses, want the number's total of 25", guessed)
		}
		// The customer, at home in a fresh browser, as on any day.
		c := e.from("192.0.2.7")
		c.mustVerify(customer)
		for range 4 { // and more: the owner's window is his alone
			e.clock.Advance(31 * time.Second)
			c = e.from("192.0.2.7")
			c.mustVerify(customer)
		}
		// Strangers stay refused, from a fresh address too.
		secWant(t, "a fresh stranger", e.from("203.0.113.9").send(customer), http.StatusTooManyRequests, "locked")
	})
	t.Run("another subject", func(t *testing.T) {
		e := secNew(t, secSetup{subject: true, opts: []twofactor.Option{
			twofactor.WithPhoneLookup(func(r *http.Request) (string, error) {
				if r.Header.Get("X-Test-User") == "alice" {
					return customer, nil
				}
				return "", nil // strangers enrol the number they type
			}),
			twofactor.WithEnrolment(func(*http.Request, string) error { return nil }),
		}})
		i := 0
		sent, guessed := stranger(t, e, customer, func() *secClient {
			i++
			c := e.client() // one address: only the subject differs
			c.user = fmt.Sprintf("mallory%d", i)
			return c
		})
		if sent == 0 || guessed > 25 {
			t.Errorf("strangers got %d codes and %d wrong guesses judged; want at most 25", sent, guessed)
		}
		alice := e.client()
		alice.user = "alice"
		code := alice.mustSend(customer)
		if r := alice.check(code); r.status != http.StatusOK && r.status != http.StatusSeeOther || !alice.verified() {
			t.Fatalf("alice's check: %v", r)
		}
	})
}

// The owner's own guesses still lock him fast, and the number's total for
// its owners bounds guessing from addresses that proved it: a real brute
// force meets the same caps as before.
func TestSecurity_OwnerGuessesStillLock(t *testing.T) {
	e := proxied(t, twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: 4, Per: 24 * time.Hour} }))
	customer := nlPhone(4343)
	c := e.from("192.0.2.7")
	c.mustVerify(customer)
	c = e.from("192.0.2.7")
	code := c.mustSend(customer)
	for range 3 {
		c.check(secWrong(code))
	}
	e.clock.Advance(31 * time.Second)
	if r := c.resend(); r.status != http.StatusOK {
		t.Fatalf("resend: %v", r)
	}
	p, _ := twofactor.ParsePhone(customer, "")
	c.check(secWrong(e.code(p)))
	secWant(t, "the owner's right code after 4 wrong ones", c.check(e.code(p)), http.StatusTooManyRequests, "locked")
	secWant(t, "a send to the locked owner", e.from("192.0.2.7").send(customer), http.StatusTooManyRequests, "locked")
}
