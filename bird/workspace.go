package bird

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/wire"
)

// WorkspaceConfig configures a Workspace provider: Bird's workspace Verify
// API (https://api.bird.com/workspaces/{workspaceId}/verify), the one
// docs.bird.com documents, with an access key. The zero value is not
// usable: WorkspaceID and one of NavigatorID or ChannelID are required.
type WorkspaceConfig struct {
	// WorkspaceID is the UUID of the Bird workspace. Required.
	WorkspaceID string
	// NavigatorID is the UUID of the navigator that sends the codes (in
	// Bird: Developers → Navigators, an OTP navigator over an SMS channel
	// installed with message type "2FA"). Set it or ChannelID, not both.
	NavigatorID string
	// ChannelID is the UUID of the SMS channel that sends the codes, when no
	// navigator is used. Set it or NavigatorID, not both.
	ChannelID string
	// BaseURL is where the API is, such as a proxy's or test server's URL;
	// paths start at "/workspaces/". Empty means https://api.bird.com.
	BaseURL string
	// HTTPClient makes the calls. Nil means a client on a clone of
	// http.DefaultTransport (so HTTPS_PROXY, NO_PROXY and SSL_CERT_FILE are
	// honoured) with a 15-second timeout as a backstop to each call's
	// context. The provider uses a copy that does not follow redirects.
	HTTPClient *http.Client
	// CodeLength is the number of digits of a code, 6 to 10. Zero means 6.
	CodeLength int
	// Validity is how long a code works (Bird's "timeout"), 30 seconds to
	// 10 minutes, in whole seconds. Zero means 5 minutes.
	Validity time.Duration
	// MaxAttempts is how many codes Bird lets be tried for one
	// verification (Bird's "maxAttempts"), 1 to 10. Zero means 3. The
	// flow keeps its own, server-side count as well.
	MaxAttempts int
	// Locale is the language of Bird's message, a BCP 47 tag such as "nl"
	// or "en-US". Empty leaves it to Bird, which derives it from the number.
	Locale string
}

// Workspace is a twofactor.Provider on Bird's workspace Verify API. It is
// safe for concurrent use. Create it with NewWorkspace.
//
// Bird writes the SMS text itself (translated by Locale): Request.Message,
// Amount, Payee and Origin are ignored, as with the platform Provider, so a
// transfer's code SMS cannot name the transfer; the app's page must. Codes
// go by SMS only: a Request for twofactor.Voice fails with
// twofactor.ErrConfiguration without a call (a Failover then asks the next
// provider).
//
// Bird documents how to start a verification, but not the path, body or
// answers of checking a code: what this provider assumes is in one block
// of workspace.go marked UNDOCUMENTED, to be corrected by a live test.
type Workspace struct {
	key  string
	base string // without a trailing slash
	hc   *http.Client
	cfg  WorkspaceConfig
}

var (
	_ twofactor.Provider     = (*Workspace)(nil)
	_ twofactor.CodeLengther = (*Workspace)(nil)
)

// SettingError is the error NewWorkspace returns for a setting it cannot
// use. It never repeats a secret.
type SettingError struct {
	// Setting is "accessKey" or the name of the WorkspaceConfig field, such
	// as "WorkspaceID", "NavigatorID" or "ChannelID".
	Setting string
	// Problem says what is wrong and what is expected.
	Problem string
}

// Error reads "bird: WorkspaceConfig.<Setting> <Problem>" (or "bird: access
// key <Problem>").
func (e *SettingError) Error() string {
	if e.Setting == "accessKey" {
		return "bird: access key " + e.Problem
	}
	return "bird: WorkspaceConfig." + e.Setting + " " + e.Problem
}

const (
	wsBase        = "https://api.bird.com"
	wsUUIDExample = "123e4567-e89b-12d3-a456-426614174000"
)

var (
	wsUUIDRE   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	wsKeyRE    = regexp.MustCompile(`^[A-Za-z0-9._~+/=-]{16,256}$`)
	wsLocaleRE = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$`)
)

// NewWorkspace returns a Workspace provider that uses accessKey, an access
// key made in Bird's organization settings (Access keys) whose role allows
// POST on /workspaces/{id}/verify**. Every setting is checked here: a
// missing or malformed one, a key of Bird's platform API ("bk_…": use New),
// or both or neither of NavigatorID and ChannelID give a *SettingError.
func NewWorkspace(accessKey string, cfg WorkspaceConfig) (*Workspace, error) {
	bad := func(setting, problem string) (*Workspace, error) {
		return nil, &SettingError{Setting: setting, Problem: problem}
	}
	switch {
	case accessKey == "":
		return bad("accessKey", "is missing")
	case strings.HasPrefix(accessKey, "bk_"):
		return bad("accessKey", "is a key of Bird's platform API (bk_…), which the workspace API does not take: use bird.New with it, or make an access key under Bird's organization settings → Access keys")
	case strings.HasPrefix(strings.ToLower(accessKey), "accesskey"):
		return bad("accessKey", "must be the key alone, without the \"AccessKey \" of the header")
	case !wsKeyRE.MatchString(accessKey):
		return bad("accessKey", "must be 16 to 256 letters, digits or -._~+/= (no spaces or quotes), as Bird shows it")
	}
	cfg.WorkspaceID = strings.TrimSpace(cfg.WorkspaceID)
	cfg.NavigatorID = strings.TrimSpace(cfg.NavigatorID)
	cfg.ChannelID = strings.TrimSpace(cfg.ChannelID)
	for _, f := range []struct{ name, v string }{{"WorkspaceID", cfg.WorkspaceID}, {"NavigatorID", cfg.NavigatorID}, {"ChannelID", cfg.ChannelID}} {
		if f.v != "" && !wsUUIDRE.MatchString(f.v) {
			return bad(f.name, "must be a UUID such as "+wsUUIDExample)
		}
	}
	switch {
	case cfg.WorkspaceID == "":
		return bad("WorkspaceID", "is missing: the workspace's UUID, from Bird's workspace settings")
	case cfg.NavigatorID == "" && cfg.ChannelID == "":
		return bad("NavigatorID", "or ChannelID is needed: the UUID of the OTP navigator (Developers → Navigators) or of the SMS channel that sends the codes")
	case cfg.NavigatorID != "" && cfg.ChannelID != "":
		return bad("NavigatorID", "and ChannelID are both set: set one of them")
	}
	cfg.CodeLength = cmp.Or(cfg.CodeLength, wire.DefaultCodeLength)
	cfg.Validity = cmp.Or(cfg.Validity, wire.DefaultValidity)
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, wire.DefaultMaxAttempts)
	switch {
	case cfg.CodeLength < 6 || cfg.CodeLength > 10:
		return bad("CodeLength", "must be 6 to 10")
	case cfg.Validity < 30*time.Second || cfg.Validity > wire.MaxValidity || cfg.Validity%time.Second != 0:
		return bad("Validity", "must be whole seconds from 30s to "+wire.MaxValidity.String())
	case cfg.MaxAttempts < 1 || cfg.MaxAttempts > 10:
		return bad("MaxAttempts", "must be 1 to 10")
	case cfg.Locale != "" && !wsLocaleRE.MatchString(cfg.Locale):
		return bad("Locale", "must be a BCP 47 language tag such as nl or en-US")
	}
	base := wsBase
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return bad("BaseURL", "must be an http(s) URL without query, fragment or user")
		}
		base = strings.TrimRight(cfg.BaseURL, "/")
	}
	hc := http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 15 * time.Second}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Workspace{key: accessKey, base: base, hc: &hc, cfg: cfg}, nil
}

// CodeLength returns the number of digits of the codes Bird sends.
func (p *Workspace) CodeLength() int { return p.cfg.CodeLength }

// wsIdentifier is Bird's identifier object.
type wsIdentifier struct {
	PhoneNumber string `json:"phonenumber,omitempty"`
}

// wsStep is one step of a verification: a navigator or a channel.
type wsStep struct {
	NavigatorID string `json:"navigatorId,omitempty"`
	ChannelID   string `json:"channelId,omitempty"`
}

// wsCreate is the body of a create (documented; additionalProperties:
// false, so nothing else may be sent).
type wsCreate struct {
	Identifier  wsIdentifier `json:"identifier"`
	Steps       []wsStep     `json:"steps"`
	CodeLength  int          `json:"codeLength"`
	Timeout     int          `json:"timeout"`
	MaxAttempts int          `json:"maxAttempts"`
	Locale      string       `json:"locale,omitempty"`
}

// wsAnswer is what is read of any answer: the fields of a verification
// (documented for the create answer) and of an error (undocumented for
// Verify; the shape of the same host's other APIs: code, message,
// details). Bird's message is never read.
type wsAnswer struct {
	ID             string       `json:"id"`
	Identifier     wsIdentifier `json:"identifier"`
	Status         string       `json:"status"`
	FailedAttempts int          `json:"failedAttempts"`
	MaxAttempts    int          `json:"maxAttempts"`
	ExpiresAt      string       `json:"expiresAt"`
	Code           string       `json:"code"`
	Details        any          `json:"details"`
}

// Send starts a verification at Bird by SMS. req.Phone must be E.164 ("+"
// and 8 to 15 digits); otherwise Send returns twofactor.ErrInvalidPhone
// without a call. A send is never retried: the API has no documented
// idempotency key, and a retry could send a second code.
//
// Bird's answer (202) must carry a verification id (a UUID), no status that
// says the verification is over, and, if it names a number, the number
// asked; anything else gives twofactor.ErrUnknownOutcome (the code may be
// on its way, so a Failover asks no other provider). The expiry is the
// one Bird states when it lies within Validity from now, else now plus
// Validity.
func (p *Workspace) Send(ctx context.Context, req twofactor.Request) (twofactor.Verification, error) {
	if !validPhone(req.Phone) {
		return twofactor.Verification{}, fmt.Errorf("%w: not in E.164 form", twofactor.ErrInvalidPhone)
	}
	if ch := cmp.Or(req.Channel, twofactor.SMS); ch != twofactor.SMS {
		return twofactor.Verification{}, fmt.Errorf("%w: Bird's workspace Verify API sends codes by SMS only, not %q", twofactor.ErrConfiguration, ch)
	}
	body := wsCreate{
		Identifier:  wsIdentifier{PhoneNumber: req.Phone},
		Steps:       []wsStep{{NavigatorID: p.cfg.NavigatorID, ChannelID: p.cfg.ChannelID}},
		CodeLength:  p.cfg.CodeLength,
		Timeout:     int(p.cfg.Validity / time.Second),
		MaxAttempts: p.cfg.MaxAttempts,
		Locale:      p.cfg.Locale,
	}
	start := time.Now()
	a, err := p.post(ctx, wsSend, "/workspaces/"+url.PathEscape(p.cfg.WorkspaceID)+"/verify", body)
	if err != nil {
		return twofactor.Verification{}, err
	}
	switch {
	case !wsUUIDRE.MatchString(a.ID):
		return twofactor.Verification{}, fmt.Errorf("%w: Bird returned no usable verification id", twofactor.ErrUnknownOutcome)
	case a.Identifier.PhoneNumber != "" && a.Identifier.PhoneNumber != req.Phone:
		return twofactor.Verification{}, fmt.Errorf("%w: Bird's answer names another number than the one asked", twofactor.ErrUnknownOutcome)
	case wsCreateOver[strings.ToLower(a.Status)]:
		return twofactor.Verification{}, fmt.Errorf("%w: Bird answered a new verification with the status %s", twofactor.ErrUnknownOutcome, wsWord(a.Status))
	}
	exp := start.Add(p.cfg.Validity)
	if t, err := time.Parse(time.RFC3339, a.ExpiresAt); err == nil && t.After(start) && t.Before(exp) {
		exp = t
	}
	return twofactor.Verification{ID: a.ID, Phone: req.Phone, Channel: twofactor.SMS, ExpiresAt: exp}, nil
}

// Check asks Bird whether code is the code of verification id (as Send
// returned it). A malformed id (not a UUID) gives twofactor.ErrNotFound
// and a malformed code twofactor.ErrMalformedCode, both without a call.
// Success needs a 2xx answer whose verification has the status "verified"
// and the id asked; a "verified" answer for another id, or naming none,
// gives twofactor.ErrNotFound. The other answers are read as the
// UNDOCUMENTED block of workspace.go assumes (see wsRefused).
func (p *Workspace) Check(ctx context.Context, id, code string) error {
	if !wsUUIDRE.MatchString(id) {
		return twofactor.ErrNotFound
	}
	if !validCode(code, p.cfg.CodeLength) {
		return twofactor.ErrMalformedCode
	}
	a, err := p.post(ctx, wsCheck, wsCheckPath(p.cfg.WorkspaceID, id), wsCheckBody{Code: code})
	if err != nil {
		return err
	}
	switch {
	case a.Status == "":
		return fmt.Errorf("%w: Bird's answer to a check (HTTP 2xx) has no status", twofactor.ErrUnavailable)
	case a.ID != "" && !strings.EqualFold(a.ID, id),
		a.ID == "" && strings.EqualFold(a.Status, wsVerified):
		return fmt.Errorf("%w: Bird's answer was not for the verification asked", twofactor.ErrNotFound)
	case strings.EqualFold(a.Status, wsVerified):
		return nil
	}
	return wsRefused(0, "HTTP 2xx, status "+wsWord(a.Status), a)
}

// ---------------------------------------------------------------------------
// UNDOCUMENTED: how a code is checked. Bird's docs name the operation
// ("verify the code", path parameters workspaceId and the verification's
// id; answers "Code was successfully verified" with the verification,
// "Verification failed", and two validation errors) but show no path,
// method, body or status code. Everything between these rules is a guess,
// kept here so that one live test can correct it:
//
//   - the request: POST /workspaces/{workspaceId}/verify/{id} with
//     {"code":"123456"} (wsCheckPath, wsCheckBody), as a public third-party
//     integration sends it;
//   - success: a 2xx whose verification has status "verified"
//     (wsVerified) and the id asked;
//   - a 2xx with another status, or a 400/409/410/422 ("Verification
//     failed" or a validation error): read by wsRefused, whose default
//     is a wrong code;
//   - 404: no such verification (never made, or gone after it was used or
//     expired): twofactor.ErrNotFound (wsCheckStatus);
//   - 401/403, 402, 429 and 5xx mean what they mean for a create
//     (workspaceError).
//
// A live test should send one code and then try: a wrong code, the right
// code, the right code again, a code after Validity, and too many wrong
// codes; and note each answer's status and body here.
// ---------------------------------------------------------------------------

// wsCheckPath is the path of a check. Both ids have been checked to be UUIDs;
// they are escaped all the same.
func wsCheckPath(workspaceID, id string) string {
	return "/workspaces/" + url.PathEscape(workspaceID) + "/verify/" + url.PathEscape(id)
}

// wsCheckBody is the body of a check.
type wsCheckBody struct {
	Code string `json:"code"`
}

// wsVerified is the status of a verification whose code was right.
const wsVerified = "verified"

// wsCheckStatus gives the meaning of a non-2xx answer to a check where it
// differs from a create's: 404 is twofactor.ErrNotFound; 400, 409, 410 and
// 422 are a refusal of the code, read by wsRefused. It returns nil for the
// other statuses, which workspaceError reads as for a create.
func wsCheckStatus(status int, where string, a wsAnswer) error {
	switch status {
	case http.StatusNotFound:
		return fmt.Errorf("%w (Bird %s: no such verification)", twofactor.ErrNotFound, where)
	case http.StatusBadRequest, http.StatusConflict, http.StatusGone, http.StatusUnprocessableEntity:
		return wsRefused(status, where, a)
	}
	return nil
}

// wsRefused reads a refusal of a code (status: the HTTP status, 0 for a
// 2xx) from Bird's error code and the verification's fields, when the
// answer has them: a status or code naming expiry, or HTTP 410, is
// twofactor.ErrExpired; one naming attempts, or failedAttempts at
// maxAttempts, is twofactor.ErrTooManyAttempts; the status "verified", a
// code naming "already", or HTTP 409 is twofactor.ErrAlreadyUsed; anything
// else is a wrong code, twofactor.ErrInvalidCode.
func wsRefused(status int, where string, a wsAnswer) error {
	words := strings.ToLower(a.Status + " " + a.Code)
	switch {
	case strings.Contains(words, "expire") || status == http.StatusGone:
		return fmt.Errorf("%w (Bird %s)", twofactor.ErrExpired, where)
	case strings.Contains(words, "attempt") || a.MaxAttempts > 0 && a.FailedAttempts >= a.MaxAttempts:
		return fmt.Errorf("%w (Bird %s)", twofactor.ErrTooManyAttempts, where)
	case strings.EqualFold(a.Status, wsVerified) || strings.Contains(words, "already") || status == http.StatusConflict:
		return fmt.Errorf("%w (Bird %s)", twofactor.ErrAlreadyUsed, where)
	}
	return fmt.Errorf("%w (Bird %s)", twofactor.ErrInvalidCode, where)
}

// ---------------------------------------------------------------------------
// End of the undocumented part.
// ---------------------------------------------------------------------------

// wsCreateOver are statuses that say a just-created verification is already
// over: such an answer is not a code on its way. Bird documents only
// "accepted" for a new one; unknown statuses are taken as under way, since
// a code may have gone out.
var wsCreateOver = map[string]bool{"verified": true, "failed": true, "expired": true, "canceled": true, "cancelled": true}

// wsOp says which call an answer is for.
type wsOp int

const (
	wsSend wsOp = iota
	wsCheck
)

// post POSTs in as JSON to path and decodes a 2xx answer. It maps any
// other answer with workspaceError.
func (p *Workspace) post(ctx context.Context, op wsOp, path string, in any) (wsAnswer, error) {
	var a wsAnswer
	if err := ctx.Err(); err != nil {
		return a, unavailable(err)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return a, err
	}
	req, err := jsonPost(ctx, p.base+path, "AccessKey "+p.key, b)
	if err != nil {
		return a, fmt.Errorf("%w: bad request URL", twofactor.ErrUnavailable)
	}
	call := &wire.Call{Ctx: ctx}
	resp, err := call.Client(p.hc).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		if call.Wrote() {
			// Written, no answer: Bird may have acted on it.
			return a, unknownOutcome(unavailable(wire.NetErr(err)))
		}
		return a, unavailable(wire.NetErr(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return a, unknownOutcome(unavailable(ctx.Err()))
		}
		return a, fmt.Errorf("%w: reading Bird's answer: %w", twofactor.ErrUnknownOutcome, err)
	}
	if len(data) > maxBody {
		return a, fmt.Errorf("%w: Bird's answer (HTTP %d) is larger than %d bytes", twofactor.ErrUnknownOutcome, resp.StatusCode, maxBody)
	}
	jsonErr := json.Unmarshal(data, &a)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if jsonErr != nil {
			return wsAnswer{}, fmt.Errorf("%w: Bird's answer (HTTP %d) is not the expected JSON", twofactor.ErrUnknownOutcome, resp.StatusCode)
		}
		return a, nil
	}
	if jsonErr != nil {
		a = wsAnswer{}
	}
	return a, workspaceError(op, resp, a)
}

// workspaceError maps a non-2xx answer to an error wrapping one of twofactor's
// sentinel errors. It names the HTTP status and Bird's error code (when of
// a safe form), never Bird's message. This is the one place that gives
// Bird's statuses their meaning (with wsCheckStatus, in the undocumented
// block, for a check's own):
//
//   - 401, 403: twofactor.ErrBadAPIKey, an ErrConfiguration (a wrong key,
//     or a key whose role does not allow this workspace's Verify API);
//   - 402: twofactor.ErrNoBalance;
//   - 429: a *RateLimitError with Bird's Retry-After;
//   - a check's 404, 400, 409, 410 and 422: wsCheckStatus (undocumented:
//     a guess, like all of the check);
//   - a send's 400 or 422 naming the identifier or phone number:
//     twofactor.ErrInvalidPhone;
//   - 5xx: twofactor.ErrUnavailable (an outage);
//   - anything else (other 4xx such as 404 for an unknown workspace,
//     navigator or channel; 3xx): twofactor.ErrConfiguration.
func workspaceError(op wsOp, resp *http.Response, a wsAnswer) error {
	st := resp.StatusCode
	where := "HTTP " + strconv.Itoa(st)
	if a.Code != "" {
		where += ", " + wsWord(a.Code)
	}
	if rid := resp.Header.Get("X-Request-Id"); safeRE.MatchString(rid) {
		where += ", request " + rid
	}
	if op == wsCheck {
		if err := wsCheckStatus(st, where, a); err != nil {
			return err
		}
	}
	switch {
	case st == http.StatusUnauthorized || st == http.StatusForbidden:
		return fmt.Errorf("%w (Bird %s)", twofactor.ErrBadAPIKey, where)
	case st == http.StatusPaymentRequired:
		return fmt.Errorf("%w (Bird %s)", twofactor.ErrNoBalance, where)
	case st == http.StatusTooManyRequests:
		return &RateLimitError{RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()), Code: wsCode(a.Code)}
	case op == wsSend && (st == http.StatusBadRequest || st == http.StatusUnprocessableEntity) && wsAboutPhone(a):
		return fmt.Errorf("%w (Bird %s)", twofactor.ErrInvalidPhone, where)
	case st >= 500:
		return fmt.Errorf("%w (Bird %s)", twofactor.ErrUnavailable, where)
	}
	return fmt.Errorf("%w: Bird refused the request (%s)", twofactor.ErrConfiguration, where)
}

// wsAboutPhone reports whether an error answer names the identifier or the
// phone number (in its code or the keys and values of its details).
func wsAboutPhone(a wsAnswer) bool {
	d, _ := json.Marshal(a.Details)
	s := strings.ToLower(a.Code + " " + string(d))
	return strings.Contains(s, "identifier") || strings.Contains(s, "phonenumber") || strings.Contains(s, "phone_number")
}

// wsWord returns s if it is a short word that can be logged, else "(…)".
func wsWord(s string) string {
	if safeRE.MatchString(s) {
		return s
	}
	return "(unreadable)"
}

// wsCode returns s if it is a short word that can be logged, else "".
func wsCode(s string) string {
	if safeRE.MatchString(s) {
		return s
	}
	return ""
}
