package twofactor_test

// Confirming one action (issue 10, checklist item 23) through real HTTP:
// an app whose routes call StartConfirmation, PendingConfirmation and
// Confirm, attacked from browsers with their own cookie jars. Time is a
// fake clock; nothing sleeps.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
)

// confirmRecorder is a Provider that records every Request it is asked to
// send (the Mock does not see Request.Message) and passes it on.
type confirmRecorder struct {
	twofactor.Provider
	mu   sync.Mutex
	reqs []twofactor.Request
}

func (p *confirmRecorder) Send(ctx context.Context, req twofactor.Request) (twofactor.Verification, error) {
	p.mu.Lock()
	p.reqs = append(p.reqs, req)
	p.mu.Unlock()
	return p.Provider.Send(ctx, req)
}

func (p *confirmRecorder) last() twofactor.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reqs) == 0 {
		return twofactor.Request{}
	}
	return p.reqs[len(p.reqs)-1]
}

type confirmEnv struct {
	*secEnv
	rec *confirmRecorder
}

// confirmSentinels is ConfirmError's documented table: the sentinel error
// each code matches with errors.Is.
var confirmSentinels = map[string]error{
	"invalid_action":        twofactor.ErrInvalidAction,
	"verification_required": twofactor.ErrNotVerified,
	"no_phone_number":       twofactor.ErrNoPhoneNumber,
	"invalid_phone":         twofactor.ErrInvalidPhone,
	"rate_limited":          twofactor.ErrRateLimited,
	"locked":                twofactor.ErrTooManyAttempts,
	"unknown_confirmation":  twofactor.ErrUnknownConfirmation,
	"malformed_code":        twofactor.ErrMalformedCode,
	"invalid_code":          twofactor.ErrInvalidCode,
	"too_many_attempts":     twofactor.ErrTooManyAttempts,
	"expired":               twofactor.ErrExpired,
	"already_confirmed":     twofactor.ErrConfirmationUsed,
	"provider_unavailable":  twofactor.ErrUnavailable,
	"store_unavailable":     twofactor.ErrStoreUnavailable,
}

// answer writes v as JSON, or a confirmation error as the library's
// ConfirmError documents; an error that is no ConfirmError, or whose code
// does not match its documented sentinel error, is a 500.
func confirmAnswer(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		var ce *twofactor.ConfirmError
		if !errors.As(err, &ce) {
			http.Error(w, "not a ConfirmError: "+err.Error(), http.StatusInternalServerError)
			return
		}
		if want, ok := confirmSentinels[ce.Code]; !ok || !errors.Is(err, want) {
			http.Error(w, "code "+ce.Code+" does not match its sentinel error: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(ce.Status)
		v = ce
	}
	_ = json.NewEncoder(w).Encode(v)
}

// newConfirmEnv starts an app with the library's flow and these routes:
// POST /pay (amount, payee: start a confirmation), GET /pay?id= (the
// pending confirmation), POST /pay/confirm (id, code), POST /grant (verify
// by a factor that proves no number). The routes are not behind Require:
// the library's own checks are under test.
func newConfirmEnv(t *testing.T, s secSetup) *confirmEnv {
	t.Helper()
	ce := &confirmEnv{}
	s.provider = func(p *secProvider) twofactor.Provider {
		ce.rec = &confirmRecorder{Provider: p}
		return ce.rec
	}
	s.opts = append([]twofactor.Option{twofactor.WithBranding(twofactor.Branding{Name: "Shop"})}, s.opts...)
	s.routes = func(mux *http.ServeMux, m *twofactor.Manager) {
		mux.HandleFunc("POST /pay", func(w http.ResponseWriter, r *http.Request) {
			amount, payee := r.FormValue("amount"), r.FormValue("payee")
			a := twofactor.Action{
				Description: "EUR " + amount + " to " + payee,
				Details:     map[string]string{"amount": amount, "payee": payee},
				Amount:      "EUR " + amount,
				Payee:       payee,
			}
			if r.Form.Has("description") {
				a = twofactor.Action{Description: r.FormValue("description")}
				if d := r.FormValue("details"); d != "" {
					a.Details = map[string]string{"x": d}
				}
			}
			c, err := m.StartConfirmation(r, a)
			confirmAnswer(w, c, err)
		})
		mux.HandleFunc("GET /pay", func(w http.ResponseWriter, r *http.Request) {
			c, err := m.PendingConfirmation(r, r.FormValue("id"))
			confirmAnswer(w, c, err)
		})
		mux.HandleFunc("POST /pay/confirm", func(w http.ResponseWriter, r *http.Request) {
			a, err := m.Confirm(r, r.FormValue("id"), r.FormValue("code"))
			confirmAnswer(w, a, err)
		})
		mux.HandleFunc("POST /grant", func(w http.ResponseWriter, r *http.Request) {
			if err := m.Grant(w, r, "webauthn", ""); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
			}
		})
	}
	ce.secEnv = secNew(t, s)
	return ce
}

// start asks for a confirmation of amount to payee.
func (c *secClient) start(amount, payee string) (twofactor.Confirmation, secResp) {
	c.e.t.Helper()
	r := c.post("/pay", url.Values{"amount": {amount}, "payee": {payee}})
	var conf twofactor.Confirmation
	if r.status == http.StatusOK {
		if err := json.Unmarshal([]byte(r.body), &conf); err != nil {
			c.e.t.Fatalf("start: %v in %q", err, r.body)
		}
	}
	return conf, r
}

// mustStart starts a confirmation and returns it and its code.
func (c *secClient) mustStart(amount, payee string) (twofactor.Confirmation, string) {
	c.e.t.Helper()
	before := c.e.mock.Sends()
	conf, r := c.start(amount, payee)
	if r.status != http.StatusOK || conf.ID == "" || c.e.mock.Sends() != before+1 {
		c.e.t.Fatalf("start %s to %s: %v", amount, payee, r)
	}
	return conf, c.e.code(secPhone)
}

func (c *secClient) confirm(id, code string) secResp {
	return c.post("/pay/confirm", url.Values{"id": {id}, "code": {code}})
}

// confirmed reports whether r is a confirmation, and of which details.
func confirmed(t *testing.T, r secResp) (map[string]string, bool) {
	t.Helper()
	if r.status != http.StatusOK {
		return nil, false
	}
	var a twofactor.Action
	if err := json.Unmarshal([]byte(r.body), &a); err != nil {
		t.Fatalf("confirm answer %q: %v", r.body, err)
	}
	return a.Details, true
}

func countEvents(e *secEnv, typ twofactor.EventType) int {
	n := 0
	for _, t := range e.eventTypes() {
		if t == typ {
			n++
		}
	}
	return n
}

func TestConfirm_RightCodeOnce(t *testing.T) {
	e := newConfirmEnv(t, secSetup{})
	c := e.client()
	c.mustVerify(secPhone)
	conf, code := c.mustStart("500.00", "NL91…4300")

	if conf.Phone != secPhoneMasked || conf.TriesLeft != 3 || conf.Action.Description != "EUR 500.00 to NL91…4300" {
		t.Errorf("confirmation = %+v", conf)
	}
	if !conf.ExpiresAt.Equal(secT0.Add(5 * time.Minute)) {
		t.Errorf("expires at %v, want 5 minutes from now", conf.ExpiresAt)
	}
	// The SMS names the action; Twilio-style providers get amount and payee.
	req := e.rec.last()
	if want := "Shop: confirm EUR 500.00 to NL91…4300. Code: {code}"; req.Message != want {
		t.Errorf("SMS text %q, want %q", req.Message, want)
	}
	if req.Amount != "EUR 500.00" || req.Payee != "NL91…4300" || req.Phone != secPhone || req.Channel != twofactor.SMS {
		t.Errorf("request = %+v", req)
	}
	// The page can be shown again.
	if r := c.get("/pay?id=" + conf.ID); r.status != http.StatusOK || !strings.Contains(r.body, "NL91…4300") {
		t.Errorf("pending: %v", r)
	}

	d, ok := confirmed(t, c.confirm(conf.ID, code))
	if !ok || d["amount"] != "500.00" || d["payee"] != "NL91…4300" {
		t.Fatalf("right code: details %v, ok %v", d, ok)
	}
	// Replayed, or the page asked again: never a second confirmation.
	for range 3 {
		secWant(t, "replay", c.confirm(conf.ID, code), http.StatusConflict, "already_confirmed")
	}
	secWant(t, "pending after confirmation", c.get("/pay?id="+conf.ID), http.StatusConflict, "already_confirmed")
	if n := countEvents(e.secEnv, twofactor.EventConfirmed); n != 1 {
		t.Errorf("%d confirmed events, want 1", n)
	}
	if countEvents(e.secEnv, twofactor.EventConfirmationSent) != 1 || countEvents(e.secEnv, twofactor.EventConfirmationFailed) != 3 {
		t.Errorf("events %v", e.eventTypes())
	}
	if strings.Contains(e.logs.String(), code) || strings.Contains(e.logs.String(), secPhone) {
		t.Error("the logs show the code or the full number")
	}
}

func TestConfirm_ReplayInParallel(t *testing.T) {
	for _, lenient := range []bool{false, true} { // lenient: a provider that accepts a code more than once
		name := map[bool]string{false: "OneUseProvider", true: "LenientProvider"}[lenient]
		t.Run(name, func(t *testing.T) {
			e := newConfirmEnv(t, secSetup{})
			e.prov.lenient = lenient
			c := e.client()
			c.mustVerify(secPhone)
			conf, code := c.mustStart("500", "NL91ABNA0417164300")
			var ok atomic.Int64
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					r := c.confirm(conf.ID, code)
					switch {
					case r.status == http.StatusOK:
						ok.Add(1)
					case r.errCode() != "already_confirmed":
						t.Errorf("parallel replay: %v", r)
					}
				})
			}
			wg.Wait()
			if ok.Load() != 1 {
				t.Fatalf("%d of 20 parallel submissions confirmed, want exactly 1", ok.Load())
			}
			if n := countEvents(e.secEnv, twofactor.EventConfirmed); n != 1 {
				t.Errorf("%d confirmed events, want 1", n)
			}
		})
	}
}

func TestConfirm_WrongCodes(t *testing.T) {
	t.Run("ThreeThenRefused", func(t *testing.T) {
		e := newConfirmEnv(t, secSetup{mockMaxAttempts: 10})
		c := e.client()
		c.mustVerify(secPhone)
		conf, code := c.mustStart("500", "NL91ABNA0417164300")
		checks := e.prov.checks.Load()
		for left := 2; left >= 1; left-- {
			r := c.confirm(conf.ID, secWrong(code))
			secWant(t, "wrong code", r, http.StatusBadRequest, "invalid_code")
			if !strings.Contains(r.body, `"tries_left":`+string(rune('0'+left))) {
				t.Errorf("wrong code answer %q, want tries_left %d", r.body, left)
			}
		}
		secWant(t, "third wrong code", c.confirm(conf.ID, secWrong(code)), http.StatusBadRequest, "too_many_attempts")
		secWant(t, "pending after three", c.get("/pay?id="+conf.ID), http.StatusBadRequest, "too_many_attempts")
		// Even the right code is refused now, without asking the provider.
		secWant(t, "right code after three", c.confirm(conf.ID, code), http.StatusBadRequest, "too_many_attempts")
		if n := e.prov.checks.Load() - checks; n != 3 {
			t.Errorf("provider asked %d times, want 3", n)
		}
		if countEvents(e.secEnv, twofactor.EventConfirmed) != 0 {
			t.Error("confirmed after three wrong codes")
		}
		// A new confirmation works.
		conf2, code2 := c.mustStart("500", "NL91ABNA0417164300")
		if _, ok := confirmed(t, c.confirm(conf2.ID, code2)); !ok {
			t.Error("a new confirmation after too many wrong codes did not confirm")
		}
	})
	t.Run("ParallelGuessesCapped", func(t *testing.T) {
		e := newConfirmEnv(t, secSetup{mockMaxAttempts: 100})
		c := e.client()
		c.mustVerify(secPhone)
		conf, code := c.mustStart("500", "NL91ABNA0417164300")
		checks := e.prov.checks.Load()
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() { c.confirm(conf.ID, secWrong(code)) })
		}
		wg.Wait()
		if n := e.prov.checks.Load() - checks; n > 3 {
			t.Errorf("20 parallel wrong codes reached the provider %d times, want at most 3", n)
		}
		secWant(t, "right code after the flood", c.confirm(conf.ID, code), http.StatusBadRequest, "too_many_attempts")
	})
	t.Run("MalformedCostsNothing", func(t *testing.T) {
		e := newConfirmEnv(t, secSetup{})
		c := e.client()
		c.mustVerify(secPhone)
		conf, code := c.mustStart("500", "NL91ABNA0417164300")
		for _, bad := range []string{"", "12", "abcdef", "1234567", "12345678901", "' OR 1=1"} {
			secWant(t, "malformed "+bad, c.confirm(conf.ID, bad), http.StatusBadRequest, "malformed_code")
		}
		if _, ok := confirmed(t, c.confirm(conf.ID, code[:3]+" "+code[3:])); !ok {
			t.Error("the right code, typed with a space, did not confirm")
		}
	})
	t.Run("AccountLimit", func(t *testing.T) {
		e := newConfirmEnv(t, secSetup{opts: []twofactor.Option{twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: 2, Per: time.Hour} })}})
		c := e.client()
		c.mustVerify(secPhone)
		conf, code := c.mustStart("500", "NL91ABNA0417164300")
		secWant(t, "wrong 1", c.confirm(conf.ID, secWrong(code)), http.StatusBadRequest, "invalid_code")
		secWant(t, "wrong 2", c.confirm(conf.ID, secWrong(code)), http.StatusBadRequest, "invalid_code")
		r := c.confirm(conf.ID, code)
		secWant(t, "right code past the account limit", r, http.StatusTooManyRequests, "locked")
		// A locked account is sent no new code.
		sends := e.mock.Sends()
		_, r = c.start("500", "NL91ABNA0417164300")
		secWant(t, "start while locked", r, http.StatusTooManyRequests, "locked")
		if e.mock.Sends() != sends {
			t.Error("a locked account was sent a code")
		}
	})
}

// A code made for one action confirms no other: not another amount, not
// another payee.
func TestConfirm_CodeBoundToAction(t *testing.T) {
	e := newConfirmEnv(t, secSetup{mockMaxAttempts: 10})
	c := e.client()
	c.mustVerify(secPhone)
	a, codeA := c.mustStart("500.00", "NL91ABNA0417164300")
	b, codeB := c.mustStart("9999.00", "NL91ABNA0417164300")
	other, codeOther := c.mustStart("500.00", "DE89370400440532013000")
	if codeA == codeB || codeA == codeOther {
		t.Skip("the mock made the same code twice (1 in a million)")
	}
	secWant(t, "A's code for another amount", c.confirm(b.ID, codeA), http.StatusBadRequest, "invalid_code")
	secWant(t, "A's code for another payee", c.confirm(other.ID, codeA), http.StatusBadRequest, "invalid_code")
	// Each code confirms its own action, with the details kept server-side
	// (the form of /pay/confirm carries no details at all).
	if d, ok := confirmed(t, c.confirm(a.ID, codeA)); !ok || d["amount"] != "500.00" || d["payee"] != "NL91ABNA0417164300" {
		t.Errorf("A: %v %v", d, ok)
	}
	if d, ok := confirmed(t, c.confirm(b.ID, codeB)); !ok || d["amount"] != "9999.00" {
		t.Errorf("B: %v %v", d, ok)
	}
	if d, ok := confirmed(t, c.confirm(other.ID, codeOther)); !ok || d["payee"] != "DE89370400440532013000" {
		t.Errorf("other: %v %v", d, ok)
	}
}

// Another session, another user, or no verified session cannot use a
// confirmation, and trying spends nothing of it.
func TestConfirm_BoundToSessionAndUser(t *testing.T) {
	e := newConfirmEnv(t, secSetup{subject: true})
	alice := e.client()
	alice.user = "alice"
	alice.mustVerify(secPhone)
	conf, code := alice.mustStart("500", "NL91ABNA0417164300")

	// Another browser of another user, verified with their own number.
	bob := e.client()
	bob.user = "bob"
	bob.mustVerify("+31687654321")
	secWant(t, "bob confirms alice's", bob.confirm(conf.ID, code), http.StatusNotFound, "unknown_confirmation")
	secWant(t, "bob reads alice's", bob.get("/pay?id="+conf.ID), http.StatusNotFound, "unknown_confirmation")

	// Alice's cookie, but bob signed in to the app in this browser.
	alice.user = "bob"
	secWant(t, "alice's session as bob", alice.confirm(conf.ID, code), http.StatusUnauthorized, "verification_required")
	alice.user = "alice"

	// A second, verified session of alice herself: not the one that started it.
	alice2 := e.client()
	alice2.user = "alice"
	alice2.mustVerify(secPhone)
	secWant(t, "alice's other session", alice2.confirm(conf.ID, code), http.StatusNotFound, "unknown_confirmation")

	// Nobody verified: nothing is sent, nothing is confirmed.
	anon := e.client()
	anon.user = "alice"
	sends := e.mock.Sends()
	if _, r := anon.start("500", "NL91ABNA0417164300"); r.status != http.StatusUnauthorized || r.errCode() != "verification_required" {
		t.Errorf("unverified start: %v", r)
	}
	if e.mock.Sends() != sends {
		t.Error("an unverified session was sent a code")
	}
	secWant(t, "unverified confirm", anon.confirm(conf.ID, code), http.StatusUnauthorized, "verification_required")

	// None of that cost alice a try: she confirms, once.
	if _, ok := confirmed(t, alice.confirm(conf.ID, code)); !ok {
		t.Fatal("alice could not confirm after the others tried")
	}

	// After signing out, the session can confirm nothing.
	conf2, code2 := alice.mustStart("1", "NL91ABNA0417164300")
	if r := alice.post("/logout", nil); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %v", r)
	}
	secWant(t, "after logout", alice.confirm(conf2.ID, code2), http.StatusUnauthorized, "verification_required")
}

func TestConfirm_Expiry(t *testing.T) {
	e := newConfirmEnv(t, secSetup{})
	e.mock.Validity = time.Hour // a provider that keeps codes far too long
	c := e.client()
	c.mustVerify(secPhone)
	conf, code := c.mustStart("500", "NL91ABNA0417164300")
	if want := secT0.Add(twofactor.MaxConfirmValidity); !conf.ExpiresAt.Equal(want) {
		t.Errorf("expires at %v, want %v (clamped to 5 minutes)", conf.ExpiresAt, want)
	}
	e.clock.Advance(twofactor.MaxConfirmValidity - time.Second)
	if r := c.get("/pay?id=" + conf.ID); r.status != http.StatusOK {
		t.Errorf("pending just before expiry: %v", r)
	}
	e.clock.Advance(time.Second)
	secWant(t, "pending at expiry", c.get("/pay?id="+conf.ID), http.StatusBadRequest, "expired")
	secWant(t, "right code at expiry", c.confirm(conf.ID, code), http.StatusBadRequest, "expired")
	if countEvents(e.secEnv, twofactor.EventConfirmationExpired) != 1 || countEvents(e.secEnv, twofactor.EventConfirmed) != 0 {
		t.Errorf("events %v", e.eventTypes())
	}
	// Long after, the confirmation is forgotten.
	e.clock.Advance(time.Hour)
	e.mock.Validity = 0
	c.mustVerify(secPhone) // the verification has idled out too
	secWant(t, "an hour later", c.confirm(conf.ID, code), http.StatusNotFound, "unknown_confirmation")
}

func TestConfirm_BadInput(t *testing.T) {
	e := newConfirmEnv(t, secSetup{})
	c := e.client()
	c.mustVerify(secPhone)
	sends := e.mock.Sends()
	for _, tc := range []struct{ name, desc, details string }{
		{"empty", "", ""},
		{"blank", "   ", ""},
		{"too long for one SMS", strings.Repeat("x", twofactor.MaxActionDescription+1), ""},
		{"two lines", "EUR 5\nCode: 000000", ""},
		{"placeholder", "EUR 5 {code}", ""},
		{"MessageBird token", "EUR 5 %token", ""},
		{"not UTF-8", "EUR \xff", ""},
		{"details too big", "EUR 5", strings.Repeat("d", twofactor.MaxActionDetails)},
	} {
		r := c.post("/pay", url.Values{"description": {tc.desc}, "details": {tc.details}})
		secWant(t, tc.name, r, http.StatusBadRequest, "invalid_action")
	}
	if e.mock.Sends() != sends {
		t.Error("bad input was sent")
	}
	// The longest description, with a character outside GSM, is fine.
	long := strings.Repeat("€", twofactor.MaxActionDescription)
	if r := c.post("/pay", url.Values{"description": {long}}); r.status != http.StatusOK {
		t.Errorf("a %d-character description: %v", twofactor.MaxActionDescription, r)
	}
	for _, id := range []string{"", "x", "../../etc/passwd", strings.Repeat("a", 32), strings.Repeat("a", 200)} {
		secWant(t, "id "+id, c.confirm(id, "123456"), http.StatusNotFound, "unknown_confirmation")
	}
}

func TestConfirm_SendLimits(t *testing.T) {
	t.Run("PerNumber", func(t *testing.T) {
		e := newConfirmEnv(t, secSetup{opts: []twofactor.Option{twofactor.WithLimits(func(l *twofactor.Limits) { l.Phone = twofactor.Limit{N: 2, Per: time.Hour} })}})
		c := e.client()
		c.mustVerify(secPhone) // one
		c.mustStart("1", "NL91ABNA0417164300")
		sends := e.mock.Sends()
		_, r := c.start("1", "NL91ABNA0417164300")
		secWant(t, "third code in the hour", r, http.StatusTooManyRequests, "rate_limited")
		secRetryAfterJSON(t, r)
		if e.mock.Sends() != sends {
			t.Error("sent past the per-number window")
		}
		e.clock.Advance(time.Hour)
		c.mustVerify(secPhone)
		c.mustStart("1", "NL91ABNA0417164300")
	})
	t.Run("PerIPSpendsNothingElse", func(t *testing.T) {
		e := newConfirmEnv(t, secSetup{opts: []twofactor.Option{
			twofactor.WithLimits(func(l *twofactor.Limits) { l.IP = twofactor.Limit{N: 2, Per: time.Hour} }),
			twofactor.WithLimits(func(l *twofactor.Limits) { l.Phone = twofactor.Limit{N: 3, Per: time.Hour} }),
		}})
		c := e.client()
		c.mustVerify(secPhone)
		c.mustStart("1", "NL91ABNA0417164300")
		for range 5 {
			_, r := c.start("1", "NL91ABNA0417164300")
			secWant(t, "past the IP window", r, http.StatusTooManyRequests, "rate_limited")
		}
		// The refusals spent nothing of the number's window: after the IP
		// window, one more code still goes to the number.
		if err := e.state.Delete(context.Background(), "ip:127.0.0.1"); err != nil {
			t.Fatal(err)
		}
		c.mustStart("1", "NL91ABNA0417164300")
	})
}

func secRetryAfterJSON(t *testing.T, r secResp) {
	t.Helper()
	var v struct {
		Error struct {
			RetryAfter int `json:"retry_after"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &v); err != nil || v.Error.RetryAfter <= 0 {
		t.Errorf("no retry_after in %q", r.body)
	}
}

func TestConfirm_PhoneTarget(t *testing.T) {
	t.Run("NoNumberProved", func(t *testing.T) {
		e := newConfirmEnv(t, secSetup{})
		c := e.client()
		if r := c.post("/grant", nil); r.status != http.StatusOK {
			t.Fatalf("grant: %v", r)
		}
		_, r := c.start("1", "NL91ABNA0417164300")
		secWant(t, "verified without a number", r, http.StatusConflict, "no_phone_number")
	})
	t.Run("KnownNumber", func(t *testing.T) {
		const onFile = "+31687654321"
		e := newConfirmEnv(t, secSetup{subject: true, opts: []twofactor.Option{twofactor.WithPhoneLookup(func(*http.Request) (string, error) { return onFile, nil })}})
		c := e.client()
		c.user = "alice"
		if r := c.post("/grant", nil); r.status != http.StatusOK {
			t.Fatalf("grant: %v", r)
		}
		conf, r := c.start("1", "NL91ABNA0417164300")
		if r.status != http.StatusOK || e.rec.last().Phone != onFile || conf.Phone != twofactor.MaskPhone(onFile) {
			t.Fatalf("known number: %v, sent to %s", r, e.rec.last().Phone)
		}
		if _, ok := confirmed(t, c.confirm(conf.ID, e.code(onFile))); !ok {
			t.Error("the code sent to the number on file did not confirm")
		}
	})
	t.Run("Dutch", func(t *testing.T) {
		e := newConfirmEnv(t, secSetup{})
		c := e.client()
		c.mustVerify(secPhone)
		c.hdr.Set("Accept-Language", "nl")
		c.mustStart("1.00", "NL91…4300")
		if want := "Shop: bevestig EUR 1.00 to NL91…4300. Code: {code}"; e.rec.last().Message != want {
			t.Errorf("Dutch SMS %q, want %q", e.rec.last().Message, want)
		}
	})
}

func TestConfirm_ProviderDown(t *testing.T) {
	e := newConfirmEnv(t, secSetup{})
	c := e.client()
	c.mustVerify(secPhone)
	conf, code := c.mustStart("1", "NL91ABNA0417164300")
	e.mock.Fail = func(string) error { return twofactor.ErrUnavailable }
	_, r := c.start("1", "NL91ABNA0417164300")
	secWant(t, "send while down", r, http.StatusServiceUnavailable, "provider_unavailable")
	secWant(t, "check while down", c.confirm(conf.ID, code), http.StatusServiceUnavailable, "provider_unavailable")
	if strings.Contains(r.body, "twofactor:") {
		t.Errorf("the answer shows internal error text: %q", r.body)
	}
	e.mock.Fail = nil
	if _, ok := confirmed(t, c.confirm(conf.ID, code)); !ok {
		t.Error("after the outage the code did not confirm")
	}
}

func TestConfirmError(t *testing.T) {
	ce := &twofactor.ConfirmError{Code: "invalid_code", Status: 400, TriesLeft: 2, Err: twofactor.ErrInvalidCode}
	if !errors.Is(ce, twofactor.ErrInvalidCode) || !strings.Contains(ce.Error(), "invalid_code") {
		t.Errorf("Error %q, Is %v", ce.Error(), errors.Is(ce, twofactor.ErrInvalidCode))
	}
	b, err := json.Marshal(ce)
	if want := `{"error":{"code":"invalid_code","message":"That code isn't right.","tries_left":2}}`; err != nil || string(b) != want {
		t.Errorf("JSON %s (%v), want %s", b, err, want)
	}
	for _, name := range []string{"a name far too long for an SMS sender", "two\nlines"} {
		if _, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithBranding(twofactor.Branding{Name: name})); err == nil {
			t.Errorf("WithBranding took the app name %q", name)
		}
	}
}

// A State backend that is down confirms nothing and sends nothing: 503.
func TestConfirm_StateDown(t *testing.T) {
	var fs *secFlakyState
	e := newConfirmEnv(t, secSetup{state: func(m *twofactor.MemoryState) twofactor.State { fs = &secFlakyState{State: m}; return fs }})
	c := e.client()
	c.mustVerify(secPhone)
	conf, code := c.mustStart("1", "NL91ABNA0417164300")
	fs.down.Store(true)
	sends := e.mock.Sends()
	_, r := c.start("1", "NL91ABNA0417164300")
	secWant(t, "start while the state is down", r, http.StatusServiceUnavailable, "store_unavailable")
	secWant(t, "confirm while the state is down", c.confirm(conf.ID, code), http.StatusServiceUnavailable, "store_unavailable")
	if e.mock.Sends() != sends || countEvents(e.secEnv, twofactor.EventConfirmed) != 0 {
		t.Error("sent or confirmed while the state was down")
	}
	fs.down.Store(false)
	if _, ok := confirmed(t, c.confirm(conf.ID, code)); !ok {
		t.Error("after the outage the code did not confirm")
	}
}

// A provider's limit answers a confirmation's start with 429 and the
// provider's wait; a refused destination with invalid_phone; checks the
// provider did not judge (an outage, a lost answer) cost no try.
func TestConfirm_ProviderFailureClasses(t *testing.T) {
	e := newConfirmEnv(t, secSetup{})
	c := e.client()
	c.mustVerify(secPhone)
	conf, code := c.mustStart("1", "NL91ABNA0417164300")

	e.mock.Fail = func(op string) error {
		return &twofactor.RateLimitError{RetryAfter: 42 * time.Second, Vendor: "Bird", Code: "E01003"}
	}
	_, r := c.start("1", "NL91ABNA0417164300")
	secWant(t, "start at the provider's limit", r, http.StatusTooManyRequests, "rate_limited")
	if !strings.Contains(r.body, `"retry_after":42`) {
		t.Errorf("start at the provider's limit: %q, want retry_after 42", r.body)
	}
	e.mock.Fail = func(op string) error { return fmt.Errorf("%w: geo permissions", twofactor.ErrDestinationRefused) }
	_, r = c.start("1", "NL91ABNA0417164300")
	secWant(t, "start to a refused destination", r, http.StatusBadRequest, "invalid_phone")

	for i, err := range []error{
		twofactor.ErrUnavailable, fmt.Errorf("%w: %w", twofactor.ErrUnknownOutcome, context.DeadlineExceeded),
		twofactor.ErrUnavailable, twofactor.ErrUnavailable,
	} {
		e.mock.Fail = func(op string) error {
			if op == "check" {
				return err
			}
			return nil
		}
		secWant(t, fmt.Sprintf("check %d while down", i), c.confirm(conf.ID, code), http.StatusServiceUnavailable, "provider_unavailable")
	}
	e.mock.Fail = nil
	if _, ok := confirmed(t, c.confirm(conf.ID, code)); !ok {
		t.Error("after more outages than tries, the right code did not confirm")
	}
}
