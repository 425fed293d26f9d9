// Package bird is a twofactor.Provider on the Verify API of Bird's current
// platform (https://{region}.platform.bird.com/v1/verify), the successor of
// MessageBird's classic API. It speaks plain net/http: Bird serves no Go SDK.
//
// Bird writes the text of its messages itself (translated by Language): an
// app cannot add its own text, a transaction's amount and payee, or the
// origin-bound autofill line. Request.Message, Amount and Payee are ignored.
//
// Bird checks a code by the recipient's number, not by a verification id, so
// the ids this provider returns carry the number: "31612345678_vrf_…". They
// are meant to be kept server-side, as the flow does, and are never shown to
// visitors.
//
// Workspace, made by NewWorkspace, is a second provider in this package: on
// Bird's workspace Verify API (https://api.bird.com/workspaces/{id}/verify,
// with an access key, a workspace id and an SMS navigator or channel id),
// the one docs.bird.com documents. Its code check is not documented; see
// Workspace.
package bird

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
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

// Config configures a Provider. The zero value uses the defaults listed with
// each field.
type Config struct {
	// BaseURL is where the API is, such as "https://eu1.platform.bird.com"
	// or a proxy's or test server's URL; paths start at "/v1/". Empty means
	// https://{region}.platform.bird.com, the region taken from the key.
	BaseURL string
	// HTTPClient makes the calls. Nil means a client on a clone of
	// http.DefaultTransport (so HTTPS_PROXY, NO_PROXY and SSL_CERT_FILE are
	// honoured) with a 15-second timeout as a backstop to each call's
	// context. The provider uses a copy that does not follow redirects.
	HTTPClient *http.Client
	// CodeLength is the number of digits of a code, 6 to 8. Zero means 6.
	CodeLength int
	// Channel is the default channel, twofactor.SMS or twofactor.Voice; a
	// Request.Channel overrides it. Empty means SMS. The channel is always
	// pinned: left open, Bird may pick another one, such as WhatsApp.
	Channel twofactor.Channel
	// Language is the language of Bird's message, such as "en" or "nl"; the
	// language of a well-formed Request.Language ("nl-nl" gives "nl")
	// overrides it. Only the primary language subtag is sent. Empty leaves
	// the choice to Bird.
	Language string
}

// Provider is a twofactor.Provider on Bird's platform Verify API. It is safe
// for concurrent use. Create it with New.
type Provider struct {
	key        string
	region     string
	base       string // without a trailing slash
	hc         *http.Client
	cfg        Config
	retryDelay time.Duration // before the one retry of a send
}

var (
	_ twofactor.Provider     = (*Provider)(nil)
	_ twofactor.CodeLengther = (*Provider)(nil)
)

// ErrWrongRegion is returned (wrapped, together with twofactor.ErrBadAPIKey)
// when Bird answers 421: the key belongs to another region than the host
// asked. It is a configuration error: check Config.BaseURL against the
// region in the key.
var ErrWrongRegion = errors.New("bird: wrong region for this key (HTTP 421): use the host of the region named in the key")

// RateLimitError is returned when Bird answers 429. It matches
// twofactor.ErrRateLimited with errors.Is; RetryAfter is how long Bird asks
// to wait (zero when it did not say). errors.As also finds it as a
// *twofactor.RateLimitError, which is what the flow and the failover provider read.
type RateLimitError struct {
	RetryAfter time.Duration // from Retry-After, at most 24 hours; zero if absent
	Code       string        // Bird's error code, such as "E01003"; may be empty
}

// Error names the limit, Bird's code and the wait, never Bird's message.
func (e *RateLimitError) Error() string {
	s := twofactor.ErrRateLimited.Error() + " (Bird HTTP 429"
	if e.Code != "" {
		s += ", " + e.Code
	}
	if e.RetryAfter > 0 {
		s += ", retry after " + e.RetryAfter.String()
	}
	return s + ")"
}

// Is reports whether target is twofactor.ErrRateLimited.
func (e *RateLimitError) Is(target error) bool { return target == twofactor.ErrRateLimited }

// As sets a **twofactor.RateLimitError target to the same limit, so that
// code which knows only the twofactor package reads Bird's wait.
func (e *RateLimitError) As(target any) bool {
	t, ok := target.(**twofactor.RateLimitError)
	if ok {
		*t = &twofactor.RateLimitError{RetryAfter: e.RetryAfter, Vendor: "Bird", Code: e.Code}
	}
	return ok
}

const (
	// maxBody bounds what is read of an answer.
	maxBody = wire.MaxBody
	// maxID leaves room in the flow's 128-character id limit for a
	// wrapper such as failover.Provider to add its mark.
	maxID     = 120
	userAgent = "go-twofactor-bird/1 (+https://github.com/go-twofactor/twofactor)"
)

var (
	regionRE = regexp.MustCompile(`^[a-z]{2}[0-9]+$`)
	codeRE   = regexp.MustCompile(`^E[0-9]{5}$`)
	safeRE   = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)
)

// New returns a Provider that uses apiKey, a key of Bird's platform of the
// form "bk_{region}_{secret}" (the region, such as "eu1", names the host).
// A key of another form, or an invalid Config, is an error.
func New(apiKey string, cfg Config) (*Provider, error) {
	region, err := checkKey(apiKey)
	if err != nil {
		return nil, err
	}
	cfg.CodeLength = cmp.Or(cfg.CodeLength, wire.DefaultCodeLength)
	cfg.Channel = cmp.Or(cfg.Channel, twofactor.SMS)
	cfg.Language = strings.ToLower(cfg.Language)
	switch {
	case cfg.CodeLength < 6 || cfg.CodeLength > 8:
		return nil, errors.New("bird: Config.CodeLength must be 6 to 8")
	case cfg.Channel != twofactor.SMS && cfg.Channel != twofactor.Voice:
		return nil, errors.New("bird: Config.Channel must be twofactor.SMS or twofactor.Voice")
	case cfg.Language != "" && language(cfg.Language) == "":
		return nil, errors.New("bird: Config.Language must be a language tag such as en or nl-nl")
	}
	base := "https://" + region + ".platform.bird.com"
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, errors.New("bird: Config.BaseURL must be an http(s) URL without query, fragment or user")
		}
		base = strings.TrimRight(cfg.BaseURL, "/")
	}
	hc := http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 15 * time.Second}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Provider{key: apiKey, region: region, base: base, hc: &hc, cfg: cfg, retryDelay: 200 * time.Millisecond}, nil
}

// ErrMessageBirdKey is returned (wrapped) by New for a key of MessageBird's
// classic API (live_…), which Bird's platform refuses.
var ErrMessageBirdKey = errors.New("bird: the API key is a MessageBird classic key (live_…), which Bird's platform refuses: use it with messagebird.New")

// checkKey returns the region of a key of the form bk_{region}_{secret},
// or an error that says what is wrong without repeating the key.
func checkKey(key string) (string, error) {
	const want = "want a key of Bird's platform, bk_{region}_{secret}, such as bk_eu1_…"
	bad := func(why string) (string, error) { return "", fmt.Errorf("bird: API key %s; %s", why, want) }
	rest, ok := strings.CutPrefix(key, "bk_")
	region, secret, ok2 := strings.Cut(rest, "_")
	if why := wire.KeyProblem(key); why != "" {
		return bad(why)
	}
	switch {
	case strings.HasPrefix(key, "live_") || strings.HasPrefix(key, "test_"):
		return "", fmt.Errorf("%w; %s", ErrMessageBirdKey, want)
	case !ok || !ok2:
		return bad("does not start with bk_{region}_")
	case !regionRE.MatchString(region):
		return bad("names no region such as eu1 or us1 after bk_")
	case secret == "":
		return bad("has no secret after the region")
	}
	return region, nil
}

// Region returns the region named in the key, such as "eu1".
func (p *Provider) Region() string { return p.region }

// CodeLength returns the number of digits of the codes Bird sends.
func (p *Provider) CodeLength() int { return p.cfg.CodeLength }

// verification is the part of Bird's verification object that is used.
type verification struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	ExpiresAt string `json:"expires_at"`
	To        struct {
		PhoneNumber string `json:"phone_number"`
	} `json:"to"`
}

type to struct {
	PhoneNumber string `json:"phone_number"`
}

type createBody struct {
	To      to `json:"to"`
	Options struct {
		Channels   []string `json:"channels"`
		CodeLength int      `json:"code_length"`
		Language   string   `json:"language,omitempty"`
	} `json:"options"`
}

type checkBody struct {
	To   to     `json:"to"`
	Code string `json:"code"`
}

type checkAnswer struct {
	Success      bool          `json:"success"`
	Reason       string        `json:"reason"`
	Verification *verification `json:"verification"`
}

// Send starts a verification at Bird. req.Phone must be E.164 ("+" and 8 to
// 15 digits); otherwise Send returns twofactor.ErrInvalidPhone without a
// call. Each send carries a fresh Idempotency-Key; when Bird answers 5xx or
// 409 E01004 (request in progress), Send tries once more with the same key,
// so Bird sends at most one code for it.
func (p *Provider) Send(ctx context.Context, req twofactor.Request) (twofactor.Verification, error) {
	if !validPhone(req.Phone) {
		return twofactor.Verification{}, fmt.Errorf("%w: not in E.164 form", twofactor.ErrInvalidPhone)
	}
	ch := cmp.Or(req.Channel, p.cfg.Channel)
	if ch != twofactor.SMS && ch != twofactor.Voice {
		return twofactor.Verification{}, fmt.Errorf("bird: unsupported channel %q", ch)
	}
	var body createBody
	body.To.PhoneNumber = req.Phone
	body.Options.Channels = []string{string(ch)} // Bird's names are "sms" and "voice"
	body.Options.CodeLength = p.cfg.CodeLength
	body.Options.Language = language(p.cfg.Language)
	if l := language(strings.ToLower(req.Language)); l != "" {
		body.Options.Language = l
	}
	key := idempotencyKey()
	start := time.Now()
	var v verification
	lost, err := p.do(ctx, "/v1/verify/verifications", key, body, &v, true)
	if err != nil && retryable(err) {
		t := time.NewTimer(p.retryDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			err = unavailable(ctx.Err())
		case <-t.C:
			var lost2 bool
			lost2, err = p.do(ctx, "/v1/verify/verifications", key, body, &v, true)
			lost = lost || lost2
		}
	}
	switch {
	case err != nil && lost && (errors.Is(err, twofactor.ErrUnavailable) || errors.Is(err, errMalformed)):
		// A request was written and its answer lost: Bird may be sending.
		return twofactor.Verification{}, unknownOutcome(err)
	case err != nil:
		return twofactor.Verification{}, err
	}
	switch v.Status {
	case "pending":
	case "blocked":
		return twofactor.Verification{}, fmt.Errorf("%w: Bird's fraud controls blocked this verification", twofactor.ErrRateLimited)
	default:
		return twofactor.Verification{}, fmt.Errorf("%w: Bird answered a new verification with an unexpected status", twofactor.ErrUnknownOutcome)
	}
	id := req.Phone[1:] + "_" + v.ID
	if !validBirdID(v.ID) || len(id) > maxID {
		return twofactor.Verification{}, fmt.Errorf("%w: Bird returned no usable verification id", twofactor.ErrUnknownOutcome)
	}
	exp := start.Add(wire.DefaultValidity)
	if t, err := time.Parse(time.RFC3339, v.ExpiresAt); err == nil {
		exp = t
	}
	return twofactor.Verification{ID: id, Phone: req.Phone, Channel: ch, ExpiresAt: exp}, nil
}

// Check asks Bird whether code is the code of the verification id (as Send
// returned it) by checking the code for its number. A malformed id gives
// twofactor.ErrNotFound and a malformed code twofactor.ErrMalformedCode,
// both without a call. Success needs Bird's "success":true with a
// verification whose status is "verified" and which names this
// verification's id or number, and no other; an answer for another
// verification gives twofactor.ErrNotFound.
//
// Bird's answers map to: "incorrect_code" ErrInvalidCode, "expired"
// ErrExpired, "attempts_exhausted" ErrTooManyAttempts, 404 E13000 (nothing
// pending for the number: used, expired earlier or never sent) ErrNotFound.
func (p *Provider) Check(ctx context.Context, id, code string) error {
	digits, birdID, ok := strings.Cut(id, "_")
	if len(id) > 128 || !ok || !validPhone("+"+digits) || !validBirdID(birdID) {
		return twofactor.ErrNotFound
	}
	if !validCode(code, p.cfg.CodeLength) {
		return twofactor.ErrMalformedCode
	}
	phone := "+" + digits
	var a checkAnswer
	if lost, err := p.do(ctx, "/v1/verify/verifications/check", "", checkBody{To: to{phone}, Code: code}, &a, false); err != nil {
		if lost {
			return unknownOutcome(err) // the code may have been used up
		}
		return err
	}
	if !a.Success {
		switch a.Reason {
		case "incorrect_code":
			return fmt.Errorf("%w (Bird: incorrect_code)", twofactor.ErrInvalidCode)
		case "expired":
			return fmt.Errorf("%w (Bird: expired)", twofactor.ErrExpired)
		case "attempts_exhausted":
			return fmt.Errorf("%w (Bird: attempts_exhausted)", twofactor.ErrTooManyAttempts)
		}
		reason := ""
		if safeRE.MatchString(a.Reason) {
			reason = " " + a.Reason
		}
		return fmt.Errorf("%w: Bird refused the code for an unknown reason%s", twofactor.ErrUnavailable, reason)
	}
	v := a.Verification
	switch {
	case v == nil || v.Status != "verified":
		return fmt.Errorf("%w: Bird answered success without a verified verification", twofactor.ErrUnavailable)
	case v.ID == "" && v.To.PhoneNumber == "",
		v.ID != "" && v.ID != birdID,
		v.To.PhoneNumber != "" && v.To.PhoneNumber != phone:
		return fmt.Errorf("%w: Bird's answer was not for the verification asked", twofactor.ErrNotFound)
	}
	return nil
}

// apiError is Bird's error answer.
type apiError struct {
	Error struct {
		Type      string          `json:"type"`
		Code      string          `json:"code"`
		RequestID string          `json:"request_id"`
		Details   json.RawMessage `json:"details"`
	} `json:"error"`
}

// retryErr marks an error after which a send is tried once more: a 5xx, a
// 409 E01004 (the same key in progress), or no answer at all.
type retryErr struct{ error }

func (e retryErr) Unwrap() error { return e.error }

func retryable(err error) bool { return errors.As(err, new(retryErr)) }

func unavailable(err error) error { return fmt.Errorf("%w: %w", twofactor.ErrUnavailable, err) }

// unknownOutcome marks err, of a request written whose answer was lost.
func unknownOutcome(err error) error {
	if errors.Is(err, twofactor.ErrUnknownOutcome) {
		return err
	}
	return fmt.Errorf("%w: %w", twofactor.ErrUnknownOutcome, err)
}

// do POSTs in as JSON to path and decodes a 2xx answer into out. It maps any
// other answer to the sentinel errors without including Bird's text. lost
// reports a request written in full whose answer did not come or could not
// be read: Bird may have acted on it.
func (p *Provider) do(ctx context.Context, path, idemKey string, in, out any, send bool) (lost bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, unavailable(err)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return false, err
	}
	req, err := jsonPost(ctx, p.base+path, "Bearer "+p.key, b)
	if err != nil {
		return false, fmt.Errorf("%w: bad request URL", twofactor.ErrConfiguration)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	call := &wire.Call{Ctx: ctx}
	resp, err := call.Client(p.hc).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return call.Wrote(), unavailable(ctx.Err())
		}
		return call.Wrote(), retryErr{unavailable(wire.NetErr(err))}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		if ctx.Err() != nil {
			return true, unavailable(ctx.Err())
		}
		return true, fmt.Errorf("%w: reading Bird's answer: %w", twofactor.ErrUnavailable, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			return true, fmt.Errorf("%w: Bird's answer (HTTP %d) is not the expected JSON", errMalformed, resp.StatusCode)
		}
		return true, nil
	}
	return false, p.mapError(resp, data, send)
}

// jsonPost is a POST of body, JSON, to url with the headers both of Bird's
// APIs take: authorization auth, JSON both ways, the package's User-Agent.
func jsonPost(ctx context.Context, url, auth string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}

// errMalformed marks a 2xx answer that cannot be used.
var errMalformed = errors.New("bird: unusable answer")

// mapError maps a non-2xx answer to an error wrapping a sentinel error. It
// names the HTTP status, Bird's error code and request id when they are of
// a safe form, and never Bird's message.
//
//	401, 403 (a key without the verify scope)  ErrBadAPIKey (ErrConfiguration)
//	421 (the key's region is another host's)   ErrWrongRegion, ErrBadAPIKey
//	402                                        ErrNoBalance
//	429                                        *RateLimitError, with Retry-After
//	404 E13000, a check                        ErrNotFound (nothing pending)
//	400, 422 naming phone_number, a send       ErrInvalidPhone
//	400, 422, 404, 409 otherwise               ErrConfiguration (our request is wrong)
//	409 E01004 (the same key in progress)      retried; ErrUnknownOutcome
//	5xx                                        retried; ErrUnavailable
func (p *Provider) mapError(resp *http.Response, data []byte, send bool) error {
	var e apiError
	_ = json.Unmarshal(data, &e)
	code := e.Error.Code
	if !codeRE.MatchString(code) {
		code = ""
	}
	where := "HTTP " + strconv.Itoa(resp.StatusCode)
	if code != "" {
		where += ", " + code
	}
	rid := e.Error.RequestID
	if rid == "" {
		rid = resp.Header.Get("X-Request-Id")
	}
	if safeRE.MatchString(rid) {
		where += ", request " + rid
	}
	st := resp.StatusCode
	switch {
	case st == http.StatusUnauthorized || st == http.StatusForbidden:
		return fmt.Errorf("%w (Bird %s)", twofactor.ErrBadAPIKey, where)
	case st == http.StatusMisdirectedRequest:
		return fmt.Errorf("%w: %w (Bird %s, key region %s)", ErrWrongRegion, twofactor.ErrBadAPIKey, where, p.region)
	case st == http.StatusPaymentRequired:
		return fmt.Errorf("%w (Bird %s)", twofactor.ErrNoBalance, where)
	case st == http.StatusTooManyRequests:
		return &RateLimitError{RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()), Code: code}
	case st == http.StatusNotFound && code == "E13000" && !send:
		return fmt.Errorf("%w (Bird %s: nothing pending for this number)", twofactor.ErrNotFound, where)
	case send && (st == http.StatusUnprocessableEntity || st == http.StatusBadRequest) && bytes.Contains(e.Error.Details, []byte("phone_number")):
		return fmt.Errorf("%w (Bird %s)", twofactor.ErrInvalidPhone, where)
	case st == http.StatusConflict && code == "E01004":
		return retryErr{fmt.Errorf("%w (Bird %s: the same request is in progress)", twofactor.ErrUnknownOutcome, where)}
	case st >= 500:
		return retryErr{fmt.Errorf("%w (Bird %s)", twofactor.ErrUnavailable, where)}
	}
	return fmt.Errorf("%w: Bird refused the request (%s)", twofactor.ErrConfiguration, where)
}

// idempotencyKey returns 32 random hex digits.
func idempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// language returns the primary subtag of a tag such as "nl" or "nl-nl", or
// "" if s is not of that form.
func language(s string) string {
	lang, _, _ := wire.LanguageTag(s)
	return lang
}

var (
	validPhone = wire.ValidPhone
	validCode  = wire.ValidCode
	only       = wire.Only
)

// validBirdID reports whether s can be carried in a verification id.
func validBirdID(s string) bool { return only(s, lower+upper+digits+"_-", 1, maxID) }

const (
	digits = wire.Digits
	lower  = wire.Lower
	upper  = wire.Upper
)

// retryAfter parses a Retry-After header: seconds, or an HTTP date (see
// wire.RetryAfter).
func retryAfter(h string, now time.Time) time.Duration { return wire.RetryAfter(h, now) }
