package twofactor_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/messagebird/go-rest-api/v9"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/bird"
	"github.com/go-twofactor/twofactor/failover"
	"github.com/go-twofactor/twofactor/internal/faketls"
	"github.com/go-twofactor/twofactor/messagebird"
	"github.com/go-twofactor/twofactor/twilioverify"
)

// birdLike is a minimal fake of Bird's platform Verify API over TLS: a
// create answers a pending verification, a check takes the code it sent.
type birdLike struct {
	*faketls.Server
	mu   sync.Mutex
	code string
}

func newBirdLike(t *testing.T) (*birdLike, *bird.Provider) {
	t.Helper()
	f := &birdLike{}
	f.Server = faketls.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Code string `json:"code"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.mu.Lock()
		defer f.mu.Unlock()
		switch r.URL.Path {
		case "/v1/verify/verifications":
			f.code = faketls.RandomDigits(6)
			faketls.JSON(w, http.StatusCreated, map[string]any{"id": "vrf_" + faketls.RandomHex(16), "status": "pending"})
		case "/v1/verify/verifications/check":
			if in.Code != f.code {
				faketls.JSON(w, http.StatusOK, map[string]any{"success": false, "reason": "incorrect_code"})
				return
			}
			faketls.JSON(w, http.StatusOK, map[string]any{"success": true, "verification": map[string]any{"status": "verified", "to": map[string]any{"phone_number": testPhone}}})
		default:
			http.NotFound(w, r)
		}
	}), "eu1.platform.bird.com")
	p, err := bird.New("bk_eu1_s3cr3tKEY", bird.Config{HTTPClient: f.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	return f, p
}

func (f *birdLike) lastCode() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.code
}

// A provider's 429 is a limit, not an outage: the flow answers 429 with the
// provider's Retry-After, in its own words.
func TestFlowProviderRateLimit(t *testing.T) {
	f, p := newBirdLike(t)
	a := newFlowAppWith(t, appSetup{provider: p})
	f.SetOverride(faketls.Answer(429, `{"error":{"code":"E01003","message":"slow down"}}`, "Retry-After", "42"))
	wantStatus(t, a.get("/2fa/?next=%2Faccount"), http.StatusOK)
	res := a.post("/2fa/send", url.Values{"phone": {testPhone}})
	wantBody(t, res, http.StatusTooManyRequests, "Our messaging service asked us to slow down.")
	if got := res.header.Get("Retry-After"); got != "42" {
		t.Errorf("Retry-After = %q, want 42", got)
	}
	res = a.postJSON("/2fa/send", map[string]string{"phone": testPhone, "next": "/account"})
	wantJSONError(t, res, http.StatusTooManyRequests, "provider_rate_limited")
	if got := res.header.Get("Retry-After"); got != "42" {
		t.Errorf("JSON: Retry-After = %q, want 42", got)
	}
}

// A check that the provider did not judge (an outage, a lost answer) costs
// no try: after more such checks than there are tries, the right code
// still works.
func TestFlowCheckOutageGivesTriesBack(t *testing.T) {
	f, p := newBirdLike(t)
	a := newFlowAppWith(t, appSetup{provider: p})
	wantRedirect(t, a.get("/account"), "/2fa/?next=%2Faccount")
	wantStatus(t, a.get("/2fa/?next=%2Faccount"), http.StatusOK)
	wantRedirect(t, a.post("/2fa/send", url.Values{"phone": {testPhone}}), "/2fa/")
	code := f.lastCode()
	for i, fault := range []http.Handler{
		faketls.Answer(503, "<html>down</html>", "Content-Type", "text/html"),
		faketls.Answer(502, "<html>bad gateway</html>", "Content-Type", "text/html"),
		faketls.Answer(200, `{"success":`),
		faketls.Answer(503, "<html>down</html>", "Content-Type", "text/html"),
	} {
		f.SetOverride(fault)
		wantBody(t, a.post("/2fa/check", url.Values{"code": {code}}), http.StatusServiceUnavailable,
			"We couldn't check your code just now. Please try again: this didn't count as a try.")
		if i == 0 {
			wantJSONError(t, a.postJSON("/2fa/check", map[string]string{"code": code}), http.StatusServiceUnavailable, "provider_unavailable")
		}
	}
	f.SetOverride(nil)
	wantRedirect(t, a.post("/2fa/check", url.Values{"code": {code}}), "/account")
}

// A send whose outcome is unknown (here: an unusable 2xx) asks the visitor
// to wait for the code, and the resend cooldown holds, so a second code
// does not follow at once.
func TestFlowSendUnknownOutcome(t *testing.T) {
	f, p := newBirdLike(t)
	a := newFlowAppWith(t, appSetup{provider: p})
	f.SetOverride(faketls.Answer(201, `{"id":`))
	wantStatus(t, a.get("/2fa/?next=%2Faccount"), http.StatusOK)
	res := a.post("/2fa/send", url.Values{"phone": {testPhone}})
	wantBody(t, res, http.StatusServiceUnavailable, "We couldn't confirm that your code was sent. Please wait a minute for it before asking for a new one.")
	if res.header.Get("Retry-After") != "60" {
		t.Errorf("Retry-After = %q, want 60", res.header.Get("Retry-After"))
	}
	f.SetOverride(nil)
	calls := f.Calls()
	wantStatus(t, a.post("/2fa/send", url.Values{"phone": {testPhone}}), http.StatusTooManyRequests)
	if n := f.Calls() - calls; n != 0 {
		t.Errorf("a send right after an unknown outcome reached the provider %d times", n)
	}
	wantJSONError(t, a.postJSON("/2fa/send", map[string]string{"phone": testPhone}), http.StatusTooManyRequests, "rate_limited")
}

// A resend the provider failed to send gives back the session's resend
// cooldown it counted (no code is on its way), so the next resend goes to
// the provider at once; the number's and address's windows keep it.
func TestFlowResendFailureReleasesCooldown(t *testing.T) {
	f, p := newBirdLike(t)
	a := newFlowAppWith(t, appSetup{provider: p})
	wantStatus(t, a.get("/2fa/?next=%2Faccount"), http.StatusOK)
	wantRedirect(t, a.post("/2fa/send", url.Values{"phone": {testPhone}}), "/2fa/")
	a.clock.Advance(31 * time.Second) // past the resend cooldown
	f.SetOverride(faketls.Answer(503, "<html>down</html>", "Content-Type", "text/html"))
	wantStatus(t, a.post("/2fa/resend", nil), http.StatusServiceUnavailable)
	f.SetOverride(nil)
	calls := f.Calls()
	wantRedirect(t, a.post("/2fa/resend", nil), "/2fa/")
	if n := f.Calls() - calls; n != 1 {
		t.Errorf("the resend after a failed one reached the provider %d times, want 1", n)
	}
}

// A destination the provider refuses (Twilio 60605, geo permissions) asks
// for another number; it used to read as a bad key and a 503.
func TestFlowDestinationRefused(t *testing.T) {
	srv := faketls.NewServer(t, faketls.Answer(403, `{"code":60605,"message":"blocked","more_info":"https://www.twilio.com/docs/errors/60605","status":403}`), "verify.twilio.com")
	p, err := twilioverify.New(twilioverify.Config{
		AccountSID: "AC0123456789abcdef0123456789abcdef", AuthToken: "t0k3n", ServiceSID: "VA0123456789abcdef0123456789abcdef",
		HTTPClient: srv.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	a := newFlowAppWith(t, appSetup{provider: p})
	wantStatus(t, a.get("/2fa/?next=%2Faccount"), http.StatusOK)
	wantBody(t, a.post("/2fa/send", url.Values{"phone": {testPhone}}), http.StatusBadRequest, "We can't send codes to this number. Please use another mobile number.")
	wantJSONError(t, a.postJSON("/2fa/send", map[string]string{"phone": testPhone}), http.StatusBadRequest, "unsupported_number")
}

// A refused key or an empty account at the first vendor, in its own words
// on the wire, sends the code through the next one; neither opens the
// circuit. A lost answer never does: the phone would get two codes.
func TestFailoverAtTheWire(t *testing.T) {
	mbFault := func(status int, body string) twofactor.Provider {
		srv := faketls.NewServer(t, faketls.Answer(status, body), "rest.messagebird.com")
		mb, err := messagebird.NewWithClient(&sdk.DefaultClient{AccessKey: "live_q8Vw2Zr5Yt1Xk7Pm3Hn9Bj4L", HTTPClient: srv.HTTPClient()}, messagebird.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return mb
	}
	birdFault := func(h http.Handler) twofactor.Provider {
		f, p := newBirdLike(t)
		f.SetOverride(h)
		return p
	}
	for _, tt := range []struct {
		name     string
		first    twofactor.Provider
		failover bool
	}{
		{"MessageBird code 2", mbFault(401, `{"errors":[{"code":2,"description":"Request not allowed (incorrect access_key)","parameter":"access_key"}]}`), true},
		{"MessageBird code 25", mbFault(422, `{"errors":[{"code":25,"description":"Not enough balance","parameter":null}]}`), true},
		{"MessageBird non-JSON 429", mbFault(429, "Too Many Requests"), false},
		{"Bird 401", birdFault(faketls.Answer(401, `{"error":{"code":"E00001"}}`)), true},
		{"Bird 402", birdFault(faketls.Answer(402, `{"error":{"code":"E00402"}}`)), true},
		{"Bird 429", birdFault(faketls.Answer(429, `{"error":{"code":"E01003"}}`, "Retry-After", "42")), false},
		{"Bird unusable 2xx", birdFault(faketls.Answer(201, `{"id":`)), false},
		{"MessageBird unusable 2xx", mbFault(200, `{"id":"../x","status":"sent"}`), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			second := &twofactor.Mock{}
			var opened bool
			f, err := failover.New([]twofactor.Provider{tt.first, second}, failover.Config{
				Threshold: 1,
				OnEvent: func(ev failover.Event) {
					opened = opened || ev.Kind == failover.CircuitOpened
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.Send(context.Background(), twofactor.Request{Phone: testPhone})
			switch {
			case tt.failover && (err != nil || second.Sends() != 1):
				t.Errorf("Send = %v, second provider sent %d; want the second to send", err, second.Sends())
			case !tt.failover && (err == nil || second.Sends() != 0):
				t.Errorf("Send = %v, second provider sent %d; want the first's answer and no second code", err, second.Sends())
			}
			if opened {
				t.Error("the circuit opened: only outages open it")
			}
			if strings.Contains(tt.name, "unusable") && !errors.Is(err, twofactor.ErrUnknownOutcome) {
				t.Errorf("Send = %v, want ErrUnknownOutcome", err)
			}
			if strings.Contains(tt.name, "429") && !errors.Is(err, twofactor.ErrRateLimited) {
				t.Errorf("Send = %v, want ErrRateLimited", err)
			}
		})
	}
}

// A transfer's code goes to the provider whose SMS names the amount and
// payee, even when another comes first: Bird writes its own text and would
// send a code that confirms nothing the visitor can see.
func TestFailoverConfirmationAtTheWire(t *testing.T) {
	b, bp := newBirdLike(t)
	mbSrv := faketls.NewServer(t, faketls.Answer(200, `{"id":"0123456789abcdef0123456789abcdef","status":"sent"}`), "rest.messagebird.com")
	mb, err := messagebird.NewWithClient(&sdk.DefaultClient{AccessKey: "live_q8Vw2Zr5Yt1Xk7Pm3Hn9Bj4L", HTTPClient: mbSrv.HTTPClient()}, messagebird.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := failover.New([]twofactor.Provider{bp, mb}, failover.Config{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.Send(context.Background(), twofactor.Request{Phone: testPhone, Message: "Shop: confirm EUR 5.00 to NL91ABNA0417164300. Code: {code}", Amount: "EUR 5.00", Payee: "NL91ABNA0417164300"})
	if err != nil || !strings.HasPrefix(v.ID, "f1_") {
		t.Fatalf("Send = %+v, %v; want MessageBird's", v, err)
	}
	if n := b.Calls(); n != 0 {
		t.Errorf("Bird got %d requests for a transfer's code", n)
	}
	reqs := mbSrv.Requests()
	if len(reqs) != 1 || !strings.Contains(string(reqs[0].Body), "EUR 5.00 to NL91ABNA0417164300") {
		t.Errorf("MessageBird saw %d requests; want one whose template names the transfer", len(reqs))
	}
	// A sign-in code goes to Bird, first in the order.
	if v, err := f.Send(context.Background(), twofactor.Request{Phone: testPhone}); err != nil || !strings.HasPrefix(v.ID, "f0_") {
		t.Errorf("sign-in Send = %+v, %v; want Bird's", v, err)
	}
}
