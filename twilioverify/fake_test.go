package twilioverify

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor/internal/faketls"
	"github.com/go-twofactor/twofactor/providertest"
)

const (
	testHost    = "verify.twilio.com"
	testAccount = "AC0123456789abcdef0123456789abcdef"
	testToken   = "authtoken0123456789"
	testKey     = "SKfedcba9876543210fedcba9876543210"
	testSecret  = "keysecret0123"
	testService = "VA00112233445566778899aabbccddeeff"
	testPhone   = "+31612345678"
)

// fakeTwilio is a TLS server that speaks Twilio Verify v2 as far as the
// provider uses it: codes live 10 minutes, allow 5 checks, and a
// verification is gone (404 20404) once approved or expired.
type fakeTwilio struct {
	*faketls.Server
	mu  sync.Mutex
	ver map[string]*fakeVerification
}

type fakeVerification struct {
	sid, to, code, amount, payee string
	created                      time.Time
	checks                       int
}

func newFakeTwilio(t *testing.T) *fakeTwilio {
	f := &fakeTwilio{ver: map[string]*fakeVerification{}}
	f.Server = faketls.NewServer(t, http.HandlerFunc(f.serve), testHost)
	return f
}

// provider returns a Provider that reaches the fake at Twilio's real URL.
func (f *fakeTwilio) provider(t *testing.T, cfg Config) *Provider {
	t.Helper()
	if cfg.AuthToken == "" && cfg.APIKey == "" {
		cfg.AccountSID, cfg.AuthToken = testAccount, testToken
	}
	cfg.ServiceSID = testService
	cfg.HTTPClient = f.HTTPClient()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func twilioError(w http.ResponseWriter, status, code int, msg string) {
	faketls.JSON(w, status, map[string]any{"code": code, "message": msg,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code), "status": status})
}

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, _ := r.BasicAuth()
	if !(user == testAccount && pass == testToken || user == testKey && pass == testSecret) {
		twilioError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		twilioError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	now := f.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/v2/Services/" + testService + "/Verifications":
		v := &fakeVerification{sid: "VE" + faketls.RandomHex(32), to: r.PostForm.Get("To"), code: faketls.RandomDigits(6),
			amount: r.PostForm.Get("Amount"), payee: r.PostForm.Get("Payee"), created: now}
		f.ver[v.sid] = v
		f.SetLastCode(v.code)
		faketls.JSON(w, http.StatusCreated, map[string]any{"sid": v.sid, "service_sid": testService, "account_sid": testAccount,
			"to": v.to, "channel": r.PostForm.Get("Channel"), "status": "pending", "valid": false,
			"date_created": now.Format(time.RFC3339), "date_updated": now.Format(time.RFC3339)})
	case "/v2/Services/" + testService + "/VerificationCheck":
		v, ok := f.ver[r.PostForm.Get("VerificationSid")]
		if ok && now.After(v.created.Add(10*time.Minute)) {
			delete(f.ver, v.sid)
			ok = false
		}
		switch {
		case !ok:
			twilioError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		case v.checks >= 5:
			twilioError(w, http.StatusTooManyRequests, 60202, "Max check attempts reached")
		case r.PostForm.Get("Amount") != v.amount || r.PostForm.Get("Payee") != v.payee:
			twilioError(w, http.StatusBadRequest, 60200, "Invalid parameter")
		default:
			v.checks++
			status := "pending"
			if r.PostForm.Get("Code") == v.code {
				status = "approved"
				delete(f.ver, v.sid)
			}
			faketls.JSON(w, http.StatusOK, map[string]any{"sid": v.sid, "service_sid": testService, "to": v.to,
				"status": status, "valid": status == "approved", "date_created": v.created.Format(time.RFC3339)})
		}
	default:
		twilioError(w, http.StatusNotFound, 20404, "The requested resource "+strings.ReplaceAll(r.URL.Path, "\n", "")+" was not found")
	}
}

// twilioFaultBody is Twilio's error answer.
func twilioFaultBody(status, code int, msg string) string {
	return fmt.Sprintf(`{"code":%d,"message":%q,"more_info":"https://www.twilio.com/docs/errors/%d","status":%d}`, code, msg, code, status)
}

// twilioFaults are the fault matrix's answers in Twilio's words. Twilio's
// Verify documents no answer for an empty balance.
var twilioFaults = map[string]http.Handler{
	string(providertest.FaultUnauthorized):      faketls.Answer(401, twilioFaultBody(401, 20003, "Authenticate")),
	string(providertest.FaultForbidden):         faketls.Answer(403, twilioFaultBody(403, 60204, "Service does not support this feature")),
	string(providertest.FaultNotFound):          faketls.Answer(404, twilioFaultBody(404, 20404, "The requested resource was not found")),
	string(providertest.FaultInvalidParameter):  faketls.Answer(400, twilioFaultBody(400, 60200, "Invalid parameter: CustomFriendlyName")),
	string(providertest.FaultRateLimited):       faketls.Answer(429, twilioFaultBody(429, 20429, "Too Many Requests"), "Retry-After", "42"),
	string(providertest.FaultRateLimitedNoWait): faketls.Answer(429, twilioFaultBody(429, 20429, "Too Many Requests")),
	string(providertest.FaultServerError):       faketls.Answer(500, twilioFaultBody(500, 20500, "Internal Server Error")),
	string(providertest.FaultHangBeforeSend):    faketls.HangBeforeSend,
	string(providertest.FaultHangAfterSend):     faketls.HangAfterSend,
	string(providertest.FaultMalformed):         faketls.Answer(201, `{"sid":`),
}

// SetFault puts on a fault of the conformance suite's matrix.
func (f *fakeTwilio) SetFault(fault providertest.Fault) bool {
	return f.Server.SetFault(string(fault), twilioFaults)
}
