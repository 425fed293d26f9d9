package bird

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor/internal/faketls"
	"github.com/go-twofactor/twofactor/providertest"
)

const (
	testKey   = "bk_eu1_s3cr3tKEY"
	testHost  = "eu1.platform.bird.com"
	testPhone = "+31612345678"
)

// fakeBird is a TLS server that speaks Bird's platform Verify API as far as
// the provider uses it: one pending verification per number, codes that
// expire, work once and allow three checks.
type fakeBird struct {
	*faketls.Server
	mu      sync.Mutex
	pending map[string]*fakeVerification // by number
}

type fakeVerification struct {
	id, phone, code string
	expires         time.Time
	attempts        int
}

func newFakeBird(t *testing.T) *fakeBird {
	f := &fakeBird{pending: map[string]*fakeVerification{}}
	f.Server = faketls.NewServer(t, http.HandlerFunc(f.serve), testHost, "us1.platform.bird.com")
	return f
}

// provider returns a Provider that reaches the fake at Bird's real URL.
func (f *fakeBird) provider(t *testing.T, cfg Config) *Provider {
	t.Helper()
	cfg.HTTPClient = f.HTTPClient()
	p, err := New(testKey, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.retryDelay = 0
	return p
}

func birdError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Request-Id", "req_123")
	faketls.JSON(w, status, map[string]any{"error": map[string]any{
		"type": "error", "code": code, "name": "Error", "message": msg, "request_id": "req_123", "details": []any{}}})
}

func (f *fakeBird) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+testKey {
		birdError(w, http.StatusUnauthorized, "E00001", "Unauthorized: your key is wrong")
		return
	}
	var in struct {
		To struct {
			PhoneNumber string `json:"phone_number"`
		} `json:"to"`
		Code    string `json:"code"`
		Options struct {
			CodeLength int `json:"code_length"`
		} `json:"options"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&in) != nil || in.To.PhoneNumber == "" {
		birdError(w, http.StatusBadRequest, "E00400", "Bad request")
		return
	}
	now := f.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/v1/verify/verifications":
		v := &fakeVerification{id: "vrf_" + faketls.RandomHex(26), phone: in.To.PhoneNumber,
			code: faketls.RandomDigits(in.Options.CodeLength), expires: now.Add(10 * time.Minute)}
		f.pending[v.phone] = v
		f.SetLastCode(v.code)
		faketls.JSON(w, http.StatusCreated, map[string]any{"id": v.id, "status": "pending",
			"to": map[string]any{"phone_number": v.phone}, "expires_at": v.expires.Format(time.RFC3339)})
	case "/v1/verify/verifications/check":
		v, ok := f.pending[in.To.PhoneNumber]
		switch {
		case !ok:
			birdError(w, http.StatusNotFound, "E13000", "No pending verification for +31612345678")
		case now.After(v.expires):
			delete(f.pending, v.phone)
			faketls.JSON(w, http.StatusOK, map[string]any{"success": false, "reason": "expired"})
		case in.Code == v.code:
			delete(f.pending, v.phone)
			faketls.JSON(w, http.StatusOK, map[string]any{"success": true, "verification": map[string]any{
				"id": v.id, "status": "verified", "to": map[string]any{"phone_number": v.phone}}})
		default:
			v.attempts++
			if v.attempts >= 3 {
				delete(f.pending, v.phone)
				faketls.JSON(w, http.StatusOK, map[string]any{"success": false, "reason": "attempts_exhausted", "attempts_remaining": 0})
				return
			}
			faketls.JSON(w, http.StatusOK, map[string]any{"success": false, "reason": "incorrect_code", "attempts_remaining": 3 - v.attempts})
		}
	default:
		birdError(w, http.StatusNotFound, "E00404", "Not found")
	}
}

// birdFaultBody is Bird's error answer with code and, when given, the
// field its details name.
func birdFaultBody(code, field string) string {
	details := "[]"
	if field != "" {
		details = `[{"field":"` + field + `","message":"is invalid"}]`
	}
	return `{"error":{"type":"error","code":"` + code + `","name":"Error","message":"see docs","request_id":"req_f","details":` + details + `}}`
}

// birdFaults are the fault matrix's answers in Bird's words.
var birdFaults = map[string]http.Handler{
	string(providertest.FaultUnauthorized):      faketls.Answer(401, birdFaultBody("E00001", "")),
	string(providertest.FaultForbidden):         faketls.Answer(403, birdFaultBody("E00003", "")),
	string(providertest.FaultNoBalance):         faketls.Answer(402, birdFaultBody("E00402", "")),
	string(providertest.FaultNotFound):          faketls.Answer(404, birdFaultBody("E00404", "")),
	string(providertest.FaultInvalidParameter):  faketls.Answer(422, birdFaultBody("E02000", "options.language")),
	string(providertest.FaultRateLimited):       faketls.Answer(429, birdFaultBody("E01003", ""), "Retry-After", "42"),
	string(providertest.FaultRateLimitedNoWait): faketls.Answer(429, birdFaultBody("E01003", "")),
	string(providertest.FaultServerError):       faketls.Answer(503, birdFaultBody("E99999", "")),
	string(providertest.FaultHangBeforeSend):    faketls.HangBeforeSend,
	string(providertest.FaultHangAfterSend):     faketls.HangAfterSend,
	string(providertest.FaultMalformed):         faketls.Answer(201, `{"id":`),
}

// SetFault puts on a fault of the conformance suite's matrix.
func (f *fakeBird) SetFault(fault providertest.Fault) bool {
	return f.Server.SetFault(string(fault), birdFaults)
}
