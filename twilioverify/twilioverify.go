// Package twilioverify is a twofactor.Provider on Twilio Verify v2, through
// the official module github.com/twilio/twilio-go.
//
// Twilio writes the text of its messages itself; Request.Message is ignored.
// Request.Amount and Payee, when set, are sent with the verification and its
// check: with a Verify service that has PSD2 enabled they appear in the SMS
// and bind the code to that transaction. They travel in the verification id
// this provider returns ("VE…_…"), which is meant to be kept server-side,
// as the flow does.
package twilioverify

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twilio/twilio-go/client"
	verify "github.com/twilio/twilio-go/rest/verify/v2"

	"github.com/go-twofactor/twofactor"
)

// Config configures a Provider. Give ServiceSID and either AccountSID and
// AuthToken, or APIKey and APISecret (Twilio's recommendation for
// production: a key can be revoked on its own).
type Config struct {
	// AccountSID is the account's SID, "AC" and 32 hex digits. Required
	// with AuthToken; optional with an API key.
	AccountSID string
	// AuthToken is the account's auth token.
	AuthToken string
	// APIKey is an API key's SID, "SK" and 32 hex digits, used with
	// APISecret instead of AuthToken.
	APIKey string
	// APISecret is the API key's secret.
	APISecret string
	// ServiceSID is the Verify service's SID, "VA" and 32 hex digits.
	ServiceSID string
	// BaseURL replaces https://verify.twilio.com, for a proxy or a test
	// server; paths start at "/v2/". Empty means Twilio's URL (and the
	// SDK's TWILIO_EDGE and TWILIO_REGION are honoured).
	BaseURL string
	// HTTPClient makes the calls. Nil means a client on a clone of
	// http.DefaultTransport (so HTTPS_PROXY, NO_PROXY and SSL_CERT_FILE are
	// honoured) with a 15-second timeout as a backstop to each call's
	// context. The provider uses a copy that does not follow redirects.
	HTTPClient *http.Client
	// CodeLength is the number of digits of the service's codes, 6 to 10;
	// it must match the Verify service's "Code length" setting, which is
	// only read here to validate codes before a call. Zero means 6,
	// Twilio's default.
	CodeLength int
	// Channel is the default channel, twofactor.SMS or twofactor.Voice
	// (Twilio's "call"); a Request.Channel overrides it. Empty means SMS.
	Channel twofactor.Channel
	// Locale is the language of Twilio's message, such as "en", "nl" or
	// "en-GB"; a well-formed Request.Language overrides it. Empty lets
	// Twilio pick from the number's country.
	Locale string
}

// Provider is a twofactor.Provider on Twilio Verify v2. It is safe for
// concurrent use. Create it with New.
type Provider struct {
	user, pass, account, service string
	base                         *url.URL // nil: Twilio's URL
	hc                           *http.Client
	cfg                          Config
}

var (
	_ twofactor.Provider     = (*Provider)(nil)
	_ twofactor.CodeLengther = (*Provider)(nil)
)

// ErrChannelDisabled is returned when Twilio answers 400 with code 60223:
// the channel asked for (SMS or call) is disabled in the Verify service. It
// is a configuration error: enable the channel in the Twilio Console
// (Verify → Services → the service) or stop offering it.
var ErrChannelDisabled = errors.New("twilioverify: channel disabled in the Verify service (Twilio 60223): enable it in the Twilio Console")

// ErrServiceNotFound is returned (wrapped, together with
// twofactor.ErrBadAPIKey) when a send gets 404: no Verify service has
// Config.ServiceSID in this account.
var ErrServiceNotFound = errors.New("twilioverify: Verify service not found (Twilio 20404): check the Service SID")

const (
	// maxBody bounds what is read of an answer.
	maxBody = 1 << 20
	// maxID leaves room in the flow's 128-character id limit for a
	// wrapper such as twofactor.Failover to add its mark.
	maxID = 120
	// validity is how long Twilio keeps a code.
	validity = 10 * time.Minute
)

var (
	acRE = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	skRE = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
	vaRE = regexp.MustCompile(`^VA[0-9a-fA-F]{32}$`)
	veRE = regexp.MustCompile(`^VE[0-9a-fA-F]{32}$`)
	// the SDK refuses credentials that are not alphanumeric
	alnumRE = regexp.MustCompile(`^[A-Za-z0-9]+$`)
)

// New returns a Provider for cfg. Credentials and SIDs of the wrong form,
// both kinds of credentials or neither, and invalid settings are errors; no
// call is made.
func New(cfg Config) (*Provider, error) {
	bad := func(what string) (*Provider, error) { return nil, errors.New("twilioverify: " + what) }
	p := &Provider{account: cfg.AccountSID, service: cfg.ServiceSID}
	token, key := cfg.AuthToken != "", cfg.APIKey != "" || cfg.APISecret != ""
	switch {
	case token && key:
		return bad("give AuthToken or APIKey and APISecret, not both")
	case token:
		if !acRE.MatchString(cfg.AccountSID) {
			return bad("AccountSID must be AC and 32 hex digits")
		}
		if !alnumRE.MatchString(cfg.AuthToken) {
			return bad("AuthToken must be letters and digits")
		}
		p.user, p.pass = cfg.AccountSID, cfg.AuthToken
	case key:
		if !skRE.MatchString(cfg.APIKey) {
			return bad("APIKey must be SK and 32 hex digits")
		}
		if !alnumRE.MatchString(cfg.APISecret) {
			return bad("APISecret must be letters and digits")
		}
		if cfg.AccountSID != "" && !acRE.MatchString(cfg.AccountSID) {
			return bad("AccountSID must be AC and 32 hex digits")
		}
		p.user, p.pass = cfg.APIKey, cfg.APISecret
	default:
		return bad("give AccountSID and AuthToken, or APIKey and APISecret")
	}
	if !vaRE.MatchString(cfg.ServiceSID) {
		return bad("ServiceSID must be VA and 32 hex digits")
	}
	cfg.CodeLength = cmp.Or(cfg.CodeLength, twofactor.DefaultCodeLength)
	cfg.Channel = cmp.Or(cfg.Channel, twofactor.SMS)
	switch {
	case cfg.CodeLength < 6 || cfg.CodeLength > 10:
		return bad("CodeLength must be 6 to 10, as set in the Verify service")
	case cfg.Channel != twofactor.SMS && cfg.Channel != twofactor.Voice:
		return bad("Channel must be twofactor.SMS or twofactor.Voice")
	case cfg.Locale != "" && locale(cfg.Locale) == "":
		return bad("Locale must be a language tag such as en, nl or en-GB")
	}
	cfg.Locale = locale(cfg.Locale)
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return bad("BaseURL must be an http(s) URL without query, fragment or user")
		}
		u.Path = strings.TrimRight(u.Path, "/")
		p.base = u
	}
	hc := http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 15 * time.Second}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p.hc, p.cfg = &hc, cfg
	return p, nil
}

// CodeLength returns the number of digits of the service's codes.
func (p *Provider) CodeLength() int { return p.cfg.CodeLength }

// Send starts a verification at Twilio: channel "sms" or "call", the
// locale, and Amount and Payee when the request has them. req.Phone must be
// E.164 ("+" and 8 to 15 digits); otherwise Send returns
// twofactor.ErrInvalidPhone without a call.
func (p *Provider) Send(ctx context.Context, req twofactor.Request) (twofactor.Verification, error) {
	if !validPhone(req.Phone) {
		return twofactor.Verification{}, fmt.Errorf("%w: not in E.164 form", twofactor.ErrInvalidPhone)
	}
	ch := cmp.Or(req.Channel, p.cfg.Channel)
	wire := map[twofactor.Channel]string{twofactor.SMS: "sms", twofactor.Voice: "call"}[ch]
	if wire == "" {
		return twofactor.Verification{}, fmt.Errorf("twilioverify: unsupported channel %q", ch)
	}
	tx, err := encodeTx(req.Amount, req.Payee)
	if err != nil {
		return twofactor.Verification{}, err
	}
	params := &verify.CreateVerificationParams{}
	params.SetTo(req.Phone).SetChannel(wire)
	if l := cmp.Or(locale(req.Language), p.cfg.Locale); l != "" {
		params.SetLocale(l)
	}
	if req.Amount != "" {
		params.SetAmount(req.Amount)
	}
	if req.Payee != "" {
		params.SetPayee(req.Payee)
	}
	start := time.Now()
	var v *verify.VerifyV2Verification
	err = p.call(ctx, func(s *verify.ApiService) (err error) {
		v, err = s.CreateVerification(p.service, params)
		return err
	})
	if err != nil {
		return twofactor.Verification{}, mapError(ctx, err, true)
	}
	sid, status := deref(v.Sid), deref(v.Status)
	if !veRE.MatchString(sid) {
		return twofactor.Verification{}, fmt.Errorf("%w: Twilio returned no usable verification SID", twofactor.ErrUnavailable)
	}
	if status != "pending" {
		return twofactor.Verification{}, fmt.Errorf("%w: Twilio answered a new verification with an unexpected status", twofactor.ErrUnavailable)
	}
	id := sid
	if tx != "" {
		id += "_" + tx
	}
	exp := start.Add(validity)
	if v.DateCreated != nil && !v.DateCreated.IsZero() {
		exp = v.DateCreated.Add(validity)
	}
	return twofactor.Verification{ID: id, Phone: req.Phone, Channel: ch, ExpiresAt: exp}, nil
}

// Check asks Twilio whether code is the code of the verification id (as
// Send returned it), by its SID, with its Amount and Payee if it had them. A
// malformed id gives twofactor.ErrNotFound and a malformed code
// twofactor.ErrMalformedCode, both without a call. Only status "approved"
// for the SID asked is a success.
//
// Twilio's answers map to: "pending" (a wrong code) ErrInvalidCode; 404
// 20404 ErrNotFound, since Twilio deletes a verification once it is
// approved, expired or out of checks and cannot say which; 429 60202 (more
// than 5 checks) ErrTooManyAttempts.
func (p *Provider) Check(ctx context.Context, id, code string) error {
	sid, tx, hasTx := strings.Cut(id, "_")
	if len(id) > 128 || !veRE.MatchString(sid) {
		return twofactor.ErrNotFound
	}
	amount, payee, ok := decodeTx(tx)
	if hasTx && (!ok || tx == "") {
		return twofactor.ErrNotFound
	}
	if !validCode(code, p.cfg.CodeLength) {
		return twofactor.ErrMalformedCode
	}
	params := &verify.CreateVerificationCheckParams{}
	params.SetVerificationSid(sid).SetCode(code)
	if amount != "" {
		params.SetAmount(amount)
	}
	if payee != "" {
		params.SetPayee(payee)
	}
	var c *verify.VerifyV2VerificationCheck
	err := p.call(ctx, func(s *verify.ApiService) (err error) {
		c, err = s.CreateVerificationCheck(p.service, params)
		return err
	})
	if err != nil {
		return mapError(ctx, err, false)
	}
	switch deref(c.Status) {
	case "approved":
		if deref(c.Sid) != sid {
			return fmt.Errorf("%w: Twilio's answer was not for the verification asked", twofactor.ErrNotFound)
		}
		return nil
	case "pending":
		return fmt.Errorf("%w (Twilio: pending)", twofactor.ErrInvalidCode)
	case "expired":
		return fmt.Errorf("%w (Twilio: expired)", twofactor.ErrExpired)
	case "max_attempts_reached":
		return fmt.Errorf("%w (Twilio: max_attempts_reached)", twofactor.ErrTooManyAttempts)
	case "canceled", "deleted":
		return fmt.Errorf("%w (Twilio: no longer pending)", twofactor.ErrNotFound)
	}
	return fmt.Errorf("%w: Twilio answered the check with an unexpected status", twofactor.ErrUnavailable)
}

// call runs fn on a Verify service whose HTTP calls carry ctx, go to the
// base URL, and whose answers are read up to maxBody and always closed (the
// SDK leaves error answers open).
func (p *Provider) call(ctx context.Context, fn func(*verify.ApiService) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	hc := *p.hc
	t := &callTransport{ctx: ctx, base: hc.Transport, to: p.base}
	hc.Transport = t
	c := &client.Client{Credentials: client.NewCredentials(p.user, p.pass), HTTPClient: &hc}
	c.SetAccountSid(cmp.Or(p.account, p.user))
	defer t.closeAll()
	return fn(verify.NewApiServiceWithClient(c))
}

// callTransport is the RoundTripper of one call.
type callTransport struct {
	ctx    context.Context
	base   http.RoundTripper
	to     *url.URL
	mu     sync.Mutex
	bodies []io.Closer
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.WithContext(t.ctx)
	if t.to != nil {
		u := *r.URL
		u.Scheme, u.Host, u.Path, u.RawPath = t.to.Scheme, t.to.Host, t.to.Path+u.Path, ""
		r.URL, r.Host = &u, ""
	}
	base := cmp.Or[http.RoundTripper](t.base, http.DefaultTransport)
	resp, err := base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.bodies = append(t.bodies, resp.Body)
	t.mu.Unlock()
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, maxBody), resp.Body}
	return resp, nil
}

func (t *callTransport) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range t.bodies {
		b.Close()
	}
}

// mapError turns an SDK error into one wrapping a sentinel error. It names
// Twilio's HTTP status and error code, never Twilio's message.
func mapError(ctx context.Context, err error, send bool) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", twofactor.ErrUnavailable, ctx.Err())
	}
	var te *client.TwilioRestError
	if !errors.As(err, &te) {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("%w: %w", twofactor.ErrUnavailable, ue.Err)
		}
		return fmt.Errorf("%w: unexpected answer from Twilio", twofactor.ErrUnavailable)
	}
	where := fmt.Sprintf("Twilio HTTP %d, error %d", te.Status, te.Code)
	switch {
	case te.Code == 60223:
		return fmt.Errorf("%w (%s)", ErrChannelDisabled, where)
	case te.Code == 60202:
		return fmt.Errorf("%w (%s)", twofactor.ErrTooManyAttempts, where)
	case te.Code == 60203, te.Code == 60410, te.Code == 60212, te.Status == http.StatusTooManyRequests:
		// max sends to a number, fraud guard, concurrent requests, or any other limit
		return fmt.Errorf("%w (%s)", twofactor.ErrRateLimited, where)
	case te.Status == http.StatusUnauthorized || te.Status == http.StatusForbidden:
		return fmt.Errorf("%w (%s)", twofactor.ErrBadAPIKey, where)
	case te.Status == http.StatusNotFound && send:
		return fmt.Errorf("%w: %w (%s)", ErrServiceNotFound, twofactor.ErrBadAPIKey, where)
	case te.Status == http.StatusNotFound:
		return fmt.Errorf("%w (%s: approved, expired, out of checks or never sent)", twofactor.ErrNotFound, where)
	case send && (te.Code == 60200 || te.Code == 21211 || te.Code == 21614 || te.Code == 60205):
		// invalid parameter (the only one that varies is To), invalid or non-mobile number, landline
		return fmt.Errorf("%w (%s)", twofactor.ErrInvalidPhone, where)
	}
	return fmt.Errorf("%w: Twilio refused the request (%s)", twofactor.ErrUnavailable, where)
}

// encodeTx packs a transaction's amount and payee into a suffix of the id.
func encodeTx(amount, payee string) (string, error) {
	if amount == "" && payee == "" {
		return "", nil
	}
	for _, s := range []string{amount, payee} {
		if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
			return "", errors.New("twilioverify: Request.Amount and Payee must be text without control characters")
		}
	}
	tx := base64.RawURLEncoding.EncodeToString([]byte(amount + "\x00" + payee))
	if 34+1+len(tx) > maxID {
		return "", errors.New("twilioverify: Request.Amount and Payee are too long (at most about 60 bytes together)")
	}
	return tx, nil
}

// decodeTx unpacks encodeTx's suffix; "" gives "", "", true.
func decodeTx(tx string) (amount, payee string, ok bool) {
	if tx == "" {
		return "", "", true
	}
	b, err := base64.RawURLEncoding.DecodeString(tx)
	if err != nil || !utf8.Valid(b) {
		return "", "", false
	}
	amount, payee, ok = strings.Cut(string(b), "\x00")
	return amount, payee, ok && (amount != "" || payee != "")
}

// locale turns a tag such as "nl", "nl-nl" or "en-GB" into a Twilio
// locale: the language, with the region only for the locales Twilio has
// with one. It returns "" for anything else.
func locale(s string) string {
	lang, region, ok := strings.Cut(strings.ToLower(s), "-")
	if !only(lang, lower, 2, 3) || ok && !only(region, lower+digits, 2, 4) {
		return ""
	}
	switch l := lang + "-" + strings.ToUpper(region); l {
	case "en-GB", "pt-BR", "zh-CN", "zh-HK":
		return l
	}
	return lang
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// validPhone reports whether s is "+" and 8 to 15 digits, the first not 0.
func validPhone(s string) bool {
	return len(s) >= 9 && len(s) <= 16 && s[0] == '+' && s[1] != '0' && only(s[1:], digits, 8, 15)
}

// validCode reports whether code is exactly n ASCII digits.
func validCode(code string, n int) bool { return only(code, digits, n, n) }

const (
	digits = "0123456789"
	lower  = "abcdefghijklmnopqrstuvwxyz"
)

// only reports whether s has lo to hi bytes, all from set.
func only(s, set string, lo, hi int) bool {
	return len(s) >= lo && len(s) <= hi && strings.Trim(s, set) == ""
}
