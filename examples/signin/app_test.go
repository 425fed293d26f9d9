package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
	"golang.org/x/crypto/bcrypt"
)

// testApp is the app on an httptest TLS server, with a mock provider whose
// codes the test reads and a clock the test moves.
type testApp struct {
	t     *testing.T
	app   *app
	srv   *httptest.Server
	mock  *twofactor.Mock
	codes chan sentCode

	mu  sync.Mutex
	now time.Time
}

// sentCode is a code the mock provider was asked to deliver.
type sentCode struct {
	v    twofactor.Verification
	code string
}

func startApp(t *testing.T) *testApp { t.Helper(); return startAppWith(t, nil) }

// startAppWith starts the app with the test's config changed by set.
func startAppWith(t *testing.T, set func(*config)) *testApp {
	t.Helper()
	ta := &testApp{t: t, codes: make(chan sentCode, 16), now: time.Now()}
	mock := &twofactor.Mock{OnCode: func(v twofactor.Verification, code string) {
		select {
		case ta.codes <- sentCode{v: v, code: code}:
		default:
			t.Errorf("the mock sent more codes than the test read")
		}
	}}
	ta.mock = mock
	cfg := config{
		Provider: mock, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: ta.clock, BcryptCost: bcrypt.MinCost,
	}
	if set != nil {
		set(&cfg)
	}
	a, err := newApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ta.app = a
	ta.srv = httptest.NewTLSServer(a)
	t.Cleanup(func() {
		ta.srv.Close()
		_ = a.Close()
	})
	return ta
}

func (ta *testApp) clock() time.Time {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	return ta.now
}

func (ta *testApp) advance(d time.Duration) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	ta.now = ta.now.Add(d)
}

// nextCode returns the code the mock was last asked to deliver.
func (ta *testApp) nextCode() sentCode {
	ta.t.Helper()
	select {
	case s := <-ta.codes:
		return s
	case <-time.After(5 * time.Second):
		ta.t.Fatal("no code was sent")
	}
	return sentCode{}
}

// noCodeSent fails if the mock was asked for a code the test has not read.
func (ta *testApp) noCodeSent() {
	ta.t.Helper()
	select {
	case s := <-ta.codes:
		ta.t.Fatalf("unexpected code sent to %s", twofactor.MaskPhone(s.v.Phone))
	default:
	}
}

// visitor is one browser: its own cookie jar.
type visitor struct {
	ta     *testApp
	t      *testing.T
	jar    http.CookieJar
	client *http.Client
}

func (ta *testApp) visitor() *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{ta: ta, t: ta.t, jar: jar, client: &http.Client{Transport: ta.srv.Client().Transport, Jar: jar}}
}

// on is the same browser (the same cookies) talking to another server of
// the app, as behind a round-robin balancer: every server of a test is on
// 127.0.0.1, and cookies ignore the port.
func (v *visitor) on(ta *testApp) *visitor {
	w := *v
	w.ta = ta
	return &w
}

// do sends a request, following redirects, and returns the last response,
// its body and the path it ended on.
func (v *visitor) do(method, path string, form url.Values) (*http.Response, string) {
	v.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, v.ta.srv.URL+path, body)
	if err != nil {
		v.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", v.ta.srv.URL) // a same-origin form
	}
	resp, err := v.client.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp, string(page)
}

func (v *visitor) get(path string) (*http.Response, string) { return v.do(http.MethodGet, path, nil) }

func (v *visitor) post(path string, kv ...string) (*http.Response, string) {
	form := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Add(kv[i], kv[i+1])
	}
	return v.do(http.MethodPost, path, form)
}

func expect(t *testing.T, resp *http.Response, body string, status int, path string, contains ...string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d; page:\n%s", resp.Request.URL, resp.StatusCode, status, body)
	}
	if path != "" && resp.Request.URL.Path != path {
		t.Fatalf("ended on %s, want %s", resp.Request.URL, path)
	}
	for _, c := range contains {
		if !strings.Contains(body, c) {
			t.Fatalf("%s: page lacks %q:\n%s", resp.Request.URL, c, body)
		}
	}
}

// login signs in and checks it leads into the verification flow.
func (v *visitor) login(name, password string) string {
	v.t.Helper()
	resp, body := v.post("/login", "username", name, "password", password)
	expect(v.t, resp, body, http.StatusOK, "/2fa/")
	return body
}

// verifySMS sends a code to the number on file and types it.
func (v *visitor) verifySMS(wantPath string) {
	v.t.Helper()
	resp, body := v.post("/2fa/send")
	expect(v.t, resp, body, http.StatusOK, "/2fa/", `name="code"`)
	s := v.ta.nextCode()
	resp, body = v.post("/2fa/check", "code", s.code)
	expect(v.t, resp, body, http.StatusOK, wantPath)
}

// signedIn signs name in and verifies by SMS, landing on the account.
func (v *visitor) signedIn(name string) {
	v.t.Helper()
	v.login(name, name+"-password")
	v.verifySMS("/account")
}

// onFlowPage is a number as the flow's pages show it: masked, with the +
// escaped by html/template (the rest is the same either way).
func onFlowPage(phone string) string { return strings.TrimPrefix(twofactor.MaskPhone(phone), "+") }

func TestSignupValidation(t *testing.T) {
	ta := startApp(t)
	for _, tc := range []struct {
		name, user, password, want string
		status                     int
	}{
		{"short name", "ab", "long-enough", "3 to 32 letters", http.StatusBadRequest},
		{"long name", strings.Repeat("a", 33), "long-enough", "3 to 32 letters", http.StatusBadRequest},
		{"space", "a b c", "long-enough", "3 to 32 letters", http.StatusBadRequest},
		{"non-ASCII", "ålice", "long-enough", "3 to 32 letters", http.StatusBadRequest},
		{"empty name", "", "long-enough", "3 to 32 letters", http.StatusBadRequest},
		{"short password", "carol", "1234567", "at least 8 characters", http.StatusBadRequest},
		{"too long password", "carol", strings.Repeat("x", 73), "at most 72", http.StatusBadRequest},
		{"taken", "alice", "long-enough", "taken", http.StatusConflict},
		{"taken in other case", "ALICE", "long-enough", "taken", http.StatusConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ta.visitor().post("/signup", "username", tc.user, "password", tc.password)
			expect(t, resp, body, tc.status, "/signup", tc.want, `role="alert"`)
		})
	}
	t.Run("valid", func(t *testing.T) {
		v := ta.visitor()
		resp, body := v.get("/signup")
		expect(t, resp, body, http.StatusOK, "/signup", `name="username"`, `name="password"`)
		// Signed in at once, into enrolment: no number on file yet.
		resp, body = v.post("/signup", "username", "carol_1", "password", "carol-password")
		expect(t, resp, body, http.StatusOK, "/2fa/", `name="phone"`)
		resp, body = v.post("/signup", "username", "carol_1", "password", "carol-password")
		expect(t, resp, body, http.StatusConflict, "/signup")
		ta.noCodeSent()
	})
}

func TestLoginFailuresLookAlike(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	resp, body := v.get("/login")
	expect(t, resp, body, http.StatusOK, "/login", `name="username"`, `name="password"`)
	resp1, wrong := v.post("/login", "username", "alice", "password", "wrong-password")
	resp2, unknown := v.post("/login", "username", "nobody", "password", "wrong-password")
	expect(t, resp1, wrong, http.StatusUnauthorized, "/login")
	expect(t, resp2, unknown, http.StatusUnauthorized, "/login")
	if wrong != unknown {
		t.Errorf("a wrong password and an unknown name answer differently:\n%s\n---\n%s", wrong, unknown)
	}
	resp, body = v.post("/login", "username", "alice", "password", "alice-password"+strings.Repeat("x", 100))
	expect(t, resp, body, http.StatusUnauthorized, "/login")
	// Not signed in: the account sends to the login page.
	resp, body = v.get("/account")
	expect(t, resp, body, http.StatusOK, "/login")
	ta.noCodeSent()
}

func TestAliceSignsIn(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	body := v.login("alice", "alice-password")
	if !strings.Contains(body, onFlowPage(alicePhone)) || !strings.Contains(body, `name="recovery_code"`) {
		t.Fatalf("the flow does not offer alice's masked number and a recovery code:\n%s", body)
	}
	ta.noCodeSent() // nothing sent before she asks
	v.verifySMS("/account")
	resp, body := v.get("/account")
	expect(t, resp, body, http.StatusOK, "/account", "1,234.56", "Signed in as alice")

	// Cookies over HTTPS are Secure, and the login session is its own cookie.
	u, _ := url.Parse(ta.srv.URL)
	names := map[string]bool{}
	for _, c := range v.jar.Cookies(u) {
		names[c.Name] = true
	}
	// The library's session cookie takes the __Host- prefix over HTTPS,
	// and has a name of its own: not BirdBank's default "twofactor".
	if !names[loginCookie] || !names["__Host-"+sessionName] || len(names) != 2 {
		t.Errorf("cookies %v, want %s and __Host-%s", names, loginCookie, sessionName)
	}
	resp, body = v.post("/logout")
	expect(t, resp, body, http.StatusOK, "/login")
	resp, body = v.get("/account")
	expect(t, resp, body, http.StatusOK, "/login")
}

func TestLoginCookieIsSecure(t *testing.T) {
	ta := startApp(t)
	req, _ := http.NewRequest(http.MethodPost, ta.srv.URL+"/login", strings.NewReader("username=alice&password=alice-password"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ta.srv.URL)
	rec := httptest.NewRecorder()
	ta.app.ServeHTTP(rec, req)
	found := false
	for _, c := range rec.Result().Cookies() {
		if c.Name == loginCookie {
			found = true
			if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("login cookie %v: want Secure, HttpOnly, SameSite=Lax", c)
			}
		}
	}
	if !found {
		t.Fatal("no login cookie set")
	}
}

func TestBobEnrols(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	body := v.login("bob", "bob-password")
	if !strings.Contains(body, `name="phone"`) {
		t.Fatalf("bob, with no number, is not asked for one:\n%s", body)
	}
	resp, body := v.post("/2fa/send", "phone", "+31 6 87654321")
	expect(t, resp, body, http.StatusOK, "/2fa/", `name="code"`)
	s := ta.nextCode()
	if s.v.Phone != "+31687654321" {
		t.Fatalf("code sent to %s", s.v.Phone)
	}
	resp, body = v.post("/2fa/check", "code", s.code)
	expect(t, resp, body, http.StatusOK, "/account", "Signed in as bob", "1,234.56")
	if got, _ := ta.app.users.phone(t.Context(), "bob"); got != "+31687654321" {
		t.Fatalf("bob's number on file is %q", got)
	}
	resp, body = v.get("/settings")
	expect(t, resp, body, http.StatusOK, "/settings", twofactor.MaskPhone("+31687654321"), `href="/2fa/change"`)

	// Next sign-in, the code goes to the enrolled number without asking.
	v.post("/logout")
	body = v.login("bob", "bob-password")
	if strings.Contains(body, `name="phone"`) || !strings.Contains(body, onFlowPage("+31687654321")) {
		t.Fatalf("bob is asked for a number again:\n%s", body)
	}
}

func TestSwitchingUserDoesNotCarryVerification(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	v.signedIn("alice")
	// bob signs in on the same browser: he is bob now, and not verified.
	resp, body := v.post("/login", "username", "bob", "password", "bob-password")
	expect(t, resp, body, http.StatusOK, "/2fa/", `name="phone"`)
	resp, body = v.get("/account")
	expect(t, resp, body, http.StatusOK, "/2fa/")
	// Back to alice: her verification is gone too.
	resp, body = v.post("/login", "username", "alice", "password", "alice-password")
	expect(t, resp, body, http.StatusOK, "/2fa/", onFlowPage(alicePhone))
	ta.noCodeSent()

	// And the library binds a verification to its user: alice's verified
	// cookie, copied into bob's browser, does not verify bob.
	a := ta.visitor()
	a.signedIn("alice")
	b := ta.visitor()
	b.login("bob", "bob-password")
	u, _ := url.Parse(ta.srv.URL)
	for _, c := range a.jar.Cookies(u) {
		if c.Name == "__Host-"+sessionName {
			b.jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
		}
	}
	resp, body = b.get("/account")
	expect(t, resp, body, http.StatusOK, "/2fa/", `name="phone"`)
}

func TestSettingsStepUp(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	v.signedIn("alice")
	resp, body := v.get("/settings")
	expect(t, resp, body, http.StatusOK, "/settings", twofactor.MaskPhone(alicePhone), "Change number", "New recovery codes", "Sign out everywhere")

	ta.advance(freshFor + time.Minute)
	// Still verified for the account ...
	resp, body = v.get("/account")
	expect(t, resp, body, http.StatusOK, "/account", "1,234.56")
	// ... but the settings and their actions want a code again.
	resp, body = v.post("/settings/recovery-codes")
	expect(t, resp, body, http.StatusUnauthorized, "")
	resp, body = v.get("/settings")
	expect(t, resp, body, http.StatusOK, "/2fa/")
	if resp.Request.URL.Query().Get("stepup") != "1" {
		t.Errorf("step-up page at %s", resp.Request.URL)
	}
	v.verifySMS("/settings")
	resp, body = v.post("/settings/recovery-codes")
	expect(t, resp, body, http.StatusOK, "/settings/recovery-codes")
}

var recoveryCode = regexp.MustCompile(`<li>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})</li>`)

func codesOn(t *testing.T, body string) []string {
	t.Helper()
	var codes []string
	for _, m := range recoveryCode.FindAllStringSubmatch(body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10:\n%s", len(codes), body)
	}
	return codes
}

func TestRecoveryCodes(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	v.signedIn("alice")
	resp, body := v.post("/settings/recovery-codes")
	expect(t, resp, body, http.StatusOK, "", "recovery codes")
	old := codesOn(t, body)
	resp, body = v.post("/settings/recovery-codes")
	expect(t, resp, body, http.StatusOK, "")
	fresh := codesOn(t, body)
	// Shown once: the settings page does not show them again.
	resp, body = v.get("/settings")
	expect(t, resp, body, http.StatusOK, "/settings")
	if strings.Contains(body, fresh[0]) {
		t.Error("the settings page shows a recovery code")
	}

	w := ta.visitor()
	w.login("alice", "alice-password")
	resp, body = w.post("/2fa/recover", "recovery_code", old[0])
	if resp.StatusCode < 400 || resp.StatusCode > 499 || resp.Request.URL.Path != "/2fa/recover" || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("an old recovery code: %d at %s, want a 4xx page with an error", resp.StatusCode, resp.Request.URL)
	}
	resp, body = w.post("/2fa/recover", "recovery_code", strings.ToUpper(fresh[3]))
	expect(t, resp, body, http.StatusOK, "/account", "Signed in as alice")
	// A recovery code counts as fresh for the settings, which count the
	// codes left.
	resp, body = w.get("/settings")
	expect(t, resp, body, http.StatusOK, "/settings", "You have 9 recovery codes left.")

	x := ta.visitor()
	x.login("alice", "alice-password")
	resp, _ = x.post("/2fa/recover", "recovery_code", fresh[3])
	if resp.StatusCode < 400 || resp.StatusCode > 499 {
		t.Fatalf("a used recovery code: %d, want 4xx", resp.StatusCode)
	}
	ta.noCodeSent()
}

func TestRememberedDevice(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	v.login("alice", "alice-password")
	v.post("/2fa/send")
	s := ta.nextCode()
	resp, body := v.post("/2fa/check", "code", s.code, "remember", "1")
	expect(t, resp, body, http.StatusOK, "/account")
	v.post("/logout")
	// Signed in again without a code ...
	resp, body = v.post("/login", "username", "alice", "password", "alice-password")
	expect(t, resp, body, http.StatusOK, "/account", "Signed in as alice")
	ta.noCodeSent()
	// ... which is not fresh enough for the settings.
	resp, body = v.get("/settings")
	expect(t, resp, body, http.StatusOK, "/2fa/")
	v.verifySMS("/settings")
	_, body = v.get("/settings")
	m := regexp.MustCompile(`name="id" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no remembered device listed:\n%s", body)
	}
	resp, body = v.post("/settings/devices/revoke", "id", m[1])
	expect(t, resp, body, http.StatusOK, "/settings", "No remembered devices")
	v.post("/logout")
	body = v.login("alice", "alice-password")
	if !strings.Contains(body, "/2fa/send") {
		t.Fatalf("a revoked device still signs in:\n%s", body)
	}
}

func TestSignOutEverywhere(t *testing.T) {
	ta := startApp(t)
	first, second := ta.visitor(), ta.visitor()
	first.signedIn("alice")
	second.signedIn("alice")
	resp, body := second.post("/settings/sign-out-everywhere")
	expect(t, resp, body, http.StatusOK, "/settings/sign-out-everywhere", "Signed out everywhere")
	if strings.Contains(body, "Signed in as") {
		t.Error("still shown as signed in after signing out everywhere")
	}
	for name, v := range map[string]*visitor{"first": first, "second": second} {
		resp, body = v.get("/account")
		expect(t, resp, body, http.StatusOK, "/login")
		resp, _ = v.post("/settings/recovery-codes")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s browser: a settings action after signing out everywhere: %d", name, resp.StatusCode)
		}
	}
	// Signing in again asks for a code.
	first.login("alice", "alice-password")
	first.verifySMS("/account")
}

func TestErrorsArePages(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	v.signedIn("alice")
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/nowhere", http.StatusNotFound},
		{http.MethodDelete, "/account", http.StatusMethodNotAllowed},
		{http.MethodGet, "/logout", http.StatusMethodNotAllowed},
		{http.MethodGet, "/settings/recovery-codes", http.StatusMethodNotAllowed},
		{http.MethodPut, "/login", http.StatusMethodNotAllowed},
	} {
		resp, body := v.do(tc.method, tc.path, nil)
		expect(t, resp, body, tc.status, "", `role="alert"`)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, ct)
		}
	}
	// A cross-origin POST is refused.
	req, _ := http.NewRequest(http.MethodPost, ta.srv.URL+"/settings/sign-out-everywhere", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := v.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin POST: %d, want 403", resp.StatusCode)
	}
	resp, body := v.get("/account")
	expect(t, resp, body, http.StatusOK, "/account") // still signed in
	// A revoke without an id says so.
	resp, body = v.post("/settings/devices/revoke")
	expect(t, resp, body, http.StatusBadRequest, "")
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/account": "/account", "/settings?x=1": "/settings?x=1", "": "", "//evil.example": "",
		"https://evil.example/": "", "/\\evil.example": "", "account": "",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
