package twofactor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/go-twofactor/twofactor/internal/wire"
)

// Provider sends one-time codes and checks them. The sub-packages
// messagebird, bird and twilioverify are real implementations; Mock is an
// in-process one for tests and local development.
//
// Implementations must be safe for concurrent use and must honour the
// context's cancellation and deadline on every network call.
type Provider interface {
	// Send delivers a fresh one-time code to req.Phone (E.164, already
	// normalised by the caller) and returns the verification it started.
	Send(ctx context.Context, req Request) (Verification, error)
	// Check reports whether code is the code of verification id. It returns
	// nil only when the code is correct, unexpired and not used before;
	// otherwise an error that matches one of the package's sentinel errors
	// with errors.Is.
	Check(ctx context.Context, id, code string) error
}

// CodeLengther is implemented by providers that know the length of the codes
// they send. The flow uses it to validate input before any provider call and
// to tell the visitor how many digits to type.
type CodeLengther interface {
	CodeLength() int
}

// Channel is how a code reaches the phone.
type Channel string

const (
	// SMS sends the code as a text message. It is the default.
	SMS Channel = "sms"
	// Voice reads the code out in a phone call. Each provider maps it to
	// its own wire value (MessageBird "tts", Twilio "call").
	Voice Channel = "voice"
)

// Request is what Provider.Send needs to start a verification.
type Request struct {
	// Phone is the recipient in E.164 form, for example "+31612345678".
	Phone string
	// Channel is SMS when empty.
	Channel Channel
	// Language is an optional language for the voice message, such as
	// "en-gb" or "nl-nl"; providers fall back to their own default.
	Language string
	// Message is an optional text for the SMS, with CodePlaceholder where
	// the code goes. Providers that take the message text (MessageBird)
	// send it; providers that write their own text (Bird, Twilio) ignore it.
	Message string
	// Amount and Payee, when set, name the transaction the code confirms
	// (PSD2 dynamic linking), such as "EUR 500.00" and "NL91…4300".
	// Providers that bind a code to a transaction (Twilio) pass them on.
	Amount string
	Payee  string
	// Origin, when set, is the host of the site the code is for, such as
	// "bank.example". Providers that take the message text end it with the
	// origin-bound line "@bank.example #123456", so that Safari and Chrome
	// on Android offer the code on that site only.
	Origin string
}

// CodePlaceholder marks where the code goes in Request.Message.
const CodePlaceholder = "{code}"

// Verification is a started verification: a code is on its way to Phone.
type Verification struct {
	ID        string    // provider's id of the verification; never shown to visitors
	Phone     string    // recipient, E.164
	Channel   Channel   // how the code was sent
	ExpiresAt time.Time // when the code stops working
}

// Sentinel errors. Provider and flow errors wrap one of these, so callers can
// test them with errors.Is. Their text is safe to log but is meant for
// developers; the flow pages show their own friendly messages.
var (
	ErrInvalidCode      = errors.New("twofactor: wrong code")
	ErrMalformedCode    = errors.New("twofactor: code is not of the expected form")
	ErrExpired          = errors.New("twofactor: code has expired")
	ErrAlreadyUsed      = errors.New("twofactor: code already used or too many wrong attempts")
	ErrTooManyAttempts  = errors.New("twofactor: too many wrong attempts")
	ErrNotFound         = errors.New("twofactor: unknown verification")
	ErrStoreUnavailable = errors.New("twofactor: session or state store unavailable")
)

// The classes of a provider's failure. Every provider maps each answer of
// its vendor to one of them (a wrong or expired code aside, which are the
// answers above); the failover provider and the flow act on the class:
//
//	class               sentinel            failover          the flow answers
//	configuration       ErrConfiguration    next provider     503, try again later
//	refused number      ErrNumberRefused    stops             400, another number
//	rate limited        ErrRateLimited      stops             429 with Retry-After
//	no balance          ErrNoBalance        next provider     503, try again later
//	outage              ErrUnavailable      next provider     503, try again
//	unknown outcome     ErrUnknownOutcome   stops             wait for the code, or resend
//
// Only outages count towards a provider's circuit. ErrUnknownOutcome also
// matches ErrUnavailable, so code that knows only ErrUnavailable treats it
// as a failure; test ErrUnknownOutcome first where the difference matters.
var (
	// ErrConfiguration: the provider refused the set-up rather than the
	// request: a bad or revoked key, a wrong service, workspace or region,
	// a feature that is off (such as a channel), a PSD2 service used without
	// amount and payee. Retrying will not help; another provider may.
	ErrConfiguration = errors.New("twofactor: provider refused the configuration")
	// ErrBadAPIKey is the ErrConfiguration of a key the provider refused.
	ErrBadAPIKey error = &classError{"twofactor: provider rejected the API key", ErrConfiguration}
	// ErrNumberRefused: the provider will not send to this number.
	ErrNumberRefused = errors.New("twofactor: provider refused the number")
	// ErrInvalidPhone is the ErrNumberRefused of a number that is not a
	// valid phone number (or, in the flow, not one the app accepts).
	ErrInvalidPhone error = &classError{"twofactor: invalid phone number", ErrNumberRefused}
	// ErrDestinationRefused is the ErrNumberRefused of a valid number the
	// provider does not send to: a landline, a country the account may not
	// reach (geo permissions) or the vendor does not serve.
	ErrDestinationRefused error = &classError{"twofactor: provider does not send to this number (landline, country or blocked destination)", ErrNumberRefused}
	// ErrRateLimited: a limit of the provider (or of the flow) was reached.
	// Providers return a *RateLimitError, which matches it.
	ErrRateLimited = errors.New("twofactor: rate limit reached")
	// ErrNoBalance: the provider account has no credit left.
	ErrNoBalance = errors.New("twofactor: provider account has no balance")
	// ErrUnavailable: an outage: a 5xx, a refused connection, a timeout
	// before the request was sent. Nothing was sent.
	ErrUnavailable = errors.New("twofactor: provider unavailable")
	// ErrUnknownOutcome: the request may have been accepted, and a code may
	// be on its way: the answer missed its deadline after the request was
	// written, or it was a 2xx that could not be used. Asking another
	// provider could send a second code. It also matches ErrUnavailable.
	ErrUnknownOutcome error = &classError{"twofactor: provider's answer was lost; the code may have been sent", ErrUnavailable}
)

// classError is a sentinel error that belongs to a class: errors.Is
// matches both it and the class.
type classError struct {
	msg   string
	class error
}

func (e *classError) Error() string { return e.msg }
func (e *classError) Unwrap() error { return e.class }

// RateLimitError is the error of a provider that reached one of its
// vendor's limits. It matches ErrRateLimited with errors.Is; the flow
// answers 429 with a Retry-After header of RetryAfter (rounded up to
// seconds) when it is not zero.
type RateLimitError struct {
	// RetryAfter is how long the vendor asks to wait: its Retry-After
	// header, or the documented length of the limit; zero if unknown. It
	// is at most 24 hours.
	RetryAfter time.Duration
	// Vendor names the vendor, such as "Bird"; may be empty.
	Vendor string
	// Code is the vendor's error code, such as "E01003" or "60203"; may be
	// empty.
	Code string
}

// Error names the limit, the vendor's code and the wait, never the
// vendor's message.
func (e *RateLimitError) Error() string {
	s := ErrRateLimited.Error()
	var parts []string
	if e.Vendor != "" {
		parts = append(parts, e.Vendor)
	}
	if e.Code != "" {
		parts = append(parts, e.Code)
	}
	if e.RetryAfter > 0 {
		parts = append(parts, "retry after "+e.RetryAfter.String())
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// Is reports whether target is ErrRateLimited.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// ActionCarrier is an optional interface of a Provider: CarriesAction
// reports whether its codes' messages name the action a confirmation is
// for, by Request.Message (the provider writes the app's text, as
// MessageBird does) or by Request.Amount and Payee (a PSD2 service, as
// Twilio Verify's). A provider that does not implement it is taken not to.
// The failover provider sends confirmations only to providers that carry
// the action.
type ActionCarrier interface {
	CarriesAction() bool
}

// Defaults shared by the providers and the flow.
const (
	defaultCodeLength  = wire.DefaultCodeLength
	defaultValidity    = wire.DefaultValidity
	maxValidity        = wire.MaxValidity
	defaultMaxAttempts = wire.DefaultMaxAttempts
	minCodeLength      = wire.MinCodeLength
	maxCodeLength      = wire.MaxCodeLength
)

// validCode reports whether code is exactly n ASCII digits.
func validCode(code string, n int) bool { return wire.ValidCode(code, n) }

// validID reports whether id looks like a verification id (wire.ValidID).
func validID(id string) bool { return wire.ValidID(id) }

// randomDigits returns n digits from crypto/rand, uniformly distributed.
func randomDigits(n int) string {
	b := make([]byte, n)
	var buf [1]byte
	for i := 0; i < n; {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails (Go 1.24+)
		if buf[0] >= 250 {       // reject to avoid modulo bias
			continue
		}
		b[i] = '0' + buf[0]%10
		i++
	}
	return string(b)
}

// randomID returns 32 hex characters from crypto/rand.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
