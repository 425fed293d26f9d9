package main

// The authenticator-app contract of the sign-in app: add one from the
// settings, sign in with it (offered first), a code works once, "Text me a
// code instead" still works, and Remove.

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/redis/go-redis/v9"
)

// appCode is the code of secret at the app's clock, as the user's phone
// shows it.
func (ta *testApp) appCode(secret string) string {
	ta.t.Helper()
	code, err := totp.GenerateCodeCustom(secret, ta.clock(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		ta.t.Fatal(err)
	}
	return code
}

var secretOnPage = regexp.MustCompile(`<code id="totp-secret"[^>]*>([A-Z2-7]+)</code>`)

// addApp adds an authenticator app for v's user, who is verified, from the
// settings, and returns its secret. The clock then moves to the next 30
// seconds: the code that added the app is spent.
func (v *visitor) addApp() string {
	v.t.Helper()
	resp, body := v.get("/settings")
	expect(v.t, resp, body, http.StatusOK, "/settings", `href="/settings/totp"`, "Add an authenticator app")
	resp, body = v.get("/settings/totp")
	expect(v.t, resp, body, http.StatusOK, "/settings/totp", `id="totp-secret"`, `name="code"`, `src="data:image/png;base64,`)
	m := secretOnPage.FindStringSubmatch(body)
	if m == nil {
		v.t.Fatalf("no secret on the page:\n%s", body)
	}
	secret := m[1]
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src data:") {
		v.t.Errorf("CSP %q blocks the QR code", csp)
	}
	// A wrong code: the form again, with the same secret.
	right := v.ta.appCode(secret)
	wrong := "000000"
	if right == wrong {
		wrong = "111111"
	}
	resp, body = v.post("/settings/totp", "code", wrong)
	expect(v.t, resp, body, http.StatusBadRequest, "/settings/totp", `name="code"`, `id="totp-secret"`, secret, `role="alert"`)
	resp, body = v.post("/settings/totp", "code", right)
	expect(v.t, resp, body, http.StatusOK, "/settings/totp", "Authenticator app added", `id="remove-totp"`)
	v.ta.advance(30 * time.Second)
	return secret
}

// loginToApp signs in with the password and checks the flow offers the
// authenticator app first.
func (v *visitor) loginToApp(name string) string {
	v.t.Helper()
	resp, body := v.post("/login", "username", name, "password", name+"-password")
	expect(v.t, resp, body, http.StatusOK, "/2fa/totp", `autocomplete="one-time-code"`, "authenticator app", "Text me a code instead")
	return body
}

func TestAuthenticatorApp(t *testing.T) {
	ta := startApp(t)
	alice := ta.visitor()
	alice.signedIn("alice")
	secret := alice.addApp()
	resp, body := alice.post("/logout")
	expect(t, resp, body, http.StatusOK, "/login")

	// The next sign-in offers the app first; its code leads to the account.
	// One "Remember this device", the app's form's, and a recovery code.
	body = alice.loginToApp("alice")
	if n := strings.Count(body, `name="remember"`); n != 1 || !regexp.MustCompile(`(?s)action="/2fa/totp".*name="remember".*</form>.*action="/2fa/recover"`).MatchString(body) {
		t.Fatalf("%d remember boxes on the app's page, want the code form's only:\n%s", n, body)
	}
	code := ta.appCode(secret)
	resp, body = alice.post("/2fa/totp", "code", code)
	expect(t, resp, body, http.StatusOK, "/account", "Signed in as alice")
	ta.noCodeSent()

	// The same code in another browser, in the same 30 seconds: refused.
	thief := ta.visitor()
	thief.loginToApp("alice")
	resp, body = thief.post("/2fa/totp", "code", code)
	expect(t, resp, body, http.StatusBadRequest, "/2fa/totp", "used already")
	resp, body = thief.get("/account")
	expect(t, resp, body, http.StatusOK, "/2fa/totp")

	// "Text me a code instead" still works.
	other := ta.visitor()
	body = other.loginToApp("alice")
	link := regexp.MustCompile(`<a href="([^"]*use=sms[^"]*)"[^>]*>Text me a code instead</a>`).FindStringSubmatch(body)
	if link == nil {
		t.Fatalf("no link to SMS:\n%s", body)
	}
	resp, body = other.get(html.UnescapeString(link[1]))
	expect(t, resp, body, http.StatusOK, "/2fa/", onFlowPage(alicePhone), `action="/2fa/send"`, "Use your authenticator app instead")
	other.verifySMS("/account")

	// The settings list the app, last used just now.
	resp, body = alice.get("/settings")
	expect(t, resp, body, http.StatusOK, "/settings", "Authenticator app — added", "last used", `id="remove-totp"`)
}

func TestRemovingTheAuthenticatorApp(t *testing.T) {
	ta := startApp(t)
	alice := ta.visitor()
	alice.signedIn("alice")
	secret := alice.addApp()
	elsewhere := ta.visitor()
	elsewhere.loginToApp("alice")
	resp, body := elsewhere.post("/2fa/totp", "code", ta.appCode(secret))
	expect(t, resp, body, http.StatusOK, "/account")

	resp, body = alice.get("/settings")
	expect(t, resp, body, http.StatusOK, "/settings")
	id := regexp.MustCompile(`name="method" value="totp"><input type="hidden" name="id" value="([0-9a-f]+)"`).FindStringSubmatch(body)
	if id == nil {
		t.Fatalf("no Remove form for the app:\n%s", body)
	}
	resp, body = alice.post("/settings/factors/remove", "method", "totp", "id", id[1])
	expect(t, resp, body, http.StatusOK, "/settings", "Removed", "Add an authenticator app")
	if strings.Contains(body, `id="remove-totp"`) {
		t.Fatalf("the app is still listed:\n%s", body)
	}
	// The other session ends; its next verification is by SMS again.
	resp, body = elsewhere.get("/account")
	expect(t, resp, body, http.StatusOK, "/2fa/", `action="/2fa/send"`)
	resp, body = elsewhere.post("/2fa/totp", "code", ta.appCode(secret))
	expect(t, resp, body, http.StatusConflict, "/2fa/totp", "no authenticator app")
	// A second Remove of the same: gone already.
	resp, body = alice.post("/settings/factors/remove", "method", "totp", "id", id[1])
	expect(t, resp, body, http.StatusNotFound, "/settings/factors/remove", "removed already")
}

// The app as the only factor (no number on file): Remove says why not.
func TestRemovingTheLastFactor(t *testing.T) {
	ta := startApp(t)
	alice := ta.visitor()
	alice.signedIn("alice")
	alice.addApp()
	if err := ta.app.st.setPhone(context.Background(), "alice", ""); err != nil {
		t.Fatal(err)
	}
	resp, body := alice.get("/settings")
	expect(t, resp, body, http.StatusOK, "/settings")
	id := regexp.MustCompile(`name="id" value="([0-9a-f]+)"`).FindStringSubmatch(body)
	if id == nil {
		t.Fatalf("no Remove form:\n%s", body)
	}
	resp, body = alice.post("/settings/factors/remove", "method", "totp", "id", id[1])
	expect(t, resp, body, http.StatusConflict, "/settings/factors/remove", html.EscapeString("You can't remove your only way to verify"), `id="remove-totp"`)
}

// Adding an app is a setting: behind step-up like the others.
func TestAddingAnAppNeedsStepUp(t *testing.T) {
	ta := startApp(t)
	alice := ta.visitor()
	alice.signedIn("alice")
	ta.advance(freshFor + time.Minute)
	resp, body := alice.get("/settings/totp")
	expect(t, resp, body, http.StatusOK, "/2fa/", "still you")
	resp, body = alice.post("/settings/totp", "code", "123456")
	if resp.StatusCode == http.StatusOK || strings.Contains(body, "Authenticator app added") {
		t.Fatalf("POST /settings/totp without step-up: %d\n%s", resp.StatusCode, body)
	}
}

// Two servers on one Redis: an app added on one signs in on the other, a
// code spent on one is spent on both, and Redis holds no secret in clear.
func TestAuthenticatorAppInRedis(t *testing.T) {
	a, b, r := startPair(t)
	alice := a.visitor()
	alice.signedIn("alice")
	secret := alice.addApp()
	b.mu.Lock()
	b.now = a.clock() // one clock for both servers, past the step that added the app
	b.mu.Unlock()
	onB := b.visitor()
	onB.loginToApp("alice")
	code := b.appCode(secret)
	resp, body := onB.post("/2fa/totp", "code", code)
	expect(t, resp, body, http.StatusOK, "/account")
	onA := a.visitor()
	onA.loginToApp("alice")
	resp, body = onA.post("/2fa/totp", "code", code)
	expect(t, resp, body, http.StatusBadRequest, "/2fa/totp", "used already")

	client := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer client.Close()
	ctx := context.Background()
	keys, err := client.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range keys {
		typ, _ := client.Type(ctx, k).Result()
		var all string
		switch typ {
		case "hash":
			m, _ := client.HGetAll(ctx, k).Result()
			for f, v := range m {
				all += f + "=" + v + "\n"
			}
		case "string":
			all, _ = client.Get(ctx, k).Result()
		}
		if strings.Contains(k, "totp") {
			found = true
		}
		if strings.Contains(k+all, secret) || strings.Contains(strings.ToUpper(k+all), secret) {
			t.Fatalf("Redis key %s holds the secret in clear", k)
		}
	}
	if !found {
		t.Fatalf("no authenticator-app key in Redis: %v", keys)
	}
}
