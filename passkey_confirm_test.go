package twofactor_test

// Transfer confirmation with a passkey: the challenge is derived from the
// action, so the signature names it (PSD2 dynamic linking).

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/testkit"
)

func pkTransfer(amount, iban string) twofactor.Action {
	return twofactor.Action{
		Description: "EUR " + amount + " to " + iban,
		Amount:      "EUR " + amount,
		Payee:       iban,
		Details:     map[string]string{"amount": amount, "iban": iban},
	}
}

// wantChallenge is the challenge of a as the library documents it:
// nonce || SHA-256("twofactor action v1" 0 nonce 0 Description 0 Amount 0
// Payee 0 (key 0 value 0, keys sorted)...).
func wantChallenge(nonce []byte, a twofactor.Action) []byte {
	var b bytes.Buffer
	b.WriteString("twofactor action v1\x00")
	b.Write(nonce)
	b.WriteByte(0)
	for _, s := range []string{a.Description, a.Amount, a.Payee} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	keys := make([]string, 0, len(a.Details))
	for k := range a.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString(k + "\x00" + a.Details[k] + "\x00")
	}
	h := sha256.Sum256(b.Bytes())
	return append(append([]byte{}, nonce...), h[:]...)
}

// startTransfer starts a confirmation of a transfer in browser c.
func (c *secClient) startTransfer(amount, iban string) twofactor.Confirmation {
	c.e.t.Helper()
	r := c.post("/transfer/start", url.Values{"amount": {amount}, "iban": {iban}})
	var conf twofactor.Confirmation
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &conf) != nil || conf.ID == "" {
		c.e.t.Fatalf("start transfer: %v", r)
	}
	return conf
}

// confirmOptions asks the flow for the options of confirmation id.
func (c *secClient) confirmOptions(id string) testkit.PasskeyOptions {
	c.e.t.Helper()
	r := c.postJSON("/2fa/passkey/confirm/begin", []byte(`{"id":"`+id+`"}`))
	if r.status != http.StatusOK {
		c.e.t.Fatalf("confirm begin: %v", r)
	}
	return testkit.ReadPasskeyOptions(c.e.t, r.body)
}

func (c *secClient) confirmTransfer(id string, answer []byte) secResp {
	return c.post("/transfer/confirm", url.Values{"id": {id}, "code": {string(answer)}})
}

func TestPasskeyConfirmsTransfer(t *testing.T) {
	a := newPKApp(t)
	c, k := a.aliceWithKey(t)
	sends := a.mock.Sends()
	conf := c.startTransfer("500.00", "NL91ABNA0417164300")
	if !conf.Passkey || conf.Phone != "" || conf.Action.Amount != "EUR 500.00" || conf.Action.Payee != "NL91ABNA0417164300" || a.mock.Sends() != sends {
		t.Fatalf("confirmation: %+v, %d SMS", conf, a.mock.Sends()-sends)
	}
	o := c.confirmOptions(conf.ID)
	if len(o.PublicKey.AllowCredentials) != 1 || o.PublicKey.AllowCredentials[0].ID != k.IDString() || o.PublicKey.RPID != pkRPID ||
		o.PublicKey.Timeout != int(twofactor.MaxConfirmValidity/time.Millisecond) {
		t.Fatalf("options: %+v", o.PublicKey)
	}
	// The challenge names the action: its nonce and the action's hash.
	ch, err := testkit.B64.DecodeString(o.PublicKey.Challenge)
	if err != nil || len(ch) != 48 || !bytes.Equal(ch, wantChallenge(ch[:16], pkTransfer("500.00", "NL91ABNA0417164300"))) {
		t.Fatalf("challenge %x is not derived from the action", ch)
	}
	answer := k.Get(o.PublicKey.Challenge)
	r := c.confirmTransfer(conf.ID, answer)
	var got twofactor.Action
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &got) != nil || got.Details["iban"] != "NL91ABNA0417164300" || got.Details["amount"] != "500.00" {
		t.Fatalf("confirm: %v", r)
	}
	if ev := a.lastEvent(); ev.Type != twofactor.EventConfirmed || ev.Method != twofactor.MethodPasskey || ev.Subject != "alice" {
		t.Fatalf("event: %+v", ev)
	}
	// Replayed: confirmed once only.
	if r := c.confirmTransfer(conf.ID, answer); r.status != http.StatusConflict || r.errCode() != "already_confirmed" {
		t.Fatalf("replay: %v", r)
	}
	if r := c.postJSON("/2fa/passkey/confirm/begin", []byte(`{"id":"`+conf.ID+`"}`)); r.status != http.StatusNotFound {
		t.Fatalf("begin after the confirmation: %v", r)
	}
	if fs := c.factors(); fs[0].LastUsed.IsZero() {
		t.Fatalf("last use not kept: %+v", fs[0])
	}

	// bob has no passkey: his code goes by SMS, as before.
	bob := a.browserOf("bob")
	bob.mustVerify("+31687654321")
	sends = a.mock.Sends()
	if conf := bob.startTransfer("10.00", "NL02ABNA0123456789"); conf.Passkey || conf.Phone == "" || a.mock.Sends() != sends+1 {
		t.Fatalf("bob's confirmation: %+v", conf)
	}
}

func TestPasskeyConfirmationAttacks(t *testing.T) {
	a := newPKApp(t)
	c, k := a.aliceWithKey(t)

	// A signature for one transfer does not confirm another.
	small := c.startTransfer("5.00", "NL91ABNA0417164300")
	big := c.startTransfer("5000.00", "NL13MULE0123456789")
	signed := k.Get(c.confirmOptions(small.ID).PublicKey.Challenge)
	if r := c.confirmTransfer(big.ID, signed); r.status != http.StatusBadRequest || r.errCode() != "invalid_code" {
		t.Fatalf("the small transfer's signature for the big one: %v", r)
	}
	// Another browser of alice's can neither get the options nor confirm.
	other := a.browserOf("alice")
	other.mustVerify(secPhone)
	if r := other.postJSON("/2fa/passkey/confirm/begin", []byte(`{"id":"`+small.ID+`"}`)); r.status != http.StatusNotFound {
		t.Fatalf("begin from another session: %v", r)
	}
	if r := other.confirmTransfer(small.ID, signed); r.status != http.StatusNotFound {
		t.Fatalf("confirm from another session: %v", r)
	}
	// Not a passkey's answer: malformed, no try spent.
	if r := c.confirmTransfer(small.ID, []byte("123456")); r.status != http.StatusBadRequest || r.errCode() != "malformed_code" {
		t.Fatalf("a code for a passkey confirmation: %v", r)
	}
	// From another origin (a phishing page showing another amount): refused.
	phished := *k
	phished.Origin = "https://evil.example"
	if r := c.confirmTransfer(small.ID, phished.Get(c.confirmOptions(small.ID).PublicKey.Challenge)); r.status != http.StatusBadRequest || r.errCode() != "invalid_code" {
		t.Fatalf("another origin: %v", r)
	}
	// The right one still works (a try is left), once, also in parallel.
	answer := k.Get(c.confirmOptions(small.ID).PublicKey.Challenge)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 20 {
		wg.Go(func() {
			if r := c.confirmTransfer(small.ID, answer); r.status == http.StatusOK {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d of 20 parallel confirmations went through, want 1", ok)
	}
	// Out of tries: the big one had one wrong answer; two more end it.
	for range 2 {
		c.confirmTransfer(big.ID, signed)
	}
	if r := c.confirmTransfer(big.ID, k.Get(c.confirmOptions(big.ID).PublicKey.Challenge)); r.status != http.StatusBadRequest || r.errCode() != "too_many_attempts" {
		t.Fatalf("after three wrong answers: %v", r)
	}
	// Expired.
	late := c.startTransfer("1.00", "NL91ABNA0417164300")
	o := c.confirmOptions(late.ID)
	a.clock.Advance(6 * time.Minute)
	if r := c.confirmTransfer(late.ID, k.Get(o.PublicKey.Challenge)); r.status != http.StatusBadRequest || r.errCode() != "expired" {
		t.Fatalf("expired: %v", r)
	}
}

// A passkey confirmation's wrong answers count against the user's one lock
// of wrong codes, as sign-in's do: past it no confirmation starts and no
// passkey sign-in begins; Unlock clears it.
func TestPasskeyConfirmationGuessesLock(t *testing.T) {
	a := newPKApp(t, twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: 2, Per: time.Hour} }))
	c, k := a.aliceWithKey(t)
	forged := testkit.NewPasskey(t, pkRPID, pkOrigin)
	forged.ID = k.ID // a forged signature for alice's credential
	conf := c.startTransfer("5.00", "NL91ABNA0417164300")
	for i := range 2 {
		if r := c.confirmTransfer(conf.ID, forged.Get(c.confirmOptions(conf.ID).PublicKey.Challenge)); r.status != http.StatusBadRequest || r.errCode() != "invalid_code" {
			t.Fatalf("forged answer %d: %v", i, r)
		}
	}
	if r := c.confirmTransfer(conf.ID, k.Get(c.confirmOptions(conf.ID).PublicKey.Challenge)); r.status != http.StatusTooManyRequests || r.errCode() != "locked" {
		t.Fatalf("the right answer past the limit: %v", r)
	}
	if ev := a.lastEvent(); ev.Type != twofactor.EventLocked || ev.Subject != "alice" {
		t.Fatalf("event: %+v", ev)
	}
	if r := c.post("/transfer/start", url.Values{"amount": {"1.00"}, "iban": {"NL91ABNA0417164300"}}); r.status != http.StatusTooManyRequests || r.errCode() != "locked" {
		t.Fatalf("a new confirmation when locked: %v", r)
	}
	if r := a.browserOf("alice").postJSON("/2fa/passkey/begin", nil); r.status != http.StatusTooManyRequests || r.errCode() != "locked" {
		t.Fatalf("passkey sign-in when locked: %v", r)
	}
	if err := a.m.Unlock(t.Context(), "alice", ""); err != nil {
		t.Fatal(err)
	}
	again := c.startTransfer("5.00", "NL91ABNA0417164300")
	if r := c.confirmTransfer(again.ID, k.Get(c.confirmOptions(again.ID).PublicKey.Challenge)); r.status != http.StatusOK {
		t.Fatalf("after Unlock: %v", r)
	}
}

// Attack: two different actions that one passkey signature covers. The
// challenge hashes the action's fields with a 0 byte after each, so a
// detail value with a 0 byte in it can spell more details: the iban
// "NL91…\x00reference\x00x" hashes as the iban NL91… and the reference x.
// A signature kept as proof of what the user confirmed would prove
// either. A detail value with a 0 byte is refused.
func TestAttack_OneSignatureForTwoActions(t *testing.T) {
	a := newPKApp(t)
	c, _ := a.aliceWithKey(t)
	one := twofactor.Action{Description: "d", Details: map[string]string{"amount": "5.00", "iban": "NL91ABNA0417164300\x00reference\x00x"}}
	other := twofactor.Action{Description: "d", Details: map[string]string{"amount": "5.00", "iban": "NL91ABNA0417164300", "reference": "x"}}
	nonce := make([]byte, 16)
	if !bytes.Equal(wantChallenge(nonce, one), wantChallenge(nonce, other)) {
		t.Fatal("the documented challenge of the two actions differs: the test is out of date")
	}
	r := c.post("/transfer/start", url.Values{"amount": {"5.00"}, "iban": {"NL91ABNA0417164300"}, "reference": {"x\x00zz\x00y"}})
	if r.status != http.StatusBadRequest || r.errCode() != "invalid_action" {
		t.Fatalf("a detail with a 0 byte: %v", r)
	}
	if r := c.post("/transfer/start", url.Values{"amount": {"5.00"}, "iban": {"NL91ABNA0417164300"}, "reference": {"rent, May"}}); r.status != http.StatusOK {
		t.Fatalf("a plain reference: %v", r)
	}
}
