package wire

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A request the server read counts as written; one whose connection was
// refused does not. The answer's status, headers and bounded body are
// recorded.
func TestCallRecordsTheExchange(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, strings.Repeat("x", MaxBody+10))
	}))
	defer srv.Close()
	c := &Call{Ctx: context.Background()}
	resp, err := c.Client(srv.Client()).Post(srv.URL, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	c.Close()
	if !c.Wrote() || c.Status() != http.StatusTooManyRequests || c.Header().Get("Retry-After") != "7" || len(b) != MaxBody {
		t.Errorf("wrote %v, status %d, Retry-After %q, body %d bytes", c.Wrote(), c.Status(), c.Header().Get("Retry-After"), len(b))
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c = &Call{Ctx: context.Background()}
	if _, err := c.Client(nil).Post("http://"+addr+"/", "application/json", strings.NewReader(`{}`)); err == nil {
		t.Fatal("a refused connection succeeded")
	}
	if c.Wrote() || c.Status() != 0 {
		t.Errorf("refused connection: wrote %v, status %d", c.Wrote(), c.Status())
	}
}

// The call's context reaches the request, and redirects are not followed.
func TestCallContextAndRedirects(t *testing.T) {
	srv := httptest.NewServer(http.RedirectHandler("https://evil.example/", http.StatusFound))
	defer srv.Close()
	c := &Call{Ctx: context.Background()}
	resp, err := c.Client(srv.Client()).Get(srv.URL)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("Get = %v, %v; want the 302 itself", resp, err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c = &Call{Ctx: ctx}
	if _, err := c.Client(srv.Client()).Get(srv.URL); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a canceled call context = %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 3, 14, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"": 0, "30": 30 * time.Second, " 30 ": 30 * time.Second, "-1": 0, "soon": 0, "999999": 24 * time.Hour,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	} {
		if got := RetryAfter(h, now); got != want {
			t.Errorf("RetryAfter(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestKeyChecks(t *testing.T) {
	for s, want := range map[string]bool{`"k"`: true, "'k'": true, `k"`: true, "k": false} {
		if Quoted(s) != want {
			t.Errorf("Quoted(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]bool{"live_abc": true, "": false, "a b": false, "tëst": false, "a\n": false} {
		if Printable(s) != want {
			t.Errorf("Printable(%q) = %v", s, !want)
		}
	}
	if !ValidPhone("+31612345678") || ValidPhone("+0612345678") || ValidPhone("31612345678") || !ValidCode("012345", 6) || ValidCode("01234a", 6) {
		t.Error("ValidPhone or ValidCode")
	}
}

func TestKeyProblem(t *testing.T) {
	for key, want := range map[string]string{
		"":           "is empty",
		`"live_abc"`: "is in quotes: remove them",
		"live_a bc":  "has spaces or characters other than printable ASCII",
		"live_tëst":  "has spaces or characters other than printable ASCII",
		"live_abc\n": "has spaces or characters other than printable ASCII",
		"live_abc\t": "has spaces or characters other than printable ASCII",
		"live_abc":   "",
		"bk_eu1_x":   "",
	} {
		if got := KeyProblem(key); got != want {
			t.Errorf("KeyProblem(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestLanguageTag(t *testing.T) {
	for _, tt := range []struct {
		in           string
		lang, region string
		ok           bool
	}{
		{"en", "en", "", true},
		{"en-gb", "en", "gb", true},
		{"zh-hant", "zh", "hant", true},
		{"es-419", "es", "419", true},
		{"fil", "fil", "", true},
		{"EN", "", "", false},
		{"e", "", "", false},
		{"engl", "", "", false},
		{"en-", "", "", false},
		{"en-g", "", "", false},
		{"en-gbxyz", "", "", false},
		{"", "", "", false},
	} {
		lang, region, ok := LanguageTag(tt.in)
		if lang != tt.lang || region != tt.region || ok != tt.ok {
			t.Errorf("LanguageTag(%q) = %q, %q, %v; want %q, %q, %v", tt.in, lang, region, ok, tt.lang, tt.region, tt.ok)
		}
	}
}
