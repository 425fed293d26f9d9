package twofactor_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
)

// A right code submitted as often as it has tries, all at once, counts
// once for the conversion watch: the submissions that lose the one use
// give back the count, so a pump cannot hide its first-time numbers behind
// a few it controls. Here 9 of 50 codes are verified (18 %, under the
// watch's 20 %), each by 3 parallel right submissions: counted 3 times,
// they would read as 54 % and hide the pump.
func TestSecurity_ParallelRightCodesCountOnceForTheWatch(t *testing.T) {
	e := proxied(t)
	e.prov.lenient = true // every parallel submission reaches the one-use mark
	const tries = twofactor.DefaultMaxAttempts
	for i := range twofactor.DefaultConversionSends {
		c := e.from(fmt.Sprintf("203.0.%d.1", i))
		code := c.mustSend(nlPhone(100 + i))
		if i >= 9 {
			continue
		}
		e.prov.hold, e.prov.entered = make(chan struct{}), make(chan struct{}, tries)
		var wg sync.WaitGroup
		ok := make(chan bool, tries)
		for range tries {
			wg.Go(func() { ok <- c.check(code).status == http.StatusOK })
		}
		for range tries {
			select {
			case <-e.prov.entered:
			case <-time.After(15 * time.Second):
				t.Fatal("submissions did not reach the provider")
			}
		}
		close(e.prov.hold)
		wg.Wait()
		close(ok)
		if n := len(slices.DeleteFunc(slices.Collect(chanValues(ok)), func(b bool) bool { return !b })); n != 1 {
			t.Fatalf("code %d: %d of %d parallel right submissions verified, want 1", i, n, tries)
		}
		e.prov.hold = nil
	}
	if !slices.Contains(e.eventTypes(), twofactor.EventConversionLow) {
		t.Error("9 of 50 codes verified, each by 3 parallel submissions: no EventConversionLow")
	}
}

func chanValues[T any](c <-chan T) func(func(T) bool) {
	return func(yield func(T) bool) {
		for v := range c {
			if !yield(v) {
				return
			}
		}
	}
}

// A send that found its requester the number's owner tells the check so
// in the session, bound to that requester: a stranger who replays the
// owner's cookie from his own address is a stranger. His wrong guesses
// spend the strangers' total of the number (then strangers are locked
// out), never the owners': the owner still signs in.
func TestSecurity_OwnerClaimStaysWithTheRequester(t *testing.T) {
	e := proxied(t)
	customer := nlPhone(4545)
	p, _ := twofactor.ParsePhone(customer, "")
	e.from("192.0.2.7").mustVerify(customer)
	guessed := 0
	for guessed < 25 {
		e.clock.Advance(time.Hour) // the owner's window: a few codes an hour
		for range 4 {
			owner := e.from("192.0.2.7")
			code := owner.mustSend(customer)
			if code != e.code(p) {
				t.Fatal("no code")
			}
			thief := e.from(fmt.Sprintf("198.51.100.%d", guessed+1)) // his own lock: 10 a day
			thief.setCookie(owner.cookie())
			for range 3 {
				if guessed == 25 {
					break
				}
				// Wrong, then the last try: judged, and counted.
				if r := thief.check(secWrong(code)); r.status != http.StatusBadRequest {
					t.Fatalf("a stranger's guess with the owner's cookie, %d before: %v", guessed, r)
				}
				guessed++
			}
		}
	}
	secWant(t, "a fresh stranger's send", e.from("203.0.113.9").send(customer), http.StatusTooManyRequests, "locked")
	e.clock.Advance(time.Hour)
	e.from("192.0.2.7").mustVerify(customer) // not locked: the guesses were a stranger's
}
