package main

// The password step as an attacker meets it: guessing passwords, guessing
// names, opening accounts in bulk, and a login cookie copied before the
// owner logged out.

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"
)

// wrongPasswords posts n wrong passwords for name and returns the statuses.
func (v *visitor) wrongPasswords(name string, n int) []int {
	v.t.Helper()
	var got []int
	for i := range n {
		resp, _ := v.post("/login", "username", name, "password", "guess-"+strconv.Itoa(i))
		got = append(got, resp.StatusCode)
	}
	return got
}

func TestPasswordGuessingIsLimitedPerAccount(t *testing.T) {
	ta := startApp(t)
	attacker := ta.visitor()
	n := int(defaultLoginPerAccount.Limit)
	for i, status := range attacker.wrongPasswords("alice", n) {
		if status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, status)
		}
	}
	resp, locked := attacker.post("/login", "username", "alice", "password", "guess-again")
	expect(t, resp, locked, http.StatusTooManyRequests, "/login", "Too many sign-in attempts", `role="alert"`, `name="password"`)
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > int(defaultLoginPerAccount.Period/time.Second) {
		t.Errorf("Retry-After %q, want 1 to %d seconds", resp.Header.Get("Retry-After"), int(defaultLoginPerAccount.Period/time.Second))
	}
	// The right password is refused too now: a refusal says nothing of
	// whether a guess was right.
	resp, body := attacker.post("/login", "username", "alice", "password", "alice-password")
	expect(t, resp, body, http.StatusTooManyRequests, "/login")
	// From another browser as well: the limit is the account's.
	resp, body = ta.visitor().post("/login", "username", "Alice", "password", "alice-password")
	expect(t, resp, body, http.StatusTooManyRequests, "/login")

	// An unknown name is limited the same, with the same page: the limit
	// does not tell which names exist.
	attacker.wrongPasswords("nobody", n)
	resp, unknown := attacker.post("/login", "username", "nobody", "password", "guess-again")
	expect(t, resp, unknown, http.StatusTooManyRequests, "/login")
	if unknown != locked {
		t.Errorf("a locked known and unknown name answer differently:\n%s\n---\n%s", locked, unknown)
	}

	// Other accounts are not touched: bob signs in from the same network.
	bob := ta.visitor()
	resp, body = bob.post("/login", "username", "bob", "password", "bob-password")
	expect(t, resp, body, http.StatusOK, "/2fa/")
	ta.noCodeSent()
}

func TestPasswordLimitHoldsUnderParallelGuesses(t *testing.T) {
	ta := startApp(t)
	const tries = 60
	var wg sync.WaitGroup
	statuses := make(chan int, tries)
	for i := range tries {
		wg.Go(func() {
			v := ta.visitor()
			form := url.Values{"username": {"alice"}, "password": {"parallel-" + strconv.Itoa(i)}}
			req, _ := http.NewRequest(http.MethodPost, ta.srv.URL+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", ta.srv.URL)
			resp, err := v.client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	checked := 0
	for s := range statuses {
		switch s {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
		default:
			t.Errorf("status %d", s)
		}
	}
	if checked > int(defaultLoginPerAccount.Limit) {
		t.Errorf("%d passwords were checked, want at most %d", checked, defaultLoginPerAccount.Limit)
	}
}

func TestRightPasswordClearsTheAccountCount(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	n := int(defaultLoginPerAccount.Limit)
	v.wrongPasswords("alice", n-1) // a forgetful owner
	v.login("alice", "alice-password")
	v.post("/logout")
	for i, status := range v.wrongPasswords("alice", n-1) {
		if status != http.StatusUnauthorized {
			t.Fatalf("after a right password, wrong password %d: %d, want 401", i+1, status)
		}
	}
}

func TestPasswordGuessingIsLimitedPerNetwork(t *testing.T) {
	ta := startAppWith(t, func(c *config) { c.LoginPerNetwork = limiter.Rate{Limit: 5, Period: time.Hour} })
	v := ta.visitor()
	// One password tried on many names: each name's limit is far off, the
	// network's is not.
	for i := range 5 {
		resp, body := v.post("/login", "username", "user"+strconv.Itoa(i), "password", "Summer2026!")
		expect(t, resp, body, http.StatusUnauthorized, "/login")
	}
	resp, body := v.post("/login", "username", "alice", "password", "alice-password")
	expect(t, resp, body, http.StatusTooManyRequests, "/login", "Too many sign-in attempts")

	// Another network is not touched (the handler itself, so the test can
	// give the request another address).
	form := url.Values{"username": {"alice"}, "password": {"alice-password"}}
	req := httptest.NewRequest(http.MethodPost, ta.srv.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ta.srv.URL)
	req.RemoteAddr = "[2001:db8:1:2::7]:50000"
	rec := httptest.NewRecorder()
	ta.app.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Errorf("from another network: %d, want 303 into the flow", rec.Code)
	}
}

func TestClientNetwork(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:1234":               "192.0.2.7",
		"[::ffff:192.0.2.7]:1234":      "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443":   "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443":   "2001:db8:1:2::/64",
		"[fe80::1%eth0]:443":           "fe80::/64",
		"garbage":                      "unknown",
		"[2001:db8:1:3::1]:443":        "2001:db8:1:3::/64",
		"203.0.113.255:65535":          "203.0.113.255",
		"[2001:db8:aaaa:bbbb::1]:1234": "2001:db8:aaaa:bbbb::/64",
	} {
		if got := clientNetwork(&http.Request{RemoteAddr: addr}); got != want {
			t.Errorf("clientNetwork(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestSignupsAreLimitedPerNetwork(t *testing.T) {
	ta := startApp(t)
	n := int(defaultSignupPerNetwork.Limit)
	for i := range n {
		v := ta.visitor()
		resp, body := v.post("/signup", "username", "bulk"+strconv.Itoa(i), "password", "bulk-password")
		expect(t, resp, body, http.StatusOK, "/2fa/")
	}
	resp, body := ta.visitor().post("/signup", "username", "bulk-more", "password", "bulk-password")
	expect(t, resp, body, http.StatusTooManyRequests, "/signup", "Too many new accounts", `role="alert"`)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// The refused account was not made.
	resp, body = ta.visitor().post("/login", "username", "bulk-more", "password", "bulk-password")
	expect(t, resp, body, http.StatusUnauthorized, "/login")
	ta.noCodeSent()
}

// copyCookies puts every cookie of from's jar into to's.
func copyCookies(t *testing.T, ta *testApp, from, to *visitor) {
	t.Helper()
	u, _ := url.Parse(ta.srv.URL)
	var cs []*http.Cookie
	for _, c := range from.jar.Cookies(u) {
		cs = append(cs, &http.Cookie{Name: c.Name, Value: c.Value, Path: "/", Secure: true})
	}
	if len(cs) == 0 {
		t.Fatal("no cookies to copy")
	}
	to.jar.SetCookies(u, cs)
}

func TestCopiedLoginCookieDiesAtLogout(t *testing.T) {
	ta := startApp(t)
	alice := ta.visitor()
	alice.login("alice", "alice-password")
	alice.post("/2fa/send")
	resp, body := alice.post("/2fa/check", "code", ta.nextCode().code, "remember", "1")
	expect(t, resp, body, http.StatusOK, "/account")

	// Someone copies her cookies (the login, the verification and the
	// remembered device) while she is signed in: they work ...
	thief := ta.visitor()
	copyCookies(t, ta, alice, thief)
	resp, body = thief.get("/account")
	expect(t, resp, body, http.StatusOK, "/account", "Signed in as alice")

	// ... until she logs out: the login session ends on the server, so the
	// copy no longer signs anyone in, device cookie or not.
	resp, body = alice.post("/logout")
	expect(t, resp, body, http.StatusOK, "/login")
	for _, path := range []string{"/account", "/settings", "/2fa/"} {
		resp, body = thief.get(path)
		expect(t, resp, body, http.StatusOK, "/login")
		if strings.Contains(body, "Signed in as") {
			t.Errorf("%s after logout: still signed in", path)
		}
	}
	resp, _ = thief.post("/settings/sign-out-everywhere")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a settings action with the copied cookie: %d, want 401", resp.StatusCode)
	}
	// Her own next sign-in still knows the device.
	resp, body = alice.post("/login", "username", "alice", "password", "alice-password")
	expect(t, resp, body, http.StatusOK, "/account")
	ta.noCodeSent()
}

func TestCopiedLoginCookieDiesAtSignOutEverywhere(t *testing.T) {
	ta := startApp(t)
	alice := ta.visitor()
	alice.signedIn("alice")
	thief := ta.visitor()
	copyCookies(t, ta, alice, thief)
	resp, body := alice.post("/settings/sign-out-everywhere")
	expect(t, resp, body, http.StatusOK, "", "Signed out everywhere")
	resp, body = thief.get("/account")
	expect(t, resp, body, http.StatusOK, "/login")
}

func TestLoginIsANewSession(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	v.signedIn("alice")
	before := ta.visitor()
	copyCookies(t, ta, v, before)
	// Signing in again (here as bob) ends the login session the browser
	// had: a copy taken before is worth nothing after.
	resp, body := v.post("/login", "username", "bob", "password", "bob-password")
	expect(t, resp, body, http.StatusOK, "/2fa/")
	resp, body = before.get("/account")
	expect(t, resp, body, http.StatusOK, "/login")
}

func TestLoginErrorsAreTiedToTheirFields(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	_, body := v.post("/login", "username", "alice", "password", "wrong-password")
	for _, id := range []string{"username", "password"} {
		if !strings.Contains(body, `id="`+id+`" name="`+id+`"`) || strings.Count(body, `aria-invalid="true" aria-describedby="error"`) != 2 {
			t.Fatalf("the login error is not tied to both fields:\n%s", body)
		}
	}
	_, body = v.post("/signup", "username", "x", "password", "long-enough")
	if strings.Count(body, `aria-describedby="error"`) != 1 || !strings.Contains(body, `required pattern="[A-Za-z0-9_\-]{3,32}" value="x" autofocus aria-invalid="true"`) {
		t.Fatalf("a bad name is not tied to the name field:\n%s", body)
	}
	_, body = v.post("/signup", "username", "carol", "password", "short")
	if strings.Count(body, `aria-describedby="error"`) != 1 || !strings.Contains(body, `minlength="8" aria-invalid="true"`) {
		t.Fatalf("a short password is not tied to the password field:\n%s", body)
	}
	_, body = v.get("/login")
	if strings.Contains(body, "aria-invalid") {
		t.Fatalf("a fresh form is marked invalid:\n%s", body)
	}
}
