package messagebird_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/messagebird/go-rest-api/v9"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/failover"
	"github.com/go-twofactor/twofactor/internal/faketls"
	"github.com/go-twofactor/twofactor/messagebird"
	"github.com/go-twofactor/twofactor/providertest"
)

// fakeMessageBird is a TLS server that speaks MessageBird's Verify API as
// far as the provider uses it: codes expire, work once and allow
// maxAttempts checks.
type fakeMessageBird struct {
	*faketls.Server
	mu  sync.Mutex
	ver map[string]*fakeMBVerify
}

type fakeMBVerify struct {
	code        string
	expires     time.Time
	attempts    int
	maxAttempts int
	status      string
}

func newFakeMessageBird(t *testing.T) *fakeMessageBird {
	f := &fakeMessageBird{ver: map[string]*fakeMBVerify{}}
	f.Server = faketls.NewServer(t, http.HandlerFunc(f.serve), "rest.messagebird.com")
	return f
}

func mbError(w http.ResponseWriter, status, code int, desc string) {
	faketls.JSON(w, status, map[string]any{"errors": []map[string]any{{"code": code, "description": desc, "parameter": "token"}}})
}

func (f *fakeMessageBird) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "AccessKey test_key" {
		mbError(w, http.StatusUnauthorized, 2, "Request not allowed (incorrect access_key)")
		return
	}
	now := f.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/verify":
		var in struct {
			Recipient   string
			Timeout     int
			TokenLength int
			MaxAttempts int
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.TokenLength < 6 {
			mbError(w, 422, 10, "bad request")
			return
		}
		id := faketls.RandomHex(32)
		v := &fakeMBVerify{code: faketls.RandomDigits(in.TokenLength), expires: now.Add(time.Duration(in.Timeout) * time.Second),
			maxAttempts: in.MaxAttempts, status: "sent"}
		f.ver[id] = v
		f.SetLastCode(v.code)
		faketls.JSON(w, http.StatusCreated, map[string]any{"id": id, "recipient": in.Recipient, "status": "sent",
			"validUntilDatetime": v.expires.Format(time.RFC3339)})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/verify/"):
		id := strings.TrimPrefix(r.URL.Path, "/verify/")
		v, ok := f.ver[id]
		switch {
		case !ok:
			mbError(w, http.StatusNotFound, 20, "verify object could not be found")
		case v.status == "verified":
			mbError(w, 422, 10, "The token has already been processed.")
		case now.After(v.expires):
			mbError(w, 422, 10, "The token has expired.")
		case v.status == "failed":
			faketls.JSON(w, http.StatusOK, map[string]any{"id": id, "status": "failed"})
		case r.URL.Query().Get("token") == v.code:
			v.status = "verified"
			faketls.JSON(w, http.StatusOK, map[string]any{"id": id, "status": "verified"})
		default:
			if v.attempts++; v.attempts >= v.maxAttempts {
				v.status = "failed"
			}
			mbError(w, 422, 10, "The token is invalid. "+strconv.Itoa(v.maxAttempts-v.attempts)+" attempts left")
		}
	default:
		http.NotFound(w, r)
	}
}

func TestMessageBirdConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{New: func(t *testing.T) (twofactor.Provider, providertest.Fake) {
		f := newFakeMessageBird(t)
		mb, err := messagebird.NewWithClient(&sdk.DefaultClient{AccessKey: "test_key", HTTPClient: f.HTTPClient()},
			messagebird.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return mb, f
	}})
}

// mbFaults are the fault matrix's answers in MessageBird's words.
var mbFaults = map[string]http.Handler{
	string(providertest.FaultUnauthorized):      faketls.Answer(401, `{"errors":[{"code":2,"description":"Request not allowed (incorrect access_key)","parameter":"access_key"}]}`),
	string(providertest.FaultForbidden):         faketls.Answer(403, `{"errors":[{"code":2,"description":"Request not allowed","parameter":null}]}`),
	string(providertest.FaultNoBalance):         faketls.Answer(422, `{"errors":[{"code":25,"description":"Not enough balance","parameter":null}]}`),
	string(providertest.FaultNotFound):          faketls.Answer(404, `{"errors":[{"code":20,"description":"Not found","parameter":null}]}`),
	string(providertest.FaultInvalidParameter):  faketls.Answer(422, `{"errors":[{"code":10,"description":"originator is invalid","parameter":"originator"}]}`),
	string(providertest.FaultRateLimited):       faketls.Answer(429, "Too Many Requests", "Content-Type", "text/plain", "Retry-After", "42"),
	string(providertest.FaultRateLimitedNoWait): faketls.Answer(429, "Too Many Requests", "Content-Type", "text/plain"),
	string(providertest.FaultServerError):       faketls.Answer(500, `{"errors":[{"code":99,"description":"Internal error","parameter":null}]}`),
	string(providertest.FaultHangBeforeSend):    faketls.HangBeforeSend,
	string(providertest.FaultHangAfterSend):     faketls.HangAfterSend,
	string(providertest.FaultMalformed):         faketls.Answer(200, `{"id":`),
}

// SetFault puts on a fault of the conformance suite's matrix.
func (f *fakeMessageBird) SetFault(fault providertest.Fault) bool {
	return f.Server.SetFault(string(fault), mbFaults)
}

// The public suite's fault matrix passes for a Failover too: over one
// provider it keeps each failure's class.
func TestFailoverFaultConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{New: func(t *testing.T) (twofactor.Provider, providertest.Fake) {
		f := newFakeMessageBird(t)
		mb, err := messagebird.NewWithClient(&sdk.DefaultClient{AccessKey: "test_key", HTTPClient: f.HTTPClient()},
			messagebird.Config{})
		if err != nil {
			t.Fatal(err)
		}
		fo, err := failover.New([]twofactor.Provider{mb}, failover.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return fo, f
	}})
}
