package twofactor_test

// One model of a user's second factor, attacked as an attacker would: a
// pending number change or enrolment kept in a saved cookie, device
// sign-ins racing sign out everywhere, a revoked device's sessions, a
// device cookie in a loop, recovery codes guessed against the SMS lock.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
)

const evilPhone = "+31622223333"

// withDevice returns a new browser of user that holds only the device
// cookie ck, as a thief who copied it would.
func (a *lcApp) withDevice(user string, ck *http.Cookie) *secClient {
	c := a.as(user)
	c.json = false
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(a.srv.URL + "/")
	jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/", Secure: true}})
	c.jar, c.hc.Jar = jar, jar
	return c
}

// deviceSignIn signs c in with its device cookie and reports whether the
// device opened a session.
func deviceSignIn(c *secClient) bool {
	r := c.get("/2fa/?next=%2Frecord")
	return r.status == http.StatusSeeOther && r.location() == "/record"
}

// The attack of the issue: start a change to another number with one fresh
// verification and keep the cookie; the user signs out everywhere; put the
// cookie back, resend, enter the code. Neither resend nor check may work,
// then or hours later.
func TestAttack_PendingChangeDiesWithSignOutEverywhere(t *testing.T) {
	for _, after := range []time.Duration{time.Minute, 11 * time.Hour} {
		t.Run(after.String(), func(t *testing.T) {
			a := newLCApp(t)
			attacker := a.as("alice")
			attacker.signIn(secPhone, nil)
			a.clock.Advance(time.Minute)
			if r := attacker.post("/2fa/send", url.Values{"phone": {evilPhone}, "purpose": {"change"}}); r.status != http.StatusOK {
				t.Fatalf("change send: %v", r)
			}
			code, saved := a.code(evilPhone), attacker.cookie()
			if err := a.m.SignOutEverywhere(t.Context(), "alice"); err != nil {
				t.Fatal(err)
			}
			a.clock.Advance(after)
			sends := a.mock.Sends()
			attacker.setCookie(saved)
			if r := attacker.resend(); r.status != http.StatusBadRequest || r.errCode() != "code_used" || a.mock.Sends() != sends {
				t.Fatalf("resend of a change started before sign out everywhere: %v, sends %d → %d", r, sends, a.mock.Sends())
			}
			attacker.setCookie(saved)
			if r := attacker.check(code); r.status == http.StatusOK {
				t.Fatalf("check of a change started before sign out everywhere: %v", r)
			}
			if got := a.number("alice"); got != secPhone {
				t.Fatalf("number on file = %s, want alice's own %s", got, secPhone)
			}
		})
	}
}

// Without any sign out, a change wants the verification that started it to
// be fresh when the new number is proved.
func TestAttack_PendingChangeGoesStale(t *testing.T) {
	a := newLCApp(t)
	c := a.as("alice")
	c.signIn(secPhone, nil)
	if r := c.post("/2fa/send", url.Values{"phone": {evilPhone}, "purpose": {"change"}}); r.status != http.StatusOK {
		t.Fatalf("change send: %v", r)
	}
	a.clock.Advance(11 * time.Minute) // past the change's freshness
	sends := a.mock.Sends()
	if r := c.resend(); r.status != http.StatusBadRequest || a.mock.Sends() != sends {
		t.Fatalf("resend of a stale change: %v", r)
	}
	if a.number("alice") != secPhone {
		t.Fatal("number changed")
	}
}

// A stranger signed in as bob (no number yet) starts enrolling his own
// number; bob enrols his real number in another browser. The stranger's
// enrolment can no longer complete.
func TestAttack_PendingEnrolmentDiesWhenUserEnrols(t *testing.T) {
	a := newLCApp(t)
	attacker, bob := a.as("bob"), a.as("bob")
	if r := attacker.send(evilPhone); r.status != http.StatusOK {
		t.Fatalf("enrolment send: %v", r)
	}
	evilCode := a.code(evilPhone)
	a.clock.Advance(time.Minute)
	bob.signIn("+31655556666", nil)
	if a.number("bob") != "+31655556666" {
		t.Fatalf("bob's enrolment: number %q", a.number("bob"))
	}
	if r := attacker.check(evilCode); r.status == http.StatusOK {
		t.Fatalf("the stranger's enrolment completed after bob enrolled: %v", r)
	}
	if a.number("bob") != "+31655556666" {
		t.Fatalf("number on file = %q", a.number("bob"))
	}
	if _, _, ok := bob.record("/record"); !ok {
		t.Fatal("bob's own session ended")
	}
	if !hasEvent(a.secEnv, twofactor.EventEnrolled) {
		t.Error("no enrolled event")
	}
}

// Revoking a device ends every session it opened, at once; sessions
// verified by a code stay.
func TestAttack_RevokedDeviceEndsItsSessions(t *testing.T) {
	a := newLCApp(t)
	owner := a.as("alice")
	owner.signIn(secPhone, url.Values{"remember": {"1"}})
	ck := deviceCookie(owner)
	var thieves []*secClient
	for range 3 {
		c := a.withDevice("alice", ck)
		if !deviceSignIn(c) {
			t.Fatal("device sign-in failed")
		}
		thieves = append(thieves, c)
	}
	devices, _ := a.m.Devices(t.Context(), "alice")
	if len(devices) != 1 {
		t.Fatalf("devices = %v", devices)
	}
	if err := a.m.RevokeDevice(t.Context(), "alice", devices[0].ID); err != nil {
		t.Fatal(err)
	}
	for i, c := range thieves {
		if _, r, ok := c.record("/record"); ok {
			t.Fatalf("session %d opened by the revoked device still verified: %v", i, r)
		}
	}
	if _, r, ok := owner.record("/record"); !ok {
		t.Fatalf("the owner's code-verified session ended with the device: %v", r)
	}
	if deviceSignIn(a.withDevice("alice", ck)) {
		t.Fatal("revoked device signed in")
	}
}

// A stolen device cookie signs in in a loop while the user signs out
// everywhere: nothing minted before or during the sign out survives it,
// and the device is gone.
func TestAttack_SignOutEverywhereRacesDeviceSignIns(t *testing.T) {
	a := newLCApp(t)
	owner := a.as("alice")
	owner.signIn(secPhone, url.Values{"remember": {"1"}})
	ck := deviceCookie(owner)
	var mu sync.Mutex
	var minted []*secClient
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			c := a.withDevice("alice", ck)
			if deviceSignIn(c) {
				mu.Lock()
				minted = append(minted, c)
				mu.Unlock()
			}
		})
		if i == 8 {
			wg.Go(func() {
				if err := a.m.SignOutEverywhere(t.Context(), "alice"); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	for i, c := range minted {
		if _, r, ok := c.record("/record"); ok {
			t.Fatalf("session %d of %d minted around sign out everywhere survived it: %v", i, len(minted), r)
		}
	}
	if deviceSignIn(a.withDevice("alice", ck)) {
		t.Fatal("the device signs in after sign out everywhere")
	}
	if d, _ := a.m.Devices(t.Context(), "alice"); len(d) != 0 {
		t.Fatalf("devices after sign out everywhere = %v", d)
	}
	if _, _, ok := owner.record("/record"); ok {
		t.Fatal("the owner's session survived sign out everywhere")
	}
}

// A device cookie in a loop stops at the device's limit and is asked for a
// code; a person never gets there, and the limit passes with its window.
func TestAttack_DeviceSignInLoopIsLimited(t *testing.T) {
	a := newLCApp(t)
	owner := a.as("alice")
	owner.signIn(secPhone, url.Values{"remember": {"1"}})
	ck := deviceCookie(owner)
	n := 0
	for range 40 {
		if !deviceSignIn(a.withDevice("alice", ck)) {
			break
		}
		n++
	}
	if n == 0 || n >= 40 {
		t.Fatalf("%d device sign-ins in a row, want a limit between 1 and 39", n)
	}
	if n < 10 {
		t.Errorf("only %d device sign-ins an hour: a person with many tabs would meet the limit", n)
	}
	c := a.withDevice("alice", ck)
	if r := c.get("/2fa/?next=%2Frecord"); r.status != http.StatusOK {
		t.Fatalf("past the limit: %v, want the flow's page (a code)", r)
	}
	a.clock.Advance(time.Hour + time.Second)
	if !deviceSignIn(a.withDevice("alice", ck)) {
		t.Fatal("the device does not sign in an hour later")
	}
}

// Recovery codes: stored as keyed hashes (no unkeyed SHA-256 a copy of the
// store could test guesses against), and wrong ones have their own counter:
// guessing them never locks the user's SMS.
func TestRecoveryCodesKeyedAndApartFromSMS(t *testing.T) {
	a := newLCApp(t, twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: 4, Per: time.Hour} }))
	codes, err := a.m.NewRecoveryCodes(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	hashes, _ := a.recovery.RecoveryHashes(t.Context(), "alice")
	unkeyed := map[string]bool{}
	for _, c := range codes {
		unkeyed[legacyHash("alice", c)] = true
	}
	for _, h := range hashes {
		if unkeyed[h] {
			t.Fatal("a recovery code is stored as an unkeyed SHA-256")
		}
	}
	stranger := a.as("alice")
	for range 6 {
		stranger.post("/2fa/recover", url.Values{"recovery_code": {"zzzz-zzzz-zzzz"}})
	}
	if r := stranger.post("/2fa/recover", url.Values{"recovery_code": {codes[0]}}); r.status != http.StatusTooManyRequests {
		t.Fatalf("recovery codes past their limit: %v, want 429", r)
	}
	// The user's SMS still works.
	c := a.as("alice")
	if r := c.signIn(secPhone, nil); r.status != http.StatusOK {
		t.Fatalf("SMS sign-in after wrong recovery codes: %v", r)
	}
}

// Sets made before keyed hashes still work: nobody loses the codes they
// printed.
func TestRecoveryCodesLegacyHashesStillWork(t *testing.T) {
	a := newLCApp(t)
	code := "7kqm-x2fa-9bne"
	if err := a.recovery.ReplaceRecoveryHashes(t.Context(), "alice", []string{legacyHash("alice", code)}); err != nil {
		t.Fatal(err)
	}
	if r := a.as("alice").post("/2fa/recover", url.Values{"recovery_code": {code}}); r.status != http.StatusOK {
		t.Fatalf("a code of an old set: %v", r)
	}
}

// legacyHash is how recovery codes were stored before keyed hashes.
func legacyHash(subject, code string) string {
	h := sha256.New()
	h.Write([]byte("twofactor recovery code\x00" + subject + "\x00"))
	for _, c := range code {
		if c != '-' {
			h.Write([]byte(string(c)))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// A new set of recovery codes ends every other session and device of the
// user; the session that asked for it (through the gate) stays verified.
func TestNewRecoveryCodesEndOtherSessions(t *testing.T) {
	a := newLCApp(t)
	here, other := a.as("alice"), a.as("alice")
	other.signIn(secPhone, url.Values{"remember": {"1"}})
	a.clock.Advance(time.Minute)
	here.signIn(secPhone, nil)
	r := here.post("/newcodes", nil)
	var codes []string
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &codes) != nil || len(codes) != 10 {
		t.Fatalf("new codes: %v", r)
	}
	if _, r, ok := here.record("/record"); !ok {
		t.Fatalf("the session that made new codes was signed out: %v", r)
	}
	if _, r, ok := other.record("/record"); ok {
		t.Fatalf("another session survived a new set of recovery codes: %v", r)
	}
	if d, _ := a.m.Devices(t.Context(), "alice"); len(d) != 0 {
		t.Fatalf("devices after new recovery codes = %v", d)
	}
}
