package twofactor_test

// Passkeys through real HTTP with cookies: registration behind step-up,
// sign-in as the second factor, listing and removal, and the attacks an
// attacker would try (another user's passkey, a removed one, a cloned
// authenticator's counter, a replayed assertion, the wrong origin or RP
// ID, guessing past the limit).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/testkit"
)

const (
	pkRPID   = "bank.example"
	pkOrigin = "https://bank.example"
)

// pkApp is an app with subjects, numbers on file, recovery codes and
// passkeys, plus GET /factors (gated: Factors as JSON) and POST
// /factors/remove (step-up: RemoveFactor of the passkey "id").
type pkApp struct {
	*secEnv
	mu      sync.Mutex
	numbers map[string]string
}

func newPKApp(t *testing.T, opts ...twofactor.Option) *pkApp {
	t.Helper()
	a := &pkApp{numbers: map[string]string{"alice": secPhone, "bob": "+31687654321"}}
	all := []twofactor.Option{
		twofactor.WithPhoneLookup(func(r *http.Request) (string, error) {
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.numbers[secSubject(r)], nil
		}),
		twofactor.WithRecoveryCodes(nil),
		twofactor.WithPasskeys(twofactor.PasskeyConfig{RPID: pkRPID, RPDisplayName: "Bank", Origins: []string{pkOrigin}}),
	}
	a.secEnv = secNew(t, secSetup{subject: true, opts: append(all, opts...), routes: func(mux *http.ServeMux, m *twofactor.Manager) {
		mux.Handle("GET /factors", m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fs, err := m.Factors(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			_ = json.NewEncoder(w).Encode(fs)
		})))
		mux.Handle("GET /record", m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec, _ := twofactor.RecordFrom(r)
			_ = json.NewEncoder(w).Encode(rec)
		})))
		// A transfer confirmed by a code or a passkey (passkey_confirm_test.go).
		mux.Handle("POST /transfer/start", m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			act := pkTransfer(r.FormValue("amount"), r.FormValue("iban"))
			if ref := r.FormValue("reference"); ref != "" { // the payer's own words, as a bank's form has
				act.Details["reference"] = ref
			}
			c, err := m.StartConfirmation(r, act)
			var ce *twofactor.ConfirmError
			if errors.As(err, &ce) {
				w.WriteHeader(ce.Status)
				_ = json.NewEncoder(w).Encode(ce)
				return
			}
			_ = json.NewEncoder(w).Encode(c)
		})))
		mux.Handle("POST /transfer/confirm", m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a, err := m.Confirm(r, r.FormValue("id"), r.FormValue("code"))
			var ce *twofactor.ConfirmError
			if errors.As(err, &ce) {
				w.WriteHeader(ce.Status)
				_ = json.NewEncoder(w).Encode(ce)
				return
			}
			_ = json.NewEncoder(w).Encode(a)
		})))
		mux.Handle("POST /factors/remove", m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			err := m.RemoveFactor(r, twofactor.Factor{Method: twofactor.Method(r.FormValue("method")), ID: r.FormValue("id")})
			switch {
			case errors.Is(err, twofactor.ErrLastFactor):
				http.Error(w, "last factor", http.StatusConflict)
			case err != nil:
				http.Error(w, err.Error(), http.StatusBadRequest)
			default:
				_, _ = w.Write([]byte("removed"))
			}
		})))
	}})
	return a
}

// postJSON posts body as JSON.
func (c *secClient) postJSON(path string, body []byte) secResp {
	return c.do(http.MethodPost, path, bytes.NewReader(body), "application/json")
}

// register adds key as a passkey named name for the (verified) browser c.
func (c *secClient) register(k *testkit.Passkey, name string) secResp {
	c.e.t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name})
	r := c.postJSON("/2fa/passkey/register/begin", body)
	if r.status != http.StatusOK {
		return r
	}
	return c.postJSON("/2fa/passkey/register/finish", k.Create(testkit.ReadPasskeyOptions(c.e.t, r.body)))
}

// mustRegister registers k and fails the test if it is refused.
func (c *secClient) mustRegister(k *testkit.Passkey, name string) {
	c.e.t.Helper()
	if r := c.register(k, name); r.status != http.StatusCreated || !strings.Contains(r.body, `"status":"passkey_added"`) {
		c.e.t.Fatalf("register: %v", r)
	}
}

// beginPasskey starts a passkey sign-in and returns its options.
func (c *secClient) beginPasskey() testkit.PasskeyOptions {
	c.e.t.Helper()
	r := c.postJSON("/2fa/passkey/begin", []byte(`{"next":"/account"}`))
	if r.status != http.StatusOK {
		c.e.t.Fatalf("passkey begin: %v", r)
	}
	return testkit.ReadPasskeyOptions(c.e.t, r.body)
}

// passkeySignIn signs in with k: begin, k's answer, finish.
func (c *secClient) passkeySignIn(k *testkit.Passkey) secResp {
	c.e.t.Helper()
	return c.postJSON("/2fa/passkey/finish", k.Get(c.beginPasskey().PublicKey.Challenge))
}

// factors reads GET /factors.
func (c *secClient) factors() []twofactor.Factor {
	c.e.t.Helper()
	r := c.get("/factors")
	var fs []twofactor.Factor
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &fs) != nil {
		c.e.t.Fatalf("factors: %v", r)
	}
	return fs
}

// signedInWithKey returns alice's browser, verified by SMS, with k
// registered as a passkey.
func (a *pkApp) aliceWithKey(t *testing.T) (*secClient, *testkit.Passkey) {
	t.Helper()
	c := a.client()
	c.user = "alice"
	c.mustVerify(secPhone)
	k := testkit.NewPasskey(t, pkRPID, pkOrigin)
	c.mustRegister(k, "Work laptop")
	return c, k
}

func (a *pkApp) browserOf(user string) *secClient {
	c := a.client()
	c.user = user
	return c
}

func TestPasskeyRegisterAndSignIn(t *testing.T) {
	a := newPKApp(t)
	c := a.browserOf("alice")
	c.mustVerify(secPhone)
	created := a.clock.Now()

	k := testkit.NewPasskey(t, pkRPID, pkOrigin)
	r := c.postJSON("/2fa/passkey/register/begin", []byte(`{"name":"  Work\tlaptop "}`))
	if r.status != http.StatusOK {
		t.Fatalf("register begin: %v", r)
	}
	o := testkit.ReadPasskeyOptions(t, r.body)
	if o.PublicKey.RP.ID != pkRPID || o.PublicKey.AuthenticatorSelection.ResidentKey != "preferred" ||
		o.PublicKey.AuthenticatorSelection.UserVerification != "preferred" || len(o.PublicKey.ExcludeCredentials) != 0 {
		t.Fatalf("creation options: %+v", o.PublicKey)
	}
	if strings.Contains(r.body, "alice") && strings.Contains(o.PublicKey.User.ID, "alice") {
		t.Errorf("the user handle names the subject: %s", o.PublicKey.User.ID)
	}
	if r = c.postJSON("/2fa/passkey/register/finish", k.Create(o)); r.status != http.StatusCreated {
		t.Fatalf("register finish: %v", r)
	}
	if ev := a.lastEvent(); ev.Type != twofactor.EventFactorAdded || ev.Method != twofactor.MethodPasskey || ev.Device != k.IDString() || ev.Subject != "alice" {
		t.Fatalf("event after registration: %+v", ev)
	}

	a.clock.Advance(time.Minute)
	// A second passkey: the first is excluded, so an authenticator that
	// holds it says so rather than making another.
	k2 := testkit.NewPasskey(t, pkRPID, pkOrigin)
	r = c.postJSON("/2fa/passkey/register/begin", []byte(`{}`))
	o2 := testkit.ReadPasskeyOptions(t, r.body)
	if len(o2.PublicKey.ExcludeCredentials) != 1 || o2.PublicKey.ExcludeCredentials[0].ID != k.IDString() {
		t.Fatalf("excludeCredentials: %+v", o2.PublicKey.ExcludeCredentials)
	}
	if r = c.postJSON("/2fa/passkey/register/finish", k2.Create(o2)); r.status != http.StatusCreated || !strings.Contains(r.body, "Unknown browser") {
		t.Fatalf("second passkey, named after the browser: %v", r)
	}
	// The same authenticator again (a client ignoring the exclusion): refused.
	k2again := *k2
	if r = c.register(&k2again, "again"); r.status != http.StatusBadRequest {
		t.Fatalf("the same credential twice: %v", r)
	}

	fs := c.factors()
	if len(fs) != 3 || fs[0].Method != twofactor.MethodPasskey || fs[0].ID != k.IDString() || fs[0].Name != "Work laptop" ||
		!fs[0].Created.Equal(created) || !fs[0].LastUsed.IsZero() || fs[1].Name != "Unknown browser" || fs[2].Method != twofactor.MethodSMS {
		t.Fatalf("factors: %+v", fs)
	}

	// Another browser of alice's signs in with the passkey.
	a.clock.Advance(time.Hour)
	b := a.browserOf("alice")
	if b.verified() {
		t.Fatal("verified before the passkey")
	}
	page := a.browserOf("alice")
	page.json = false
	if p := page.get("/2fa/passkey"); p.status != http.StatusOK || !strings.Contains(p.body, "Use your passkey") ||
		!strings.Contains(p.body, "Text me a code instead") || !strings.Contains(p.body, `src="/2fa/passkey.js"`) {
		t.Fatalf("passkey page: %v", p)
	} else if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Fatalf("the passkey page's script may not call the flow: CSP %q", csp)
	}
	if js := page.get("/2fa/passkey.js"); js.status != http.StatusOK || !strings.Contains(js.header.Get("Content-Type"), "javascript") ||
		!strings.Contains(js.body, "navigator.credentials.get") || !strings.Contains(js.body, "navigator.credentials.create") {
		t.Fatalf("passkey.js: %v", js)
	}
	opts := b.beginPasskey()
	if len(opts.PublicKey.AllowCredentials) != 2 || opts.PublicKey.UserVerification != "preferred" || opts.PublicKey.RPID != pkRPID {
		t.Fatalf("request options: %+v", opts.PublicKey)
	}
	r = b.postJSON("/2fa/passkey/finish", k.Get(opts.PublicKey.Challenge))
	if r.status != http.StatusOK || !strings.Contains(r.body, `"method":"passkey"`) || !strings.Contains(r.body, `"redirect":"/account"`) {
		t.Fatalf("passkey finish: %v", r)
	}
	if !b.verified() {
		t.Fatal("gate closed after the passkey")
	}
	var rec twofactor.Record
	if err := json.Unmarshal([]byte(b.get("/record").body), &rec); err != nil || rec.Method != twofactor.MethodPasskey || rec.Subject != "alice" || rec.Phone != "" {
		t.Fatalf("record: %+v %v", rec, err)
	}
	if fs := b.factors(); !fs[0].LastUsed.Equal(a.clock.Now()) {
		t.Fatalf("last used: %+v", fs[0])
	}
	// The page of a verified visitor sends them on.
	if p := b.get("/2fa/passkey?next=/account"); p.status != http.StatusSeeOther || p.location() != "/account" {
		t.Fatalf("passkey page when verified: %v", p)
	}
	// bob has none: his page is the SMS one, and begin says so.
	bob := a.browserOf("bob")
	bob.json = false // a JSON client is told where it stands on any page
	if p := bob.get("/2fa/passkey"); p.status != http.StatusSeeOther || p.location() != "/2fa/" {
		t.Fatalf("passkey page without a passkey: %v", p)
	}
	bob.json = true
	if r := bob.postJSON("/2fa/passkey/begin", nil); r.status != http.StatusConflict || r.errCode() != "no_passkey" {
		t.Fatalf("begin without a passkey: %v", r)
	}
}

// The backup state (BS) is stored at registration and follows each use;
// the backup eligibility (BE) may never change.
func TestPasskeyBackupFlags(t *testing.T) {
	a := newPKApp(t)
	_, k := a.aliceWithKey(t)
	stored := func() byte {
		fields, _ := a.state.Fields(t.Context(), "passkeys:alice")
		var rec struct {
			Flags byte `json:"flags"`
		}
		v, ok := fields["u:"+k.IDString()] // the record of the last use
		if !ok {
			v = fields[k.IDString()] // as added
		}
		_ = json.Unmarshal([]byte(v), &rec)
		return rec.Flags
	}
	if f := stored(); f&testkit.FlagBE == 0 || f&testkit.FlagBS != 0 {
		t.Fatalf("flags at registration: %#x", f)
	}
	k.Flags |= testkit.FlagBS // synced since
	if r := a.browserOf("alice").passkeySignIn(k); r.status != http.StatusOK {
		t.Fatalf("sign-in: %v", r)
	}
	if f := stored(); f&testkit.FlagBS == 0 {
		t.Fatalf("BS not updated: %#x", f)
	}
	k.Flags &^= testkit.FlagBE | testkit.FlagBS // BE changed: not the same credential
	if r := a.browserOf("alice").passkeySignIn(k); r.status != http.StatusBadRequest || r.errCode() != "passkey_refused" {
		t.Fatalf("BE changed: %v", r)
	}
}

func TestPasskeyAttacks(t *testing.T) {
	t.Run("another user's passkey", func(t *testing.T) {
		a := newPKApp(t)
		_, ka := a.aliceWithKey(t)
		bob := a.browserOf("bob")
		bob.mustVerify("+31687654321")
		kb := testkit.NewPasskey(t, pkRPID, pkOrigin)
		bob.mustRegister(kb, "bob's")

		m := a.browserOf("alice")
		o := m.beginPasskey()
		if len(o.PublicKey.AllowCredentials) != 1 || o.PublicKey.AllowCredentials[0].ID != ka.IDString() {
			t.Fatalf("alice's allowCredentials: %+v", o.PublicKey.AllowCredentials)
		}
		// bob (or whoever holds bob's passkey) answers alice's challenge.
		if r := m.postJSON("/2fa/passkey/finish", kb.Get(o.PublicKey.Challenge)); r.status != http.StatusBadRequest || r.errCode() != "passkey_refused" {
			t.Fatalf("bob's passkey for alice: %v", r)
		}
		// Even with alice's user handle claimed.
		kb.Handle = ka.Handle
		if r := m.postJSON("/2fa/passkey/finish", kb.Get(m.beginPasskey().PublicKey.Challenge)); r.status != http.StatusBadRequest {
			t.Fatalf("bob's passkey with alice's handle: %v", r)
		}
		// And alice's challenge, answered in bob's session, is not bob's.
		o = m.beginPasskey()
		if r := bob.postJSON("/2fa/passkey/finish", ka.Get(o.PublicKey.Challenge)); r.status != http.StatusBadRequest {
			t.Fatalf("alice's challenge in bob's session: %v", r)
		}
		if m.verified() {
			t.Fatal("alice verified by another's passkey")
		}
		if ev := a.lastEvent(); ev.Type != twofactor.EventCheckFailed || ev.Method != twofactor.MethodPasskey {
			t.Fatalf("event: %+v", ev)
		}
	})

	t.Run("a removed passkey", func(t *testing.T) {
		a := newPKApp(t)
		c, k := a.aliceWithKey(t)
		k2 := testkit.NewPasskey(t, pkRPID, pkOrigin)
		c.mustRegister(k2, "phone")
		other := a.browserOf("alice")
		if r := other.passkeySignIn(k); r.status != http.StatusOK {
			t.Fatalf("sign-in before removal: %v", r)
		}
		rm := url.Values{"method": {"passkey"}, "id": {k.IDString()}}
		if r := c.post("/factors/remove", rm); r.status != http.StatusOK {
			t.Fatalf("remove: %v", r)
		}
		if ev := a.lastEvent(); ev.Type != twofactor.EventFactorRemoved || ev.Device != k.IDString() {
			t.Fatalf("event: %+v", ev)
		}
		if other.verified() {
			t.Fatal("a session signed in with the removed passkey survived its removal")
		}
		if !c.verified() {
			t.Fatal("the session that removed it was signed out")
		}
		b := a.browserOf("alice")
		o := b.beginPasskey()
		if len(o.PublicKey.AllowCredentials) != 1 || o.PublicKey.AllowCredentials[0].ID != k2.IDString() {
			t.Fatalf("allowCredentials after removal: %+v", o.PublicKey.AllowCredentials)
		}
		if r := b.postJSON("/2fa/passkey/finish", k.Get(o.PublicKey.Challenge)); r.status != http.StatusBadRequest || r.errCode() != "passkey_refused" {
			t.Fatalf("removed passkey: %v", r)
		}
		if b.verified() {
			t.Fatal("verified by a removed passkey")
		}
		// A challenge begun before the removal can't be answered with it either.
		o = b.beginPasskey()
		if r := c.post("/factors/remove", url.Values{"method": {"passkey"}, "id": {k2.IDString()}}); r.status != http.StatusOK {
			t.Fatalf("remove the second: %v", r)
		}
		if r := b.postJSON("/2fa/passkey/finish", k2.Get(o.PublicKey.Challenge)); r.status != http.StatusBadRequest {
			t.Fatalf("removed during the ceremony: %v", r)
		}
		if fs := c.factors(); len(fs) != 1 || fs[0].Method != twofactor.MethodSMS {
			t.Fatalf("factors left: %+v", fs)
		}
	})

	t.Run("a cloned authenticator's counter", func(t *testing.T) {
		a := newPKApp(t)
		_, k := a.aliceWithKey(t)
		k.Count = 41
		if r := a.browserOf("alice").passkeySignIn(k); r.status != http.StatusOK { // counter 42
			t.Fatalf("sign-in: %v", r)
		}
		b := a.browserOf("alice")
		for _, count := range []uint32{42, 7, 0} { // the same, lower, and a clone that counts nothing
			if r := b.postJSON("/2fa/passkey/finish", k.GetWith(b.beginPasskey().PublicKey.Challenge, count, k.Flags)); r.status != http.StatusBadRequest || r.errCode() != "passkey_refused" {
				t.Fatalf("counter %d after 42: %v", count, r)
			}
		}
		if b.verified() {
			t.Fatal("verified by a clone")
		}
		if !strings.Contains(a.logs.String(), "may be cloned") {
			t.Errorf("no clone warning logged:\n%s", a.logs)
		}
		if r := b.passkeySignIn(k); r.status != http.StatusOK { // 43: the real one goes on
			t.Fatalf("the authenticator after the clone's tries: %v", r)
		}
	})

	t.Run("a replayed assertion", func(t *testing.T) {
		a := newPKApp(t)
		_, k := a.aliceWithKey(t)
		b := a.browserOf("alice")
		answer := k.Get(b.beginPasskey().PublicKey.Challenge)
		if r := b.postJSON("/2fa/passkey/finish", answer); r.status != http.StatusOK {
			t.Fatalf("first use: %v", r)
		}
		for _, c := range []*secClient{b, a.browserOf("alice")} {
			if r := c.postJSON("/2fa/passkey/finish", answer); r.status != http.StatusBadRequest || r.errCode() != "passkey_challenge_used" {
				t.Fatalf("replay: %v", r)
			}
		}
		// Parallel: of twenty answers with one challenge, one gets through.
		c := a.browserOf("alice")
		answer = k.Get(c.beginPasskey().PublicKey.Challenge)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range 20 {
			wg.Go(func() {
				if r := c.postJSON("/2fa/passkey/finish", answer); r.status == http.StatusOK {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("%d of 20 parallel replays got through, want 1", ok)
		}
		// A challenge expires.
		d := a.browserOf("alice")
		o := d.beginPasskey()
		a.clock.Advance(6 * time.Minute)
		if r := d.postJSON("/2fa/passkey/finish", k.Get(o.PublicKey.Challenge)); r.status != http.StatusBadRequest || r.errCode() != "passkey_challenge_used" {
			t.Fatalf("expired challenge: %v", r)
		}
		// A challenge made up by the client is no challenge.
		if r := d.postJSON("/2fa/passkey/finish", k.Get(testkit.B64.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))); r.status != http.StatusBadRequest {
			t.Fatalf("made-up challenge: %v", r)
		}
	})

	t.Run("registration without step-up", func(t *testing.T) {
		a := newPKApp(t, twofactor.WithLimits(func(l *twofactor.Limits) { l.Phone = twofactor.Limit{N: 20, Per: time.Hour} }))
		c := a.browserOf("alice")
		k := testkit.NewPasskey(t, pkRPID, pkOrigin)
		if r := c.register(k, "x"); r.status != http.StatusUnauthorized || r.errCode() != "verification_required" {
			t.Fatalf("not verified: %v", r)
		}
		c.mustVerify(secPhone)
		a.clock.Advance(11 * time.Minute)
		if r := c.register(k, "x"); r.status != http.StatusUnauthorized || r.errCode() != "step_up_required" {
			t.Fatalf("stale: %v", r)
		}
		// Begun fresh, finished stale: refused.
		c.mustVerify(secPhone)
		r := c.postJSON("/2fa/passkey/register/begin", []byte(`{}`))
		o := testkit.ReadPasskeyOptions(t, r.body)
		a.clock.Advance(10 * time.Minute)
		if r = c.postJSON("/2fa/passkey/register/finish", k.Create(o)); r.status != http.StatusUnauthorized {
			t.Fatalf("finished after the step-up aged: %v", r)
		}
		// Begun, then signed out everywhere: refused.
		c.mustVerify(secPhone)
		o = testkit.ReadPasskeyOptions(t, c.postJSON("/2fa/passkey/register/begin", []byte(`{}`)).body)
		other := a.browserOf("alice")
		other.mustVerify(secPhone)
		if err := a.m.SignOutEverywhere(t.Context(), "alice"); err != nil {
			t.Fatal(err)
		}
		if r = c.postJSON("/2fa/passkey/register/finish", k.Create(o)); r.status/100 != 4 {
			t.Fatalf("finished after sign out everywhere: %v", r)
		}
		// Another browser of the same user can't finish it.
		c.mustVerify(secPhone)
		o = testkit.ReadPasskeyOptions(t, c.postJSON("/2fa/passkey/register/begin", []byte(`{}`)).body)
		other.mustVerify(secPhone)
		if r = other.postJSON("/2fa/passkey/register/finish", k.Create(o)); r.status != http.StatusBadRequest || r.errCode() != "passkey_challenge_used" {
			t.Fatalf("finished in another browser: %v", r)
		}
		if fs := c.factors(); len(fs) != 1 {
			t.Fatalf("a passkey was added: %+v", fs)
		}
	})

	t.Run("origin or RP ID mismatch", func(t *testing.T) {
		a := newPKApp(t)
		c, k := a.aliceWithKey(t)
		for _, bad := range []*testkit.Passkey{testkit.NewPasskey(t, pkRPID, "https://evil.example"), testkit.NewPasskey(t, "evil.example", pkOrigin), testkit.NewPasskey(t, pkRPID, "http://bank.example")} {
			if r := c.register(bad, "phish"); r.status != http.StatusBadRequest || r.errCode() != "passkey_refused" {
				t.Fatalf("register from %s for %s: %v", bad.Origin, bad.RPID, r)
			}
		}
		b := a.browserOf("alice")
		for _, bad := range []struct{ origin, rpID string }{{"https://evil.example", pkRPID}, {pkOrigin, "evil.example"}} {
			phished := *k
			phished.Origin, phished.RPID = bad.origin, bad.rpID
			if r := b.postJSON("/2fa/passkey/finish", phished.Get(b.beginPasskey().PublicKey.Challenge)); r.status != http.StatusBadRequest || r.errCode() != "passkey_refused" {
				t.Fatalf("sign-in from %s for %s: %v", bad.origin, bad.rpID, r)
			}
		}
		if b.verified() {
			t.Fatal("verified from another origin")
		}
		if fs := c.factors(); len(fs) != 2 {
			t.Fatalf("factors: %+v", fs)
		}
	})

	t.Run("guessing past the limit", func(t *testing.T) {
		a := newPKApp(t, twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: 3, Per: time.Hour} }))
		_, k := a.aliceWithKey(t)
		b := a.browserOf("alice")
		wrong := testkit.NewPasskey(t, pkRPID, pkOrigin)
		wrong.ID = k.ID // a forged signature for alice's credential
		for i := range 3 {
			if r := b.postJSON("/2fa/passkey/finish", wrong.Get(b.beginPasskey().PublicKey.Challenge)); r.status != http.StatusBadRequest {
				t.Fatalf("forgery %d: %v", i, r)
			}
		}
		if r := b.postJSON("/2fa/passkey/begin", nil); r.status != http.StatusTooManyRequests || r.errCode() != "locked" {
			t.Fatalf("begin when locked: %v", r)
		}
		// SMS is locked with it: one limit per account.
		if r := b.send(secPhone); r.status != http.StatusTooManyRequests || r.errCode() != "locked" {
			t.Fatalf("SMS when locked: %v", r)
		}
		if err := a.m.Unlock(t.Context(), "alice", ""); err != nil {
			t.Fatal(err)
		}
		if r := b.passkeySignIn(k); r.status != http.StatusOK {
			t.Fatalf("after Unlock: %v", r)
		}
	})

	t.Run("bad bodies", func(t *testing.T) {
		a := newPKApp(t)
		_, k := a.aliceWithKey(t)
		b := a.browserOf("alice")
		b.beginPasskey()
		for _, body := range []string{"", "{", `{"id":"x"}`, "\xff\xfe", strings.Repeat("a", 40<<10)} {
			if r := b.postJSON("/2fa/passkey/finish", []byte(body)); r.status/100 != 4 {
				t.Fatalf("finish with %.20q: %v", body, r)
			}
		}
		if r := b.do(http.MethodPost, "/2fa/passkey/finish", strings.NewReader(string(k.Get("x"))), "text/plain"); r.status != http.StatusUnsupportedMediaType {
			t.Fatalf("text/plain: %v", r)
		}
		if r := b.do(http.MethodGet, "/2fa/passkey/finish", nil, ""); r.status != http.StatusMethodNotAllowed {
			t.Fatalf("GET finish: %v", r)
		}
		// A cross-site POST is refused before anything else.
		x := *b
		x.hdr = http.Header{"Sec-Fetch-Site": {"cross-site"}}
		if r := x.postJSON("/2fa/passkey/begin", nil); r.status != http.StatusForbidden {
			t.Fatalf("cross-site begin: %v", r)
		}
		// No signed-in user: nothing to sign in to.
		anon := a.client()
		if r := anon.postJSON("/2fa/passkey/begin", nil); r.status != http.StatusUnauthorized {
			t.Fatalf("begin with no user: %v", r)
		}
	})
}

// The last factor can't go: a user with a passkey and no number keeps it.
func TestPasskeyLastFactor(t *testing.T) {
	a := newPKApp(t)
	c, k := a.aliceWithKey(t)
	a.mu.Lock()
	a.numbers["alice"] = ""
	a.mu.Unlock()
	if r := c.post("/factors/remove", url.Values{"method": {"passkey"}, "id": {k.IDString()}}); r.status != http.StatusConflict {
		t.Fatalf("removing the last factor: %v", r)
	}
	if r := c.post("/factors/remove", url.Values{"method": {"passkey"}, "id": {"nope"}}); r.status != http.StatusBadRequest {
		t.Fatalf("removing an unknown passkey: %v", r)
	}
}

func TestWithPasskeysConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []twofactor.Option
		want string
	}{
		{"no RPID", []twofactor.Option{twofactor.WithSubject(secSubject), twofactor.WithPasskeys(twofactor.PasskeyConfig{Origins: []string{pkOrigin}})}, "RPID"},
		{"no origins", []twofactor.Option{twofactor.WithSubject(secSubject), twofactor.WithPasskeys(twofactor.PasskeyConfig{RPID: pkRPID})}, "Origins"},
		{"an IP address", []twofactor.Option{twofactor.WithSubject(secSubject), twofactor.WithPasskeys(twofactor.PasskeyConfig{RPID: "127.0.0.1", Origins: []string{pkOrigin}})}, "RPID"},
		{"no subject", []twofactor.Option{twofactor.WithPasskeys(twofactor.PasskeyConfig{RPID: pkRPID, Origins: []string{pkOrigin}})}, "WithSubject"},
		{"own store, no secret", []twofactor.Option{twofactor.WithSubject(secSubject), twofactor.WithPasskeys(twofactor.PasskeyConfig{RPID: pkRPID, Origins: []string{pkOrigin}, Store: newMemPasskeys()})}, "WithSecret"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := twofactor.New(&twofactor.Mock{}, nil, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// memPasskeys is a PasskeyStore of the app's own: a map, as a table.
type memPasskeys struct {
	mu   *sync.Mutex
	rows map[string]map[string][]byte
}

func newMemPasskeys() memPasskeys {
	return memPasskeys{mu: &sync.Mutex{}, rows: map[string]map[string][]byte{}}
}

func (s memPasskeys) Passkeys(_ context.Context, subject string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.rows[subject]), nil
}

func (s memPasskeys) UpdatePasskey(_ context.Context, subject, id string, record []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rows[subject][id]; !ok {
		return false, nil
	}
	s.rows[subject][id] = record
	return true, nil
}

func (s memPasskeys) AddPasskey(_ context.Context, subject, id string, record []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rows[subject] == nil {
		s.rows[subject] = map[string][]byte{}
	}
	s.rows[subject][id] = record
	return nil
}

func (s memPasskeys) DeletePasskey(_ context.Context, subject, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, had := s.rows[subject][id]
	delete(s.rows[subject], id)
	return had, nil
}

// removedInUse is a PasskeyStore where the passkey is removed (by the
// user, in another tab) just as a sign-in with it is being completed.
type removedInUse struct{ memPasskeys }

func (s removedInUse) UpdatePasskey(ctx context.Context, subject, id string, record []byte) (bool, error) {
	_, _ = s.DeletePasskey(ctx, subject, id)
	return s.memPasskeys.UpdatePasskey(ctx, subject, id, record)
}

// A passkey removed while a sign-in or a confirmation with it completes
// stays removed, and that use is refused.
func TestPasskeyRemovedWhileInUse(t *testing.T) {
	store := newMemPasskeys()
	a := newPKApp(t, twofactor.WithPasskeys(twofactor.PasskeyConfig{RPID: pkRPID, Origins: []string{pkOrigin}, Store: removedInUse{store}}))
	c, k := a.aliceWithKey(t)
	conf := c.startTransfer("1.00", "NL91ABNA0417164300")
	if r := c.confirmTransfer(conf.ID, k.Get(c.confirmOptions(conf.ID).PublicKey.Challenge)); r.status != http.StatusBadRequest || r.errCode() != "invalid_code" {
		t.Fatalf("confirmation: %v", r)
	}
	k2 := testkit.NewPasskey(t, pkRPID, pkOrigin)
	c.mustRegister(k2, "second")
	b := a.browserOf("alice")
	if r := b.passkeySignIn(k2); r.status != http.StatusBadRequest || r.errCode() != "passkey_refused" {
		t.Fatalf("sign-in: %v", r)
	}
	if b.verified() || len(store.rows["alice"]) != 0 {
		t.Fatalf("verified, or a removed passkey came back: %v", store.rows["alice"])
	}
}

// An app's own PasskeyStore gets the records, and the ceremonies work the
// same through it.
func TestPasskeyOwnStore(t *testing.T) {
	store := newMemPasskeys()
	a := newPKApp(t, twofactor.WithPasskeys(twofactor.PasskeyConfig{RPID: pkRPID, Origins: []string{pkOrigin}, Store: store}))
	_, k := a.aliceWithKey(t)
	if rec := store.rows["alice"][k.IDString()]; !bytes.Contains(rec, []byte(`"name":"Work laptop"`)) {
		t.Fatalf("record in the app's store: %s", rec)
	}
	if fields, _ := a.state.Fields(t.Context(), "passkeys:alice"); len(fields) != 0 {
		t.Fatalf("passkeys in the State too: %v", fields)
	}
	if r := a.browserOf("alice").passkeySignIn(k); r.status != http.StatusOK {
		t.Fatalf("sign-in: %v", r)
	}
}

// The passkey page works as far as it can without JavaScript: the button
// waits hidden for the script, the page says a passkey needs it, and the
// other ways to verify are plain links and forms. In Dutch too.
func TestPasskeyPageWithoutScript(t *testing.T) {
	a := newPKApp(t)
	a.aliceWithKey(t)
	for _, tt := range []struct{ lang, title, sms, nojs string }{
		{"en", "Use your passkey", "Text me a code instead", "Passkeys need JavaScript"},
		{"nl", "Gebruik uw passkey", "Stuur mij liever een code per sms", "Passkeys hebben JavaScript nodig"},
	} {
		b := a.browserOf("alice")
		b.json = false
		b.hdr.Set("Accept-Language", tt.lang)
		r := b.get("/2fa/passkey?next=/account")
		if r.status != http.StatusOK || !strings.Contains(r.body, tt.title) || !strings.Contains(r.body, tt.nojs) ||
			!strings.Contains(r.body, `id="tf-passkey" hidden`) || !strings.Contains(r.body, `use=sms`) ||
			!strings.Contains(r.body, tt.sms) || !strings.Contains(r.body, `action="/2fa/recover"`) || strings.Contains(r.body, "<script>") {
			t.Fatalf("%s page: %v", tt.lang, r)
		}
		// "Text me a code instead" sends a code to the number on file and
		// keeps where the visitor was going.
		before := a.mock.Sends()
		if s := b.post("/2fa/send", nil); s.status != http.StatusSeeOther || a.mock.Sends() != before+1 {
			t.Fatalf("%s: text me a code: %v", tt.lang, s)
		}
		if c := b.check(a.code(secPhone)); c.status != http.StatusSeeOther || c.location() != "/account" {
			t.Fatalf("%s: code after the passkey page: %v", tt.lang, c)
		}
	}
}

// blockedRemoval is a PasskeyStore where the first removal stops just
// before it deletes: entered is closed, then it waits for released. It
// stands for a slow database, or for two tabs pressing Remove at once.
type blockedRemoval struct {
	memPasskeys
	started  *atomic.Bool
	entered  chan struct{}
	released chan struct{}
}

func (s blockedRemoval) DeletePasskey(ctx context.Context, subject, id string) (bool, error) {
	if s.started.CompareAndSwap(false, true) {
		close(s.entered)
		<-s.released
	}
	return s.memPasskeys.DeletePasskey(ctx, subject, id)
}

// Attack: a user with two passkeys and no number removes both at the same
// moment (two tabs, or an attacker in a fresh session racing the user).
// Each removal saw two factors, so each thought it was not the last, and
// the user was left with no second factor at all: the next sign-in
// enrolled whatever number was typed. Removals of one user's factors take
// turns: one removes, the other is refused as the last factor.
func TestAttack_ParallelRemovalsLeaveNoFactor(t *testing.T) {
	store := blockedRemoval{memPasskeys: newMemPasskeys(), started: &atomic.Bool{}, entered: make(chan struct{}), released: make(chan struct{})}
	a := newPKApp(t, twofactor.WithPasskeys(twofactor.PasskeyConfig{RPID: pkRPID, Origins: []string{pkOrigin}, Store: store}))
	c, k1 := a.aliceWithKey(t)
	k2 := testkit.NewPasskey(t, pkRPID, pkOrigin)
	c.mustRegister(k2, "Phone")
	other := a.browserOf("alice")
	other.mustVerify(secPhone)
	a.mu.Lock()
	a.numbers["alice"] = ""
	a.mu.Unlock()
	first := make(chan secResp, 1)
	go func() { first <- c.post("/factors/remove", url.Values{"method": {"passkey"}, "id": {k1.IDString()}}) }()
	<-store.entered
	second := other.post("/factors/remove", url.Values{"method": {"passkey"}, "id": {k2.IDString()}})
	close(store.released)
	r1 := <-first
	store.mu.Lock()
	left := len(store.rows["alice"])
	store.mu.Unlock()
	if left == 0 {
		t.Fatalf("both removals went through, the user has no factor left: %v; %v", r1, second)
	}
	if r1.status != http.StatusOK || second.status != http.StatusConflict {
		t.Fatalf("the first removal should remove, the parallel one be refused as the last factor: %v; %v", r1, second)
	}
}

// Attack: a passkey's answer to a challenge of one purpose used for
// another: a sign-in's for a transfer, a transfer's for a sign-in, a
// registration's for a sign-in, a sign-in's for a registration. Each
// challenge is kept for its one purpose, so each is refused.
func TestAttack_PasskeyChallengeOfAnotherPurpose(t *testing.T) {
	a := newPKApp(t)
	c, k := a.aliceWithKey(t)
	b := a.browserOf("alice")
	signIn := b.beginPasskey()
	conf := c.startTransfer("5.00", "NL91ABNA0417164300")
	if r := c.confirmTransfer(conf.ID, k.Get(signIn.PublicKey.Challenge)); r.status != http.StatusBadRequest || r.errCode() != "invalid_code" {
		t.Errorf("a sign-in's answer confirmed a transfer: %v", r)
	}
	transfer := c.confirmOptions(conf.ID)
	if r := b.postJSON("/2fa/passkey/finish", k.Get(transfer.PublicKey.Challenge)); r.status != http.StatusBadRequest || r.errCode() != "passkey_challenge_used" {
		t.Errorf("a transfer's answer signed in: %v", r)
	}
	rb := c.postJSON("/2fa/passkey/register/begin", []byte(`{}`))
	if rb.status != http.StatusOK {
		t.Fatalf("register begin: %v", rb)
	}
	reg := testkit.ReadPasskeyOptions(t, rb.body)
	if r := c.postJSON("/2fa/passkey/finish", k.Get(reg.PublicKey.Challenge)); r.status != http.StatusBadRequest || r.errCode() != "passkey_challenge_used" {
		t.Errorf("a registration's challenge signed in: %v", r)
	}
	own := c.beginPasskey()
	own.PublicKey.User = reg.PublicKey.User
	if r := c.postJSON("/2fa/passkey/register/finish", testkit.NewPasskey(t, pkRPID, pkOrigin).Create(own)); r.status != http.StatusBadRequest || r.errCode() != "passkey_challenge_used" {
		t.Errorf("a sign-in's challenge registered a passkey: %v", r)
	}
	if b.verified() || len(c.factors()) != 2 {
		t.Errorf("verified %v, factors %+v", b.verified(), c.factors())
	}
}
