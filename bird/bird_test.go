package bird

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/faketls"
	"github.com/go-twofactor/twofactor/providertest"
)

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{New: func(t *testing.T) (twofactor.Provider, providertest.Fake) {
		f := newFakeBird(t)
		return f.provider(t, Config{}), f
	}})
}

// reply answers every request with status and body.
func reply(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// replies answers the n-th request with the n-th handler (the last one for
// any further requests).
func replies(hs ...http.HandlerFunc) http.HandlerFunc {
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		h := hs[min(n, len(hs)-1)]
		n++
		h(w, r)
	}
}

func serverWith(t *testing.T, h http.Handler) (*faketls.Server, *Provider) {
	t.Helper()
	srv := faketls.NewServer(t, h, testHost)
	p, err := New(testKey, Config{HTTPClient: srv.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	p.retryDelay = 0
	return srv, p
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return m
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestSendRequest(t *testing.T) {
	f := newFakeBird(t)
	p := f.provider(t, Config{})
	v, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v.ID, "31612345678_vrf_") || v.Phone != testPhone || v.Channel != twofactor.SMS ||
		!v.ExpiresAt.Equal(f.Now().Add(10*time.Minute)) {
		t.Errorf("Send = %+v", v)
	}
	reqs := f.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Host != testHost || r.Path != "/v1/verify/verifications" || r.RawQuery != "" {
		t.Errorf("request = %s %s %s?%s", r.Method, r.Host, r.Path, r.RawQuery)
	}
	for h, want := range map[string]string{"Authorization": "Bearer " + testKey, "Content-Type": "application/json", "Accept": "application/json"} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "go-twofactor-bird/") {
		t.Errorf("User-Agent = %q", ua)
	}
	if k := r.Header.Get("Idempotency-Key"); !hex32.MatchString(k) {
		t.Errorf("Idempotency-Key = %q", k)
	}
	got := decode(t, r.Body)
	want := map[string]any{"to": map[string]any{"phone_number": testPhone},
		"options": map[string]any{"channels": []any{"sms"}, "code_length": 6.0}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("body = %v\nwant   %v", got, want)
	}
}

func TestSendConfigAndOverrides(t *testing.T) {
	f := newFakeBird(t)
	p := f.provider(t, Config{CodeLength: 8, Channel: twofactor.Voice, Language: "NL"})
	if p.CodeLength() != 8 || p.Region() != "eu1" {
		t.Errorf("CodeLength = %d, Region = %q", p.CodeLength(), p.Region())
	}
	ctx := context.Background()
	v, err := p.Send(ctx, twofactor.Request{Phone: "+4915123456789", Message: "ignored {code}", Amount: "EUR 5", Payee: "X"})
	if err != nil || v.Channel != twofactor.Voice {
		t.Fatalf("Send = %+v, %v", v, err)
	}
	if _, err := p.Send(ctx, twofactor.Request{Phone: "+4915123456789", Channel: twofactor.SMS, Language: "en-GB"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(ctx, twofactor.Request{Phone: "+4915123456789", Language: "not a tag"}); err != nil {
		t.Fatal(err)
	}
	reqs := f.Requests()
	first, second, third := decode(t, reqs[0].Body), decode(t, reqs[1].Body), decode(t, reqs[2].Body)
	want := map[string]any{"to": map[string]any{"phone_number": "+4915123456789"},
		"options": map[string]any{"channels": []any{"voice"}, "code_length": 8.0, "language": "nl"}}
	if fmt.Sprint(first) != fmt.Sprint(want) {
		t.Errorf("body = %v\nwant   %v", first, want)
	}
	if o := second["options"].(map[string]any); fmt.Sprint(o["channels"]) != "[sms]" || o["language"] != "en" {
		t.Errorf("overridden options = %v", o)
	}
	if o := third["options"].(map[string]any); o["language"] != "nl" {
		t.Errorf("a malformed Request.Language replaced the default: %v", o)
	}
	if k1, k2 := reqs[0].Header.Get("Idempotency-Key"), reqs[1].Header.Get("Idempotency-Key"); k1 == k2 {
		t.Errorf("two sends share the Idempotency-Key %q", k1)
	}
}

func TestCheckRequest(t *testing.T) {
	f := newFakeBird(t)
	p := f.provider(t, Config{})
	v, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(context.Background(), v.ID, f.LastCode()); err != nil {
		t.Fatalf("Check = %v", err)
	}
	r := f.Requests()[1]
	if r.Method != http.MethodPost || r.Host != testHost || r.Path != "/v1/verify/verifications/check" {
		t.Errorf("request = %s %s %s", r.Method, r.Host, r.Path)
	}
	if r.Header.Get("Authorization") != "Bearer "+testKey || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Idempotency-Key") != "" {
		t.Errorf("headers = %v", r.Header)
	}
	got := decode(t, r.Body)
	want := map[string]any{"to": map[string]any{"phone_number": testPhone}, "code": f.LastCode()}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("body = %v\nwant   %v", got, want)
	}
}

const (
	testID   = "31612345678_vrf_0123"
	verified = `{"success":true,"verification":{"id":"vrf_0123","status":"verified","to":{"phone_number":"+31612345678"}}}`
	created  = `{"id":"vrf_0123","status":"pending","expires_at":"2026-05-03T14:10:00Z","to":{"phone_number":"+31612345678"}}`
)

func birdErr(code, msg string) string {
	return `{"error":{"type":"invalid_request","code":"` + code + `","name":"X","message":"` + msg + `","request_id":"req_9","details":[{"field":"to.phone_number"}]}}`
}

var sentinels = []error{
	twofactor.ErrInvalidCode, twofactor.ErrMalformedCode, twofactor.ErrExpired, twofactor.ErrAlreadyUsed,
	twofactor.ErrTooManyAttempts, twofactor.ErrInvalidPhone, twofactor.ErrNotFound, twofactor.ErrBadAPIKey,
	twofactor.ErrNoBalance, twofactor.ErrUnavailable, twofactor.ErrRateLimited,
}

// classSentinels adds the classes of a provider's failure to sentinels.
var classSentinels = append([]error{twofactor.ErrConfiguration, twofactor.ErrUnknownOutcome, twofactor.ErrNumberRefused}, sentinels...)

// sameClass reports whether sentinel s is want or one of want's classes.
func sameClass(want, s error) bool { return want != nil && (s == want || errors.Is(want, s)) }

func TestErrorMapping(t *testing.T) {
	const secret = "Secret provider text"
	tests := []struct {
		name   string
		check  bool
		status int
		body   string
		want   error // nil means success
		also   error // a second error the answer must match
		calls  int   // requests expected; 0 means 1
	}{
		{"send ok", false, 201, created, nil, nil, 0},
		{"send 200 ok", false, 200, created, nil, nil, 0},
		{"send blocked", false, 200, `{"id":"vrf_1","status":"blocked"}`, twofactor.ErrRateLimited, nil, 0},
		{"send odd status", false, 200, `{"id":"vrf_1","status":"verified"}`, twofactor.ErrUnknownOutcome, nil, 0},
		{"send unusable id", false, 200, `{"id":"../x","status":"pending"}`, twofactor.ErrUnknownOutcome, nil, 0},
		{"send no id", false, 200, `{"status":"pending"}`, twofactor.ErrUnknownOutcome, nil, 0},
		{"send long id", false, 200, `{"id":"` + strings.Repeat("a", 120) + `","status":"pending"}`, twofactor.ErrUnknownOutcome, nil, 0},
		{"send malformed JSON", false, 200, `{"id":`, twofactor.ErrUnknownOutcome, nil, 0},
		{"send 401", false, 401, birdErr("E00001", secret), twofactor.ErrBadAPIKey, nil, 0},
		{"send 403", false, 403, birdErr("E00003", secret), twofactor.ErrBadAPIKey, nil, 0},
		{"send 421", false, 421, birdErr("E01010", secret), ErrWrongRegion, twofactor.ErrBadAPIKey, 0},
		{"send 429", false, 429, birdErr("E01003", secret), twofactor.ErrRateLimited, nil, 0},
		{"send 422", false, 422, birdErr("E02000", secret), twofactor.ErrInvalidPhone, nil, 0},
		{"send 422 other parameter", false, 422, `{"error":{"code":"E02000","message":"` + secret + `","details":[{"field":"options.language"}]}}`, twofactor.ErrConfiguration, nil, 0},
		{"send 402", false, 402, birdErr("E00402", secret), twofactor.ErrNoBalance, nil, 0},
		{"send 400 about the number", false, 400, birdErr("E02001", secret), twofactor.ErrInvalidPhone, nil, 0},
		{"send 400 other", false, 400, `{"error":{"code":"E02002","message":"` + secret + `"}}`, twofactor.ErrConfiguration, nil, 0},
		{"send 404", false, 404, birdErr("E00404", secret), twofactor.ErrConfiguration, nil, 0},
		{"send 409 E01005", false, 409, birdErr("E01005", secret), twofactor.ErrConfiguration, nil, 0},
		{"send 409 E01004 twice", false, 409, birdErr("E01004", secret), twofactor.ErrUnknownOutcome, nil, 2},
		{"send 500 twice", false, 500, birdErr("E99999", secret), twofactor.ErrUnavailable, nil, 2},
		{"send 502 HTML twice", false, 502, "<html>" + secret + "</html>", twofactor.ErrUnavailable, nil, 2},
		{"send 302", false, 302, "", twofactor.ErrConfiguration, nil, 0},
		{"check verified", true, 200, verified, nil, nil, 0},
		{"check verified, id only", true, 200, `{"success":true,"verification":{"id":"vrf_0123","status":"verified"}}`, nil, nil, 0},
		{"check verified, number only", true, 200, `{"success":true,"verification":{"status":"verified","to":{"phone_number":"+31612345678"}}}`, nil, nil, 0},
		{"check verified, other id", true, 200, strings.Replace(verified, "vrf_0123", "vrf_9999", 1), twofactor.ErrNotFound, nil, 0},
		{"check verified, other number", true, 200, strings.Replace(verified, "+31612345678", "+31687654321", 1), twofactor.ErrNotFound, nil, 0},
		{"check verified, unnamed", true, 200, `{"success":true,"verification":{"status":"verified"}}`, twofactor.ErrNotFound, nil, 0},
		{"check success, pending", true, 200, `{"success":true,"verification":{"id":"vrf_0123","status":"pending"}}`, twofactor.ErrUnavailable, nil, 0},
		{"check success, no verification", true, 200, `{"success":true}`, twofactor.ErrUnavailable, nil, 0},
		{"check wrong code", true, 200, `{"success":false,"reason":"incorrect_code","attempts_remaining":2}`, twofactor.ErrInvalidCode, nil, 0},
		{"check expired", true, 200, `{"success":false,"reason":"expired"}`, twofactor.ErrExpired, nil, 0},
		{"check exhausted", true, 200, `{"success":false,"reason":"attempts_exhausted","attempts_remaining":0}`, twofactor.ErrTooManyAttempts, nil, 0},
		{"check unknown reason", true, 200, `{"success":false,"reason":"` + secret + `"}`, twofactor.ErrUnavailable, nil, 0},
		{"check nothing pending", true, 404, birdErr("E13000", secret), twofactor.ErrNotFound, nil, 0},
		{"check 404 other", true, 404, birdErr("E00404", secret), twofactor.ErrConfiguration, nil, 0},
		{"check 400", true, 400, birdErr("E02001", secret), twofactor.ErrConfiguration, nil, 0},
		{"check 422", true, 422, birdErr("E02000", secret), twofactor.ErrConfiguration, nil, 0},
		{"check 401", true, 401, birdErr("E00001", secret), twofactor.ErrBadAPIKey, nil, 0},
		{"check 403", true, 403, birdErr("E00003", secret), twofactor.ErrBadAPIKey, nil, 0},
		{"check 421", true, 421, birdErr("E01010", secret), ErrWrongRegion, twofactor.ErrBadAPIKey, 0},
		{"check 429", true, 429, birdErr("E01003", secret), twofactor.ErrRateLimited, nil, 0},
		{"check 500, no retry", true, 500, "", twofactor.ErrUnavailable, nil, 0},
		{"check 503 HTML", true, 503, "<html>" + secret + "</html>", twofactor.ErrUnavailable, nil, 0},
		{"check malformed JSON", true, 200, "not json", twofactor.ErrUnknownOutcome, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, p := serverWith(t, reply(tt.status, tt.body, "Location", "https://evil.example/"))
			var err error
			if tt.check {
				err = p.Check(context.Background(), testID, "123456")
			} else {
				_, err = p.Send(context.Background(), twofactor.Request{Phone: testPhone})
			}
			reqs := srv.Requests()
			if want := max(tt.calls, 1); len(reqs) != want {
				t.Fatalf("server saw %d requests, want %d", len(reqs), want)
			}
			if len(reqs) == 2 && reqs[0].Header.Get("Idempotency-Key") != reqs[1].Header.Get("Idempotency-Key") {
				t.Errorf("retry with another Idempotency-Key: %q, %q", reqs[0].Header.Get("Idempotency-Key"), reqs[1].Header.Get("Idempotency-Key"))
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || tt.also != nil && !errors.Is(err, tt.also) {
				t.Fatalf("err = %v, want %v and %v", err, tt.want, tt.also)
			}
			for _, s := range classSentinels {
				if !sameClass(tt.want, s) && !sameClass(tt.also, s) && errors.Is(err, s) {
					t.Errorf("err = %v also matches %v", err, s)
				}
			}
			msg := err.Error()
			for _, leak := range []string{secret, "123456", "31612345678", "html", "not json", "s3cr3t", "evil"} {
				if strings.Contains(msg, leak) {
					t.Errorf("err %q contains %q", msg, leak)
				}
			}
			if errors.Is(err, ErrWrongRegion) && !strings.Contains(msg, "wrong region for this key") {
				t.Errorf("421 error %q does not say what is wrong", msg)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tt := range []struct {
		header string
		lo, hi time.Duration
	}{
		{"30", 30 * time.Second, 30 * time.Second},
		{"0", 0, 0},
		{"", 0, 0},
		{"soon", 0, 0},
		{"-5", 0, 0},
		{"999999999", 24 * time.Hour, 24 * time.Hour},
		{date, 80 * time.Second, 91 * time.Second},
	} {
		srv, p := serverWith(t, reply(429, birdErr("E01003", "slow down"), "Retry-After", tt.header))
		_, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone})
		var rl *RateLimitError
		if !errors.As(err, &rl) || !errors.Is(err, twofactor.ErrRateLimited) || errors.Is(err, twofactor.ErrUnavailable) {
			t.Fatalf("Retry-After %q: err = %v", tt.header, err)
		}
		if rl.RetryAfter < tt.lo || rl.RetryAfter > tt.hi || rl.Code != "E01003" {
			t.Errorf("Retry-After %q: RetryAfter = %v, Code %q; want %v to %v", tt.header, rl.RetryAfter, rl.Code, tt.lo, tt.hi)
		}
		// The flow and Failover read the twofactor package's type.
		var trl *twofactor.RateLimitError
		if !errors.As(err, &trl) || trl.RetryAfter != rl.RetryAfter || trl.Code != "E01003" || trl.Vendor != "Bird" {
			t.Errorf("Retry-After %q: as a *twofactor.RateLimitError: %+v", tt.header, trl)
		}
		if n := len(srv.Requests()); n != 1 {
			t.Errorf("Retry-After %q: %d requests, want 1 (no retry on 429)", tt.header, n)
		}
	}
}

// A 5xx or 409 E01004 on a send is retried once with the same
// Idempotency-Key; the answer to the retry counts.
func TestSendRetriesWithSameKey(t *testing.T) {
	for _, first := range []http.HandlerFunc{reply(503, "busy"), reply(409, birdErr("E01004", "in progress"))} {
		srv, p := serverWith(t, replies(first, reply(201, created)))
		v, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone})
		if err != nil || v.ID != testID {
			t.Fatalf("Send = %+v, %v", v, err)
		}
		reqs := srv.Requests()
		if len(reqs) != 2 || reqs[0].Header.Get("Idempotency-Key") != reqs[1].Header.Get("Idempotency-Key") ||
			string(reqs[0].Body) != string(reqs[1].Body) {
			t.Fatalf("requests = %+v", reqs)
		}
	}
}

// The retry waits retryDelay, and gives up when the context ends first.
func TestSendRetryHonoursContext(t *testing.T) {
	answered := make(chan struct{}, 2)
	srv, p := serverWith(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reply(503, "busy")(w, r)
		answered <- struct{}{}
	}))
	p.retryDelay = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Send(ctx, twofactor.Request{Phone: testPhone})
		errc <- err
	}()
	<-answered // the first try has been answered; Send now waits to retry
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, twofactor.ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
	case <-time.After(providertest.Timeout):
		t.Fatal("Send did not return after its context was canceled")
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestCheckRejectsMalformedIDs(t *testing.T) {
	srv, p := serverWith(t, reply(200, verified))
	for _, id := range []string{
		"vrf_0123", "_vrf_0123", "31612345678_", "31612345678", "+31612345678_vrf_1", "0612345678_vrf_1",
		"1234567_vrf_1", "1234567890123456_vrf_1", "31612345678_vrf/1", "31612345678_vrf 1", "3161234567a_vrf_1",
		"31612345678_" + strings.Repeat("a", 117),
	} {
		if err := p.Check(context.Background(), id, "123456"); !errors.Is(err, twofactor.ErrNotFound) {
			t.Errorf("Check(%q) = %v, want ErrNotFound", id, err)
		}
	}
	long := "31612345678_" + strings.Repeat("a", 116)
	if err := p.Check(context.Background(), long, "123456"); !errors.Is(err, twofactor.ErrNotFound) || len(srv.Requests()) != 1 {
		t.Errorf("Check(128-character id) = %v after %d requests; want one request answered for another id", err, len(srv.Requests()))
	}
	if err := p.Check(context.Background(), "31612345678_vrf_0123", "1234567"); !errors.Is(err, twofactor.ErrMalformedCode) {
		t.Errorf("7-digit code: %v", err)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestNew(t *testing.T) {
	for _, key := range []string{
		"", "bk_", "bk_eu1", "bk_eu1_", "live_abc", "bk_EU1_x", "bk_e1_x", "bk_eu_x", "bk_eux1_x", "bk_eu1x_x",
		"bk__x", "bk_eu1_se cret", "bk_eu1_secret\n", "bk_eu1_sécret", "BK_eu1_x", "xbk_eu1_x",
	} {
		if p, err := New(key, Config{}); err == nil || p != nil {
			t.Errorf("New(%q) = %v, %v; want an error", key, p, err)
		} else if strings.Contains(key, "cret") && strings.Contains(err.Error(), key) {
			t.Errorf("New(%q) error repeats the key: %v", key, err)
		}
	}
	// Each refusal names the setting and what is expected.
	for key, says := range map[string]string{
		"live_q8Vw2Zr5Yt1Xk7Pm3Hn9Bj4L": "MessageBird classic key", `"bk_eu1_s3cret"`: "quotes",
		"bk_eu1_s3cret ": "spaces", "abc123": "bk_{region}_", "bk_europe_s3cret": "region", "bk_eu1_": "no secret",
	} {
		_, err := New(key, Config{})
		if err == nil || !strings.Contains(err.Error(), says) || !strings.Contains(err.Error(), "API key") || !strings.Contains(err.Error(), "bk_eu1_…") {
			t.Errorf("New(%q) = %v; want an error naming the API key, saying %q and what is expected", key, err, says)
		}
		if strings.HasPrefix(key, "live_") && !errors.Is(err, ErrMessageBirdKey) {
			t.Errorf("New(%q) = %v, want ErrMessageBirdKey", key, err)
		}
	}
	for _, cfg := range []Config{
		{CodeLength: 5}, {CodeLength: 9}, {CodeLength: -1}, {Channel: "whatsapp"}, {Language: "en_GB"}, {Language: "english"},
		{BaseURL: "ftp://x"}, {BaseURL: "https://"}, {BaseURL: "https://h/?q=1"}, {BaseURL: "https://u:p@h"}, {BaseURL: "::"},
	} {
		if _, err := New(testKey, cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	for key, region := range map[string]string{"bk_eu1_x": "eu1", "bk_us12_a_b_c": "us12", "bk_ap3_" + strings.Repeat("Z", 64): "ap3"} {
		p, err := New(key, Config{})
		if err != nil || p.Region() != region || p.base != "https://"+region+".platform.bird.com" {
			t.Errorf("New(%q) = %+v, %v; want region %s", key, p, err, region)
		}
	}
	p, err := New(testKey, Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := p.hc.Transport.(*http.Transport)
	if !ok || tr == http.DefaultTransport || tr.Proxy == nil || p.hc.Timeout <= 0 || p.hc.CheckRedirect == nil {
		t.Errorf("client = %#v, want a clone of http.DefaultTransport with a timeout and no redirects", p.hc)
	}
	if p.cfg.CodeLength != 6 || p.cfg.Channel != twofactor.SMS || p.CodeLength() != 6 {
		t.Errorf("defaults = %+v", p.cfg)
	}
	own := &http.Client{Timeout: time.Second}
	p, err = New(testKey, Config{HTTPClient: own, BaseURL: "https://proxy.example/bird/"})
	if err != nil || p.hc == own || own.CheckRedirect != nil || p.hc.Timeout != time.Second || p.base != "https://proxy.example/bird" {
		t.Errorf("New with own client: %+v, %v", p, err)
	}
}

// The region in the key picks the host; BaseURL replaces it.
func TestHostFromKeyAndBaseURL(t *testing.T) {
	f := newFakeBird(t)
	p, err := New("bk_us1_k", Config{HTTPClient: f.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Send(context.Background(), twofactor.Request{Phone: testPhone})
	if !errors.Is(err, twofactor.ErrBadAPIKey) { // the fake only knows testKey
		t.Fatalf("Send = %v", err)
	}
	if r := f.Requests()[0]; r.Host != "us1.platform.bird.com" || r.Header.Get("Authorization") != "Bearer bk_us1_k" {
		t.Errorf("request to %s with %q", r.Host, r.Header.Get("Authorization"))
	}

	var got *http.Request
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		reply(201, created)(w, r)
	}))
	defer srv.Close()
	p, err = New(testKey, Config{BaseURL: srv.URL + "/bird/", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone}); err != nil || v.ID != testID {
		t.Fatalf("Send via BaseURL = %+v, %v", v, err)
	}
	if got.URL.Path != "/bird/v1/verify/verifications" {
		t.Errorf("path = %s", got.URL.Path)
	}
}

// Bodies are read up to a bound: a huge answer is not taken.
func TestAnswerSizeBound(t *testing.T) {
	huge := `{"id":"vrf_0123","status":"pending","pad":"` + strings.Repeat("x", maxBody) + `"}`
	_, p := serverWith(t, reply(201, huge))
	if _, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone}); !errors.Is(err, twofactor.ErrUnavailable) {
		t.Errorf("Send with a huge answer = %v", err)
	}
}

func TestProxyAndTrustStore(t *testing.T) {
	srv := faketls.NewServer(t, reply(201, created), testHost)
	connects := srv.RunHelperThroughProxy(t, "TestProxyHelper", "TWOFACTOR_BIRD_PROXY_HELPER=1")
	if len(connects) != 1 || connects[0] != testHost+":443" {
		t.Errorf("proxy saw CONNECT %v", connects)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Host != testHost || reqs[0].Path != "/v1/verify/verifications" ||
		reqs[0].Header.Get("Authorization") != "Bearer "+testKey {
		t.Fatalf("server saw %+v", reqs)
	}
}

func TestProxyHelper(t *testing.T) {
	if os.Getenv("TWOFACTOR_BIRD_PROXY_HELPER") != "1" {
		t.Skip("run by TestProxyAndTrustStore")
	}
	p, err := New(testKey, Config{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Send(t.Context(), twofactor.Request{Phone: testPhone})
	if err != nil || v.ID != testID {
		t.Fatalf("Send = %+v, %v", v, err)
	}
}
