package bird

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/faketls"
	"github.com/go-twofactor/twofactor/internal/wire"
	"github.com/go-twofactor/twofactor/providertest"
)

func TestWorkspaceConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{New: func(t *testing.T) (twofactor.Provider, providertest.Fake) {
		f := newFakeWorkspace(t)
		return f.provider(t, WorkspaceConfig{}), f
	}})
}

// The conformance suite with a channel instead of a navigator, 8-digit
// codes and two tries.
func TestWorkspaceConformanceChannel(t *testing.T) {
	providertest.Run(t, providertest.Harness{New: func(t *testing.T) (twofactor.Provider, providertest.Fake) {
		f := newFakeWorkspace(t)
		return f.provider(t, WorkspaceConfig{ChannelID: wsChannel, CodeLength: 8, MaxAttempts: 2}), f
	}})
}

func wsServerWith(t *testing.T, h http.Handler) (*faketls.Server, *Workspace) {
	t.Helper()
	srv := faketls.NewServer(t, h, wsHost)
	p, err := NewWorkspace(wsKey, WorkspaceConfig{WorkspaceID: wsWorkspace, NavigatorID: wsNavigator, HTTPClient: srv.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	return srv, p
}

func TestWorkspaceSendRequest(t *testing.T) {
	f := newFakeWorkspace(t)
	p := f.provider(t, WorkspaceConfig{})
	before := time.Now()
	v, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone, Message: "ignored {code}", Amount: "EUR 5.00", Payee: "NL91…4300", Origin: "bank.example"})
	if err != nil {
		t.Fatal(err)
	}
	// The fake's clock is in May 2026: its expiresAt lies in the past, so
	// the provider's own Validity counts.
	if !wsUUIDRE.MatchString(v.ID) || v.Phone != testPhone || v.Channel != twofactor.SMS ||
		v.ExpiresAt.Before(before.Add(wire.DefaultValidity)) || v.ExpiresAt.After(time.Now().Add(wire.DefaultValidity)) {
		t.Errorf("Send = %+v", v)
	}
	reqs := f.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Host != wsHost || r.Path != "/workspaces/"+wsWorkspace+"/verify" || r.RawQuery != "" {
		t.Errorf("request = %s %s %s?%s", r.Method, r.Host, r.Path, r.RawQuery)
	}
	for h, want := range map[string]string{"Authorization": "AccessKey " + wsKey, "Content-Type": "application/json", "Accept": "application/json"} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "go-twofactor-bird/") || r.Header.Get("Idempotency-Key") != "" {
		t.Errorf("User-Agent = %q, Idempotency-Key %q", ua, r.Header.Get("Idempotency-Key"))
	}
	got := decode(t, r.Body)
	want := map[string]any{"identifier": map[string]any{"phonenumber": testPhone}, "steps": []any{map[string]any{"navigatorId": wsNavigator}},
		"codeLength": 6.0, "timeout": 300.0, "maxAttempts": 3.0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("body = %v\nwant   %v", got, want)
	}
}

func TestWorkspaceSendConfig(t *testing.T) {
	f := newFakeWorkspace(t)
	p := f.provider(t, WorkspaceConfig{ChannelID: wsChannel, CodeLength: 10, Validity: 90 * time.Second, MaxAttempts: 5, Locale: "nl-NL"})
	if p.CodeLength() != 10 {
		t.Errorf("CodeLength = %d", p.CodeLength())
	}
	if _, err := p.Send(context.Background(), twofactor.Request{Phone: "+4915123456789", Language: "en-gb"}); err != nil {
		t.Fatal(err)
	}
	got := decode(t, f.Requests()[0].Body)
	want := map[string]any{"identifier": map[string]any{"phonenumber": "+4915123456789"}, "steps": []any{map[string]any{"channelId": wsChannel}},
		"codeLength": 10.0, "timeout": 90.0, "maxAttempts": 5.0, "locale": "nl-NL"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("body = %v\nwant   %v", got, want)
	}
	if code := f.LastCode(); len(code) != 10 {
		t.Errorf("the fake sent %q", code)
	}
}

// Bird's stated expiry counts when it lies within Validity; a later one,
// none or one already past gives now plus Validity.
func TestWorkspaceSendExpiry(t *testing.T) {
	soon := time.Now().Add(2 * time.Minute).UTC().Truncate(time.Second)
	for _, tt := range []struct {
		expiresAt string
		want      time.Time // zero: now plus Validity
	}{
		{soon.Format(time.RFC3339), soon},
		{time.Now().Add(time.Hour).UTC().Format(time.RFC3339), time.Time{}},
		{"2020-01-01T00:00:00Z", time.Time{}},
		{"tomorrow", time.Time{}},
		{"", time.Time{}},
	} {
		_, p := wsServerWith(t, reply(202, `{"id":"`+wsTestID+`","status":"accepted","expiresAt":"`+tt.expiresAt+`"}`))
		before := time.Now()
		v, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone})
		if err != nil {
			t.Fatal(err)
		}
		if tt.want.IsZero() {
			if v.ExpiresAt.Before(before.Add(wire.DefaultValidity)) || v.ExpiresAt.After(time.Now().Add(wire.DefaultValidity)) {
				t.Errorf("expiresAt %q: ExpiresAt = %v, want now + %v", tt.expiresAt, v.ExpiresAt, wire.DefaultValidity)
			}
		} else if !v.ExpiresAt.Equal(tt.want) {
			t.Errorf("expiresAt %q: ExpiresAt = %v", tt.expiresAt, v.ExpiresAt)
		}
	}
}

func TestWorkspaceCheckRequest(t *testing.T) {
	f := newFakeWorkspace(t)
	p := f.provider(t, WorkspaceConfig{})
	v, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(context.Background(), v.ID, f.LastCode()); err != nil {
		t.Fatalf("Check = %v", err)
	}
	r := f.Requests()[1]
	if r.Method != http.MethodPost || r.Host != wsHost || r.Path != "/workspaces/"+wsWorkspace+"/verify/"+v.ID || r.RawQuery != "" {
		t.Errorf("request = %s %s %s?%s", r.Method, r.Host, r.Path, r.RawQuery)
	}
	if r.Header.Get("Authorization") != "AccessKey "+wsKey || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "application/json" {
		t.Errorf("headers = %v", r.Header)
	}
	if got := decode(t, r.Body); fmt.Sprint(got) != fmt.Sprint(map[string]any{"code": f.LastCode()}) {
		t.Errorf("body = %v", got)
	}
}

// Wrong codes, too many of them, an expired code and a used one, as the
// fake answers them, through the API.
func TestWorkspaceCheckFlow(t *testing.T) {
	f := newFakeWorkspace(t)
	p := f.provider(t, WorkspaceConfig{})
	ctx := context.Background()
	v, err := p.Send(ctx, twofactor.Request{Phone: testPhone})
	if err != nil {
		t.Fatal(err)
	}
	code := f.LastCode()
	wrong := otherDigits(code)
	for i, want := range []error{twofactor.ErrInvalidCode, twofactor.ErrInvalidCode, twofactor.ErrTooManyAttempts, twofactor.ErrTooManyAttempts} {
		if err := p.Check(ctx, v.ID, wrong); !errors.Is(err, want) {
			t.Errorf("wrong code %d: %v, want %v", i+1, err, want)
		}
	}
	if err := p.Check(ctx, v.ID, code); !errors.Is(err, twofactor.ErrTooManyAttempts) {
		t.Errorf("right code after too many: %v", err)
	}

	v, _ = p.Send(ctx, twofactor.Request{Phone: testPhone})
	code = f.LastCode()
	f.Expire()
	if err := p.Check(ctx, v.ID, code); !errors.Is(err, twofactor.ErrExpired) {
		t.Errorf("expired: %v", err)
	}

	v, _ = p.Send(ctx, twofactor.Request{Phone: testPhone})
	code = f.LastCode()
	if err := p.Check(ctx, v.ID, code); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(ctx, v.ID, code); !errors.Is(err, twofactor.ErrNotFound) {
		t.Errorf("second use: %v", err)
	}
}

func otherDigits(code string) string {
	return code[:len(code)-1] + string('0'+(code[len(code)-1]-'0'+1)%10)
}

const (
	wsTestID   = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
	wsVerifyOK = `{"id":"` + wsTestID + `","identifier":{"phonenumber":"+31612345678"},"status":"verified","failedAttempts":0,"maxAttempts":3}`
	wsCreated  = `{"id":"` + wsTestID + `","identifier":{"phonenumber":"+31612345678"},"status":"accepted","maxAttempts":3,"failedAttempts":0,"timeout":300,"codeLength":6}`
)

func wsErr(code, msg string) string {
	return `{"code":"` + code + `","message":"` + msg + `","details":{}}`
}

func TestWorkspaceAnswers(t *testing.T) {
	const secret = "Secret provider text"
	tests := []struct {
		name   string
		check  bool
		status int
		body   string
		want   error // nil means success
	}{
		{"send 202", false, 202, wsCreated, nil},
		{"send 200, other status", false, 200, strings.Replace(wsCreated, "accepted", "sent", 1), nil},
		{"send 202, no number", false, 202, `{"id":"` + wsTestID + `","status":"accepted"}`, nil},
		{"send 202, upper-case id", false, 202, `{"id":"` + strings.ToUpper(wsTestID) + `","status":"accepted"}`, nil},
		{"send verified", false, 202, strings.Replace(wsCreated, "accepted", "verified", 1), twofactor.ErrUnknownOutcome},
		{"send failed", false, 202, strings.Replace(wsCreated, "accepted", "failed", 1), twofactor.ErrUnknownOutcome},
		{"send other number", false, 202, strings.Replace(wsCreated, "+31612345678", "+31687654321", 1), twofactor.ErrUnknownOutcome},
		{"send no id", false, 202, `{"status":"accepted"}`, twofactor.ErrUnknownOutcome},
		{"send id not a UUID", false, 202, `{"id":"../x","status":"accepted"}`, twofactor.ErrUnknownOutcome},
		{"send malformed JSON", false, 202, `{"id":`, twofactor.ErrUnknownOutcome},
		{"send HTML", false, 200, `<html>` + secret, twofactor.ErrUnknownOutcome},
		{"send null", false, 202, `null`, twofactor.ErrUnknownOutcome},
		{"send 401", false, 401, wsErr("Unauthorized", secret), twofactor.ErrBadAPIKey},
		{"send 403", false, 403, wsErr("AccessDenied", secret), twofactor.ErrBadAPIKey},
		{"send 402", false, 402, wsErr("InsufficientBalance", secret), twofactor.ErrNoBalance},
		{"send 404", false, 404, wsErr("NotFound", secret), twofactor.ErrConfiguration},
		{"send 422 about the number", false, 422, `{"code":"InvalidPayload","message":"` + secret + `","details":{".identifier.phonenumber":["bad"]}}`, twofactor.ErrInvalidPhone},
		{"send 400 about the number", false, 400, `{"code":"InvalidPhoneNumber","message":"` + secret + `"}`, twofactor.ErrInvalidPhone},
		{"send 422 other", false, 422, `{"code":"InvalidPayload","message":"` + secret + `","details":{".steps[0].navigatorId":["unknown"]}}`, twofactor.ErrConfiguration},
		{"send 429", false, 429, wsErr("TooManyRequests", secret), twofactor.ErrRateLimited},
		{"send 500", false, 500, wsErr("InternalError", secret), twofactor.ErrUnavailable},
		{"send 503 HTML", false, 503, "<html>" + secret + "</html>", twofactor.ErrUnavailable},
		{"send 302", false, 302, "", twofactor.ErrConfiguration},

		{"check verified", true, 200, wsVerifyOK, nil},
		{"check verified, upper-case id", true, 200, strings.Replace(wsVerifyOK, wsTestID, strings.ToUpper(wsTestID), 1), nil},
		{"check verified, other id", true, 200, strings.Replace(wsVerifyOK, "3301", "3302", 1), twofactor.ErrNotFound},
		{"check verified, no id", true, 200, `{"status":"verified"}`, twofactor.ErrNotFound},
		{"check 2xx, no status", true, 200, `{"id":"` + wsTestID + `"}`, twofactor.ErrUnavailable},
		{"check 2xx, still open", true, 200, strings.Replace(wsVerifyOK, `"verified","failedAttempts":0`, `"accepted","failedAttempts":1`, 1), twofactor.ErrInvalidCode},
		{"check 2xx, open, other id", true, 200, `{"id":"3f2504e0-4f89-41d3-9a0c-0305e82c3302","status":"accepted"}`, twofactor.ErrNotFound},
		{"check 2xx, attempts used up", true, 200, strings.Replace(wsVerifyOK, `"verified","failedAttempts":0`, `"failed","failedAttempts":3`, 1), twofactor.ErrTooManyAttempts},
		{"check 2xx, expired", true, 200, strings.Replace(wsVerifyOK, "verified", "expired", 1), twofactor.ErrExpired},
		{"check malformed JSON", true, 200, "not json", twofactor.ErrUnknownOutcome},
		{"check 422 verification failed", true, 422, wsErr("VerificationFailed", secret), twofactor.ErrInvalidCode},
		{"check 400 validation", true, 400, wsErr("InvalidPayload", secret), twofactor.ErrInvalidCode},
		{"check 422 expired", true, 422, wsErr("VerificationExpired", secret), twofactor.ErrExpired},
		{"check 410", true, 410, wsErr("Gone", secret), twofactor.ErrExpired},
		{"check 422 too many", true, 422, wsErr("MaxAttemptsReached", secret), twofactor.ErrTooManyAttempts},
		{"check 422 with the verification", true, 422, `{"code":"VerificationFailed","status":"failed","failedAttempts":3,"maxAttempts":3}`, twofactor.ErrTooManyAttempts},
		{"check 409", true, 409, wsErr("Conflict", secret), twofactor.ErrAlreadyUsed},
		{"check 422 already verified", true, 422, wsErr("AlreadyVerified", secret), twofactor.ErrAlreadyUsed},
		{"check 422 HTML", true, 422, "<html>" + secret, twofactor.ErrInvalidCode},
		{"check 422, verification verified", true, 422, `{"code":"VerificationFailed","id":"` + wsTestID + `","status":"verified"}`, twofactor.ErrAlreadyUsed},
		{"check 2xx, unverified", true, 200, `{"id":"` + wsTestID + `","status":"unverified"}`, twofactor.ErrInvalidCode},
		{"check 404", true, 404, wsErr("NotFound", secret), twofactor.ErrNotFound},
		{"check 401", true, 401, wsErr("Unauthorized", secret), twofactor.ErrBadAPIKey},
		{"check 403", true, 403, wsErr("AccessDenied", secret), twofactor.ErrBadAPIKey},
		{"check 429", true, 429, wsErr("TooManyRequests", secret), twofactor.ErrRateLimited},
		{"check 500", true, 500, "", twofactor.ErrUnavailable},
		{"check 502 HTML", true, 502, "<html>" + secret + "</html>", twofactor.ErrUnavailable},
		{"check 307", true, 307, "", twofactor.ErrConfiguration},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, p := wsServerWith(t, reply(tt.status, tt.body, "Location", "https://evil.example/"))
			var err error
			if tt.check {
				err = p.Check(context.Background(), wsTestID, "123456")
			} else {
				var v twofactor.Verification
				v, err = p.Send(context.Background(), twofactor.Request{Phone: testPhone})
				if err == nil && !strings.EqualFold(v.ID, wsTestID) {
					t.Errorf("Send id = %q", v.ID)
				}
			}
			if n := len(srv.Requests()); n != 1 {
				t.Fatalf("server saw %d requests, want 1 (no retry)", n)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			for _, s := range classSentinels {
				if !sameClass(tt.want, s) && errors.Is(err, s) {
					t.Errorf("err = %v also matches %v", err, s)
				}
			}
			msg := err.Error()
			for _, leak := range []string{secret, "123456", "31612345678", "html", "not json", "s3cr3t", "evil", wsKey} {
				if strings.Contains(msg, leak) {
					t.Errorf("err %q contains %q", msg, leak)
				}
			}
			if !strings.Contains(msg, "HTTP") && tt.status != 200 && tt.status != 202 {
				t.Errorf("err %q does not name the HTTP status", msg)
			}
		})
	}
}

func TestWorkspaceRetryAfter(t *testing.T) {
	srv, p := wsServerWith(t, reply(429, wsErr("TooManyRequests", "slow down"), "Retry-After", "42"))
	err := p.Check(context.Background(), wsTestID, "123456")
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != 42*time.Second || rl.Code != "TooManyRequests" || errors.Is(err, twofactor.ErrUnavailable) {
		t.Fatalf("err = %v (%+v)", err, rl)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests", n)
	}
}

// Ids and codes are checked before any URL is built: nothing that is not
// a UUID reaches the path.
func TestWorkspaceCheckRejectsMalformedInput(t *testing.T) {
	srv, p := wsServerWith(t, reply(200, wsVerifyOK))
	for _, id := range []string{
		"", wsTestID + "0", wsTestID[1:], "../" + wsTestID[3:], wsTestID[:35] + "/", wsTestID[:35] + "%", wsTestID[:35] + "g",
		strings.ReplaceAll(wsTestID, "-", "_"), strings.ReplaceAll(wsTestID, "-", ""), "f0_" + wsTestID, wsTestID + "?x=1", " " + wsTestID[1:],
	} {
		if err := p.Check(context.Background(), id, "123456"); !errors.Is(err, twofactor.ErrNotFound) {
			t.Errorf("Check(%q) = %v, want ErrNotFound", id, err)
		}
	}
	for _, code := range []string{"", "12345", "1234567", "12345a", "12 456", "１２３４５６", "../123"} {
		if err := p.Check(context.Background(), wsTestID, code); !errors.Is(err, twofactor.ErrMalformedCode) {
			t.Errorf("Check(code %q) = %v, want ErrMalformedCode", code, err)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("malformed input made %d requests", n)
	}
}

// Voice is not a channel of the workspace API: no call, ErrConfiguration
// (so a Failover asks the next provider).
func TestWorkspaceVoice(t *testing.T) {
	srv, p := wsServerWith(t, reply(202, wsCreated))
	_, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone, Channel: twofactor.Voice})
	if !errors.Is(err, twofactor.ErrConfiguration) || !strings.Contains(err.Error(), "SMS only") {
		t.Errorf("voice: %v", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests", n)
	}
}

func TestWorkspaceAnswerSizeBound(t *testing.T) {
	huge := `{"id":"` + wsTestID + `","status":"accepted","pad":"` + strings.Repeat("x", maxBody) + `"}`
	_, p := wsServerWith(t, reply(202, huge))
	if _, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone}); !errors.Is(err, twofactor.ErrUnavailable) {
		t.Errorf("Send with a huge answer = %v", err)
	}
}

func TestNewWorkspace(t *testing.T) {
	ok := WorkspaceConfig{WorkspaceID: wsWorkspace, NavigatorID: wsNavigator}
	with := func(f func(*WorkspaceConfig)) WorkspaceConfig { c := ok; f(&c); return c }
	for _, tt := range []struct {
		key     string
		cfg     WorkspaceConfig
		setting string
		says    string
	}{
		{"", ok, "accessKey", "missing"},
		{"bk_eu1_s3cr3tplatformkey", ok, "accessKey", "platform API"},
		{"AccessKey " + wsKey, ok, "accessKey", "without the"},
		{"short", ok, "accessKey", "16 to 256"},
		{`"` + wsKey + `"`, ok, "accessKey", "16 to 256"},
		{wsKey + " ", ok, "accessKey", "16 to 256"},
		{wsKey + "\n", ok, "accessKey", "16 to 256"},
		{wsKey, with(func(c *WorkspaceConfig) { c.WorkspaceID = "" }), "WorkspaceID", "missing"},
		{wsKey, with(func(c *WorkspaceConfig) { c.WorkspaceID = "my-workspace" }), "WorkspaceID", "UUID"},
		{wsKey, with(func(c *WorkspaceConfig) { c.WorkspaceID = wsWorkspace + "/x" }), "WorkspaceID", "UUID"},
		{wsKey, with(func(c *WorkspaceConfig) { c.NavigatorID = "" }), "NavigatorID", "or ChannelID is needed"},
		{wsKey, with(func(c *WorkspaceConfig) { c.ChannelID = wsChannel }), "NavigatorID", "both set"},
		{wsKey, with(func(c *WorkspaceConfig) { c.NavigatorID = "nav-1" }), "NavigatorID", "UUID"},
		{wsKey, WorkspaceConfig{WorkspaceID: wsWorkspace, ChannelID: "sms"}, "ChannelID", "UUID"},
		{wsKey, with(func(c *WorkspaceConfig) { c.CodeLength = 5 }), "CodeLength", "6 to 10"},
		{wsKey, with(func(c *WorkspaceConfig) { c.CodeLength = 11 }), "CodeLength", "6 to 10"},
		{wsKey, with(func(c *WorkspaceConfig) { c.Validity = 29 * time.Second }), "Validity", "30s"},
		{wsKey, with(func(c *WorkspaceConfig) { c.Validity = 11 * time.Minute }), "Validity", "10m"},
		{wsKey, with(func(c *WorkspaceConfig) { c.Validity = 90500 * time.Millisecond }), "Validity", "whole seconds"},
		{wsKey, with(func(c *WorkspaceConfig) { c.MaxAttempts = 11 }), "MaxAttempts", "1 to 10"},
		{wsKey, with(func(c *WorkspaceConfig) { c.MaxAttempts = -1 }), "MaxAttempts", "1 to 10"},
		{wsKey, with(func(c *WorkspaceConfig) { c.Locale = "nl_NL" }), "Locale", "BCP 47"},
		{wsKey, with(func(c *WorkspaceConfig) { c.BaseURL = "ftp://x" }), "BaseURL", "http(s)"},
		{wsKey, with(func(c *WorkspaceConfig) { c.BaseURL = "https://u:p@h" }), "BaseURL", "http(s)"},
	} {
		p, err := NewWorkspace(tt.key, tt.cfg)
		var se *SettingError
		if p != nil || !errors.As(err, &se) || se.Setting != tt.setting || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("NewWorkspace(%q, %+v) = %v, %v; want a SettingError on %s saying %q", tt.key, tt.cfg, p, err, tt.setting, tt.says)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error repeats the key: %v", err)
		}
	}
	p, err := NewWorkspace(wsKey, WorkspaceConfig{WorkspaceID: " " + strings.ToUpper(wsWorkspace) + "\n", ChannelID: wsChannel})
	if err != nil {
		t.Fatal(err)
	}
	tr, isTr := p.hc.Transport.(*http.Transport)
	if !isTr || tr == http.DefaultTransport || tr.Proxy == nil || p.hc.Timeout <= 0 || p.hc.CheckRedirect == nil {
		t.Errorf("client = %#v, want a clone of http.DefaultTransport with a timeout and no redirects", p.hc)
	}
	if p.base != "https://api.bird.com" || p.cfg.CodeLength != 6 || p.cfg.Validity != wire.DefaultValidity ||
		p.cfg.MaxAttempts != wire.DefaultMaxAttempts || p.cfg.WorkspaceID != strings.ToUpper(wsWorkspace) {
		t.Errorf("defaults: base %q, %+v", p.base, p.cfg)
	}
	own := &http.Client{Timeout: time.Second}
	p, err = NewWorkspace(wsKey, with(func(c *WorkspaceConfig) { c.HTTPClient = own; c.BaseURL = "https://proxy.example/bird/" }))
	if err != nil || p.hc == own || own.CheckRedirect != nil || p.hc.Timeout != time.Second || p.base != "https://proxy.example/bird" {
		t.Errorf("NewWorkspace with own client: %+v, %v", p, err)
	}
}

// BaseURL replaces https://api.bird.com.
func TestWorkspaceBaseURL(t *testing.T) {
	var got *http.Request
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		reply(202, wsCreated)(w, r)
	}))
	defer srv.Close()
	p, err := NewWorkspace(wsKey, WorkspaceConfig{WorkspaceID: wsWorkspace, NavigatorID: wsNavigator, BaseURL: srv.URL + "/bird/", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(context.Background(), twofactor.Request{Phone: testPhone}); err != nil {
		t.Fatal(err)
	}
	if got.URL.Path != "/bird/workspaces/"+wsWorkspace+"/verify" {
		t.Errorf("path = %s", got.URL.Path)
	}
}

func TestWorkspaceProxyAndTrustStore(t *testing.T) {
	f := newFakeWorkspace(t)
	connects := f.RunHelperThroughProxy(t, "TestWorkspaceProxyHelper", "TWOFACTOR_BIRDWS_PROXY_HELPER=1")
	if len(connects) != 1 || connects[0] != wsHost+":443" {
		t.Errorf("proxy saw CONNECT %v", connects)
	}
	reqs := f.Requests()
	if len(reqs) != 2 || reqs[0].Path != "/workspaces/"+wsWorkspace+"/verify" || !strings.HasPrefix(reqs[1].Path, reqs[0].Path+"/") ||
		reqs[0].Host != wsHost || reqs[1].Header.Get("Authorization") != "AccessKey "+wsKey {
		t.Fatalf("server saw %+v", reqs)
	}
	// The helper checked a wrong code; the fake counted it.
	if body := string(reqs[1].Body); !strings.Contains(body, `"code":"`) {
		t.Errorf("check body %s", body)
	}
}

func TestWorkspaceProxyHelper(t *testing.T) {
	if os.Getenv("TWOFACTOR_BIRDWS_PROXY_HELPER") != "1" {
		t.Skip("run by TestWorkspaceProxyAndTrustStore")
	}
	p, err := NewWorkspace(wsKey, WorkspaceConfig{WorkspaceID: wsWorkspace, NavigatorID: wsNavigator})
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Send(t.Context(), twofactor.Request{Phone: testPhone})
	if err != nil || !wsUUIDRE.MatchString(v.ID) {
		t.Fatalf("Send = %+v, %v", v, err)
	}
	// The child cannot read the code; a code it makes up is wrong (or, one
	// time in a million, right).
	if err := p.Check(t.Context(), v.ID, "000000"); err != nil && !errors.Is(err, twofactor.ErrInvalidCode) {
		t.Fatalf("Check = %v", err)
	}
}
