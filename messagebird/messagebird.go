// Package messagebird is a twofactor.Provider on MessageBird's classic
// Verify API (https://rest.messagebird.com/verify), through the official
// SDK github.com/messagebird/go-rest-api/v9.
//
// MessageBird sends the app's own text (Config.Template, or a
// Request.Message), so its SMS can name a confirmation's action and end
// with the origin-bound autofill line. Bird's current platform, with keys
// of the form bk_…, is the bird package.
package messagebird

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	sdk "github.com/messagebird/go-rest-api/v9"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/wire"
)

// Config configures a MessageBird provider. The zero value uses
// the defaults listed with each field.
type Config struct {
	// Originator is the sender shown on the phone: up to 11 ASCII letters,
	// digits and inner spaces, or a phone number of up to 17 digits with an
	// optional leading "+". Empty means "Code".
	Originator string
	// Template is the message text; it must contain "%token", where
	// MessageBird puts the code. Empty means "Your verification code is %token.".
	Template string
	// CodeLength is the number of digits of a code, 6 to 10. Zero means 6.
	CodeLength int
	// Validity is how long a code works, 30 seconds to 10 minutes, sent to
	// MessageBird in whole seconds. Zero means 5 minutes.
	Validity time.Duration
	// MaxAttempts is how many checks MessageBird allows per code, 1 to 10.
	// Zero means 3; MessageBird's own default is 1.
	MaxAttempts int
	// Type is the default channel, twofactor.SMS or twofactor.Voice; a
	// Request.Channel overrides it. Empty means SMS.
	Type twofactor.Channel
	// Language is the language of voice messages, such as "en-gb" or
	// "nl-nl"; a well-formed Request.Language overrides it. Empty leaves
	// the choice to MessageBird.
	Language string
	// Voice is "male" or "female" for voice messages. Empty leaves the choice
	// to MessageBird.
	Voice string
}

// Provider is a twofactor.Provider on the MessageBird Verify API. It is
// safe for concurrent use. Create it with New or NewWithClient.
type Provider struct {
	client sdk.Client
	cfg    Config
}

var (
	_ twofactor.Provider      = (*Provider)(nil)
	_ twofactor.CodeLengther  = (*Provider)(nil)
	_ twofactor.ActionCarrier = (*Provider)(nil)
)

// New returns a MessageBird provider that uses accessKey. Its HTTP
// client uses a clone of http.DefaultTransport, so HTTPS_PROXY, NO_PROXY and
// the system trust store (including SSL_CERT_FILE) are honoured, and has a
// 15-second timeout as a backstop to the context passed to each call. It never
// sets the SDK's DebugLog. The provider is safe for concurrent use.
func New(accessKey string, cfg Config) (*Provider, error) {
	if err := checkKey(accessKey); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	c := &sdk.DefaultClient{
		AccessKey:  accessKey,
		HTTPClient: &http.Client{Transport: tr, Timeout: 15 * time.Second},
	}
	return NewWithClient(c, cfg)
}

// checkKey says what is wrong with a MessageBird access key, if
// anything, without repeating it.
func checkKey(key string) error {
	const want = "want the live access key of MessageBird's dashboard (Developers → API access), such as live_…"
	bad := func(why string) error {
		return fmt.Errorf("messagebird: New: access key %s; %s", why, want)
	}
	if why := wire.KeyProblem(key); why != "" {
		return bad(why)
	}
	switch {
	case strings.HasPrefix(key, "bk_"):
		return bad("is a key of Bird's platform (bk_…), which MessageBird's classic API refuses: use the bird package")
	case strings.HasPrefix(strings.ToLower(key), "test_"):
		return bad("is a test key (test_…): test keys cannot send codes")
	case !wire.Only(key, wire.Alnum+"_", 16, 64):
		return bad("is too short or has characters other than letters, digits and _")
	}
	return nil
}

// NewWithClient returns a MessageBird provider that sends its calls
// through c, a client of the SDK, which it never modifies. When c is a
// *DefaultClient of the SDK,
// each call runs on a copy whose transport carries the call's context and
// whose DebugLog is nil (it would log codes and phone numbers); for any other
// Client, a call returns when its context is done, while the call itself may
// go on in the background. The provider is safe for concurrent use if c is.
func NewWithClient(c sdk.Client, cfg Config) (*Provider, error) {
	if dc, ok := c.(*sdk.DefaultClient); c == nil || ok && dc == nil {
		return nil, errors.New("messagebird: client is nil")
	}
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	return &Provider{client: c, cfg: cfg}, nil
}

func (cfg Config) normalize() (Config, error) {
	cfg.Originator = cmp.Or(cfg.Originator, "Code")
	cfg.Template = cmp.Or(cfg.Template, "Your verification code is %token.")
	cfg.CodeLength = cmp.Or(cfg.CodeLength, wire.DefaultCodeLength)
	cfg.Validity = cmp.Or(cfg.Validity, wire.DefaultValidity)
	cfg.MaxAttempts = cmp.Or(cfg.MaxAttempts, wire.DefaultMaxAttempts)
	cfg.Type = cmp.Or(cfg.Type, twofactor.SMS)
	cfg.Language = strings.ToLower(cfg.Language)
	bad := func(what string) (Config, error) {
		return Config{}, fmt.Errorf("messagebird: invalid Config.%s", what)
	}
	switch {
	case !mbValidOriginator(cfg.Originator):
		return bad("Originator: want up to 11 letters, digits and spaces, or a number of up to 17 digits")
	case !strings.Contains(cfg.Template, "%token"):
		return bad("Template: must contain %token")
	case cfg.CodeLength < wire.MinCodeLength || cfg.CodeLength > wire.MaxCodeLength:
		return bad("CodeLength: want 6 to 10")
	case cfg.Validity < 30*time.Second || cfg.Validity > wire.MaxValidity:
		return bad("Validity: want 30s to 10m")
	case cfg.MaxAttempts < 1 || cfg.MaxAttempts > 10:
		return bad("MaxAttempts: want 1 to 10")
	case cfg.Type != twofactor.SMS && cfg.Type != twofactor.Voice:
		return bad("Type: want twofactor.SMS or twofactor.Voice")
	case cfg.Language != "" && !mbValidLanguage(cfg.Language):
		return bad("Language: want a tag such as en-gb")
	case cfg.Voice != "" && cfg.Voice != "male" && cfg.Voice != "female":
		return bad(`Voice: want "male" or "female"`)
	}
	return cfg, nil
}

// CarriesAction reports true: MessageBird sends the app's own text, so a
// confirmation's SMS names its action.
func (m *Provider) CarriesAction() bool { return true }

// CodeLength returns the number of digits of the codes MessageBird sends.
func (m *Provider) CodeLength() int { return m.cfg.CodeLength }

// mbVerify is the part of MessageBird's verify object that is used. The SDK's
// verify.Verify is not: its decoder fails when "recipient" is missing or null.
type mbVerify struct {
	ID                 string     `json:"id"`
	Status             string     `json:"status"`
	ValidUntilDatetime *time.Time `json:"validUntilDatetime"`
}

// mbCreate is the body of POST /verify; the SDK's verify.Params cannot
// carry maxAttempts.
type mbCreate struct {
	Recipient   string `json:"recipient"`
	Originator  string `json:"originator"`
	Type        string `json:"type"`
	Template    string `json:"template"`
	Timeout     int    `json:"timeout"`
	TokenLength int    `json:"tokenLength"`
	MaxAttempts int    `json:"maxAttempts"`
	Language    string `json:"language,omitempty"`
	Voice       string `json:"voice,omitempty"`
}

// Send starts a verification at MessageBird. req.Phone must be E.164 ("+"
// and 8 to 15 digits); otherwise Send returns twofactor.ErrInvalidPhone
// without a call.
func (m *Provider) Send(ctx context.Context, req twofactor.Request) (twofactor.Verification, error) {
	if !wire.ValidPhone(req.Phone) {
		return twofactor.Verification{}, fmt.Errorf("%w: not in E.164 form", twofactor.ErrInvalidPhone)
	}
	ch := cmp.Or(req.Channel, m.cfg.Type)
	if ch != twofactor.SMS && ch != twofactor.Voice {
		return twofactor.Verification{}, fmt.Errorf("messagebird: unsupported channel %q", ch)
	}
	tmpl := m.cfg.Template
	if req.Message != "" {
		if !strings.Contains(req.Message, twofactor.CodePlaceholder) || strings.Contains(req.Message, "%token") {
			return twofactor.Verification{}, fmt.Errorf("messagebird: Request.Message must contain %s and no %%token", twofactor.CodePlaceholder)
		}
		tmpl = strings.ReplaceAll(req.Message, twofactor.CodePlaceholder, "%token")
	}
	if req.Origin != "" && ch == twofactor.SMS {
		// The origin-bound line must be the message's last line.
		tmpl += "\n\n@" + req.Origin + " #%token"
	}
	wireType := "sms"
	if ch == twofactor.Voice {
		wireType = "tts" // MessageBird's name for a voice call
	}
	body := mbCreate{
		Recipient:   req.Phone[1:], // MessageBird takes the number's digits
		Originator:  m.cfg.Originator,
		Type:        wireType,
		Template:    tmpl,
		Timeout:     int(m.cfg.Validity / time.Second),
		TokenLength: m.cfg.CodeLength,
		MaxAttempts: m.cfg.MaxAttempts,
		Language:    m.cfg.Language,
		Voice:       m.cfg.Voice,
	}
	if l := strings.ToLower(req.Language); mbValidLanguage(l) {
		body.Language = l
	}
	start := time.Now()
	var v mbVerify
	if err := m.do(ctx, &v, http.MethodPost, "verify", body, false); err != nil {
		return twofactor.Verification{}, err
	}
	if !wire.ValidID(v.ID) {
		// MessageBird took the request: the code may be on its way.
		return twofactor.Verification{}, fmt.Errorf("%w: MessageBird returned no usable verification id", twofactor.ErrUnknownOutcome)
	}
	exp := start.Add(m.cfg.Validity)
	if v.ValidUntilDatetime != nil && !v.ValidUntilDatetime.IsZero() {
		exp = *v.ValidUntilDatetime
	}
	return twofactor.Verification{ID: v.ID, Phone: req.Phone, Channel: ch, ExpiresAt: exp}, nil
}

// Check asks MessageBird whether code is the code of verification id. A
// malformed id gives twofactor.ErrNotFound and a malformed code
// ErrMalformedCode, both without a call. Only MessageBird's status
// "verified" for the id asked counts as success; a "verified" answer that
// names another (or no) id gives ErrNotFound.
func (m *Provider) Check(ctx context.Context, id, code string) error {
	if !wire.ValidID(id) {
		return twofactor.ErrNotFound
	}
	if !wire.ValidCode(code, m.cfg.CodeLength) {
		return twofactor.ErrMalformedCode
	}
	var v mbVerify
	if err := m.do(ctx, &v, http.MethodGet, "verify/"+id+"?token="+code, nil, true); err != nil {
		return err
	}
	switch v.Status {
	case "verified":
		if v.ID != id {
			return fmt.Errorf("%w: MessageBird's answer was not for the verification asked", twofactor.ErrNotFound)
		}
		return nil
	case "expired":
		return twofactor.ErrExpired
	case "failed":
		return twofactor.ErrAlreadyUsed
	case "deleted":
		return twofactor.ErrNotFound
	}
	return twofactor.ErrInvalidCode
}

// do runs one API call with ctx and maps its error to the sentinel errors.
func (m *Provider) do(ctx context.Context, v any, method, path string, data any, check bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", twofactor.ErrUnavailable, err)
	}
	var err error
	var call *wire.Call
	if dc, ok := m.client.(*sdk.DefaultClient); ok {
		c := *dc
		c.DebugLog = nil
		hc := http.Client{}
		if dc.HTTPClient != nil {
			hc = *dc.HTTPClient
		}
		call = &wire.Call{Ctx: ctx, Base: hc.Transport}
		hc.Transport = call
		c.HTTPClient = &hc
		err = c.Request(v, method, path, data)
		call.Close()
	} else {
		done := make(chan error, 1)
		go func() { done <- m.client.Request(v, method, path, data) }()
		select {
		case err = <-done:
		case <-ctx.Done():
			// The call goes on in the background: it may still be sent.
			if check {
				return fmt.Errorf("%w: %w", twofactor.ErrUnavailable, ctx.Err())
			}
			return fmt.Errorf("%w: %w", twofactor.ErrUnknownOutcome, ctx.Err())
		}
	}
	return mapError(ctx, err, check, call)
}

// mbCodeErrors maps MessageBird's error codes to sentinel errors: 2
// request not allowed (a wrong, revoked or test key), 20 not found, 21 bad
// request, 25 not enough balance, 98 API not found, 99 internal error.
// Codes 9 (missing parameter) and 10 (invalid parameter) depend on the
// parameter: see mapError.
var mbCodeErrors = map[int]error{2: twofactor.ErrBadAPIKey, 20: twofactor.ErrNotFound, 21: twofactor.ErrConfiguration, 25: twofactor.ErrNoBalance, 98: twofactor.ErrConfiguration, 99: twofactor.ErrUnavailable}

// mapError turns an SDK error into one wrapping a sentinel error.
// call, when not nil, is what the transport saw of the exchange. It never
// includes MessageBird's description text, the URL (it holds the code) or
// the response body (it may hold the phone number).
func mapError(ctx context.Context, err error, check bool, call *wire.Call) error {
	if err == nil {
		return nil
	}
	status := 0
	var header http.Header
	wrote := call == nil // another Client: assume the worst
	if call != nil {
		status, header, wrote = call.Status(), call.Header(), call.Wrote()
	}
	lost := func(cause error) error {
		if wrote && !check {
			return fmt.Errorf("%w: %w", twofactor.ErrUnknownOutcome, cause)
		}
		return fmt.Errorf("%w: %w", twofactor.ErrUnavailable, cause)
	}
	if status == http.StatusTooManyRequests {
		// MessageBird's 429 may come without a JSON body: it is a limit
		// whatever the body says.
		rl := &twofactor.RateLimitError{Vendor: "MessageBird", RetryAfter: wire.RetryAfter(header.Get("Retry-After"), time.Now())}
		var er sdk.ErrorResponse
		if errors.As(err, &er) && len(er.Errors) > 0 {
			rl.Code = strconv.Itoa(er.Errors[0].Code)
		}
		return rl
	}
	var er sdk.ErrorResponse
	switch {
	case errors.As(err, &er) && len(er.Errors) > 0:
		return mbAPIError(er.Errors[0], status, check)
	case errors.Is(err, sdk.ErrUnexpectedResponse):
		return fmt.Errorf("%w: MessageBird returned HTTP 500", twofactor.ErrUnavailable)
	case ctx.Err() != nil && status >= 200 && status < 300:
		// Our deadline or cancel cut the answer short: say so, with the
		// outcome unknown.
		return lost(ctx.Err())
	case status >= 200 && status < 300:
		// An answer that says it succeeded but cannot be read: the code
		// may be on its way.
		return lost(fmt.Errorf("MessageBird's answer (HTTP %d) is not the expected JSON", status))
	case status != 0:
		return fmt.Errorf("%w: MessageBird answered HTTP %d without a usable error", mbStatusClass(status, check), status)
	case ctx.Err() != nil:
		return lost(ctx.Err())
	}
	return lost(wire.NetErr(err))
}

// mbAPIError maps MessageBird's error e, which came with HTTP status, to
// a sentinel error: by its code and, for codes 9 and 10, the parameter and
// description (see mbCodeErrors).
func mbAPIError(e sdk.Error, status int, check bool) error {
	d, s := strings.ToLower(e.Description), mbCodeErrors[e.Code]
	param := strings.ToLower(e.Parameter)
	switch {
	case e.Code == 10 && check:
		switch {
		case strings.Contains(d, "expired"):
			s = twofactor.ErrExpired
		case strings.Contains(d, "already been processed"):
			s = twofactor.ErrAlreadyUsed
		case strings.Contains(d, "token") || param == "token":
			s = twofactor.ErrInvalidCode
		}
	case (e.Code == 9 || e.Code == 10) && param == "recipient":
		s = twofactor.ErrInvalidPhone
	case e.Code == 9 || e.Code == 10:
		s = twofactor.ErrConfiguration // a parameter of ours: the set-up is wrong
	case e.Code == 20 && !check:
		s = twofactor.ErrConfiguration // POST /verify not found: a wrong endpoint
	}
	if s == nil {
		s = mbStatusClass(status, check)
	}
	where := ""
	if mbSafeParam(e.Parameter) {
		where = ", parameter " + e.Parameter
	}
	return fmt.Errorf("%w (MessageBird error %d%s)", s, e.Code, where)
}

// mbStatusClass classifies an HTTP status that came without a known
// MessageBird error code.
func mbStatusClass(status int, check bool) error {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return twofactor.ErrBadAPIKey
	case status == http.StatusPaymentRequired:
		return twofactor.ErrNoBalance
	case status == http.StatusNotFound && check:
		return twofactor.ErrNotFound
	case status >= 500 || status == 0:
		return twofactor.ErrUnavailable
	}
	return twofactor.ErrConfiguration
}

// mbValidOriginator reports whether s is an alphanumeric sender of up to 11
// characters (inner spaces allowed) or a number of up to 17 digits.
func mbValidOriginator(s string) bool {
	if n := strings.TrimPrefix(s, "+"); wire.Only(n, wire.Digits, 1, 17) {
		return true
	}
	return wire.Only(s, wire.Alnum+" ", 1, 11) && strings.TrimSpace(s) == s
}

// mbValidLanguage reports whether s looks like "en" or "en-gb".
func mbValidLanguage(s string) bool {
	_, _, ok := wire.LanguageTag(s)
	return ok
}

// mbSafeParam reports whether s is safe to put in an error message.
func mbSafeParam(s string) bool { return wire.Only(s, wire.Alnum+"_.", 1, 40) }
