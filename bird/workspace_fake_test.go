package bird

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor/internal/faketls"
)

const (
	wsHost      = "api.bird.com"
	wsKey       = "AbCdEfGhIjs3cr3tMnOpQrStUvWxYz0123456789"
	wsWorkspace = "0b6f5a57-2f0e-4c8a-9d3e-5f1a2b3c4d5e"
	wsNavigator = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	wsChannel   = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
)

// fakeWorkspace is a TLS server that speaks Bird's workspace Verify API as
// documented for the create, and as wsCheckPath guesses for the check:
// codes that expire, work once and allow maxAttempts tries.
type fakeWorkspace struct {
	*faketls.Server
	mu  sync.Mutex
	ver map[string]*fakeWSVerification // by id
}

type fakeWSVerification struct {
	id, phone, code string
	created         time.Time
	expires         time.Time
	failed, max     int
}

func newFakeWorkspace(t *testing.T) *fakeWorkspace {
	f := &fakeWorkspace{ver: map[string]*fakeWSVerification{}}
	f.Server = faketls.NewServer(t, http.HandlerFunc(f.serve), wsHost)
	return f
}

// provider returns a Workspace that reaches the fake at Bird's real URL.
func (f *fakeWorkspace) provider(t *testing.T, cfg WorkspaceConfig) *Workspace {
	t.Helper()
	cfg.HTTPClient = f.HTTPClient()
	if cfg.WorkspaceID == "" {
		cfg.WorkspaceID = wsWorkspace
	}
	if cfg.NavigatorID == "" && cfg.ChannelID == "" {
		cfg.NavigatorID = wsNavigator
	}
	p, err := NewWorkspace(wsKey, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wsFail writes an error answer in the shape of api.bird.com's other APIs.
func wsFail(w http.ResponseWriter, status int, code, msg string, details any) {
	w.Header().Set("X-Request-Id", "req-42")
	faketls.JSON(w, status, map[string]any{"code": code, "message": msg, "details": details})
}

func (v *fakeWSVerification) json(status string) map[string]any {
	return map[string]any{
		"id": v.id, "identifier": map[string]any{"phonenumber": v.phone}, "locale": "en-US",
		"maxAttempts": v.max, "failedAttempts": v.failed, "timeout": int(v.expires.Sub(v.created) / time.Second),
		"codeLength": len(v.code), "status": status, "currentStepIndex": 0,
		"steps":     []any{map[string]any{"navigatorId": wsNavigator}},
		"createdAt": v.created.Format(time.RFC3339), "updatedAt": v.created.Format(time.RFC3339),
		"expiresAt": v.expires.Format(time.RFC3339),
	}
}

func (f *fakeWorkspace) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "AccessKey "+wsKey {
		wsFail(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized: key AbCd… is wrong", nil)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/workspaces/"+wsWorkspace+"/verify")
	if r.Method != http.MethodPost || !ok {
		wsFail(w, http.StatusNotFound, "NotFound", "Not found", nil)
		return
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields() // the API's additionalProperties: false
	now := f.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if rest == "" {
		var in struct {
			Identifier struct {
				PhoneNumber string `json:"phonenumber"`
			} `json:"identifier"`
			Steps []struct {
				NavigatorID string `json:"navigatorId"`
				ChannelID   string `json:"channelId"`
			} `json:"steps"`
			CodeLength  int    `json:"codeLength"`
			Timeout     int    `json:"timeout"`
			MaxAttempts int    `json:"maxAttempts"`
			Locale      string `json:"locale"`
		}
		switch {
		case dec.Decode(&in) != nil:
			wsFail(w, http.StatusUnprocessableEntity, "InvalidPayload", "The request did not pass validation", nil)
		case !validPhone(in.Identifier.PhoneNumber):
			wsFail(w, http.StatusUnprocessableEntity, "InvalidPayload", "The request did not pass validation for +3161…",
				map[string]any{".identifier.phonenumber": []string{"invalid phone number"}})
		case len(in.Steps) != 1 || in.Steps[0].NavigatorID != wsNavigator && in.Steps[0].ChannelID != wsChannel:
			wsFail(w, http.StatusUnprocessableEntity, "InvalidPayload", "The request did not pass validation",
				map[string]any{".steps[0]": []string{"unknown navigator or channel"}})
		case in.CodeLength < 6 || in.CodeLength > 12 || in.Timeout < 30 || in.Timeout > 3600 || in.MaxAttempts < 1 || in.MaxAttempts > 10:
			wsFail(w, http.StatusUnprocessableEntity, "InvalidPayload", "The request did not pass validation", nil)
		default:
			v := &fakeWSVerification{id: fakeUUID(), phone: in.Identifier.PhoneNumber, code: faketls.RandomDigits(in.CodeLength),
				created: now, expires: now.Add(time.Duration(in.Timeout) * time.Second), max: in.MaxAttempts}
			f.ver[v.id] = v
			f.SetLastCode(v.code)
			faketls.JSON(w, http.StatusAccepted, v.json("accepted"))
		}
		return
	}
	var in struct {
		Code string `json:"code"`
	}
	v, ok := f.ver[strings.TrimPrefix(rest, "/")]
	switch {
	case dec.Decode(&in) != nil || in.Code == "":
		wsFail(w, http.StatusBadRequest, "InvalidPayload", "The request did not pass validation", nil)
	case !ok:
		wsFail(w, http.StatusNotFound, "NotFound", "Verification not found", nil)
	case now.After(v.expires):
		wsFail(w, http.StatusUnprocessableEntity, "VerificationExpired", "Verification failed", nil)
	case v.failed >= v.max:
		wsFail(w, http.StatusUnprocessableEntity, "MaxAttemptsReached", "Verification failed", nil)
	case in.Code == v.code:
		delete(f.ver, v.id)
		faketls.JSON(w, http.StatusOK, v.json("verified"))
	default:
		v.failed++
		if v.failed >= v.max {
			wsFail(w, http.StatusUnprocessableEntity, "MaxAttemptsReached", "Verification failed", nil)
			return
		}
		wsFail(w, http.StatusUnprocessableEntity, "VerificationFailed", "Verification failed", nil)
	}
}

// fakeUUID returns a random version-4-shaped UUID.
func fakeUUID() string {
	h := faketls.RandomHex(32)
	var b bytes.Buffer
	for i, n := range []int{8, 4, 4, 4, 12} {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(h[:n])
		h = h[n:]
	}
	return b.String()
}
