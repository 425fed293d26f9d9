package twofactor_test

// Authenticator apps (WithTOTP), attacked as an attacker would, through
// real HTTP: codes computed here from the secret the enrolment showed, at
// the test's clock; a replayed code in another browser, codes one and two
// steps off, guesses past the limit, a removed app, a secret looked for in
// the State, a sealed record moved to another user.

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/go-twofactor/twofactor"
)

// totpEnv is an app with authenticator apps on: alice and bob have numbers
// on file (known-number mode); the app's settings are routes of the test.
type totpEnv struct {
	*secEnv
	mu      sync.Mutex
	numbers map[string]string
}

// totpSetupBody is what GET /settings/totp answers: the TOTPSetup.
type totpSetupBody struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
	QR     []byte `json:"qr"`
}

func newTOTPEnv(t *testing.T, opts ...twofactor.Option) *totpEnv {
	t.Helper()
	return newTOTPEnvState(t, nil, opts...)
}

// newTOTPEnvState is newTOTPEnv with the State wrapped by wrap.
func newTOTPEnvState(t *testing.T, wrap func(*twofactor.MemoryState) twofactor.State, opts ...twofactor.Option) *totpEnv {
	t.Helper()
	e := &totpEnv{numbers: map[string]string{"alice": secPhone, "bob": "+31687654321"}}
	all := append([]twofactor.Option{
		twofactor.WithPhoneLookup(func(r *http.Request) (string, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.numbers[secSubject(r)], nil
		}),
		twofactor.WithEnrolment(func(r *http.Request, phone string) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.numbers[secSubject(r)] = phone
			return nil
		}),
	}, opts...)
	return e.start(t, wrap, all)
}

// start starts e's app with opts, authenticator apps and recovery codes.
func (e *totpEnv) start(t *testing.T, wrap func(*twofactor.MemoryState) twofactor.State, opts []twofactor.Option) *totpEnv {
	t.Helper()
	all := append([]twofactor.Option{twofactor.WithTOTP(nil), twofactor.WithRecoveryCodes(nil)}, opts...)
	e.secEnv = secNew(t, secSetup{subject: true, opts: all, state: wrap, routes: func(mux *http.ServeMux, m *twofactor.Manager) {
		fresh := m.RequireFresh(5 * time.Minute)
		mux.Handle("GET /settings/totp", fresh(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, err := m.StartTOTP(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			_ = json.NewEncoder(w).Encode(totpSetupBody{URL: s.URL, Secret: s.Secret, QR: s.QR})
		})))
		mux.Handle("POST /settings/totp", fresh(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeErr(w, m.AddTOTP(r, r.PostFormValue("code")))
		})))
		// Not behind RequireFresh: the library's own check must hold.
		mux.Handle("POST /settings/totp-stale", m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeErr(w, m.AddTOTP(r, r.PostFormValue("code")))
		})))
		mux.Handle("GET /settings/totp-stale", m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := m.StartTOTP(r)
			writeErr(w, err)
		})))
		mux.Handle("GET /factors", m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fs, err := m.Factors(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			_ = json.NewEncoder(w).Encode(fs)
		})))
		remove := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeErr(w, m.RemoveFactor(r, twofactor.Factor{Method: twofactor.Method(r.PostFormValue("method")), ID: r.PostFormValue("id")}))
		})
		mux.Handle("POST /factors/remove", fresh(remove))
		mux.Handle("POST /factors/remove-stale", m.Require(remove))
		mux.Handle("/record", m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec, _ := twofactor.RecordFrom(r)
			_ = json.NewEncoder(w).Encode(rec)
		})))
		mux.Handle("/fresh", fresh(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("fresh"))
		})))
	}})
	return e
}

// writeErr answers err as the test's settings routes do: 204 for none,
// else a status that names it.
func writeErr(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, twofactor.ErrInvalidCode):
		http.Error(w, "invalid", http.StatusBadRequest)
	case errors.Is(err, twofactor.ErrExpired):
		http.Error(w, "expired", http.StatusGone)
	case errors.Is(err, twofactor.ErrLastFactor):
		http.Error(w, "last", http.StatusConflict)
	case errors.Is(err, twofactor.ErrStepUpRequired):
		http.Error(w, "stepup", http.StatusForbidden)
	case errors.Is(err, twofactor.ErrNotFound):
		http.Error(w, "notfound", http.StatusNotFound)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// as returns a new browser of user that asks for JSON.
func (e *totpEnv) as(user string) *secClient {
	c := e.client()
	c.user = user
	return c
}

// smsSignIn verifies c by a code sent to the number on file.
func (e *totpEnv) smsSignIn(c *secClient) {
	e.t.Helper()
	j := c.json
	c.json = true
	defer func() { c.json = j }()
	before := e.mock.Sends()
	if r := c.post("/2fa/send", nil); r.status != http.StatusOK || e.mock.Sends() != before+1 {
		e.t.Fatalf("send: %v", r)
	}
	e.mu.Lock()
	phone := e.numbers[c.user]
	e.mu.Unlock()
	if r := c.check(e.code(phone)); r.status != http.StatusOK {
		e.t.Fatalf("check: %v", r)
	}
}

// totpCode is the code of secret at t, as the user's app shows it.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// enrol adds an authenticator app for c's user, who is verified and
// fresh, and returns its secret. The clock then moves on to the next
// step, so the confirming code (spent) is behind.
func (e *totpEnv) enrol(c *secClient) string {
	e.t.Helper()
	r := c.get("/settings/totp")
	var s totpSetupBody
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &s) != nil || s.Secret == "" {
		e.t.Fatalf("GET /settings/totp: %v", r)
	}
	if r := c.post("/settings/totp", url.Values{"code": {totpCode(e.t, s.Secret, e.clock.Now())}}); r.status != http.StatusNoContent {
		e.t.Fatalf("POST /settings/totp: %v", r)
	}
	e.clock.Advance(30 * time.Second)
	return s.Secret
}

// enrolled returns an env in which alice has an authenticator app, and
// its secret.
func enrolled(t *testing.T, opts ...twofactor.Option) (*totpEnv, string) {
	t.Helper()
	e := newTOTPEnv(t, opts...)
	c := e.as("alice")
	e.smsSignIn(c)
	return e, e.enrol(c)
}

// totpPost posts a code to the flow's authenticator-app page.
func (c *secClient) totp(code string) secResp {
	return c.post("/2fa/totp", url.Values{"code": {code}})
}

func TestTOTPSetupIsAProperKey(t *testing.T) {
	e := newTOTPEnv(t, twofactor.WithBranding(twofactor.Branding{Name: "BirdBank"}))
	c := e.as("alice")
	e.smsSignIn(c)
	r := c.get("/settings/totp")
	var s totpSetupBody
	if err := json.Unmarshal([]byte(r.body), &s); err != nil {
		t.Fatalf("%v: %v", r, err)
	}
	key, err := otp.NewKeyFromURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s.Secret)
	switch {
	case err != nil || len(raw) != 20:
		t.Errorf("secret %q: %d bytes, %v; want 160 bits", s.Secret, len(raw), err)
	case key.Type() != "totp" || key.Issuer() != "BirdBank" || key.AccountName() != "alice" || key.Secret() != s.Secret:
		t.Errorf("URL %s: type %s, issuer %q, account %q", s.URL, key.Type(), key.Issuer(), key.AccountName())
	case key.Period() != 30 || key.Digits() != otp.DigitsSix || key.Algorithm() != otp.AlgorithmSHA1:
		t.Errorf("URL %s: not the common 30 s, 6 digits, SHA-1", s.URL)
	case !strings.HasPrefix(string(s.QR), "\x89PNG\r\n\x1a\n"):
		t.Errorf("QR is not a PNG: % x", s.QR[:min(8, len(s.QR))])
	}
	// A reload shows the same secret: the user may have scanned it.
	r = c.get("/settings/totp")
	var again totpSetupBody
	_ = json.Unmarshal([]byte(r.body), &again)
	if again.Secret != s.Secret {
		t.Errorf("a second StartTOTP made a new secret")
	}
	// Ten minutes on, a new one (after a step-up: settings want fresh).
	e.clock.Advance(10*time.Minute + time.Second)
	e.smsSignIn(c)
	r = c.get("/settings/totp")
	_ = json.Unmarshal([]byte(r.body), &again)
	if again.Secret == s.Secret || again.Secret == "" {
		t.Errorf("after 10 minutes: secret %q, want a new one", again.Secret)
	}
	// The old one's code no longer adds it.
	if r := c.post("/settings/totp", url.Values{"code": {totpCode(t, s.Secret, e.clock.Now())}}); r.status != http.StatusBadRequest {
		t.Errorf("a code of the timed-out secret: %v", r)
	}
}

func TestTOTPEnrolment(t *testing.T) {
	e := newTOTPEnv(t)
	c := e.as("alice")
	// Not verified: the gate refuses before the library is asked.
	if r := c.get("/settings/totp"); r.status != http.StatusUnauthorized {
		t.Fatalf("unverified: %v", r)
	}
	e.smsSignIn(c)
	r := c.get("/settings/totp")
	var s totpSetupBody
	_ = json.Unmarshal([]byte(r.body), &s)
	now := e.clock.Now()
	if r := c.post("/settings/totp", url.Values{"code": {secWrong(totpCode(t, s.Secret, now))}}); r.status != http.StatusBadRequest {
		t.Fatalf("a wrong first code: %v", r)
	}
	if r := c.get("/factors"); strings.Contains(r.body, `"totp"`) {
		t.Fatalf("factors after a wrong first code: %s", r.body)
	}
	// Stale (11 minutes on) and not behind RequireFresh: the library refuses.
	e.clock.Advance(11 * time.Minute)
	if r := c.post("/settings/totp-stale", url.Values{"code": {totpCode(t, s.Secret, e.clock.Now())}}); r.status != http.StatusForbidden {
		t.Fatalf("AddTOTP on a stale session: %v", r)
	}
	if r := c.get("/settings/totp-stale"); r.status != http.StatusForbidden {
		t.Fatalf("StartTOTP on a stale session: %v", r)
	}
	e.smsSignIn(c)
	r = c.get("/settings/totp")
	_ = json.Unmarshal([]byte(r.body), &s)
	// Sign out everywhere between start and finish: the setup is dead.
	if err := e.m.SignOutEverywhere(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	e.smsSignIn(c)
	if r := c.post("/settings/totp", url.Values{"code": {totpCode(t, s.Secret, e.clock.Now())}}); r.status != http.StatusGone {
		t.Fatalf("a setup started before sign out everywhere: %v", r)
	}
	secret := e.enrol(c)
	if e.lastEvent().Type != twofactor.EventFactorAdded || e.lastEvent().Method != twofactor.MethodTOTP {
		t.Errorf("last event %+v, want factor_added totp", e.lastEvent())
	}
	r = c.get("/factors")
	var fs []twofactor.Factor
	_ = json.Unmarshal([]byte(r.body), &fs)
	if len(fs) != 2 || fs[0].Method != twofactor.MethodTOTP || fs[0].ID == "" || !fs[0].Created.Equal(e.clock.Now().Add(-30*time.Second).Truncate(time.Second)) || fs[1].Method != twofactor.MethodSMS {
		t.Fatalf("factors: %+v", fs)
	}
	// The confirming code signs nobody in.
	other := e.as("alice")
	if r := other.totp(totpCode(t, secret, e.clock.Now().Add(-30*time.Second))); r.errCode() != "code_used" {
		t.Fatalf("the code that confirmed the app, at sign-in: %v", r)
	}
}

func TestTOTPSignInOffersTheAppFirst(t *testing.T) {
	e, secret := enrolled(t)
	b := e.as("alice")
	b.json = false
	r := b.get("/account")
	if r.status != http.StatusSeeOther || r.location() != "/2fa/?next=%2Faccount" {
		t.Fatalf("gate: %v", r)
	}
	r = b.get(r.location())
	if r.status != http.StatusSeeOther || r.location() != "/2fa/totp?next=%2Faccount" {
		t.Fatalf("GET /2fa/ for a user with an app: %v", r)
	}
	r = b.get(r.location())
	for _, want := range []string{`autocomplete="one-time-code"`, `inputmode="numeric"`, `name="code"`, "authenticator app", `action="/2fa/totp"`,
		`href="/2fa/?next=%2Faccount&amp;use=sms"`, "Text me a code instead", `action="/2fa/recover"`} {
		if r.status != http.StatusOK || !strings.Contains(r.body, want) {
			t.Fatalf("authenticator-app page lacks %q: %v", want, r)
		}
	}
	if strings.Contains(r.body, "<script>") || strings.Contains(r.body, "onclick") {
		t.Errorf("the page has inline script")
	}
	r = b.totp(totpCode(t, secret, e.clock.Now()))
	if r.status != http.StatusSeeOther || r.location() != "/account" {
		t.Fatalf("a right code: %v", r)
	}
	rec, _ := b.getRecord()
	if rec.Method != twofactor.MethodTOTP || rec.Subject != "alice" || rec.Phone != "" {
		t.Fatalf("record %+v", rec)
	}
	if r := b.get("/fresh"); r.status != http.StatusOK {
		t.Fatalf("RequireFresh after an authenticator app: %v", r)
	}
	// "Text me a code instead" leads to the SMS page, which links back.
	c := e.as("alice")
	c.json = false
	r = c.get("/2fa/?next=%2Faccount&use=sms")
	if r.status != http.StatusOK || !strings.Contains(r.body, `action="/2fa/send"`) || !strings.Contains(r.body, `href="/2fa/totp?next=%2Faccount"`) || !strings.Contains(r.body, "Use your authenticator app instead") {
		t.Fatalf("?use=sms: %v", r)
	}
	if r := c.post("/2fa/send", nil); r.status != http.StatusSeeOther {
		t.Fatalf("send: %v", r)
	}
	// A code on its way keeps the code page, with the app beside it.
	if r := c.get("/2fa/"); r.status != http.StatusOK || !strings.Contains(r.body, `action="/2fa/check"`) || !strings.Contains(r.body, "Use your authenticator app instead") {
		t.Fatalf("GET /2fa/ awaiting a code: %v", r)
	}
	if r := c.check(e.code(secPhone)); r.status != http.StatusSeeOther || r.location() != "/account" {
		t.Fatalf("the SMS code: %v", r)
	}
	// In Dutch.
	d := e.as("alice")
	d.json = false
	d.hdr.Set("Accept-Language", "nl")
	if r := d.get("/2fa/totp"); !strings.Contains(r.body, "authenticator-app") || !strings.Contains(r.body, "Stuur mij liever een code per sms") || !strings.Contains(r.body, `lang="nl"`) {
		t.Fatalf("nl: %v", r)
	}
}

// getRecord reads the session's Record from the test's /record route.
func (c *secClient) getRecord() (twofactor.Record, secResp) {
	j := c.json
	c.json = true
	defer func() { c.json = j }()
	r := c.get("/record")
	var rec twofactor.Record
	_ = json.Unmarshal([]byte(r.body), &rec)
	return rec, r
}

func TestTOTPJSON(t *testing.T) {
	e, secret := enrolled(t)
	c := e.as("alice")
	// The status says which factors the user has, strongest first.
	if r := c.get("/2fa/status"); !strings.Contains(r.body, `"factors":["totp","sms"]`) {
		t.Fatalf("status: %v", r)
	}
	if r := e.as("bob").get("/2fa/status"); r.status != http.StatusOK || strings.Contains(r.body, "factors") {
		t.Fatalf("status of a user without an app: %v", r)
	}
	body := `{"code":"` + secWrong(totpCode(t, secret, e.clock.Now())) + `"}`
	r := c.do(http.MethodPost, "/2fa/totp", strings.NewReader(body), "application/json")
	if r.status != http.StatusBadRequest || r.errCode() != "invalid_code" {
		t.Fatalf("wrong code: %v", r)
	}
	if r := c.do(http.MethodPost, "/2fa/totp", strings.NewReader(`{"code":"12ab56"}`), "application/json"); r.errCode() != "malformed_code" {
		t.Fatalf("malformed code: %v", r)
	}
	r = c.do(http.MethodPost, "/2fa/totp", strings.NewReader(`{"code":"`+totpCode(t, secret, e.clock.Now())+`","next":"/account"}`), "application/json")
	var v struct{ Status, Redirect, Method string }
	if err := json.Unmarshal([]byte(r.body), &v); err != nil || r.status != http.StatusOK || v.Status != "verified" || v.Method != "totp" || v.Redirect != "/account" {
		t.Fatalf("right code: %v", r)
	}
	// The status says how.
	if r := c.get("/2fa/status"); r.status != http.StatusOK || !strings.Contains(r.body, `"method":"totp"`) {
		t.Fatalf("status: %v", r)
	}
}

func TestTOTPDrift(t *testing.T) {
	for _, tc := range []struct {
		off  time.Duration
		want int
	}{
		{-30 * time.Second, http.StatusSeeOther},
		{0, http.StatusSeeOther},
		{30 * time.Second, http.StatusSeeOther},
		{-60 * time.Second, http.StatusBadRequest},
		{60 * time.Second, http.StatusBadRequest},
	} {
		t.Run(tc.off.String(), func(t *testing.T) {
			e, secret := enrolled(t)
			e.clock.Advance(5 * time.Minute) // far from the confirming code's steps
			b := e.as("alice")
			b.json = false
			r := b.totp(totpCode(t, secret, e.clock.Now().Add(tc.off)))
			if r.status != tc.want {
				t.Fatalf("a code %v off: %v, want %d", tc.off, r, tc.want)
			}
			if tc.want != http.StatusSeeOther && !strings.Contains(html.UnescapeString(r.body), "isn't right") {
				t.Fatalf("a code %v off: %v", tc.off, r)
			}
		})
	}
}

// The same code in another browser, in the same 30 seconds: refused,
// also when the two race; and after a code no older one works.
func TestAttack_TOTPReplay(t *testing.T) {
	e, secret := enrolled(t)
	code := totpCode(t, secret, e.clock.Now())
	victim, attacker := e.as("alice"), e.as("alice")
	if r := victim.totp(code); r.status != http.StatusOK {
		t.Fatalf("victim: %v", r)
	}
	e.clock.Advance(10 * time.Second) // same step
	if r := attacker.totp(code); r.status != http.StatusBadRequest || r.errCode() != "code_used" {
		t.Fatalf("replay: %v", r)
	}
	if attacker.verified() {
		t.Fatal("the replayed code verified the attacker")
	}
	// A code older than one used (the next step's, a clock a little
	// ahead): refused, though it was never used itself.
	e.clock.Advance(2 * time.Minute)
	if r := victim.totp(totpCode(t, secret, e.clock.Now().Add(30*time.Second))); r.status != http.StatusOK {
		t.Fatalf("the next step's code: %v", r)
	}
	if r := attacker.totp(totpCode(t, secret, e.clock.Now())); r.errCode() != "code_used" {
		t.Fatalf("the code before a used one: %v", r)
	}

	// Ten browsers race one code: one wins.
	e.clock.Advance(time.Minute)
	code = totpCode(t, secret, e.clock.Now())
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 10 {
		c := e.as("alice")
		wg.Go(func() {
			if r := c.totp(code); r.status == http.StatusOK {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d browsers verified with one code, want 1", wins)
	}
}

// Guessing: wrong codes count against the user's limit of wrong codes,
// shared with SMS; past it the lock answers as for SMS; Unlock clears it.
func TestAttack_TOTPGuessingLocks(t *testing.T) {
	e, secret := enrolled(t, twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: 4, Per: time.Hour} }))
	c := e.as("alice")
	right := totpCode(t, secret, e.clock.Now())
	for i := range 4 {
		wrong := strings.Repeat(string(rune('0'+i)), 6)
		if wrong == right {
			wrong = "987654"
		}
		if r := c.totp(wrong); r.status != http.StatusBadRequest || r.errCode() != "invalid_code" {
			t.Fatalf("wrong code %d: %v", i, r)
		}
	}
	r := c.totp(right)
	if r.status != http.StatusTooManyRequests || r.errCode() != "locked" || r.header.Get("Retry-After") == "" {
		t.Fatalf("the right code past the limit: %v", r)
	}
	// SMS answers the same: the same lock (at the send, or at the check).
	s := e.as("alice")
	sms := s.post("/2fa/send", nil)
	if sms.status == http.StatusOK {
		sms = s.check(e.code(secPhone))
	}
	if sms.status != r.status || sms.errCode() != r.errCode() || sms.header.Get("Retry-After") == "" {
		t.Fatalf("SMS past the limit: %v; the app's: %v", sms, r)
	}
	// The page too.
	b := e.as("alice")
	b.json = false
	if r := b.totp(right); r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many wrong codes") || r.header.Get("Retry-After") == "" {
		t.Fatalf("locked page: %v", r)
	}
	if err := e.m.Unlock(t.Context(), "alice", ""); err != nil {
		t.Fatal(err)
	}
	if r := c.totp(right); r.status != http.StatusOK {
		t.Fatalf("after Unlock: %v", r)
	}
}

func TestAttack_TOTPParallelGuessesStopAtTheLimit(t *testing.T) {
	e, secret := enrolled(t, twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: 5, Per: time.Hour} }))
	right := totpCode(t, secret, e.clock.Now())
	var wg sync.WaitGroup
	var mu sync.Mutex
	judged := 0
	for i := range 30 {
		c := e.as("alice")
		wrong := []byte("100000")
		wrong[5] = byte('0' + i%10)
		wrong[4] = byte('0' + i/10)
		if string(wrong) == right {
			wrong[0] = '2'
		}
		wg.Go(func() {
			if r := c.totp(string(wrong)); r.errCode() == "invalid_code" {
				mu.Lock()
				judged++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if judged != 5 {
		t.Fatalf("%d of 30 parallel wrong codes were judged, want the limit 5", judged)
	}
}

// One lock for the user: wrong SMS codes and wrong codes from the app
// count against the same limit, whichever came first; Unlock clears it.
func TestAttack_TOTPAndSMSGuessesShareOneLock(t *testing.T) {
	e, secret := enrolled(t, twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: 4, Per: time.Hour} }))
	s := e.as("alice")
	if r := s.post("/2fa/send", nil); r.status != http.StatusOK {
		t.Fatalf("send: %v", r)
	}
	sms := e.code(secPhone)
	for i := range 2 {
		if r := s.check(secWrong(sms)); r.status != http.StatusBadRequest || r.errCode() != "invalid_code" {
			t.Fatalf("wrong SMS code %d: %v", i, r)
		}
	}
	c := e.as("alice")
	right := totpCode(t, secret, e.clock.Now())
	for i, wrong := range []string{secWrong(right), secWrong(right)} {
		if r := c.totp(wrong); r.status != http.StatusBadRequest || r.errCode() != "invalid_code" {
			t.Fatalf("wrong app code %d: %v", i, r)
		}
	}
	if r := c.totp(right); r.status != http.StatusTooManyRequests || r.errCode() != "locked" {
		t.Fatalf("the right app code after 2 + 2 wrong codes, limit 4: %v", r)
	}
	if r := s.check(sms); r.status != http.StatusTooManyRequests || r.errCode() != "locked" {
		t.Fatalf("the right SMS code then: %v", r)
	}
	if err := e.m.Unlock(t.Context(), "alice", ""); err != nil {
		t.Fatal(err)
	}
	if r := c.totp(right); r.status != http.StatusOK {
		t.Fatalf("after Unlock: %v", r)
	}
}

// A replayed code is no right code: its try stays counted.
func TestAttack_TOTPReplayCounts(t *testing.T) {
	e, secret := enrolled(t, twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: 2, Per: time.Hour} }))
	code := totpCode(t, secret, e.clock.Now())
	if r := e.as("alice").totp(code); r.status != http.StatusOK {
		t.Fatalf("first use: %v", r)
	}
	attacker := e.as("alice")
	for i := range 2 {
		if r := attacker.totp(code); r.status != http.StatusBadRequest || r.errCode() != "code_used" {
			t.Fatalf("replay %d: %v", i, r)
		}
	}
	if r := attacker.totp(totpCode(t, secret, e.clock.Now().Add(30*time.Second))); r.status != http.StatusTooManyRequests || r.errCode() != "locked" {
		t.Fatalf("a right code after two replays, limit 2: %v", r)
	}
}

// A reload of the page that posted a wrong code costs no try.
func TestTOTPReloadCostsNoTry(t *testing.T) {
	e, secret := enrolled(t, twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: 2, Per: time.Hour} }))
	c := e.as("alice")
	wrong := secWrong(totpCode(t, secret, e.clock.Now()))
	for range 5 {
		if r := c.totp(wrong); r.errCode() != "invalid_code" {
			t.Fatalf("the same wrong code again: %v", r)
		}
	}
	if r := c.totp(totpCode(t, secret, e.clock.Now())); r.status != http.StatusOK {
		t.Fatalf("the right code after one wrong one, reloaded: %v", r)
	}
}

func TestRemoveFactor(t *testing.T) {
	e, secret := enrolled(t)
	here := e.as("alice")
	e.smsSignIn(here)
	there := e.as("alice")
	if r := there.totp(totpCode(t, secret, e.clock.Now())); r.status != http.StatusOK {
		t.Fatalf("sign-in there: %v", r)
	}
	r := here.get("/factors")
	var fs []twofactor.Factor
	_ = json.Unmarshal([]byte(r.body), &fs)
	if len(fs) != 2 || fs[0].Method != twofactor.MethodTOTP || fs[0].LastUsed.IsZero() {
		t.Fatalf("factors: %+v", fs)
	}
	id := fs[0].ID
	// Not fresh: refused.
	e.clock.Advance(11 * time.Minute)
	if r := here.post("/factors/remove-stale", url.Values{"method": {"totp"}, "id": {id}}); r.status != http.StatusForbidden {
		t.Fatalf("RemoveFactor on a stale session: %v", r)
	}
	e.smsSignIn(here)
	if r := here.post("/factors/remove", url.Values{"method": {"totp"}, "id": {"0123456789abcdef0123456789abcdef"}}); r.status != http.StatusNotFound {
		t.Fatalf("RemoveFactor of another id: %v", r)
	}
	if r := here.post("/factors/remove", url.Values{"method": {"totp"}, "id": {id}}); r.status != http.StatusNoContent {
		t.Fatalf("RemoveFactor: %v", r)
	}
	if ev := e.lastEvent(); ev.Type != twofactor.EventFactorRemoved || ev.Method != twofactor.MethodTOTP || ev.Device != id {
		t.Errorf("last event %+v", ev)
	}
	if !here.verified() {
		t.Error("the session that removed the app was signed out")
	}
	if there.verified() {
		t.Error("another session of the user outlived the removal")
	}
	// A removed app's codes are refused; its page sends to SMS.
	e.clock.Advance(time.Minute)
	if r := there.totp(totpCode(t, secret, e.clock.Now())); r.status != http.StatusConflict || r.errCode() != "no_authenticator_app" {
		t.Fatalf("a removed app's code: %v", r)
	}
	b := e.as("alice")
	b.json = false
	if r := b.get("/2fa/totp?next=/account"); r.status != http.StatusSeeOther || r.location() != "/2fa/?next=%2Faccount" {
		t.Fatalf("the page of a removed app: %v", r)
	}
	if r := b.get("/2fa/?next=/account"); r.status != http.StatusOK || !strings.Contains(r.body, `action="/2fa/send"`) || strings.Contains(r.body, "authenticator") {
		t.Fatalf("GET /2fa/ after removal: %v", r)
	}
}

// The last factor: an app the user's only factor (the app forgot the
// number) cannot be removed.
func TestRemoveFactorRefusesTheLast(t *testing.T) {
	e, _ := enrolled(t)
	c := e.as("alice")
	e.smsSignIn(c)
	e.mu.Lock()
	e.numbers["alice"] = ""
	e.mu.Unlock()
	r := c.get("/factors")
	var fs []twofactor.Factor
	_ = json.Unmarshal([]byte(r.body), &fs)
	if len(fs) != 1 {
		t.Fatalf("factors: %+v", fs)
	}
	if r := c.post("/factors/remove", url.Values{"method": {"totp"}, "id": {fs[0].ID}}); r.status != http.StatusConflict {
		t.Fatalf("removing the last factor: %v", r)
	}
}

// A new app replaces the old: the old one's codes stop, and whoever signed
// in with it is signed out.
func TestTOTPReplaceMovesTheGeneration(t *testing.T) {
	e, old := enrolled(t)
	thief := e.as("alice")
	if r := thief.totp(totpCode(t, old, e.clock.Now())); r.status != http.StatusOK {
		t.Fatalf("sign-in with the old app: %v", r)
	}
	c := e.as("alice")
	e.smsSignIn(c)
	secret := e.enrol(c)
	if secret == old {
		t.Fatal("the same secret again")
	}
	if thief.verified() {
		t.Error("a session of the old app outlived its replacement")
	}
	if !c.verified() {
		t.Error("the session that replaced the app was signed out")
	}
	e.clock.Advance(time.Minute)
	if r := e.as("alice").totp(totpCode(t, old, e.clock.Now())); r.status == http.StatusOK {
		t.Fatalf("the old app's code: %v", r)
	}
	if r := e.as("alice").totp(totpCode(t, secret, e.clock.Now())); r.status != http.StatusOK {
		t.Fatalf("the new app's code: %v", r)
	}
}

// recordingState remembers every key and value written to the State.
type recordingState struct {
	twofactor.State
	mu      sync.Mutex
	written []string
}

func (s *recordingState) note(v ...string) {
	s.mu.Lock()
	s.written = append(s.written, v...)
	s.mu.Unlock()
}

func (s *recordingState) SetField(ctx context.Context, key, field, value string, ttl time.Duration) error {
	s.note(key, field, value)
	return s.State.SetField(ctx, key, field, value, ttl)
}

func (s *recordingState) SetNX(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	s.note(key)
	return s.State.SetNX(ctx, key, ttl)
}

func (s *recordingState) Incr(ctx context.Context, key string, delta int64, window time.Duration) (int64, time.Duration, error) {
	s.note(key)
	return s.State.Incr(ctx, key, delta, window)
}

// The secret is nowhere in the State in any common encoding, pending or
// added; and a sealed record opens neither under another server secret
// nor for another user.
func TestTOTPSecretSealedAtRest(t *testing.T) {
	rs := &recordingState{}
	e := newTOTPEnvState(t, func(ms *twofactor.MemoryState) twofactor.State { rs.State = ms; return rs })
	c := e.as("alice")
	e.smsSignIn(c)
	secret := e.enrol(c)
	raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	forms := []string{secret, strings.ToLower(secret), hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw),
		base64.RawStdEncoding.EncodeToString(raw), base64.URLEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw), string(raw)}
	rs.mu.Lock()
	written := strings.Join(rs.written, "\n")
	rs.mu.Unlock()
	if !strings.Contains(written, "totp") {
		t.Fatalf("nothing of the app was written to the State:\n%s", written)
	}
	for _, f := range forms {
		if strings.Contains(written, f) {
			t.Fatalf("the State holds the secret (%q):\n%s", f, written)
		}
	}
	// Another server with another secret: the record does not open.
	other, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithState(rs.State), twofactor.WithSecret([]byte("another secret of at least 32 bytes, not the app's")),
		twofactor.WithClock(e.clock.Now), twofactor.WithSubject(secSubject), twofactor.WithTOTP(nil), twofactor.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	otherSrv := newPlainServer(t, other.Handler())
	e.clock.Advance(time.Minute)
	if r := otherSrv.postAs("alice", "/2fa/totp", totpCode(t, secret, e.clock.Now())); r != http.StatusConflict {
		t.Fatalf("a record under another server secret: %d", r)
	}
	// alice's record moved into bob's map: opens for nobody.
	fields, _ := rs.State.Fields(t.Context(), "totp:alice")
	for f, v := range fields {
		if err := rs.State.SetField(t.Context(), "totp:bob", f, v, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if r := e.as("bob").totp(totpCode(t, secret, e.clock.Now())); r.status == http.StatusOK || r.errCode() != "no_authenticator_app" {
		t.Fatalf("alice's record copied to bob: %v", r)
	}
}

// plainServer is a Manager's handler on an httptest server, for one-off
// requests as a given user.
type plainServer struct {
	t   *testing.T
	url string
	hc  *http.Client
}

func newPlainServer(t *testing.T, h http.Handler) plainServer {
	mux := http.NewServeMux()
	mux.Handle("/2fa/", h)
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return plainServer{t: t, url: srv.URL, hc: srv.Client()}
}

func (p plainServer) postAs(user, path, code string) int {
	req, _ := http.NewRequest(http.MethodPost, p.url+path, strings.NewReader(url.Values{"code": {code}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Test-User", user)
	res, err := p.hc.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// WithoutSMSFallback: a user with an app gets no SMS; one without still
// does.
func TestWithoutSMSFallback(t *testing.T) {
	e, _ := enrolled(t, twofactor.WithoutSMSFallback())
	b := e.as("alice")
	b.json = false
	if r := b.get("/2fa/?use=sms&next=/account"); r.status != http.StatusSeeOther || r.location() != "/2fa/totp?next=%2Faccount" {
		t.Fatalf("?use=sms: %v", r)
	}
	if r := b.get("/2fa/totp"); r.status != http.StatusOK || strings.Contains(r.body, "Text me a code") || strings.Contains(r.body, "use=sms") {
		t.Fatalf("the app's page offers SMS: %v", r)
	}
	if r := e.as("alice").get("/2fa/status"); !strings.Contains(r.body, `"factors":["totp"]`) {
		t.Fatalf("status: %v", r)
	}
	sends := e.mock.Sends()
	if r := b.post("/2fa/send", nil); r.status != http.StatusForbidden || !strings.Contains(html.UnescapeString(r.body), "aren't available") || e.mock.Sends() != sends {
		t.Fatalf("send: %v (sends %d → %d)", r, sends, e.mock.Sends())
	}
	// bob has no app: SMS as before.
	bob := e.as("bob")
	bob.json = false
	if r := bob.get("/2fa/"); r.status != http.StatusOK || !strings.Contains(r.body, `action="/2fa/send"`) || strings.Contains(r.body, "authenticator") {
		t.Fatalf("bob: %v", r)
	}
	e.smsSignIn(bob)
}

// A user with an app and no number on file cannot prove a first number at
// sign-in: whoever knows the password could, with a number of their own.
func TestAttack_EnrolAroundTheApp(t *testing.T) {
	e, _ := enrolled(t)
	e.mu.Lock()
	e.numbers["alice"] = ""
	e.mu.Unlock()
	attacker := e.as("alice")
	attacker.json = false
	if r := attacker.get("/2fa/?use=sms"); r.status != http.StatusSeeOther || r.location() != "/2fa/totp" {
		t.Fatalf("?use=sms without a number: %v", r)
	}
	if r := attacker.get("/2fa/totp"); strings.Contains(r.body, "use=sms") {
		t.Fatalf("the app's page offers SMS to a user without a number: %v", r)
	}
	sends := e.mock.Sends()
	if r := attacker.post("/2fa/send", url.Values{"phone": {evilPhone}}); r.status != http.StatusForbidden || e.mock.Sends() != sends {
		t.Fatalf("enrolling a number: %v", r)
	}
}

// Step-up with the app: RequireFresh's redirect offers the app, and its
// code makes the session fresh.
func TestTOTPStepUp(t *testing.T) {
	e, secret := enrolled(t)
	b := e.as("alice")
	b.json = false
	if r := b.totp(totpCode(t, secret, e.clock.Now())); r.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %v", r)
	}
	e.clock.Advance(6 * time.Minute)
	r := b.get("/fresh")
	if r.status != http.StatusSeeOther || !strings.Contains(r.location(), "stepup=1") {
		t.Fatalf("stale: %v", r)
	}
	r = b.get(r.location())
	if r.status != http.StatusSeeOther || r.location() != "/2fa/totp?next=%2Ffresh&stepup=1" {
		t.Fatalf("step-up for a user with an app: %v", r)
	}
	r = b.get(r.location())
	if !strings.Contains(html.UnescapeString(r.body), "confirm it's still you") || !strings.Contains(r.body, "stepup=1") {
		t.Fatalf("step-up page: %v", r)
	}
	if r := b.totp(totpCode(t, secret, e.clock.Now())); r.status != http.StatusSeeOther || r.location() != "/fresh" {
		t.Fatalf("step-up code: %v", r)
	}
	if r := b.get("/fresh"); r.status != http.StatusOK {
		t.Fatalf("after step-up: %v", r)
	}
}

func TestWithTOTPNeedsASubjectAndASecret(t *testing.T) {
	if _, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithTOTP(nil)); err == nil || !strings.Contains(err.Error(), "WithSubject") {
		t.Errorf("WithTOTP without WithSubject: %v", err)
	}
	if _, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithSubject(secSubject), twofactor.WithTOTP(memTOTP{})); err == nil || !strings.Contains(err.Error(), "WithSecret") {
		t.Errorf("WithTOTP(store) without WithSecret: %v", err)
	}
	m, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithSubject(secSubject))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	if _, err := m.StartTOTP(r); err == nil || !strings.Contains(err.Error(), "WithTOTP") {
		t.Errorf("StartTOTP without WithTOTP: %v", err)
	}
}

// memTOTP is a TOTPStore of no use: New refuses it before any call.
type memTOTP struct{}

func (memTOTP) TOTPSecret(context.Context, string) (string, time.Time, error) {
	return "", time.Time{}, nil
}
func (memTOTP) SetTOTPSecret(context.Context, string, string) error { return nil }
func (memTOTP) DeleteTOTPSecret(context.Context, string, string) (bool, error) {
	return false, nil
}
func (memTOTP) TOTPUsed(context.Context, string, string, time.Time) error { return nil }

// Phone-entry mode (no number on file): the user types a number. Once they
// have an app, a typed number proves nothing of them, so it verifies
// nothing: whoever knows the password could type their own.
func TestAttack_TypedNumberAroundTheApp(t *testing.T) {
	e := (&totpEnv{}).start(t, nil, nil)
	c := e.as("alice")
	if r := c.post("/2fa/send", url.Values{"phone": {secPhone}}); r.status != http.StatusOK {
		t.Fatalf("send: %v", r)
	}
	if r := c.check(e.code(secPhone)); r.status != http.StatusOK {
		t.Fatalf("check: %v", r)
	}
	e.enrol(c)
	attacker := e.as("alice")
	attacker.json = false
	if r := attacker.get("/2fa/?use=sms"); r.status != http.StatusSeeOther || r.location() != "/2fa/totp" {
		t.Fatalf("?use=sms: %v", r)
	}
	if r := attacker.get("/2fa/totp"); r.status != http.StatusOK || strings.Contains(r.body, "use=sms") {
		t.Fatalf("the app's page offers SMS: %v", r)
	}
	sends := e.mock.Sends()
	if r := attacker.post("/2fa/send", url.Values{"phone": {evilPhone}}); r.status != http.StatusForbidden || e.mock.Sends() != sends {
		t.Fatalf("a typed number: %v", r)
	}
}

// Attack: in phone-entry mode, whoever knows the password sends a code to
// a number of their own before the user adds an app, and uses it after:
// the pending code is judged by what the user has when it is checked, so
// neither the check nor a resend nor a number change goes through.
func TestAttack_StalePendingSMSAfterTheApp(t *testing.T) {
	e := (&totpEnv{}).start(t, nil, nil)
	c := e.as("alice")
	if r := c.post("/2fa/send", url.Values{"phone": {secPhone}}); r.status != http.StatusOK {
		t.Fatalf("send: %v", r)
	}
	if r := c.check(e.code(secPhone)); r.status != http.StatusOK {
		t.Fatalf("check: %v", r)
	}
	attacker := e.as("alice")
	if r := attacker.post("/2fa/send", url.Values{"phone": {evilPhone}}); r.status != http.StatusOK {
		t.Fatalf("the attacker's send, before the app: %v", r)
	}
	e.enrol(c)
	if r := attacker.check(e.code(evilPhone)); r.status != http.StatusForbidden || r.errCode() != "sms_unavailable" {
		t.Errorf("the code sent before the app: %v", r)
	}
	if r := attacker.post("/2fa/resend", nil); r.status != http.StatusForbidden || r.errCode() != "sms_unavailable" {
		t.Errorf("resend: %v", r)
	}
	if r := attacker.post("/2fa/send", url.Values{"phone": {evilPhone}, "purpose": {"change"}}); r.status != http.StatusUnauthorized {
		t.Errorf("a number change unverified: %v", r)
	}
	if attacker.verified() {
		t.Error("the attacker's session is verified")
	}
}
