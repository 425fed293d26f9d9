package twilioverify

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/faketls"
	"github.com/go-twofactor/twofactor/providertest"
)

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{New: func(t *testing.T) (twofactor.Provider, providertest.Fake) {
		f := newFakeTwilio(t)
		return f.provider(t, Config{}), f
	}})
}

func TestConformanceWithAPIKey(t *testing.T) {
	providertest.Run(t, providertest.Harness{New: func(t *testing.T) (twofactor.Provider, providertest.Fake) {
		f := newFakeTwilio(t)
		return f.provider(t, Config{APIKey: testKey, APISecret: testSecret}), f
	}})
}

func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func serverWith(t *testing.T, h http.Handler) (*faketls.Server, *Provider) {
	t.Helper()
	return serverWithConfig(t, h, Config{})
}

// serverWithConfig is serverWith with cfg's settings besides credentials,
// service and client.
func serverWithConfig(t *testing.T, h http.Handler, cfg Config) (*faketls.Server, *Provider) {
	t.Helper()
	srv := faketls.NewServer(t, h, testHost)
	cfg.AccountSID, cfg.AuthToken, cfg.ServiceSID, cfg.HTTPClient = testAccount, testToken, testService, srv.HTTPClient()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, p
}

// replies answers the n-th request with hs[n], the last one for the rest.
func replies(hs ...http.HandlerFunc) http.HandlerFunc {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := hs[min(n, len(hs)-1)]
		n++
		mu.Unlock()
		h(w, r)
	}
}

func form(t *testing.T, b []byte) url.Values {
	t.Helper()
	v, err := url.ParseQuery(string(b))
	if err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	return v
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestSendRequest(t *testing.T) {
	f := newFakeTwilio(t)
	p := f.provider(t, Config{})
	v, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone, Message: "ignored {code}"})
	if err != nil {
		t.Fatal(err)
	}
	if !veRE.MatchString(v.ID) || v.Phone != testPhone || v.Channel != twofactor.SMS || !v.ExpiresAt.Equal(f.Now().Add(10*time.Minute)) {
		t.Errorf("Send = %+v", v)
	}
	reqs := f.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Host != testHost || r.Path != "/v2/Services/"+testService+"/Verifications" || r.RawQuery != "" {
		t.Errorf("request = %s %s %s?%s", r.Method, r.Host, r.Path, r.RawQuery)
	}
	if got := r.Header.Get("Authorization"); got != basic(testAccount, testToken) {
		t.Errorf("Authorization = %q", got)
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := form(t, r.Body); got.Encode() != (url.Values{"To": {testPhone}, "Channel": {"sms"}}).Encode() {
		t.Errorf("form = %v", got)
	}
}

func TestSendVoiceLocaleAndTransaction(t *testing.T) {
	f := newFakeTwilio(t)
	p := f.provider(t, Config{APIKey: testKey, APISecret: testSecret, Channel: twofactor.Voice, Locale: "nl"})
	ctx := context.Background()
	req := twofactor.Request{Phone: "+4915123456789", Amount: "EUR 500.00", Payee: "NL91…4300"}
	v, err := p.Send(ctx, req)
	if err != nil || v.Channel != twofactor.Voice {
		t.Fatalf("Send = %+v, %v", v, err)
	}
	if _, err := p.Send(ctx, twofactor.Request{Phone: "+4915123456789", Channel: twofactor.SMS, Language: "en-gb"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(ctx, twofactor.Request{Phone: "+4915123456789", Language: "de-de"}); err != nil {
		t.Fatal(err)
	}
	reqs := f.Requests()
	if got := reqs[0].Header.Get("Authorization"); got != basic(testKey, testSecret) {
		t.Errorf("Authorization = %q", got)
	}
	want := url.Values{"To": {"+4915123456789"}, "Channel": {"call"}, "Locale": {"nl"}, "Amount": {"EUR 500.00"}, "Payee": {"NL91…4300"}}
	if got := form(t, reqs[0].Body); got.Encode() != want.Encode() {
		t.Errorf("form = %v\nwant   %v", got, want)
	}
	if got := form(t, reqs[1].Body); got.Get("Channel") != "sms" || got.Get("Locale") != "en-GB" || got.Has("Amount") {
		t.Errorf("overridden form = %v", got)
	}
	if got := form(t, reqs[2].Body); got.Get("Locale") != "de" {
		t.Errorf("Locale for de-de = %q", got.Get("Locale"))
	}

	// The check carries the transaction too, from the id.
	if !strings.HasPrefix(v.ID, "VE") || !strings.Contains(v.ID, "_") || len(v.ID) > maxID {
		t.Fatalf("id = %q", v.ID)
	}
	if err := p.Check(ctx, v.ID, "000000"); !errors.Is(err, twofactor.ErrInvalidCode) {
		t.Fatalf("wrong code: %v", err)
	}
	chk := form(t, f.Requests()[3].Body)
	want = url.Values{"VerificationSid": {v.ID[:34]}, "Code": {"000000"}, "Amount": {"EUR 500.00"}, "Payee": {"NL91…4300"}}
	if chk.Encode() != want.Encode() {
		t.Errorf("check form = %v\nwant         %v", chk, want)
	}
}

func TestCheckRequest(t *testing.T) {
	f := newFakeTwilio(t)
	p := f.provider(t, Config{})
	v, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(context.Background(), v.ID, f.LastCode()); err != nil {
		t.Fatalf("Check = %v", err)
	}
	r := f.Requests()[1]
	if r.Method != http.MethodPost || r.Host != testHost || r.Path != "/v2/Services/"+testService+"/VerificationCheck" {
		t.Errorf("request = %s %s %s", r.Method, r.Host, r.Path)
	}
	if r.Header.Get("Authorization") != basic(testAccount, testToken) {
		t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
	}
	want := url.Values{"VerificationSid": {v.ID}, "Code": {f.LastCode()}}
	if got := form(t, r.Body); got.Encode() != want.Encode() {
		t.Errorf("form = %v, want %v", got, want)
	}
}

const testSID = "VE0123456789abcdef0123456789abcdef"

func twErr(status, code int, msg string) string {
	return `{"code":` + strconv.Itoa(code) + `,"message":"` + msg + `","more_info":"https://www.twilio.com/docs/errors/` + strconv.Itoa(code) + `","status":` + strconv.Itoa(status) + `}`
}

var sentinels = []error{
	twofactor.ErrInvalidCode, twofactor.ErrMalformedCode, twofactor.ErrExpired, twofactor.ErrAlreadyUsed,
	twofactor.ErrTooManyAttempts, twofactor.ErrInvalidPhone, twofactor.ErrNotFound, twofactor.ErrBadAPIKey,
	twofactor.ErrNoBalance, twofactor.ErrUnavailable, twofactor.ErrRateLimited,
	twofactor.ErrConfiguration, twofactor.ErrUnknownOutcome, twofactor.ErrNumberRefused,
}

// sameClass reports whether sentinel s is want or one of want's classes.
func sameClass(want, s error) bool { return want != nil && (s == want || errors.Is(want, s)) }

func TestErrorMapping(t *testing.T) {
	const secret = "Secret provider text"
	created := `{"sid":"` + testSID + `","status":"pending","to":"+31612345678","date_created":"2026-05-03T14:00:00Z"}`
	status := func(s string) string { return `{"sid":"` + testSID + `","status":"` + s + `","valid":false}` }
	tests := []struct {
		name   string
		check  bool
		status int
		body   string
		want   error // nil means success
		also   error
	}{
		{"send ok", false, 201, created, nil, nil},
		{"send odd status", false, 201, strings.Replace(created, "pending", "approved", 1), twofactor.ErrUnknownOutcome, nil},
		{"send bad sid", false, 201, strings.Replace(created, testSID, "VE../x", 1), twofactor.ErrUnknownOutcome, nil},
		{"send no sid", false, 201, `{"status":"pending"}`, twofactor.ErrUnknownOutcome, nil},
		{"send malformed JSON", false, 201, `{"sid":`, twofactor.ErrUnknownOutcome, nil},
		{"send invalid number", false, 400, twErr(400, 60200, "Invalid parameter `To`: +31612345678"), twofactor.ErrInvalidPhone, nil},
		{"send invalid To", false, 400, twErr(400, 21211, secret), twofactor.ErrInvalidPhone, nil},
		{"send landline", false, 403, twErr(403, 60205, secret), twofactor.ErrDestinationRefused, nil},
		{"send invalid Locale", false, 400, twErr(400, 60200, "Invalid parameter: Locale"), twofactor.ErrConfiguration, nil},
		{"send invalid parameter", false, 400, twErr(400, 60200, secret), twofactor.ErrConfiguration, nil},
		{"send geo permissions", false, 403, twErr(403, 60605, secret), twofactor.ErrDestinationRefused, nil},
		{"send feature off", false, 403, twErr(403, 60204, secret), twofactor.ErrConfiguration, nil},
		{"send PSD2 needs amount", false, 400, twErr(400, 60206, secret), ErrPSD2, twofactor.ErrConfiguration},
		{"send PSD2 no calls", false, 400, twErr(400, 60214, secret), ErrPSD2, twofactor.ErrConfiguration},
		{"send 402", false, 402, twErr(402, 20402, secret), twofactor.ErrNoBalance, nil},
		{"send 403 other", false, 403, twErr(403, 20403, secret), twofactor.ErrConfiguration, nil},
		{"send 429 HTML", false, 429, "<html>" + secret + "</html>", twofactor.ErrRateLimited, nil},
		{"send channel disabled", false, 400, twErr(400, 60223, secret), ErrChannelDisabled, twofactor.ErrConfiguration},
		{"send other 400", false, 400, twErr(400, 60999, secret), twofactor.ErrConfiguration, nil},
		{"send 401", false, 401, twErr(401, 20003, secret), twofactor.ErrBadAPIKey, nil},
		{"send 403", false, 403, twErr(403, 20003, secret), twofactor.ErrBadAPIKey, nil},
		{"send service not found", false, 404, twErr(404, 20404, secret), ErrServiceNotFound, twofactor.ErrConfiguration},
		{"send too many sends", false, 429, twErr(429, 60203, secret), twofactor.ErrRateLimited, nil},
		{"send fraud guard", false, 403, twErr(403, 60410, secret), twofactor.ErrRateLimited, nil},
		{"send 429 other", false, 429, twErr(429, 20429, secret), twofactor.ErrRateLimited, nil},
		{"send 500", false, 500, twErr(500, 20500, secret), twofactor.ErrUnavailable, nil},
		{"send 503 HTML", false, 503, "<html>" + secret + "</html>", twofactor.ErrUnavailable, nil},
		{"send 302", false, 302, "", twofactor.ErrConfiguration, nil},
		{"check approved", true, 200, `{"sid":"` + testSID + `","status":"approved","valid":true}`, nil, nil},
		{"check approved, other sid", true, 200, `{"sid":"VEffffffffffffffffffffffffffffffff","status":"approved","valid":true}`, twofactor.ErrNotFound, nil},
		{"check approved, no sid", true, 200, `{"status":"approved","valid":true}`, twofactor.ErrNotFound, nil},
		{"check pending", true, 200, status("pending"), twofactor.ErrInvalidCode, nil},
		{"check expired", true, 200, status("expired"), twofactor.ErrExpired, nil},
		{"check max attempts", true, 200, status("max_attempts_reached"), twofactor.ErrTooManyAttempts, nil},
		{"check canceled", true, 200, status("canceled"), twofactor.ErrNotFound, nil},
		{"check odd status", true, 200, status("APPROVED"), twofactor.ErrUnavailable, nil},
		{"check no status", true, 200, `{"sid":"` + testSID + `"}`, twofactor.ErrUnavailable, nil},
		{"check gone", true, 404, twErr(404, 20404, secret), twofactor.ErrNotFound, nil},
		{"check too many checks", true, 429, twErr(429, 60202, secret), twofactor.ErrTooManyAttempts, nil},
		{"check 429 other", true, 429, twErr(429, 20429, secret), twofactor.ErrRateLimited, nil},
		{"check 400", true, 400, twErr(400, 60200, secret), twofactor.ErrConfiguration, nil},
		{"check 401", true, 401, twErr(401, 20003, secret), twofactor.ErrBadAPIKey, nil},
		{"check 500", true, 500, "", twofactor.ErrUnavailable, nil},
		{"check 502 HTML", true, 502, "<html>" + secret + "</html>", twofactor.ErrUnavailable, nil},
		{"check malformed JSON", true, 200, "not json", twofactor.ErrUnknownOutcome, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, p := serverWith(t, reply(tt.status, tt.body))
			var err error
			if tt.check {
				err = p.Check(context.Background(), testSID, "123456")
			} else {
				_, err = p.Send(context.Background(), twofactor.Request{Phone: testPhone})
			}
			if n := len(srv.Requests()); n != 1 {
				t.Fatalf("server saw %d requests, want 1", n)
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
			for _, s := range sentinels {
				if !sameClass(tt.want, s) && !sameClass(tt.also, s) && errors.Is(err, s) {
					t.Errorf("err = %v also matches %v", err, s)
				}
			}
			msg := err.Error()
			for _, leak := range []string{secret, "123456", "31612345678", "html", "not json", testToken, "more_info"} {
				if strings.Contains(msg, leak) {
					t.Errorf("err %q contains %q", msg, leak)
				}
			}
		})
	}
}

// The fraud guard's 60410 is a limit whatever its HTTP status, and it
// lasts 12 hours; 60203 (too many sends to the number) lasts until the
// verification expires, 10 minutes. A Retry-After header wins.
func TestRateLimitsCarryTheirWait(t *testing.T) {
	for _, tt := range []struct {
		status, code int
		header       string
		want         time.Duration
	}{
		{400, 60410, "", 12 * time.Hour},
		{403, 60410, "", 12 * time.Hour},
		{429, 60203, "", 10 * time.Minute},
		{429, 20429, "", 0},
		{429, 20429, "42", 42 * time.Second},
		{429, 60203, "30", 30 * time.Second},
	} {
		h := reply(tt.status, twErr(tt.status, tt.code, "limit"))
		if tt.header != "" {
			inner := h
			h = func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Retry-After", tt.header); inner(w, r) }
		}
		_, p := serverWith(t, h)
		_, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone})
		var rl *twofactor.RateLimitError
		if !errors.As(err, &rl) || !errors.Is(err, twofactor.ErrRateLimited) || rl.RetryAfter != tt.want || rl.Code != strconv.Itoa(tt.code) {
			t.Errorf("%d %d Retry-After %q: err = %v, want a RateLimitError of %v", tt.status, tt.code, tt.header, err, tt.want)
		}
	}
}

// Twilio answers an unsupported Locale with 404 and advises to send again
// without it; only a 404 without a Locale means a wrong Service SID.
func TestLocale404SendsAgainWithoutLocale(t *testing.T) {
	created := `{"sid":"` + testSID + `","status":"pending"}`
	srv, p := serverWithConfig(t, replies(reply(404, twErr(404, 20404, "not found")), reply(201, created)), Config{Locale: "nl"})
	if _, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone}); err != nil {
		t.Fatalf("Send = %v, want the code sent without the Locale", err)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 || form(t, reqs[0].Body).Get("Locale") != "nl" || form(t, reqs[1].Body).Has("Locale") {
		t.Fatalf("requests = %d, first Locale %q, second %v; want nl, then none", len(reqs), form(t, reqs[0].Body).Get("Locale"), form(t, reqs[1].Body))
	}
	// 404 both times: the service is wrong.
	srv, p = serverWithConfig(t, reply(404, twErr(404, 20404, "not found")), Config{Locale: "nl"})
	if _, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone}); !errors.Is(err, ErrServiceNotFound) || !errors.Is(err, twofactor.ErrConfiguration) {
		t.Errorf("404 twice: Send = %v, want ErrServiceNotFound", err)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("404 twice: %d requests, want 2", n)
	}
}

func TestCheckRejectsMalformedIDs(t *testing.T) {
	srv, p := serverWith(t, reply(200, `{"sid":"`+testSID+`","status":"approved"}`))
	tx := base64.RawURLEncoding.EncodeToString([]byte("EUR 5\x00Shop"))
	for _, id := range []string{
		"VE0123", "VA0123456789abcdef0123456789abcdef", testSID + "0", "ve0123456789abcdef0123456789abcdef",
		testSID + "_", testSID + "_!!", testSID + "_" + base64.RawURLEncoding.EncodeToString([]byte("no separator")),
		testSID + "_" + base64.RawURLEncoding.EncodeToString([]byte("\x00")), testSID + "_" + base64.RawURLEncoding.EncodeToString([]byte{0xff, 0}),
		testSID + "_" + tx + "=", testSID + "/x",
	} {
		if err := p.Check(context.Background(), id, "123456"); !errors.Is(err, twofactor.ErrNotFound) {
			t.Errorf("Check(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("server saw %d requests, want 0", n)
	}
	if err := p.Check(context.Background(), testSID+"_"+tx, "123456"); err != nil {
		t.Fatalf("Check with a transaction = %v", err)
	}
	if f := form(t, srv.Requests()[0].Body); f.Get("Amount") != "EUR 5" || f.Get("Payee") != "Shop" {
		t.Errorf("form = %v", f)
	}
}

func TestSendRejectsBadTransaction(t *testing.T) {
	srv, p := serverWith(t, reply(201, `{}`))
	for _, req := range []twofactor.Request{
		{Phone: testPhone, Amount: strings.Repeat("9", 70)},
		{Phone: testPhone, Amount: "EUR 5", Payee: "a\nb"},
		{Phone: testPhone, Payee: "\xff"},
		{Phone: testPhone, Channel: "whatsapp"},
	} {
		if _, err := p.Send(context.Background(), req); err == nil || errors.Is(err, twofactor.ErrUnavailable) {
			t.Errorf("Send(%+v) = %v, want a request error", req, err)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("server saw %d requests, want 0", n)
	}
}

func TestNew(t *testing.T) {
	ok := Config{AccountSID: testAccount, AuthToken: testToken, ServiceSID: testService}
	with := func(f func(*Config)) Config { c := ok; f(&c); return c }
	for name, cfg := range map[string]Config{
		"nothing":            {},
		"no service":         with(func(c *Config) { c.ServiceSID = "" }),
		"bad service":        with(func(c *Config) { c.ServiceSID = "VA123" }),
		"service is AC":      with(func(c *Config) { c.ServiceSID = testAccount }),
		"no account":         with(func(c *Config) { c.AccountSID = "" }),
		"bad account":        with(func(c *Config) { c.AccountSID = "AC" + strings.Repeat("g", 32) }),
		"token with symbol":  with(func(c *Config) { c.AuthToken = "abc:def" }),
		"token and key":      with(func(c *Config) { c.APIKey, c.APISecret = testKey, testSecret }),
		"key without secret": {APIKey: testKey, ServiceSID: testService},
		"secret without key": {APISecret: testSecret, ServiceSID: testService},
		"bad key":            {APIKey: "SK1", APISecret: testSecret, ServiceSID: testService},
		"key, bad account":   {APIKey: testKey, APISecret: testSecret, AccountSID: "AC1", ServiceSID: testService},
		"CodeLength 5":       with(func(c *Config) { c.CodeLength = 5 }),
		"CodeLength 11":      with(func(c *Config) { c.CodeLength = 11 }),
		"channel":            with(func(c *Config) { c.Channel = "email" }),
		"locale":             with(func(c *Config) { c.Locale = "Dutch" }),
		"base URL":           with(func(c *Config) { c.BaseURL = "ftp://x" }),
		"base URL user":      with(func(c *Config) { c.BaseURL = "https://u:p@x" }),
	} {
		if p, err := New(cfg); err == nil || p != nil {
			t.Errorf("%s: New = %v, %v; want an error", name, p, err)
		} else if strings.Contains(err.Error(), testToken) {
			t.Errorf("%s: error repeats the token", name)
		}
	}
	p, err := New(ok)
	if err != nil {
		t.Fatal(err)
	}
	if p.CodeLength() != 6 || p.cfg.Channel != twofactor.SMS || p.user != testAccount || p.pass != testToken {
		t.Errorf("defaults = %+v", p.cfg)
	}
	tr, isTr := p.hc.Transport.(*http.Transport)
	if !isTr || tr == http.DefaultTransport || tr.Proxy == nil || p.hc.Timeout <= 0 || p.hc.CheckRedirect == nil {
		t.Errorf("client = %#v, want a clone of http.DefaultTransport with a timeout and no redirects", p.hc)
	}
	p, err = New(Config{APIKey: testKey, APISecret: testSecret, ServiceSID: testService, CodeLength: 10, Locale: "EN-gb"})
	if err != nil || p.CodeLength() != 10 || p.user != testKey || p.cfg.Locale != "en-GB" {
		t.Errorf("API key config = %+v, %v", p, err)
	}
}

func TestBaseURL(t *testing.T) {
	var got *http.Request
	var gotUser string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		gotUser, _, _ = r.BasicAuth()
		reply(201, `{"sid":"`+testSID+`","status":"pending"}`)(w, r)
	}))
	defer srv.Close()
	p, err := New(Config{APIKey: testKey, APISecret: testSecret, ServiceSID: testService, BaseURL: srv.URL + "/twilio/", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone}); err != nil || v.ID != testSID {
		t.Fatalf("Send via BaseURL = %+v, %v", v, err)
	}
	if got.URL.Path != "/twilio/v2/Services/"+testService+"/Verifications" || gotUser != testKey || got.Host != strings.TrimPrefix(srv.URL, "https://") {
		t.Errorf("request to %s %s as %s", got.Host, got.URL.Path, gotUser)
	}
}

// The SDK leaves the body of an error answer open; the provider closes
// every answer's body, or each error would hold a connection forever.
func TestAnswersAreClosed(t *testing.T) {
	for _, h := range []http.HandlerFunc{
		reply(404, twErr(404, 20404, "gone")),
		reply(503, "<html>down</html>"),
		reply(200, `{"sid":"`+testSID+`","status":"pending"}`),
	} {
		srv := faketls.NewServer(t, h, testHost)
		rec := &bodyRecorder{base: srv.Transport()}
		p, err := New(Config{AccountSID: testAccount, AuthToken: testToken, ServiceSID: testService, HTTPClient: &http.Client{Transport: rec}})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			_ = p.Check(context.Background(), testSID, "123456")
		}
		if len(rec.bodies) != 3 {
			t.Fatalf("%d answers, want 3", len(rec.bodies))
		}
		for i, b := range rec.bodies {
			if !b.closed {
				t.Errorf("answer %d was left open", i)
			}
		}
	}
}

type bodyRecorder struct {
	base   http.RoundTripper
	bodies []*trackedBody
}

func (r *bodyRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err == nil {
		b := &trackedBody{ReadCloser: resp.Body}
		r.bodies = append(r.bodies, b)
		resp.Body = b
	}
	return resp, err
}

type trackedBody struct {
	io.ReadCloser
	closed bool
}

func (b *trackedBody) Close() error {
	b.closed = true
	return b.ReadCloser.Close()
}

func TestProxyAndTrustStore(t *testing.T) {
	srv := faketls.NewServer(t, reply(201, `{"sid":"`+testSID+`","status":"pending"}`), testHost)
	connects := srv.RunHelperThroughProxy(t, "TestProxyHelper", "TWOFACTOR_TWILIO_PROXY_HELPER=1")
	if len(connects) != 1 || connects[0] != testHost+":443" {
		t.Errorf("proxy saw CONNECT %v", connects)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Host != testHost || reqs[0].Path != "/v2/Services/"+testService+"/Verifications" ||
		reqs[0].Header.Get("Authorization") != basic(testAccount, testToken) {
		t.Fatalf("server saw %+v", reqs)
	}
}

func TestProxyHelper(t *testing.T) {
	if os.Getenv("TWOFACTOR_TWILIO_PROXY_HELPER") != "1" {
		t.Skip("run by TestProxyAndTrustStore")
	}
	p, err := New(Config{AccountSID: testAccount, AuthToken: testToken, ServiceSID: testService})
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Send(t.Context(), twofactor.Request{Phone: testPhone})
	if err != nil || v.ID != testSID {
		t.Fatalf("Send = %+v, %v", v, err)
	}
}

const testPSD2 = "VAffeeddccbbaa99887766554433221100"

// With a PSD2 service, a transaction's code goes to it (with Amount and
// Payee), and so does its check; sign-in codes go to the ordinary service,
// which a PSD2 service would refuse (60206).
func TestPSD2ServiceForConfirmations(t *testing.T) {
	answer := func(w http.ResponseWriter, r *http.Request) {
		status := "pending"
		if strings.HasSuffix(r.URL.Path, "/VerificationCheck") {
			status = "approved"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"sid":"`+testSID+`","status":"`+status+`"}`)
	}
	srv, p := serverWithConfig(t, http.HandlerFunc(answer), Config{PSD2ServiceSID: testPSD2})
	if !p.CarriesAction() {
		t.Error("CarriesAction = false with a PSD2 service")
	}
	ctx := context.Background()
	if _, err := p.Send(ctx, twofactor.Request{Phone: testPhone}); err != nil {
		t.Fatal(err)
	}
	v, err := p.Send(ctx, twofactor.Request{Phone: testPhone, Amount: "EUR 5.00", Payee: "Shop"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(ctx, v.ID, "123456"); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(ctx, testSID, "123456"); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	want := []string{
		"/v2/Services/" + testService + "/Verifications",
		"/v2/Services/" + testPSD2 + "/Verifications",
		"/v2/Services/" + testPSD2 + "/VerificationCheck",
		"/v2/Services/" + testService + "/VerificationCheck",
	}
	for i, r := range reqs {
		if i >= len(want) || r.Path != want[i] {
			t.Errorf("request %d to %s, want %s", i, r.Path, want[min(i, len(want)-1)])
		}
	}
	if f := form(t, reqs[1].Body); f.Get("Amount") != "EUR 5.00" || f.Get("Payee") != "Shop" {
		t.Errorf("PSD2 send form = %v", f)
	}
	if f := form(t, reqs[0].Body); f.Has("Amount") || f.Has("Payee") {
		t.Errorf("sign-in send form = %v", f)
	}
	_, plain := serverWith(t, http.HandlerFunc(answer))
	if plain.CarriesAction() {
		t.Error("CarriesAction = true without a PSD2 service")
	}
}

// Each refused setting is named, with what is expected.
func TestNewNamesTheSetting(t *testing.T) {
	ok := Config{AccountSID: testAccount, AuthToken: testToken, ServiceSID: testService}
	with := func(f func(*Config)) Config { c := ok; f(&c); return c }
	for _, tt := range []struct {
		cfg  Config
		says []string
	}{
		{with(func(c *Config) { c.ServiceSID = testAccount }), []string{"ServiceSID", "looks like an Account SID", "VA and 32 hex digits"}},
		{with(func(c *Config) { c.AccountSID = testService }), []string{"AccountSID", "looks like a Verify service SID", "AC and 32 hex digits"}},
		{with(func(c *Config) { c.ServiceSID = `"` + testService + `"` }), []string{"ServiceSID", "quotes"}},
		{with(func(c *Config) { c.ServiceSID = "" }), []string{"ServiceSID", "empty"}},
		{with(func(c *Config) { c.PSD2ServiceSID = "VA1" }), []string{"PSD2ServiceSID", "VA and 32 hex digits"}},
		{with(func(c *Config) { c.PSD2ServiceSID = testService }), []string{"PSD2ServiceSID", "another service"}},
		{Config{APIKey: testAccount, APISecret: testSecret, ServiceSID: testService}, []string{"APIKey", "looks like an Account SID", "SK and 32"}},
		{with(func(c *Config) { c.AuthToken = `"` + testToken + `"` }), []string{"AuthToken", "quotes"}},
		{Config{APIKey: testKey, APISecret: "a:b", ServiceSID: testService}, []string{"APISecret", "letters and digits"}},
	} {
		_, err := New(tt.cfg)
		for _, s := range tt.says {
			if err == nil || !strings.Contains(err.Error(), s) {
				t.Errorf("New(%+v) = %v; want it to say %q", tt.cfg, err, s)
			}
		}
	}
}
