// Package fakebird is a fake of Bird's workspace Verify API
// (https://api.bird.com/workspaces/{id}/verify) for tests: a TLS server on
// loopback (internal/faketls) with a certificate for api.bird.com, speaking
// the create as Bird documents it and the check as bird.Workspace assumes
// it (see the UNDOCUMENTED block of bird/workspace.go).
package fakebird

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor/internal/faketls"
)

// The fake's host and the only credentials and ids it accepts.
const (
	Host        = "api.bird.com"
	AccessKey   = "AbCdEfGhIjs3cr3tMnOpQrStUvWxYz0123456789"
	WorkspaceID = "0b6f5a57-2f0e-4c8a-9d3e-5f1a2b3c4d5e"
	NavigatorID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	ChannelID   = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
	// LastCodePath answers GET (with the access key) {"code": LastCode()},
	// for a test in another process, which cannot read the phone.
	LastCodePath = "/_fake/last-code"
)

// Workspace is the fake: codes that expire (by the fake's clock), work
// once and allow maxAttempts tries. Answers:
//
//   - create: 202 with the verification (status "accepted"); 422
//     InvalidPayload for a body Bird would refuse (unknown fields, a bad
//     number, another navigator or channel, values out of range);
//   - check: 200 with the verification (status "verified") for the right
//     code; 422 VerificationFailed for a wrong one, MaxAttemptsReached once
//     maxAttempts wrong codes were tried, VerificationExpired after the
//     timeout; 404 for an unknown or used verification;
//   - 401 without the access key, 404 for other paths.
//
// It is safe for concurrent use.
type Workspace struct {
	*faketls.Server
	mu  sync.Mutex
	ver map[string]*verification // by id
}

type verification struct {
	id, phone, code  string
	created, expires time.Time
	failed, max      int
	step             map[string]string
}

var phoneRE = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// New starts a fake that is closed when the test ends.
func New(t testing.TB) *Workspace {
	f := &Workspace{ver: map[string]*verification{}}
	f.Server = faketls.NewServer(t, http.HandlerFunc(f.serve), Host)
	return f
}

func fail(w http.ResponseWriter, status int, code, msg string, details any) {
	w.Header().Set("X-Request-Id", "req-42")
	faketls.JSON(w, status, map[string]any{"code": code, "message": msg, "details": details})
}

func (v *verification) json(status string) map[string]any {
	return map[string]any{
		"id": v.id, "identifier": map[string]any{"phonenumber": v.phone}, "locale": "en-US",
		"maxAttempts": v.max, "failedAttempts": v.failed, "timeout": int(v.expires.Sub(v.created) / time.Second),
		"codeLength": len(v.code), "status": status, "currentStepIndex": 0, "steps": []any{v.step},
		"createdAt": v.created.Format(time.RFC3339), "updatedAt": v.created.Format(time.RFC3339),
		"expiresAt": v.expires.Format(time.RFC3339),
	}
}

func (f *Workspace) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "AccessKey "+AccessKey {
		fail(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized: key AbCd… is wrong", nil)
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == LastCodePath {
		faketls.JSON(w, http.StatusOK, map[string]string{"code": f.LastCode()})
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/workspaces/"+WorkspaceID+"/verify")
	if r.Method != http.MethodPost || !ok {
		fail(w, http.StatusNotFound, "NotFound", "Not found", nil)
		return
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields() // the API's additionalProperties: false
	now := f.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if rest == "" {
		f.create(w, dec, now)
		return
	}
	var in struct {
		Code string `json:"code"`
	}
	v, ok := f.ver[strings.TrimPrefix(rest, "/")]
	switch {
	case dec.Decode(&in) != nil || in.Code == "":
		fail(w, http.StatusBadRequest, "InvalidPayload", "The request did not pass validation", nil)
	case !ok:
		fail(w, http.StatusNotFound, "NotFound", "Verification not found", nil)
	case now.After(v.expires):
		fail(w, http.StatusUnprocessableEntity, "VerificationExpired", "Verification failed", nil)
	case v.failed >= v.max:
		fail(w, http.StatusUnprocessableEntity, "MaxAttemptsReached", "Verification failed", nil)
	case in.Code == v.code:
		delete(f.ver, v.id)
		faketls.JSON(w, http.StatusOK, v.json("verified"))
	default:
		v.failed++
		if v.failed >= v.max {
			fail(w, http.StatusUnprocessableEntity, "MaxAttemptsReached", "Verification failed", nil)
			return
		}
		fail(w, http.StatusUnprocessableEntity, "VerificationFailed", "Verification failed", nil)
	}
}

func (f *Workspace) create(w http.ResponseWriter, dec *json.Decoder, now time.Time) {
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
	in.CodeLength, in.Timeout, in.MaxAttempts = 6, 600, 3 // Bird's defaults
	switch {
	case dec.Decode(&in) != nil:
		fail(w, http.StatusUnprocessableEntity, "InvalidPayload", "The request did not pass validation", nil)
	case !phoneRE.MatchString(in.Identifier.PhoneNumber):
		fail(w, http.StatusUnprocessableEntity, "InvalidPayload", "The request did not pass validation for +3161…",
			map[string]any{".identifier.phonenumber": []string{"invalid phone number"}})
	case len(in.Steps) != 1 || in.Steps[0].NavigatorID != NavigatorID && in.Steps[0].ChannelID != ChannelID ||
		in.Steps[0].NavigatorID != "" && in.Steps[0].ChannelID != "":
		fail(w, http.StatusUnprocessableEntity, "InvalidPayload", "The request did not pass validation",
			map[string]any{".steps[0]": []string{"unknown navigator or channel"}})
	case in.CodeLength < 6 || in.CodeLength > 12 || in.Timeout < 30 || in.Timeout > 3600 || in.MaxAttempts < 1 || in.MaxAttempts > 10:
		fail(w, http.StatusUnprocessableEntity, "InvalidPayload", "The request did not pass validation", nil)
	default:
		step := map[string]string{"navigatorId": in.Steps[0].NavigatorID}
		if in.Steps[0].ChannelID != "" {
			step = map[string]string{"channelId": in.Steps[0].ChannelID}
		}
		v := &verification{id: uuid(), phone: in.Identifier.PhoneNumber, code: faketls.RandomDigits(in.CodeLength),
			created: now, expires: now.Add(time.Duration(in.Timeout) * time.Second), max: in.MaxAttempts, step: step}
		f.ver[v.id] = v
		f.SetLastCode(v.code)
		faketls.JSON(w, http.StatusAccepted, v.json("accepted"))
	}
}

// uuid returns a random UUID-shaped string.
func uuid() string {
	h := faketls.RandomHex(32)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
