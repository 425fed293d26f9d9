package main

// Two servers of the app on one Redis, a browser sent to either in turn
// (round robin): they must act as one app. Needs redis-server (skips
// without it, fails under CI=true).

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/examples/internal/demo"
	"github.com/go-twofactor/twofactor/internal/redistest"
)

// startPair starts two servers of the app sharing one Redis, one session
// key and one provider (as two servers share the real provider).
func startPair(t *testing.T) (a, b *testApp, r *redistest.Server) {
	t.Helper()
	r = redistest.Start(t)
	const key = "a test session key of at least 32 characters"
	a = startAppWith(t, func(c *config) { c.RedisURL, c.SessionKey = r.URL(), key })
	b = startAppWith(t, func(c *config) { c.RedisURL, c.SessionKey, c.Provider = r.URL(), key, a.mock })
	b.codes = a.codes
	return a, b, r
}

func TestTwoServersOneRedis(t *testing.T) {
	a, b, _ := startPair(t)

	// Sign up on A; sign in on B.
	carolA := a.visitor()
	resp, body := carolA.post("/signup", "username", "carol", "password", "carol-password")
	expect(t, resp, body, http.StatusOK, "/2fa/", `name="phone"`)
	carolB := carolA.on(b)
	resp, body = carolB.get("/account")
	expect(t, resp, body, http.StatusOK, "/2fa/", `name="phone"`) // signed in on B too
	// Enrol through B; her number is on file for A.
	resp, body = carolB.post("/2fa/send", "phone", "+31 6 11122233")
	expect(t, resp, body, http.StatusOK, "/2fa/", `name="code"`)
	resp, body = carolB.post("/2fa/check", "code", b.nextCode().code)
	expect(t, resp, body, http.StatusOK, "/account", "Signed in as carol")
	resp, body = carolA.get("/settings")
	expect(t, resp, body, http.StatusOK, "/settings", twofactor.MaskPhone("+31611122233"))

	// A second browser signs in on B with the password made on A.
	other := b.visitor()
	resp, body = other.post("/login", "username", "carol", "password", "carol-password")
	expect(t, resp, body, http.StatusOK, "/2fa/", onFlowPage("+31611122233"))

	// A number change on A is seen on B.
	resp, body = carolA.get("/2fa/change?next=/settings")
	expect(t, resp, body, http.StatusOK, "/2fa/change", `name="phone"`)
	resp, body = carolA.post("/2fa/send", "phone", "+31 6 44455566", "purpose", "change", "next", "/settings")
	expect(t, resp, body, http.StatusOK, "", `name="code"`)
	resp, body = carolA.post("/2fa/check", "code", a.nextCode().code, "next", "/settings")
	expect(t, resp, body, http.StatusOK, "/settings", "Your number is changed", twofactor.MaskPhone("+31644455566"))
	resp, body = other.get("/2fa/")
	expect(t, resp, body, http.StatusOK, "/2fa/", onFlowPage("+31644455566"))
	if got, _ := b.app.users.phone(t.Context(), "carol"); got != "+31644455566" {
		t.Fatalf("B has carol's number as %q", got)
	}

	// A logout on B ends the login on A: one login session, kept in Redis.
	copyOfCarol := a.visitor()
	copyCookies(t, a, carolA, copyOfCarol)
	resp, body = carolB.post("/logout")
	expect(t, resp, body, http.StatusOK, "/login")
	resp, body = copyOfCarol.get("/account")
	expect(t, resp, body, http.StatusOK, "/login")

	// Sign out everywhere on A ends the login on B.
	other.verifySMS("/account")
	carolA.login("carol", "carol-password")
	carolA.verifySMS("/account")
	resp, body = carolA.post("/settings/sign-out-everywhere")
	expect(t, resp, body, http.StatusOK, "", "Signed out everywhere")
	for name, v := range map[string]*visitor{"on A": other.on(a), "on B": other} {
		resp, body = v.get("/account")
		expect(t, resp, body, http.StatusOK, "/login")
		if strings.Contains(body, "Signed in as") {
			t.Errorf("the other browser %s is still signed in", name)
		}
	}
	a.noCodeSent()
}

// Recovery codes made on one server work on the other, once.
func TestTwoServersShareRecoveryCodes(t *testing.T) {
	a, b, _ := startPair(t)
	v := a.visitor()
	v.signedIn("alice")
	resp, body := v.post("/settings/recovery-codes")
	expect(t, resp, body, http.StatusOK, "", "recovery codes")
	codes := codesOn(t, body)
	w := b.visitor()
	w.login("alice", "alice-password")
	resp, body = w.post("/2fa/recover", "recovery_code", codes[0])
	expect(t, resp, body, http.StatusOK, "/account", "Signed in as alice")
	x := a.visitor()
	x.login("alice", "alice-password")
	if resp, _ = x.post("/2fa/recover", "recovery_code", codes[0]); resp.StatusCode < 400 || resp.StatusCode > 499 {
		t.Fatalf("a code used on B, again on A: %d, want 4xx", resp.StatusCode)
	}
}

func TestTwoServersCountPasswordTriesTogether(t *testing.T) {
	a, b, _ := startPair(t)
	v := a.visitor()
	n := int(defaultLoginPerAccount.Limit)
	for i := range n {
		server := v
		if i%2 == 1 {
			server = v.on(b)
		}
		resp, body := server.post("/login", "username", "alice", "password", "guess")
		expect(t, resp, body, http.StatusUnauthorized, "/login")
	}
	for _, server := range []*visitor{v, v.on(b)} {
		resp, body := server.post("/login", "username", "alice", "password", "alice-password")
		expect(t, resp, body, http.StatusTooManyRequests, "/login")
	}
}

func TestRedisDownFailsClosed(t *testing.T) {
	a, _, r := startPair(t)
	v := a.visitor()
	v.signedIn("alice")
	r.Stop()
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/account"},
		{http.MethodPost, "/login"},
		{http.MethodPost, "/signup"},
	} {
		var resp *http.Response
		var body string
		if tc.method == http.MethodGet {
			resp, body = v.get(tc.path)
		} else {
			resp, body = v.post(tc.path, "username", "alice", "password", "alice-password")
		}
		if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "1,234.56") {
			t.Errorf("%s %s with Redis down: %d, want 503", tc.method, tc.path, resp.StatusCode)
		}
	}
}

// The app's Redis keys hold no login token and no password, only hashes.
func TestRedisKeepsNoSecrets(t *testing.T) {
	a, _, r := startPair(t)
	v := a.visitor()
	v.signedIn("alice")
	client, err := redisClientFor(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	token := a.app.loginToken(mustRequest(t, a, v))
	if token == "" {
		t.Fatal("no login token")
	}
	keys, err := client.Keys(ctx, "signin:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, token) {
			t.Errorf("key %q holds the login token", k)
		}
		if typ, _ := client.Type(ctx, k).Result(); typ == "hash" {
			m, _ := client.HGetAll(ctx, k).Result()
			for f, val := range m {
				if strings.Contains(val, token) || strings.Contains(val, "alice-password") {
					t.Errorf("%s %s holds a secret", k, f)
				}
			}
		}
	}
}

func redisClientFor(url string) (*redis.Client, error) { return demo.RedisClient(url) }

// mustRequest is a request to ta carrying v's cookies.
func mustRequest(t *testing.T, ta *testApp, v *visitor) *http.Request {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, ta.srv.URL+"/", nil)
	for _, c := range v.jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	return req
}

// quietRedis drops go-redis's own log lines (a stopped server makes it
// print one per failed dial): the tests check what the app answers.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quietRedis{}) }
