// Package twilioverify is a twofactor.Provider on Twilio Verify v2, through
// the official module github.com/twilio/twilio-go.
//
// Twilio writes the text of its messages itself; Request.Message is ignored.
// Request.Amount and Payee, when set, are sent with the verification and its
// check: with a Verify service that has PSD2 enabled they appear in the SMS
// and bind the code to that transaction. They travel in the verification id
// this provider returns ("VE…_…"), which is meant to be kept server-side,
// as the flow does.
//
// A Verify service with PSD2 enabled requires Amount and Payee on every
// verification (Twilio error 60206) and refuses calls (60214), so it cannot
// also send sign-in codes. Give it as Config.PSD2ServiceSID, next to the
// ordinary service: codes that confirm a transaction (a Request with Amount
// or Payee) go to it, and all others to Config.ServiceSID.
package twilioverify

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twilio/twilio-go/client"
	verify "github.com/twilio/twilio-go/rest/verify/v2"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/wire"
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
	// ServiceSID is the Verify service's SID, "VA" and 32 hex digits. It
	// sends sign-in codes; it must not have PSD2 enabled (Twilio would then
	// refuse every code without an amount and payee).
	ServiceSID string
	// PSD2ServiceSID, optional, is a second Verify service, with PSD2
	// enabled, for codes that confirm a transaction (a Request with Amount
	// or Payee): its SMS names the amount and payee and binds the code to
	// them. Without it, such codes go to ServiceSID with Amount and Payee,
	// which a service without PSD2 leaves out of its SMS.
	PSD2ServiceSID string
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
	psd2                         string   // PSD2ServiceSID; may be empty
	base                         *url.URL // nil: Twilio's URL
	hc                           *http.Client
	cfg                          Config
}

var (
	_ twofactor.Provider      = (*Provider)(nil)
	_ twofactor.CodeLengther  = (*Provider)(nil)
	_ twofactor.ActionCarrier = (*Provider)(nil)
)

// ErrChannelDisabled is returned (wrapped, together with
// twofactor.ErrConfiguration) when Twilio answers 400 with code 60223: the
// channel asked for (SMS or call) is disabled in the Verify service. Enable
// the channel in the Twilio Console (Verify → Services → the service) or
// stop offering it.
var ErrChannelDisabled = errors.New("twilioverify: channel disabled in the Verify service (Twilio 60223): enable it in the Twilio Console")

// ErrServiceNotFound is returned (wrapped, together with
// twofactor.ErrConfiguration) when a send gets 404 without a Locale (or
// again without it): no Verify service has the Service SID in this account.
var ErrServiceNotFound = errors.New("twilioverify: Verify service not found (Twilio 20404): check the Service SID")

// ErrPSD2 is returned (wrapped, together with twofactor.ErrConfiguration)
// when Twilio answers 60206 (a PSD2 service needs Amount and Payee on every
// verification) or 60214 (a PSD2 service makes no calls): the service has
// PSD2 enabled but gets sign-in codes. Give ServiceSID a service without
// PSD2, and the PSD2 one as PSD2ServiceSID.
var ErrPSD2 = errors.New("twilioverify: the Verify service has PSD2 enabled, which refuses codes without an amount and payee and calls: use a service without PSD2 for sign-in and set PSD2ServiceSID for confirmations")

const (
	// maxID leaves room in the flow's 128-character id limit for a
	// wrapper such as failover.Provider to add its mark.
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
	var err error
	if p.user, p.pass, err = credentials(cfg); err != nil {
		return nil, err
	}
	if err := checkSID("ServiceSID", cfg.ServiceSID, vaRE, "VA"); err != nil {
		return nil, err
	}
	if cfg.PSD2ServiceSID != "" {
		if err := checkSID("PSD2ServiceSID", cfg.PSD2ServiceSID, vaRE, "VA"); err != nil {
			return nil, err
		}
		if cfg.PSD2ServiceSID == cfg.ServiceSID {
			return bad("PSD2ServiceSID must be another service than ServiceSID: a PSD2 service refuses sign-in codes")
		}
		p.psd2 = cfg.PSD2ServiceSID
	}
	cfg.CodeLength = cmp.Or(cfg.CodeLength, wire.DefaultCodeLength)
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

// credentials returns the user and password of Basic authentication: the
// Account SID and Auth Token, or an API key and its secret, checked.
func credentials(cfg Config) (user, pass string, err error) {
	token, key := cfg.AuthToken != "", cfg.APIKey != "" || cfg.APISecret != ""
	switch {
	case token && key:
		return "", "", errors.New("twilioverify: give AuthToken or APIKey and APISecret, not both")
	case token:
		if err := checkSID("AccountSID", cfg.AccountSID, acRE, "AC"); err != nil {
			return "", "", err
		}
		if err := checkSecret("AuthToken", cfg.AuthToken); err != nil {
			return "", "", err
		}
		return cfg.AccountSID, cfg.AuthToken, nil
	case key:
		if err := checkSID("APIKey", cfg.APIKey, skRE, "SK"); err != nil {
			return "", "", err
		}
		if err := checkSecret("APISecret", cfg.APISecret); err != nil {
			return "", "", err
		}
		if cfg.AccountSID != "" {
			if err := checkSID("AccountSID", cfg.AccountSID, acRE, "AC"); err != nil {
				return "", "", err
			}
		}
		return cfg.APIKey, cfg.APISecret, nil
	}
	return "", "", errors.New("twilioverify: give AccountSID and AuthToken, or APIKey and APISecret")
}

// sidKinds names the kinds of SID by their prefix, to say what a SID in the
// wrong setting is.
var sidKinds = map[string]string{"AC": "an Account SID", "SK": "an API key SID", "VA": "a Verify service SID", "VE": "a verification SID"}

// checkSID says what is wrong with the SID in setting, if anything, without
// repeating it: want is its prefix.
func checkSID(setting, sid string, re *regexp.Regexp, want string) error {
	if re.MatchString(sid) {
		return nil
	}
	why := "is not " + want + " and 32 hex digits"
	switch {
	case sid == "":
		why = "is empty"
	case wire.Quoted(sid):
		why = "is in quotes: remove them"
	case len(sid) >= 2 && sidKinds[sid[:2]] != "" && sid[:2] != want:
		why = "looks like " + sidKinds[sid[:2]]
	}
	return fmt.Errorf("twilioverify: %s %s; want %s (%s and 32 hex digits, from the Twilio Console)", setting, why, sidKinds[want], want)
}

// checkSecret says what is wrong with the secret in setting, if anything,
// without repeating it.
func checkSecret(setting, secret string) error {
	if alnumRE.MatchString(secret) {
		return nil
	}
	why := "has characters other than letters and digits"
	if wire.Quoted(secret) {
		why = "is in quotes: remove them"
	}
	return fmt.Errorf("twilioverify: %s %s; want the secret as the Twilio Console shows it (letters and digits)", setting, why)
}

// CarriesAction reports whether a confirmation's amount and payee reach the
// SMS: when Config.PSD2ServiceSID is set.
func (p *Provider) CarriesAction() bool { return p.psd2 != "" }

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
	wireCh := map[twofactor.Channel]string{twofactor.SMS: "sms", twofactor.Voice: "call"}[ch]
	if wireCh == "" {
		return twofactor.Verification{}, fmt.Errorf("twilioverify: unsupported channel %q", ch)
	}
	tx, err := encodeTx(req.Amount, req.Payee)
	if err != nil {
		return twofactor.Verification{}, err
	}
	service := p.serviceFor(tx)
	params := &verify.CreateVerificationParams{}
	params.SetTo(req.Phone).SetChannel(wireCh)
	loc := cmp.Or(locale(req.Language), p.cfg.Locale)
	if loc != "" {
		params.SetLocale(loc)
	}
	if req.Amount != "" {
		params.SetAmount(req.Amount)
	}
	if req.Payee != "" {
		params.SetPayee(req.Payee)
	}
	start := time.Now()
	var v *verify.VerifyV2Verification
	create := func(s *verify.ApiService) (err error) {
		v, err = s.CreateVerification(service, params)
		return err
	}
	err = p.call(ctx, true, loc != "", create)
	if errors.Is(err, errLocale404) {
		// Twilio answers an unsupported Locale with 404, and advises to
		// try again without it: the number's country then picks the
		// language. A 404 again is the service.
		params.Locale = nil
		err = p.call(ctx, true, false, create)
	}
	if err != nil {
		return twofactor.Verification{}, err
	}
	sid, status := deref(v.Sid), deref(v.Status)
	if !veRE.MatchString(sid) {
		return twofactor.Verification{}, fmt.Errorf("%w: Twilio returned no usable verification SID", twofactor.ErrUnknownOutcome)
	}
	if status != "pending" {
		return twofactor.Verification{}, fmt.Errorf("%w: Twilio answered a new verification with an unexpected status", twofactor.ErrUnknownOutcome)
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
	service := p.serviceFor(tx)
	err := p.call(ctx, false, false, func(s *verify.ApiService) (err error) {
		c, err = s.CreateVerificationCheck(service, params)
		return err
	})
	if err != nil {
		return err
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

// serviceFor returns the Verify service of a verification: the PSD2 one
// for a transaction's (tx not empty), when there is one.
func (p *Provider) serviceFor(tx string) string {
	if tx != "" && p.psd2 != "" {
		return p.psd2
	}
	return p.service
}

// call runs fn on a Verify service whose HTTP calls carry ctx, go to the
// base URL, and whose answers are read up to wire.MaxBody and always closed
// (the SDK leaves error answers open). It maps fn's error to the sentinel
// errors, except a 404 of a send with a Locale (withLocale), which it
// returns as errLocale404 for Send to try again without the Locale.
func (p *Provider) call(ctx context.Context, send, withLocale bool, fn func(*verify.ApiService) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", twofactor.ErrUnavailable, err)
	}
	hc := *p.hc
	wc := &wire.Call{Ctx: ctx, Base: rebase{base: hc.Transport, to: p.base}}
	hc.Transport = wc
	c := &client.Client{Credentials: client.NewCredentials(p.user, p.pass), HTTPClient: &hc}
	c.SetAccountSid(cmp.Or(p.account, p.user))
	defer wc.Close()
	err := fn(verify.NewApiServiceWithClient(c))
	var te *client.TwilioRestError
	if withLocale && errors.As(err, &te) && te.Status == http.StatusNotFound {
		return errLocale404
	}
	return mapError(ctx, err, send, wc)
}

// errLocale404 is a 404 to a send with a Locale.
var errLocale404 = errors.New("twilioverify: 404 to a send with a Locale")

// rebase sends requests to another base URL, when to is not nil.
type rebase struct {
	base http.RoundTripper
	to   *url.URL
}

func (t rebase) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req
	if t.to != nil {
		u := *req.URL
		u.Scheme, u.Host, u.Path, u.RawPath = t.to.Scheme, t.to.Host, t.to.Path+u.Path, ""
		r = req.Clone(req.Context())
		r.URL, r.Host = &u, ""
	}
	return cmp.Or[http.RoundTripper](t.base, http.DefaultTransport).RoundTrip(r)
}

// Twilio's documented waits of its limits, for answers without Retry-After.
const (
	maxSendsWait   = 10 * time.Minute // 60203: max send attempts; the verification expires
	fraudGuardWait = 12 * time.Hour   // 60410: Fraud Guard blocks the prefix
)

// mapError turns an SDK error into one wrapping a sentinel error. call is
// what the transport saw of the exchange. It names Twilio's HTTP status and
// error code, never Twilio's message.
func mapError(ctx context.Context, err error, send bool, call *wire.Call) error {
	if err == nil {
		return nil
	}
	var te *client.TwilioRestError
	if !errors.As(err, &te) {
		return transportError(ctx, err, send, call)
	}
	return restError(te, send, call)
}

// transportError classifies a failure that brought no Twilio error: a
// limit, an answer that is not Twilio's JSON, or no answer at all (whose
// outcome is unknown once the request was written).
func transportError(ctx context.Context, err error, send bool, call *wire.Call) error {
	lost := func(cause error) error {
		if call.Wrote() {
			return fmt.Errorf("%w: %w", twofactor.ErrUnknownOutcome, cause)
		}
		return fmt.Errorf("%w: %w", twofactor.ErrUnavailable, cause)
	}
	switch status := call.Status(); {
	case status == http.StatusTooManyRequests:
		return &twofactor.RateLimitError{Vendor: "Twilio", RetryAfter: wire.RetryAfter(call.Header().Get("Retry-After"), time.Now())}
	case status >= 200 && status < 300:
		return lost(fmt.Errorf("an answer (HTTP %d) that is not Twilio's expected JSON", status))
	case status != 0:
		return fmt.Errorf("%w: Twilio answered HTTP %d without a usable error", statusClass(status, send), status)
	case ctx.Err() != nil:
		return lost(ctx.Err())
	}
	return lost(wire.NetErr(err))
}

// restError classifies Twilio's error by its code and HTTP status.
func restError(te *client.TwilioRestError, send bool, call *wire.Call) error {
	where := fmt.Sprintf("Twilio HTTP %d, error %d", te.Status, te.Code)
	limited := func(wait time.Duration) error {
		if ra := wire.RetryAfter(call.Header().Get("Retry-After"), time.Now()); ra > 0 {
			wait = ra
		}
		return &twofactor.RateLimitError{Vendor: "Twilio", Code: strconv.Itoa(te.Code), RetryAfter: wait}
	}
	switch {
	case te.Code == 20003:
		return fmt.Errorf("%w (%s)", twofactor.ErrBadAPIKey, where)
	case te.Code == 60223:
		return fmt.Errorf("%w: %w (%s)", ErrChannelDisabled, twofactor.ErrConfiguration, where)
	case te.Code == 60206, te.Code == 60214:
		return fmt.Errorf("%w: %w (%s)", ErrPSD2, twofactor.ErrConfiguration, where)
	case te.Code == 60204:
		// a feature the service does not have (403)
		return fmt.Errorf("%w: the Verify service does not have this feature (%s)", twofactor.ErrConfiguration, where)
	case te.Code == 60605, te.Code == 60205, te.Code == 21408, te.Code == 21612, te.Code == 60238:
		// geo permissions, a landline, a country not enabled or not served
		return fmt.Errorf("%w (%s)", twofactor.ErrDestinationRefused, where)
	case te.Code == 60202:
		return fmt.Errorf("%w (%s)", twofactor.ErrTooManyAttempts, where)
	case te.Code == 60203:
		return limited(maxSendsWait)
	case te.Code == 60410:
		return limited(fraudGuardWait)
	case te.Code == 60212, te.Status == http.StatusTooManyRequests:
		// concurrent requests, or any other limit
		return limited(0)
	case send && (te.Code == 21211 || te.Code == 21614):
		// an invalid number, a number that is not a mobile one
		return fmt.Errorf("%w (%s)", twofactor.ErrInvalidPhone, where)
	case send && te.Code == 60200 && toParamRE.MatchString(te.Message):
		// an invalid parameter, and Twilio names To: the number
		return fmt.Errorf("%w (%s, parameter To)", twofactor.ErrInvalidPhone, where)
	case te.Status == http.StatusNotFound && send:
		return fmt.Errorf("%w: %w (%s)", ErrServiceNotFound, twofactor.ErrConfiguration, where)
	case te.Status == http.StatusNotFound:
		return fmt.Errorf("%w (%s: approved, expired, out of checks or never sent)", twofactor.ErrNotFound, where)
	}
	return fmt.Errorf("%w: Twilio refused the request (%s)", statusClass(te.Status, send), where)
}

// toParamRE finds Twilio's name of the To parameter in a 60200 message,
// such as "Invalid parameter `To`: …".
var toParamRE = regexp.MustCompile("(?i)parameter[^A-Za-z]*`?To`?(?:[^A-Za-z]|$)")

// statusClass classifies a status that came without a known code.
func statusClass(status int, send bool) error {
	switch {
	case status == http.StatusUnauthorized:
		return twofactor.ErrBadAPIKey
	case status == http.StatusPaymentRequired:
		return twofactor.ErrNoBalance
	case status == http.StatusNotFound && !send:
		return twofactor.ErrNotFound
	case status >= 500 || status == 0:
		return twofactor.ErrUnavailable
	}
	return twofactor.ErrConfiguration
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
	lang, region, ok := wire.LanguageTag(strings.ToLower(s))
	if !ok {
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

var (
	validPhone = wire.ValidPhone
	validCode  = wire.ValidCode
)
