package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer a child process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The contract of issue 19: BirdBank and the sign-in example, run side by
// side on localhost (two ports, one browser), keep their verifications
// apart. Browsers send a host's cookies to every port of it, so the two
// must not share a cookie name. This builds and runs the sign-in example
// as a newcomer would, beside BirdBank, with one cookie jar for both.
func TestSideBySideWithTheSignInExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the sign-in example")
	}
	bin := filepath.Join(t.TempDir(), "signin")
	if out, err := exec.Command("go", "build", "-o", bin, "../signin").CombinedOutput(); err != nil {
		t.Fatalf("building the sign-in example: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	var out syncBuffer
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir() // no .env
	cmd.Env = append(os.Environ(), "HOST=127.0.0.1", "PORT="+itoa(port), "SESSION_KEY=", "REDIS_URL=", "MESSAGEBIRD_API_KEY=")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	signinURL := "http://127.0.0.1:" + itoa(port)
	for deadline := time.Now().Add(60 * time.Second); ; {
		if resp, err := http.Get(signinURL + "/login"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sign-in example did not start:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond) // polling a child process's port
	}

	bank, codes := startApp(t, config{})
	jar, _ := cookiejar.New(nil) // one browser: cookies per host, whatever the port
	client := &http.Client{Jar: jar}
	b := &visitor{t: t, base: bank.URL, client: client}
	s := &visitor{t: t, base: signinURL, client: client}

	// Verified at BirdBank.
	b.do("GET", "/account", nil)
	b.do("POST", "/2fa/send", url.Values{"phone": {"+31612345678"}})
	if resp, page := b.do("POST", "/2fa/check", url.Values{"code": {codes.last(t)}}); resp.Request.URL.Path != "/account" {
		t.Fatalf("BirdBank check ended at %s:\n%s", resp.Request.URL, page)
	}
	// Signed in and verified at the sign-in example, in the same browser.
	if resp, page := s.do("POST", "/login", url.Values{"username": {"alice"}, "password": {"alice-password"}}); resp.Request.URL.Path != "/2fa/" {
		t.Fatalf("sign-in example login ended at %s:\n%s", resp.Request.URL, page)
	}
	s.do("POST", "/2fa/send", url.Values{})
	code := lastCode(t, out.String())
	if resp, page := s.do("POST", "/2fa/check", url.Values{"code": {code}}); resp.Request.URL.Path != "/account" || !strings.Contains(page, "Signed in as alice") {
		t.Fatalf("sign-in example check ended at %s:\n%s", resp.Request.URL, page)
	}
	// Each still verified.
	if resp, page := b.do("GET", "/account", nil); resp.Request.URL.Path != "/account" {
		t.Fatalf("BirdBank after the sign-in example verified: ended at %s, want the account (the two share a cookie?):\n%s", resp.Request.URL, page)
	}
	if resp, page := s.do("GET", "/account", nil); resp.Request.URL.Path != "/account" || !strings.Contains(page, "Signed in as alice") {
		t.Fatalf("the sign-in example after BirdBank: ended at %s:\n%s", resp.Request.URL, page)
	}
}

func lastCode(t *testing.T, out string) string {
	t.Helper()
	m := codeLine.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		t.Fatalf("no code printed; terminal shows %q", out)
	}
	return m[len(m)-1][2]
}

func itoa(n int) string { return strconv.Itoa(n) }
