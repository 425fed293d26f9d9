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
	"testing"

	"github.com/go-twofactor/twofactor/internal/testkit"
)

// codeLog collects what the mock provider prints to the terminal.
type codeLog struct{ testkit.Buffer }

var codeLine = regexp.MustCompile(`the code for (.+?) is (\d{6,10})\n`)

// last returns the last code printed, as a newcomer reads it off the terminal.
func (c *codeLog) last(t *testing.T) string {
	t.Helper()
	out := c.String()
	m := codeLine.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		t.Fatalf("no code printed; terminal shows %q", out)
	}
	return m[len(m)-1][2]
}

type visitor struct {
	t      *testing.T
	base   string
	client *http.Client
}

func newVisitor(t *testing.T, base string) *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{t: t, base: base, client: &http.Client{Jar: jar}}
}

func (b *visitor) do(method, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base) // as a visitor submitting a same-origin form
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp, string(page)
}

func startApp(t *testing.T, cfg config) (*httptest.Server, *codeLog) {
	t.Helper()
	codes := &codeLog{}
	if cfg.CodeOut == nil {
		cfg.CodeOut = codes
	}
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := newApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv, codes
}

// The README's promise: open /account, type a number, read the code in the
// terminal, type it, see the balance.
func TestNewcomerFlow(t *testing.T) {
	srv, codes := startApp(t, config{})
	b := newVisitor(t, srv.URL)

	resp, page := b.do("GET", "/account", nil)
	if resp.Request.URL.Path != "/2fa/" || !strings.Contains(page, `name="phone"`) {
		t.Fatalf("GET /account ended at %s without the phone form:\n%s", resp.Request.URL, page)
	}
	if strings.Contains(page, "1,234.56") {
		t.Fatal("balance shown before verification")
	}

	resp, page = b.do("POST", "/2fa/send", url.Values{"phone": {"+31 6 12345678"}})
	if resp.StatusCode != 200 || !strings.Contains(page, `name="code"`) {
		t.Fatalf("after sending: %d\n%s", resp.StatusCode, page)
	}
	if strings.Contains(page, "12345678") {
		t.Fatal("code page shows the full phone number")
	}
	terminal := codes.String()
	if strings.Contains(terminal, "+31612345678") {
		t.Fatalf("terminal shows the full number: %q", terminal)
	}

	resp, page = b.do("POST", "/2fa/check", url.Values{"code": {codes.last(t)}})
	if resp.Request.URL.Path != "/account" || !strings.Contains(page, "1,234.56") || !strings.Contains(page, "EUR") {
		t.Fatalf("after the code: %s %d\n%s", resp.Request.URL, resp.StatusCode, page)
	}
	if _, other := b.do("GET", "/", nil); strings.Contains(other, "1,234.56") {
		t.Fatal("the balance must show on /account only")
	}

	// Log out: the account is gated again.
	resp, _ = b.do("POST", "/logout", url.Values{})
	if resp.Request.URL.Path != "/" {
		t.Fatalf("logout ended at %s", resp.Request.URL)
	}
	resp, page = b.do("GET", "/account", nil)
	if resp.Request.URL.Path != "/2fa/" || strings.Contains(page, "1,234.56") {
		t.Fatalf("after logout /account reached %s", resp.Request.URL)
	}
}

func TestPagesAndErrors(t *testing.T) {
	srv, _ := startApp(t, config{})
	b := newVisitor(t, srv.URL)
	for _, tc := range []struct {
		method, path string
		status       int
		want         string
	}{
		{"GET", "/", 200, "BirdBank"},
		{"GET", "/nope", 404, "no page here"},
		{"GET", "/account/", 404, "no page here"},
		{"POST", "/account", 405, ""},
		{"GET", "/logout", 405, ""},
	} {
		resp, page := b.do(tc.method, tc.path, nil)
		if resp.StatusCode != tc.status || !strings.Contains(page, tc.want) {
			t.Errorf("%s %s: %d %q, want %d with %q", tc.method, tc.path, resp.StatusCode, page, tc.status, tc.want)
		}
	}
	// A wrong code is a clear page, not a crash.
	b.do("POST", "/2fa/send", url.Values{"phone": {"+31612345678"}})
	resp, page := b.do("POST", "/2fa/check", url.Values{"code": {"000000"}})
	if resp.StatusCode != 400 || !strings.Contains(page, `role="alert"`) {
		t.Fatalf("wrong code: %d\n%s", resp.StatusCode, page)
	}
	// A cross-site logout is refused.
	req, _ := http.NewRequest("POST", srv.URL+"/logout", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	cross, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	cross.Body.Close()
	if cross.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site logout: %d, want 403", cross.StatusCode)
	}
}

func TestSessionKey(t *testing.T) {
	if _, err := newApp(config{SessionKey: "short"}); err == nil || !strings.Contains(err.Error(), "SESSION_KEY") {
		t.Fatalf("short SESSION_KEY: err = %v", err)
	}
	// The same SESSION_KEY on two servers: a session made on one works on the other.
	key := strings.Repeat("k", 32)
	a, codes := startApp(t, config{SessionKey: key})
	b := newVisitor(t, a.URL)
	b.do("POST", "/2fa/send", url.Values{"phone": {"+31612345678"}})
	b.do("POST", "/2fa/check", url.Values{"code": {codes.last(t)}})
	if _, page := b.do("GET", "/account", nil); !strings.Contains(page, "1,234.56") {
		t.Fatal("not verified on the first server")
	}
	u, _ := url.Parse(a.URL)
	cookies := b.client.Jar.Cookies(u)

	other, _ := startApp(t, config{SessionKey: key})
	ou, _ := url.Parse(other.URL)
	b.client.Jar.SetCookies(ou, cookies)
	b.base = other.URL
	if _, page := b.do("GET", "/account", nil); strings.Contains(page, "1,234.56") {
		// The cookie decodes on the second server, but the grant lives in
		// the first server's memory: without shared state it must not pass.
		t.Fatal("second server without shared state accepted the first server's grant")
	}
}
