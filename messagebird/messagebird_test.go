package messagebird

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/faketls"
	"github.com/go-twofactor/twofactor/internal/wire"

	sdk "github.com/messagebird/go-rest-api/v9"
)

const mbHost = "rest.messagebird.com"

// mbRequest is what the fake MessageBird saw of one request.
type mbRequest struct {
	Method, Host, Path, RawQuery string
	Header                       http.Header
	Body                         []byte
}

// fakeMB is a TLS server with a certificate for rest.messagebird.com that
// records requests and answers them with respond.
type fakeMB struct {
	srv     *httptest.Server
	certPEM []byte
	pool    *x509.CertPool

	mu      sync.Mutex
	reqs    []mbRequest
	respond func(w http.ResponseWriter, r *http.Request)
}

func newFakeMB(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) *fakeMB {
	t.Helper()
	cert, certPEM := mbCert(t)
	f := &fakeMB{certPEM: certPEM, pool: x509.NewCertPool(), respond: respond}
	f.pool.AppendCertsFromPEM(certPEM)
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, mbRequest{r.Method, r.Host, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		respond := f.respond
		f.mu.Unlock()
		respond(w, r)
	}))
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeMB) requests() []mbRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]mbRequest(nil), f.reqs...)
}

// client returns an SDK client that trusts the fake's certificate and
// reaches the fake whatever host it dials, so the SDK's real URL is used.
func (f *fakeMB) client() *sdk.DefaultClient {
	addr := f.srv.Listener.Addr().String()
	var d net.Dialer
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: f.pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}
	return &sdk.DefaultClient{AccessKey: mbKey, HTTPClient: &http.Client{Transport: tr}}
}

func (f *fakeMB) provider(t *testing.T, cfg Config) *Provider {
	t.Helper()
	m, err := NewWithClient(f.client(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// mbCert makes a self-signed certificate for rest.messagebird.com.
func mbCert(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: mbHost},
		DNSNames:              []string{mbHost},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM
}

func mbReply(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

const (
	mbID      = "4e213b01155d1e35a9d9571v00162985"
	mbCreated = `{"id":"` + mbID + `","href":"https://rest.messagebird.com/verify/` + mbID + `",
		"recipient":31612345678,"reference":null,"messages":{"href":"https://rest.messagebird.com/messages/x"},
		"status":"sent","createdDatetime":"2026-05-03T14:26:57+00:00","validUntilDatetime":"2026-05-03T14:31:57+00:00"}`
)

func mbStatus(status string) string {
	return `{"id":"` + mbID + `","recipient":31612345678,"status":"` + status + `"}`
}

func mbErr(code int, desc, param string) string {
	b, _ := json.Marshal(map[string]any{"errors": []map[string]any{{"code": code, "description": desc, "parameter": param}}})
	return string(b)
}

func TestMessageBirdSendRequest(t *testing.T) {
	f := newFakeMB(t, mbReply(http.StatusOK, mbCreated))
	m := f.provider(t, Config{})
	v, err := m.Send(context.Background(), twofactor.Request{Phone: "+31612345678"})
	if err != nil {
		t.Fatal(err)
	}
	wantExp := time.Date(2026, 5, 3, 14, 31, 57, 0, time.UTC)
	if v.ID != mbID || v.Phone != "+31612345678" || v.Channel != twofactor.SMS || !v.ExpiresAt.Equal(wantExp) {
		t.Errorf("Send = %+v", v)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Host != mbHost || r.Path != "/verify" || r.RawQuery != "" {
		t.Errorf("request = %s %s %s?%s", r.Method, r.Host, r.Path, r.RawQuery)
	}
	if got := r.Header.Get("Authorization"); got != "AccessKey "+mbKey {
		t.Errorf("Authorization = %q", got)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	want := map[string]any{
		"recipient": "31612345678", "originator": "Code", "template": "Your verification code is %token.",
		"type": "sms", "timeout": 300.0, "tokenLength": 6.0, "maxAttempts": 3.0,
	}
	if fmt.Sprint(body) != fmt.Sprint(want) {
		t.Errorf("body = %v\nwant   %v", body, want)
	}
}

func TestMessageBirdSendConfigAndOverrides(t *testing.T) {
	f := newFakeMB(t, mbReply(http.StatusCreated, `{"id":"abc123","recipient":"31612345678","status":"sent"}`))
	cfg := Config{
		Originator: "+3197010203", Template: "Code: %token", CodeLength: 8, Validity: 90 * time.Second,
		MaxAttempts: 5, Type: twofactor.Voice, Language: "nl-NL", Voice: "female",
	}
	m := f.provider(t, cfg)
	if m.CodeLength() != 8 {
		t.Errorf("CodeLength = %d", m.CodeLength())
	}
	before := time.Now()
	v, err := m.Send(context.Background(), twofactor.Request{Phone: "+4915123456789"})
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != "abc123" || v.Channel != twofactor.Voice || v.ExpiresAt.Before(before.Add(90*time.Second)) || v.ExpiresAt.After(after.Add(90*time.Second)) {
		t.Errorf("Send = %+v", v)
	}
	if _, err := m.Send(context.Background(), twofactor.Request{Phone: "+4915123456789", Channel: twofactor.SMS, Language: "EN-gb"}); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	var first, second map[string]any
	if err := errors.Join(json.Unmarshal(reqs[0].Body, &first), json.Unmarshal(reqs[1].Body, &second)); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"recipient": "4915123456789", "originator": "+3197010203", "template": "Code: %token",
		"type": "tts", "timeout": 90.0, "tokenLength": 8.0, "maxAttempts": 5.0, "language": "nl-nl", "voice": "female",
	}
	if fmt.Sprint(first) != fmt.Sprint(want) {
		t.Errorf("body = %v\nwant   %v", first, want)
	}
	if second["type"] != "sms" || second["language"] != "en-gb" {
		t.Errorf("overridden body = %v", second)
	}
}

// A twofactor.Request.Message becomes the template, its placeholder MessageBird's
// %token; a message without the placeholder is refused before any call.
func TestMessageBirdSendMessage(t *testing.T) {
	f := newFakeMB(t, mbReply(http.StatusCreated, `{"id":"abc123","recipient":"31612345678","status":"sent"}`))
	m := f.provider(t, Config{})
	msg := "BirdBank: confirm EUR 500.00 to NL91…4300. Code: {code}\n\n@bank.example #{code}"
	if _, err := m.Send(context.Background(), twofactor.Request{Phone: "+31612345678", Message: msg}); err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(f.requests()[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if want := "BirdBank: confirm EUR 500.00 to NL91…4300. Code: %token\n\n@bank.example #%token"; body["template"] != want {
		t.Errorf("template = %q, want %q", body["template"], want)
	}
	for _, bad := range []string{"no placeholder", "Code: {code} %token"} {
		if _, err := m.Send(context.Background(), twofactor.Request{Phone: "+31612345678", Message: bad}); err == nil {
			t.Errorf("Send(Message %q) = nil error", bad)
		}
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

func TestMessageBirdCheckRequest(t *testing.T) {
	f := newFakeMB(t, mbReply(http.StatusOK, mbStatus("verified")))
	m := f.provider(t, Config{})
	if err := m.Check(context.Background(), mbID, "012345"); err != nil {
		t.Fatalf("Check = %v", err)
	}
	r := f.requests()[0]
	if r.Method != http.MethodGet || r.Host != mbHost || r.Path != "/verify/"+mbID || r.RawQuery != "token=012345" || len(r.Body) != 0 {
		t.Errorf("request = %s %s %s?%s %q", r.Method, r.Host, r.Path, r.RawQuery, r.Body)
	}
	if got := r.Header.Get("Authorization"); got != "AccessKey "+mbKey {
		t.Errorf("Authorization = %q", got)
	}
}

var mbSentinels = []error{
	twofactor.ErrInvalidCode, twofactor.ErrMalformedCode, twofactor.ErrExpired, twofactor.ErrAlreadyUsed, twofactor.ErrInvalidPhone,
	twofactor.ErrNotFound, twofactor.ErrBadAPIKey, twofactor.ErrNoBalance, twofactor.ErrUnavailable, twofactor.ErrRateLimited,
	twofactor.ErrConfiguration, twofactor.ErrUnknownOutcome, twofactor.ErrNumberRefused,
}

// mbKey looks like a MessageBird live access key.
const mbKey = "live_q8Vw2Zr5Yt1Xk7Pm3Hn9Bj4L"

// sameClass reports whether sentinel s is want or one of want's classes.
func sameClass(want, s error) bool {
	return s == want || errors.Is(want, s)
}

func TestMessageBirdErrorMapping(t *testing.T) {
	tests := []struct {
		name   string
		check  bool
		status int
		body   string
		want   error // nil means success
	}{
		{"send bad key", false, 401, mbErr(2, "Request not allowed (incorrect access_key)", "access_key"), twofactor.ErrBadAPIKey},
		{"send bad recipient", false, 422, mbErr(9, "no (correct) recipients found", "recipient"), twofactor.ErrInvalidPhone},
		{"send no balance", false, 422, mbErr(25, "Not enough balance", ""), twofactor.ErrNoBalance},
		{"send bad parameter", false, 422, mbErr(10, "originator is invalid", "originator"), twofactor.ErrConfiguration},
		{"send token length", false, 422, mbErr(10, "tokenLength is invalid", "tokenLength"), twofactor.ErrConfiguration},
		{"send missing parameter", false, 422, mbErr(9, "template is required", "template"), twofactor.ErrConfiguration},
		{"send unknown code", false, 400, mbErr(21, "Bad request", ""), twofactor.ErrConfiguration},
		{"send no details", false, 503, `{"errors":[]}`, twofactor.ErrUnavailable},
		{"send HTTP 500", false, 500, `{"errors":[{"code":99,"description":"internal"}]}`, twofactor.ErrUnavailable},
		{"send HTTP 502 HTML", false, 502, "<html><body>Bad Gateway</body></html>", twofactor.ErrUnavailable},
		{"send 401 empty", false, 401, "", twofactor.ErrBadAPIKey},
		{"send 402 HTML", false, 402, "<html>Payment Required</html>", twofactor.ErrNoBalance},
		{"send 429 HTML", false, 429, "<html>Too Many Requests</html>", twofactor.ErrRateLimited},
		{"send 429 JSON", false, 429, mbErr(21, "Too many requests", ""), twofactor.ErrRateLimited},
		{"send malformed JSON", false, 200, `{"id":"abc`, twofactor.ErrUnknownOutcome},
		{"send unusable id", false, 200, `{"id":"../x","recipient":1,"status":"sent"}`, twofactor.ErrUnknownOutcome},
		{"send ok", false, 200, mbCreated, nil},
		{"check verified", true, 200, mbStatus("verified"), nil},
		{"check status sent", true, 200, mbStatus("sent"), twofactor.ErrInvalidCode},
		{"check status odd", true, 200, mbStatus("VERIFIED "), twofactor.ErrInvalidCode},
		{"check no status", true, 200, `{"id":"` + mbID + `"}`, twofactor.ErrInvalidCode},
		{"check status expired", true, 200, mbStatus("expired"), twofactor.ErrExpired},
		{"check status failed", true, 200, mbStatus("failed"), twofactor.ErrAlreadyUsed},
		{"check status deleted", true, 200, mbStatus("deleted"), twofactor.ErrNotFound},
		{"check token invalid", true, 422, mbErr(10, "The token is invalid.", "token"), twofactor.ErrInvalidCode},
		{"check token other", true, 422, mbErr(10, "Something about the code", "token"), twofactor.ErrInvalidCode},
		{"check expired", true, 422, mbErr(10, "The token has expired.", "token"), twofactor.ErrExpired},
		{"check processed", true, 422, mbErr(10, "The token has already been processed.", "token"), twofactor.ErrAlreadyUsed},
		{"check other parameter", true, 422, mbErr(10, "id is invalid", "id"), twofactor.ErrConfiguration},
		{"check 429 HTML", true, 429, "<html>Too Many Requests</html>", twofactor.ErrRateLimited},
		{"check not found", true, 404, mbErr(20, "verify object not found", "id"), twofactor.ErrNotFound},
		{"check bad key", true, 401, mbErr(2, "Request not allowed (incorrect access_key)", "access_key"), twofactor.ErrBadAPIKey},
		{"check HTTP 500", true, 500, "", twofactor.ErrUnavailable},
		{"check HTTP 502 HTML", true, 502, "<html>Bad Gateway</html>", twofactor.ErrUnavailable},
		{"check malformed JSON", true, 200, `not json`, twofactor.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMB(t, mbReply(tt.status, tt.body))
			m := f.provider(t, Config{})
			var err error
			if tt.check {
				err = m.Check(context.Background(), mbID, "123456")
			} else {
				_, err = m.Send(context.Background(), twofactor.Request{Phone: "+31612345678"})
			}
			if n := len(f.requests()); n != 1 {
				t.Fatalf("server saw %d requests, want 1", n)
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
			for _, s := range mbSentinels {
				if !sameClass(tt.want, s) && errors.Is(err, s) {
					t.Errorf("err = %v also matches %v", err, s)
				}
			}
			var er sdk.ErrorResponse
			_ = json.Unmarshal([]byte(tt.body), &er)
			msg := err.Error()
			for _, e := range er.Errors {
				if e.Description != "" && strings.Contains(msg, e.Description) {
					t.Errorf("err %q contains MessageBird's description", msg)
				}
			}
			for _, leak := range []string{"123456", "31612345678", "html", "not json", `"id"`} {
				if strings.Contains(msg, leak) {
					t.Errorf("err %q contains %q", msg, leak)
				}
			}
		})
	}
}

func TestMessageBirdRejectsMalformedInputWithoutRequest(t *testing.T) {
	f := newFakeMB(t, mbReply(http.StatusOK, mbStatus("verified")))
	m := f.provider(t, Config{})
	ctx := context.Background()
	for _, id := range []string{"", "../x", "%2F", "abc?token=1", "abc&token=1", "a b", "abc/def", strings.Repeat("a", 129)} {
		if err := m.Check(ctx, id, "123456"); !errors.Is(err, twofactor.ErrNotFound) {
			t.Errorf("Check(%q, ok code) = %v, want twofactor.ErrNotFound", id, err)
		}
	}
	for _, code := range []string{"", "12345", "1234567", "123456&token=1", "12345678901", "12345a", "１２３４５６", " 123456", "123456\n", "%31%32%33456"} {
		if err := m.Check(ctx, mbID, code); !errors.Is(err, twofactor.ErrMalformedCode) {
			t.Errorf("Check(ok id, %q) = %v, want twofactor.ErrMalformedCode", code, err)
		}
	}
	for _, phone := range []string{"", "31612345678", "+123", "+1234567", "+1234567890123456", "+31 612345678", "+3161234567a", "+031612345678", "++31612345678"} {
		if _, err := m.Send(ctx, twofactor.Request{Phone: phone}); !errors.Is(err, twofactor.ErrInvalidPhone) {
			t.Errorf("Send(%q) = %v, want twofactor.ErrInvalidPhone", phone, err)
		}
	}
	if _, err := m.Send(ctx, twofactor.Request{Phone: "+31612345678", Channel: "flash"}); err == nil {
		t.Error("Send with channel flash succeeded")
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("server saw %d requests, want 0", n)
	}

	long := f.provider(t, Config{CodeLength: 10})
	if err := long.Check(ctx, mbID, "123456"); !errors.Is(err, twofactor.ErrMalformedCode) {
		t.Errorf("6-digit code with CodeLength 10: %v", err)
	}
	if err := long.Check(ctx, mbID, "0123456789"); err != nil {
		t.Errorf("10-digit code with CodeLength 10: %v", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("server saw %d requests, want 1", n)
	}
}

// mbBlockingFake returns a fake whose handler reports each request on started,
// then blocks until the request's context is canceled (reported on canceled)
// or the test ends.
func mbBlockingFake(t *testing.T) (f *fakeMB, started, canceled chan struct{}) {
	started, canceled = make(chan struct{}, 10), make(chan struct{}, 10)
	release := make(chan struct{})
	f = newFakeMB(t, func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			canceled <- struct{}{}
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	return f, started, canceled
}

func mbWaitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestMessageBirdContextReachesRequest(t *testing.T) {
	ops := map[string]func(m *Provider, ctx context.Context) error{
		"Send": func(m *Provider, ctx context.Context) error {
			_, err := m.Send(ctx, twofactor.Request{Phone: "+31612345678"})
			return err
		},
		"Check": func(m *Provider, ctx context.Context) error { return m.Check(ctx, mbID, "123456") },
	}
	for name, op := range ops {
		t.Run(name+"/deadline", func(t *testing.T) {
			f, started, canceled := mbBlockingFake(t)
			m := f.provider(t, Config{})
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- op(m, ctx) }()
			mbWaitFor(t, started, "the request")
			select {
			case err := <-errc:
				if !errors.Is(err, twofactor.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("err = %v, want twofactor.ErrUnavailable and DeadlineExceeded", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("call did not return after its deadline")
			}
			mbWaitFor(t, canceled, "the server to see the request canceled")
		})
		t.Run(name+"/cancel", func(t *testing.T) {
			f, started, canceled := mbBlockingFake(t)
			m := f.provider(t, Config{})
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- op(m, ctx) }()
			mbWaitFor(t, started, "the request")
			cancel()
			mbWaitFor(t, canceled, "the server to see the request canceled")
			if err := <-errc; !errors.Is(err, twofactor.ErrUnavailable) || !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want twofactor.ErrUnavailable and Canceled", err)
			}
		})
	}
	t.Run("already done", func(t *testing.T) {
		f := newFakeMB(t, mbReply(http.StatusOK, mbStatus("verified")))
		m := f.provider(t, Config{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := m.Check(ctx, mbID, "123456"); !errors.Is(err, twofactor.ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
		if n := len(f.requests()); n != 0 {
			t.Errorf("server saw %d requests, want 0", n)
		}
	})
}

func TestMessageBirdDoesNotModifyUserClient(t *testing.T) {
	f := newFakeMB(t, mbReply(http.StatusOK, mbStatus("verified")))
	c := f.client()
	var logBuf bytes.Buffer
	c.DebugLog = log.New(&logBuf, "", 0)
	hc, tr := c.HTTPClient, c.HTTPClient.Transport
	m, err := NewWithClient(c, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Check(context.Background(), mbID, "123456"); err != nil {
		t.Fatal(err)
	}
	if c.HTTPClient != hc || c.HTTPClient.Transport != tr || c.DebugLog == nil || c.AccessKey != mbKey {
		t.Error("the user's client was modified")
	}
	if logBuf.Len() != 0 {
		t.Errorf("DebugLog was used: %q", logBuf.String())
	}
}

// mbFuncClient is an SDK Client that is not a *DefaultClient.
type mbFuncClient func(v any, method, path string, data any) error

func (f mbFuncClient) Request(v any, method, path string, data any) error {
	return f(v, method, path, data)
}

func TestMessageBirdOtherClient(t *testing.T) {
	var gotMethod, gotPath string
	var gotData []byte
	c := mbFuncClient(func(v any, method, path string, data any) error {
		gotMethod, gotPath = method, path
		gotData, _ = json.Marshal(data)
		if method == http.MethodGet {
			return sdk.ErrorResponse{Errors: []sdk.Error{{Code: 10, Description: "The token has expired.", Parameter: "token"}}}
		}
		return json.Unmarshal([]byte(mbCreated), v)
	})
	m, err := NewWithClient(c, Config{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := m.Send(context.Background(), twofactor.Request{Phone: "+31612345678"})
	if err != nil || v.ID != mbID {
		t.Fatalf("Send = %+v, %v", v, err)
	}
	if gotMethod != http.MethodPost || gotPath != "verify" || !bytes.Contains(gotData, []byte(`"maxAttempts":3`)) {
		t.Errorf("Request(%s, %s, %s)", gotMethod, gotPath, gotData)
	}
	if err := m.Check(context.Background(), mbID, "123456"); !errors.Is(err, twofactor.ErrExpired) {
		t.Errorf("Check = %v, want twofactor.ErrExpired", err)
	}
	if gotPath != "verify/"+mbID+"?token=123456" {
		t.Errorf("Check path = %s", gotPath)
	}

	release, entered := make(chan struct{}), make(chan struct{})
	defer close(release)
	block, err := NewWithClient(mbFuncClient(func(any, string, string, any) error {
		close(entered)
		<-release
		return nil
	}), Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- block.Check(ctx, mbID, "123456") }()
	select { // the client cannot return before release is closed
	case err := <-errc:
		if !errors.Is(err, twofactor.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Check did not return after its deadline")
	}
	mbWaitFor(t, entered, "the client call")
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"alphanumeric originator", Config{Originator: "My Shop 24"}, true},
		{"number originator", Config{Originator: "+31612345678"}, true},
		{"17-digit originator", Config{Originator: "12345678901234567"}, true},
		{"18-digit originator", Config{Originator: "123456789012345678"}, false},
		{"12-char originator", Config{Originator: "ABCDEFGHIJKL"}, false},
		{"originator symbol", Config{Originator: "Shop!"}, false},
		{"originator non-ASCII", Config{Originator: "Café"}, false},
		{"originator padded", Config{Originator: " Shop"}, false},
		{"originator plus letters", Config{Originator: "+Shop"}, false},
		{"template without token", Config{Template: "Your code"}, false},
		{"template with token", Config{Template: "%token is your code"}, true},
		{"CodeLength 5", Config{CodeLength: 5}, false},
		{"CodeLength 10", Config{CodeLength: 10}, true},
		{"CodeLength 11", Config{CodeLength: 11}, false},
		{"Validity negative", Config{Validity: -time.Minute}, false},
		{"Validity 10s", Config{Validity: 10 * time.Second}, false},
		{"Validity 10m", Config{Validity: wire.MaxValidity}, true},
		{"Validity 11m", Config{Validity: 11 * time.Minute}, false},
		{"MaxAttempts 1", Config{MaxAttempts: 1}, true},
		{"MaxAttempts -1", Config{MaxAttempts: -1}, false},
		{"MaxAttempts 11", Config{MaxAttempts: 11}, false},
		{"Type voice", Config{Type: twofactor.Voice}, true},
		{"Type flash", Config{Type: "flash"}, false},
		{"Language en", Config{Language: "en"}, true},
		{"Language bad", Config{Language: "en_GB"}, false},
		{"Language empty region", Config{Language: "en-"}, false},
		{"Voice male", Config{Voice: "male"}, true},
		{"Voice bad", Config{Voice: "robot"}, false},
	}
	c := sdk.New(mbKey)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewWithClient(c, tt.cfg)
			if (err == nil) != tt.ok || (m == nil) == tt.ok {
				t.Fatalf("NewWithClient(%+v) = %v, %v; want ok %v", tt.cfg, m, err, tt.ok)
			}
		})
	}

	m, err := NewWithClient(c, Config{})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Originator: "Code", Template: "Your verification code is %token.", CodeLength: 6,
		Validity: 5 * time.Minute, MaxAttempts: 3, Type: twofactor.SMS}
	if m.cfg != want || m.CodeLength() != 6 {
		t.Errorf("defaults = %+v", m.cfg)
	}
	if _, err := NewWithClient(nil, Config{}); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := NewWithClient((*sdk.DefaultClient)(nil), Config{}); err == nil {
		t.Error("nil *DefaultClient accepted")
	}
}

func TestNew(t *testing.T) {
	for _, tt := range []struct{ key, says string }{
		{"", "empty"},
		{"test key", "spaces"},
		{mbKey + "\n", "spaces"},
		{"tëst", "printable ASCII"},
		{"bk_eu1_" + mbKey[5:], "Bird's platform"},
		{"test_" + mbKey[5:], "test keys cannot send"},
		{`"` + mbKey + `"`, "quotes"},
		{"'" + mbKey + "'", "quotes"},
		{"abc123", "too short"},
		{"live-" + mbKey[5:], "letters, digits and _"},
	} {
		m, err := New(tt.key, Config{})
		if err == nil || m != nil {
			t.Errorf("New(%q) = %v, %v; want error", tt.key, m, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.says) || !strings.Contains(msg, "access key") || !strings.Contains(msg, "live_") {
			t.Errorf("New(%q) = %q: want it to name the access key, say %q and what is expected", tt.key, msg, tt.says)
		}
		if len(tt.key) > 8 && strings.Contains(msg, strings.Trim(tt.key, `"'`)) {
			t.Errorf("New error %q repeats the key", msg)
		}
	}
	// A key of 25 letters and digits without prefix, as MessageBird's
	// dashboard also shows them, is taken.
	if _, err := New("q8Vw2Zr5Yt1Xk7Pm3Hn9Bj4La", Config{}); err != nil {
		t.Errorf("a 25-character key: %v", err)
	}
	if _, err := New(mbKey, Config{CodeLength: 3}); err == nil {
		t.Error("bad config accepted")
	}
	m, err := New(mbKey, Config{})
	if err != nil {
		t.Fatal(err)
	}
	c, ok := m.client.(*sdk.DefaultClient)
	if !ok || c.AccessKey != mbKey || c.DebugLog != nil || c.HTTPClient == nil || c.HTTPClient.Timeout <= 0 {
		t.Fatalf("client = %#v", m.client)
	}
	tr, ok := c.HTTPClient.Transport.(*http.Transport)
	if !ok || tr == http.DefaultTransport || tr.Proxy == nil {
		t.Errorf("transport = %#v, want a clone of http.DefaultTransport", c.HTTPClient.Transport)
	}
}

// TestMessageBirdProxyAndTrustStore runs TestMessageBirdProxyHelper in a
// child process with HTTPS_PROXY pointing at a CONNECT proxy and
// SSL_CERT_FILE holding the fake MessageBird's certificate.
func TestMessageBirdProxyAndTrustStore(t *testing.T) {
	f := newFakeMB(t, mbReply(http.StatusOK, mbCreated))
	dir := t.TempDir()
	certFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(certFile, f.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	connects := make(chan string, 10)
	proxy := faketls.ConnectProxy(t, f.srv.Listener.Addr().String(), connects)

	cmd := exec.Command(os.Args[0], "-test.run=^TestMessageBirdProxyHelper$", "-test.v")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.Contains(strings.ToLower(k), "proxy") && !strings.HasPrefix(k, "SSL_CERT") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TWOFACTOR_MB_PROXY_HELPER=1", "HTTPS_PROXY=http://"+proxy,
		"SSL_CERT_FILE="+certFile, "SSL_CERT_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestMessageBirdProxyHelper") {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	select {
	case host := <-connects:
		if host != mbHost+":443" {
			t.Errorf("proxy saw CONNECT %s", host)
		}
	default:
		t.Fatal("proxy saw no CONNECT")
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Host != mbHost || reqs[0].Path != "/verify" || reqs[0].Header.Get("Authorization") != "AccessKey "+mbKey {
		t.Fatalf("server saw %+v", reqs)
	}
}

func TestMessageBirdProxyHelper(t *testing.T) {
	if os.Getenv("TWOFACTOR_MB_PROXY_HELPER") != "1" {
		t.Skip("run by TestMessageBirdProxyAndTrustStore")
	}
	m, err := New(mbKey, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := m.Send(ctx, twofactor.Request{Phone: "+31612345678"})
	if err != nil || v.ID != mbID {
		t.Fatalf("Send = %+v, %v", v, err)
	}
}

// A "verified" answer counts only when it is for the verification asked: an
// answer naming another id, or none, is not a success.
func TestMessageBirdCheckVerifiedForAnotherID(t *testing.T) {
	tests := []struct {
		name string
		body string
		want error // nil means success
	}{
		{"same id", mbStatus("verified"), nil},
		{"other id", `{"id":"0000000000000000000000000000000a","recipient":31612345678,"status":"verified"}`, twofactor.ErrNotFound},
		{"id differs in case", `{"id":"` + strings.ToUpper(mbID) + `","status":"verified"}`, twofactor.ErrNotFound},
		{"no id", `{"recipient":31612345678,"status":"verified"}`, twofactor.ErrNotFound},
		{"empty id", `{"id":"","status":"verified"}`, twofactor.ErrNotFound},
		{"null id", `{"id":null,"status":"verified"}`, twofactor.ErrNotFound},
		{"other id, not verified", `{"id":"0000000000000000000000000000000a","status":"sent"}`, twofactor.ErrInvalidCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMB(t, mbReply(http.StatusOK, tt.body))
			m := f.provider(t, Config{})
			err := m.Check(context.Background(), mbID, "123456")
			if n := len(f.requests()); n != 1 || f.requests()[0].Path != "/verify/"+mbID {
				t.Fatalf("server saw %+v, want one check of %s", f.requests(), mbID)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || errors.Is(err, twofactor.ErrUnavailable) {
				t.Fatalf("Check = %v, want only %v", err, tt.want)
			}
		})
	}
}
