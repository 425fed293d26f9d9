package twofactor_test

// The 2FA lifecycle through real HTTP: the verification record, step-up,
// enrolment and number change, recovery codes, remembered devices, signing
// out everywhere, unlocking, and grants from other factors.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
)

// lcApp is an app with users: X-Test-User names the signed-in user, and
// numbers holds their numbers on file (known-number mode).
type lcApp struct {
	*secEnv
	mu       sync.Mutex
	numbers  map[string]string // user → E.164; "" or missing: none
	saved    []string          // numbers WithEnrolment received, "user=phone"
	recovery *twofactor.MemoryRecoveryStore
}

func (a *lcApp) number(user string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.numbers[user]
}

// newLCApp starts an app with subjects, known-number mode, enrolment,
// recovery codes and remembered devices, plus these routes:
// /record (gated: the Record as JSON), /settings (step-up, 5 minutes).
func newLCApp(t *testing.T, opts ...twofactor.Option) *lcApp {
	t.Helper()
	a := &lcApp{numbers: map[string]string{"alice": secPhone}, recovery: new(twofactor.MemoryRecoveryStore)}
	all := []twofactor.Option{
		twofactor.WithPhoneLookup(func(r *http.Request) (string, error) { return a.number(secSubject(r)), nil }),
		twofactor.WithEnrolment(func(r *http.Request, phone string) error {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.numbers[secSubject(r)] = phone
			a.saved = append(a.saved, secSubject(r)+"="+phone)
			return nil
		}),
		twofactor.WithRecoveryCodes(a.recovery),
		twofactor.WithRememberDevice(30 * 24 * time.Hour),
	}
	all = append(all, opts...)
	a.secEnv = secNew(t, secSetup{subject: true, opts: all, routes: func(mux *http.ServeMux, m *twofactor.Manager) {
		record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec, ok := twofactor.RecordFrom(r)
			if !ok {
				t.Error("gated handler without a record")
			}
			_ = json.NewEncoder(w).Encode(rec)
		})
		mux.Handle("/record", m.Require(record))
		mux.Handle("/settings", m.RequireFresh(5*time.Minute)(record))
		mux.Handle("POST /newcodes", m.RequireFresh(5*time.Minute)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			codes, err := m.NewRecoveryCodes(r.Context(), secSubject(r))
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			_ = json.NewEncoder(w).Encode(codes)
		})))
		mux.HandleFunc("POST /grant", func(w http.ResponseWriter, r *http.Request) {
			if err := m.Grant(w, r, "webauthn", ""); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
			}
		})
	}})
	return a
}

// as returns a browser signed in to the app as user.
func (a *lcApp) as(user string) *secClient {
	c := a.client()
	c.user = user
	return c
}

// record reads the gated /record page: the session's Record, or ok false.
func (c *secClient) record(path string) (twofactor.Record, secResp, bool) {
	c.e.t.Helper()
	r := c.get(path)
	var rec twofactor.Record
	if r.status != http.StatusOK {
		return rec, r, false
	}
	if err := json.Unmarshal([]byte(r.body), &rec); err != nil {
		c.e.t.Fatalf("record: %v in %q", err, r.body)
	}
	return rec, r, true
}

// signIn sends a code to the number on file and enters it.
func (c *secClient) signIn(phone string, extra url.Values) secResp {
	c.e.t.Helper()
	code := c.mustSend(phone)
	form := url.Values{"code": {code}}
	for k, v := range extra {
		form[k] = v
	}
	return c.post("/2fa/check", form)
}

func TestRecordFromAndCheck(t *testing.T) {
	a := newLCApp(t)
	c := a.as("alice")
	if _, r, ok := c.record("/record"); ok || r.status != http.StatusUnauthorized {
		t.Fatalf("record before verification: %v", r)
	}
	if r := c.signIn(secPhone, nil); r.status != http.StatusOK {
		t.Fatalf("check: %v", r)
	}
	rec, r, ok := c.record("/record")
	if !ok {
		t.Fatalf("record after verification: %v", r)
	}
	want := twofactor.Record{Subject: "alice", Method: twofactor.MethodSMS, VerifiedAt: a.clock.Now(), Phone: secPhone}
	if rec.Subject != want.Subject || rec.Method != want.Method || !rec.VerifiedAt.Equal(want.VerifiedAt) || rec.Phone != want.Phone {
		t.Fatalf("record = %+v, want %+v", rec, want)
	}
	if rec.MaskedPhone() != secPhoneMasked {
		t.Errorf("MaskedPhone = %q", rec.MaskedPhone())
	}
	// Check reads the same record from a request with the cookie.
	req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/", nil)
	req.Header.Set("X-Test-User", "alice")
	req.AddCookie(&http.Cookie{Name: secCookie, Value: c.cookie()})
	if got, err := a.m.Check(req); err != nil || got.Phone != secPhone {
		t.Errorf("Check = %+v, %v", got, err)
	}
	req.Header.Set("X-Test-User", "mallory")
	if _, err := a.m.Check(req); err != twofactor.ErrNotVerified {
		t.Errorf("Check for another subject: err = %v, want ErrNotVerified", err)
	}
	// /2fa/status names the number only to its own subject.
	st := c.get("/2fa/status")
	if !strings.Contains(st.body, secPhoneMasked) || !strings.Contains(st.body, `"method":"sms"`) {
		t.Errorf("status: %v", st)
	}
	c.user = "mallory"
	if st := c.get("/2fa/status"); strings.Contains(st.body, "678") {
		t.Errorf("status shows alice's number to mallory: %v", st)
	}
}

func TestStepUp(t *testing.T) {
	a := newLCApp(t)
	c := a.as("alice")
	c.signIn(secPhone, nil)
	if _, r, ok := c.record("/settings"); !ok {
		t.Fatalf("settings right after verification: %v", r)
	}
	a.clock.Advance(6 * time.Minute)
	if _, r, ok := c.record("/settings"); ok || r.errCode() != "step_up_required" || r.status != http.StatusUnauthorized {
		t.Fatalf("stale settings, JSON: %v", r)
	}
	b := *c
	b.json = false
	r := b.get("/settings")
	if r.status != http.StatusSeeOther || r.location() != "/2fa/?next=%2Fsettings&stepup=1" {
		t.Fatalf("stale settings, page: %v", r)
	}
	page := b.get(r.location())
	if page.status != http.StatusOK || !strings.Contains(page.body, "confirm it&#39;s still you") || !strings.Contains(page.body, "6 •••••678") {
		t.Fatalf("step-up page: %v", page)
	}
	// Abandoning the step-up leaves the session verified for Require.
	if _, r, ok := c.record("/record"); !ok {
		t.Fatalf("record during step-up: %v", r)
	}
	// The new code goes to the verified number, whatever is typed.
	before := a.mock.Sends()
	if r := c.send("+31687654321"); r.status != http.StatusOK {
		t.Fatalf("step-up send: %v", r)
	}
	if a.mock.Sends() != before+1 || a.code("+31687654321") != "" {
		t.Fatal("step-up sent a code to a typed number")
	}
	if r := c.check(a.code(secPhone)); r.status != http.StatusOK || !strings.Contains(r.body, `"redirect":"/settings"`) {
		t.Fatalf("step-up check: %v", r)
	}
	rec, r, ok := c.record("/settings")
	if !ok || !rec.VerifiedAt.Equal(a.clock.Now()) {
		t.Fatalf("settings after step-up: %+v %v", rec, r)
	}
}

func TestEnrolment(t *testing.T) {
	a := newLCApp(t)
	bob := a.as("bob")
	b := *bob
	b.json = false
	page := b.get("/2fa/")
	if page.status != http.StatusOK || !strings.Contains(page.body, `name="phone"`) || strings.Contains(page.body, "to <strong") {
		t.Fatalf("bob without a number: want the phone entry page, got %v", page)
	}
	if r := bob.signIn("+31 6 1111 2222", nil); r.status != http.StatusOK {
		t.Fatalf("enrolment check: %v", r)
	}
	if got := a.number("bob"); got != "+31611112222" {
		t.Fatalf("saved number = %q", got)
	}
	rec, _, ok := bob.record("/record")
	if !ok || rec.Phone != "+31611112222" {
		t.Fatalf("record after enrolment: %+v", rec)
	}
	if !hasEvent(a.secEnv, twofactor.EventEnrolled) {
		t.Error("no enrolled event")
	}
	// With a number on file, a typed one is ignored: the code goes to the file.
	a.clock.Advance(time.Minute)
	carol := a.as("alice")
	if r := carol.send("+31699990000"); r.status != http.StatusOK || a.code("+31699990000") != "" {
		t.Fatalf("known-number send with a typed number: %v", r)
	}
}

func TestEnrolmentOffWithoutOption(t *testing.T) {
	e := secNew(t, secSetup{subject: true, opts: []twofactor.Option{
		twofactor.WithPhoneLookup(func(*http.Request) (string, error) { return "", nil }),
	}})
	c := e.browser()
	c.hdr.Set("X-Test-User", "bob")
	page := c.get("/2fa/")
	if strings.Contains(page.body, "code to <strong") || strings.Contains(page.body, `action="/2fa/send"`) {
		t.Errorf("page offers to send to no number: %v", page)
	}
	if !strings.Contains(page.body, "no phone number on file") {
		t.Errorf("page does not say there is no number: %v", page)
	}
	c.json = true
	if r := c.send("+31611112222"); r.status != http.StatusConflict || r.errCode() != "no_phone_number" || e.mock.Sends() != 0 {
		t.Errorf("send without a number on file: %v", r)
	}
}

func TestChangeNumber(t *testing.T) {
	a := newLCApp(t)
	one, two := a.as("alice"), a.as("alice")
	one.signIn(secPhone, url.Values{"remember": {"1"}})
	a.clock.Advance(time.Minute)
	two.signIn(secPhone, nil)
	if d, _ := a.m.Devices(t.Context(), "alice"); len(d) != 1 {
		t.Fatalf("devices = %v", d)
	}
	// The change page wants a fresh verification.
	a.clock.Advance(11 * time.Minute)
	b := *one
	b.json = false
	if r := b.get("/2fa/change"); r.status != http.StatusSeeOther || !strings.Contains(r.location(), "stepup=1") {
		t.Fatalf("stale change page: %v", r)
	}
	if r := one.post("/2fa/send", url.Values{"phone": {"+31622223333"}, "purpose": {"change"}}); r.status != http.StatusUnauthorized {
		t.Fatalf("stale change send: %v", r)
	}
	one.signIn(secPhone, nil) // step-up
	if r := b.get("/2fa/change"); r.status != http.StatusOK || !strings.Contains(r.body, `name="purpose" value="change"`) {
		t.Fatalf("change page: %v", r)
	}
	a.clock.Advance(time.Minute)
	if r := one.post("/2fa/send", url.Values{"phone": {"+31622223333"}, "purpose": {"change"}}); r.status != http.StatusOK {
		t.Fatalf("change send: %v", r)
	}
	if r := one.check(a.code("+31622223333")); r.status != http.StatusOK {
		t.Fatalf("change check: %v", r)
	}
	if got := a.number("alice"); got != "+31622223333" {
		t.Fatalf("number on file = %q", got)
	}
	if rec, _, ok := one.record("/record"); !ok || rec.Phone != "+31622223333" {
		t.Fatalf("record after change: %+v", rec)
	}
	if _, r, ok := two.record("/record"); ok {
		t.Fatalf("other session still verified after a number change: %v", r)
	}
	if d, _ := a.m.Devices(t.Context(), "alice"); len(d) != 0 {
		t.Fatalf("devices after a number change = %v", d)
	}
	if !hasEvent(a.secEnv, twofactor.EventNumberChanged) {
		t.Error("no number-changed event")
	}
	// Someone else's session cannot change alice's number.
	mallory := a.as("mallory")
	if r := mallory.post("/2fa/send", url.Values{"phone": {"+31644445555"}, "purpose": {"change"}}); r.status != http.StatusUnauthorized {
		t.Fatalf("unverified change send: %v", r)
	}
}

var recoveryFormat = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$`)

func TestRecoveryCodes(t *testing.T) {
	a := newLCApp(t, twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: 4, Per: time.Hour} }))
	codes, err := a.m.NewRecoveryCodes(t.Context(), "alice")
	if err != nil || len(codes) != 10 {
		t.Fatalf("NewRecoveryCodes = %v, %v", codes, err)
	}
	seen := map[string]bool{}
	for _, code := range codes {
		if !recoveryFormat.MatchString(code) || seen[code] {
			t.Fatalf("code %q: wrong form or repeated", code)
		}
		seen[code] = true
	}
	hashes, _ := a.recovery.RecoveryHashes(t.Context(), "alice")
	if len(hashes) != len(codes) {
		t.Fatalf("%d hashes stored", len(hashes))
	}
	for _, h := range hashes {
		for _, code := range codes {
			if strings.Contains(h, strings.ReplaceAll(code, "-", "")) {
				t.Fatal("a stored hash contains its code")
			}
		}
	}
	use := func(c *secClient, code string) secResp {
		return c.post("/2fa/recover", url.Values{"recovery_code": {code}})
	}
	c := a.as("alice")
	// Typed loosely: upper case, spaces, o for 0 and l for 1.
	loose := strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))
	loose = strings.NewReplacer("0", "O", "1", "L").Replace(loose)
	if r := use(c, loose); r.status != http.StatusOK || !strings.Contains(r.body, `"method":"recovery_code"`) {
		t.Fatalf("recovery code: %v", r)
	}
	if rec, _, ok := c.record("/settings"); !ok || rec.Method != twofactor.MethodRecoveryCode {
		t.Fatalf("a recovery code is fresh for step-up: %+v", rec)
	}
	// One use.
	if r := use(a.as("alice"), codes[0]); r.status != http.StatusBadRequest || r.errCode() != "invalid_recovery_code" {
		t.Fatalf("reused recovery code: %v", r)
	}
	// Another user's code does not work for alice.
	bobCodes, _ := a.m.NewRecoveryCodes(t.Context(), "bob")
	if r := use(a.as("alice"), bobCodes[0]); r.status != http.StatusBadRequest {
		t.Fatalf("bob's code for alice: %v", r)
	}
	// A new set revokes the old one.
	if _, err := a.m.NewRecoveryCodes(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	if r := use(a.as("alice"), codes[1]); r.status != http.StatusBadRequest {
		t.Fatalf("old set after a new one: %v", r)
	}
	// Wrong codes count against the account: 2 wrong so far + 2 = locked.
	use(a.as("alice"), "zzzz-zzzz-zzzz")
	use(a.as("alice"), "not a code")
	if r := use(a.as("alice"), "abcd-efgh-jkmn"); r.status != http.StatusTooManyRequests || r.errCode() != "locked" {
		t.Fatalf("after too many wrong recovery codes: %v", r)
	}
	if err := a.m.Unlock(t.Context(), "alice", ""); err != nil {
		t.Fatal(err)
	}
	if r := use(a.as("alice"), "abcd-efgh-jkmn"); r.status != http.StatusBadRequest {
		t.Fatalf("after Unlock: %v", r)
	}
	if !hasEvent(a.secEnv, twofactor.EventUnlocked) || !hasEvent(a.secEnv, twofactor.EventRecoveryCodeUsed) || !hasEvent(a.secEnv, twofactor.EventRecoveryCodesNew) {
		t.Errorf("events: %v", a.eventTypes())
	}
}

func TestRecoveryCodeOneUseInParallel(t *testing.T) {
	a := newLCApp(t)
	codes, _ := a.m.NewRecoveryCodes(t.Context(), "alice")
	const n = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range n {
		c := a.as("alice")
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := c.post("/2fa/recover", url.Values{"recovery_code": {codes[3]}}); r.status == http.StatusOK {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d of %d parallel uses of one recovery code succeeded, want 1", ok, n)
	}
}

func deviceCookie(c *secClient) *http.Cookie {
	u, _ := url.Parse(c.e.srv.URL + "/")
	for _, ck := range c.jar.Cookies(u) {
		if strings.HasSuffix(ck.Name, "_device") {
			return ck
		}
	}
	return nil
}

func TestRememberDevice(t *testing.T) {
	a := newLCApp(t)
	c := a.as("alice")
	c.hdr.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0")
	// The header is checked on the Set-Cookie itself: jars hide attributes.
	code := c.mustSend(secPhone)
	r := c.post("/2fa/check", url.Values{"code": {code}, "remember": {"1"}})
	var set string
	for _, v := range r.header.Values("Set-Cookie") {
		if strings.Contains(v, "_device=") {
			set = v
		}
	}
	for _, attr := range []string{"__Host-twofactor_device=", "Path=/", "Max-Age=2592000", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(set, attr) {
			t.Errorf("device cookie %q lacks %s", set, attr)
		}
	}
	devices, err := a.m.Devices(t.Context(), "alice")
	if err != nil || len(devices) != 1 || devices[0].Name != "Firefox on Linux" || !devices[0].Expires.Equal(a.clock.Now().Add(30*24*time.Hour)) {
		t.Fatalf("Devices = %+v, %v", devices, err)
	}
	ck := deviceCookie(c)
	if ck == nil || strings.Contains(ck.Value, devices[0].ID) && len(ck.Value) <= len(devices[0].ID)+1 {
		t.Fatalf("device cookie = %v", ck)
	}
	// ThisDevice names the device its browser is, and none for another
	// browser or a cookie that is no device's.
	withCookie := func(cks ...*http.Cookie) *http.Request {
		req := httptest.NewRequest(http.MethodGet, "/settings", nil)
		for _, ck := range cks {
			req.AddCookie(ck)
		}
		return req
	}
	if got := a.m.ThisDevice(withCookie(ck)); got != devices[0].ID {
		t.Errorf("ThisDevice = %q, want %q", got, devices[0].ID)
	}
	for _, other := range []*http.Request{withCookie(), withCookie(&http.Cookie{Name: ck.Name, Value: devices[0].ID}), withCookie(&http.Cookie{Name: ck.Name, Value: "../x.y"})} {
		if got := a.m.ThisDevice(other); got != "" {
			t.Errorf("ThisDevice(%v) = %q, want none", other.Cookies(), got)
		}
	}
	// Log out; the next sign-in needs no code.
	if r := c.post("/logout", nil); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %v", r)
	}
	a.clock.Advance(24 * time.Hour)
	sends := a.mock.Sends()
	b := *c
	b.json = false
	r = b.get("/2fa/?next=%2Frecord")
	if r.status != http.StatusSeeOther || r.location() != "/record" {
		t.Fatalf("sign-in on a remembered device: %v", r)
	}
	rec, _, ok := c.record("/record")
	if !ok || rec.Method != twofactor.MethodDevice || a.mock.Sends() != sends {
		t.Fatalf("record = %+v, sends %d → %d", rec, sends, a.mock.Sends())
	}
	// A device sign-in is not fresh for step-up.
	if _, r, ok := c.record("/settings"); ok || r.errCode() != "step_up_required" {
		t.Fatalf("settings after a device sign-in: %v", r)
	}
	// The device belongs to alice: bob in the same browser needs a code.
	bobBrowser := b
	bobBrowser.user = "bob"
	if r := bobBrowser.get("/2fa/?next=%2Frecord"); r.status != http.StatusOK {
		t.Fatalf("bob on alice's device: %v", r)
	}
	// Revoked, it signs in nobody.
	c.post("/logout", nil)
	if err := a.m.RevokeDevice(t.Context(), "alice", devices[0].ID); err != nil {
		t.Fatal(err)
	}
	if r := b.get("/2fa/?next=%2Frecord"); r.status != http.StatusOK {
		t.Fatalf("revoked device: %v", r)
	}
	if !hasEvent(a.secEnv, twofactor.EventDeviceRevoked) || !hasEvent(a.secEnv, twofactor.EventDeviceRemembered) {
		t.Errorf("events: %v", a.eventTypes())
	}
}

func TestRememberDeviceExpires(t *testing.T) {
	a := newLCApp(t)
	c := a.as("alice")
	c.signIn(secPhone, url.Values{"remember": {"1"}})
	c.post("/logout", nil)
	a.clock.Advance(30*24*time.Hour + time.Second)
	b := *c
	b.json = false
	if r := b.get("/2fa/?next=%2Frecord"); r.status != http.StatusOK {
		t.Fatalf("expired device: %v", r)
	}
}

func TestSignOutEverywhere(t *testing.T) {
	a := newLCApp(t)
	one, two, bob := a.as("alice"), a.as("alice"), a.as("bob")
	one.signIn(secPhone, url.Values{"remember": {"1"}})
	a.clock.Advance(time.Minute)
	two.signIn(secPhone, nil)
	a.clock.Advance(time.Minute)
	bob.signIn("+31655556666", nil)
	for _, c := range []*secClient{one, two, bob} {
		if _, r, ok := c.record("/record"); !ok {
			t.Fatalf("before: %v", r)
		}
	}
	if err := a.m.SignOutEverywhere(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*secClient{one, two} {
		if _, r, ok := c.record("/record"); ok {
			t.Fatalf("alice still verified after sign out everywhere: %v", r)
		}
	}
	if _, r, ok := bob.record("/record"); !ok {
		t.Fatalf("bob signed out with alice: %v", r)
	}
	b := *one
	b.json = false
	if r := b.get("/2fa/?next=%2Frecord"); r.status != http.StatusOK {
		t.Fatalf("remembered device after sign out everywhere: %v", r)
	}
	if !hasEvent(a.secEnv, twofactor.EventSignedOutEverywhere) {
		t.Error("no event")
	}
}

func TestUnlockSendWindow(t *testing.T) {
	e := secNew(t, secSetup{})
	c := e.client()
	for i := range twofactor.DefaultPhoneSends.N {
		c.mustSend(secPhone)
		e.clock.Advance(time.Minute)
		_ = i
	}
	if r := c.send(secPhone); r.status != http.StatusTooManyRequests {
		t.Fatalf("send past the number's window: %v", r)
	}
	if err := e.m.Unlock(t.Context(), "", "+31 6 12345678"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	c.mustSend(secPhone)
	if err := e.m.Unlock(t.Context(), "", ""); err == nil {
		t.Error("Unlock with nothing: no error")
	}
}

func TestGrantFromAnotherFactor(t *testing.T) {
	a := newLCApp(t)
	c := a.as("alice")
	if r := c.post("/grant", nil); r.status != http.StatusOK {
		t.Fatalf("grant: %v", r)
	}
	rec, r, ok := c.record("/settings")
	if !ok || rec.Method != "webauthn" || rec.Subject != "alice" || rec.Phone != "" {
		t.Fatalf("record after Grant: %+v %v", rec, r)
	}
	if !a.m.Verified(mustReq(t, c)) {
		t.Error("Manager.Verified false after Grant")
	}
}

func mustReq(t *testing.T, c *secClient) *http.Request {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.e.srv.URL+"/", nil)
	req.Header.Set("X-Test-User", c.user)
	req.AddCookie(&http.Cookie{Name: secCookie, Value: c.cookie()})
	return req
}

func hasEvent(e *secEnv, typ twofactor.EventType) bool {
	for _, t := range e.eventTypes() {
		if t == typ {
			return true
		}
	}
	return false
}

// A locked account refuses every check with an event, but the log says so
// once per account and window, not once per request.
func TestLockedAccountLoggedOnce(t *testing.T) {
	e := secNew(t, secSetup{mockMaxAttempts: 10, opts: []twofactor.Option{twofactor.WithLimits(func(l *twofactor.Limits) { l.Account = twofactor.Limit{N: 2, Per: time.Hour} }), twofactor.WithLimits(func(l *twofactor.Limits) { l.MaxAttempts = 10 })}})
	c := e.client()
	code := c.mustSend(secPhone)
	for range 10 { // 2 wrong codes, then 8 refused by the lock
		c.check(secWrong(code))
	}
	if n := strings.Count(e.logs.String(), "account locked"); n != 1 {
		t.Errorf("%d log lines say the account is locked, want 1:\n%s", n, e.logs.String())
	}
	locked := 0
	for _, typ := range e.eventTypes() {
		if typ == twofactor.EventLocked {
			locked++
		}
	}
	if locked != 8 {
		t.Errorf("%d locked events, want one per refused check (8)", locked)
	}
}
