package twofactor

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

// Provider sends one-time codes and checks them. MessageBird is the real
// implementation; Mock is an in-process one for tests and local development.
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
	ErrInvalidPhone     = errors.New("twofactor: invalid phone number")
	ErrNotFound         = errors.New("twofactor: unknown verification")
	ErrBadAPIKey        = errors.New("twofactor: provider rejected the API key")
	ErrNoBalance        = errors.New("twofactor: provider account has no balance")
	ErrUnavailable      = errors.New("twofactor: provider unavailable")
	ErrRateLimited      = errors.New("twofactor: rate limit reached")
	ErrStoreUnavailable = errors.New("twofactor: session or state store unavailable")
)

// Defaults shared by the providers and the flow.
const (
	DefaultCodeLength  = 6
	DefaultValidity    = 5 * time.Minute
	MaxValidity        = 10 * time.Minute
	DefaultMaxAttempts = 3
	minCodeLength      = 6
	maxCodeLength      = 10
)

// validCode reports whether code is exactly n ASCII digits.
func validCode(code string, n int) bool {
	if len(code) != n {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// validID reports whether id looks like a verification id: 1 to 128 ASCII
// letters, digits, "_" or "-". Anything else could change the meaning of a
// URL a provider builds from it.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

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

// Mock is a Provider that makes its own codes and behaves like MessageBird
// Verify: codes are digits from crypto/rand, they expire, a code works once,
// and after MaxAttempts wrong tries the verification is closed. It sends
// nothing: it hands every code to OnCode, which tests read and the example
// app prints.
//
// Set the fields before first use. The zero value is ready to use with the
// defaults. A Mock is safe for concurrent use.
type Mock struct {
	// Digits is the length of the codes, 6 to 10. Zero means 6.
	Digits int
	// Validity is how long a code works. Zero means 5 minutes.
	Validity time.Duration
	// MaxAttempts is how many wrong codes close a verification. Zero means 3.
	MaxAttempts int
	// OnCode, if set, receives every code sent. It is called synchronously
	// from Send, without the Mock's lock held.
	OnCode func(v Verification, code string)
	// Now returns the current time. Nil means time.Now. Tests use it to move
	// time without sleeping.
	Now func() time.Time
	// Fail, if set, is called at the start of every Send and Check; a
	// non-nil result is returned as is. Tests use it to simulate outages.
	Fail func(op string) error

	mu      sync.Mutex
	pending map[string]*mockEntry
	sends   int
	checks  int
}

type mockEntry struct {
	v        Verification
	code     string
	attempts int
	closed   bool // verified, or too many attempts
}

func (m *Mock) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// CodeLength returns the number of digits of the codes the Mock sends.
func (m *Mock) CodeLength() int {
	if m.Digits == 0 {
		return DefaultCodeLength
	}
	return m.Digits
}

func (m *Mock) validity() time.Duration {
	if m.Validity == 0 {
		return DefaultValidity
	}
	return m.Validity
}

func (m *Mock) maxAttempts() int {
	if m.MaxAttempts == 0 {
		return DefaultMaxAttempts
	}
	return m.MaxAttempts
}

// Send starts a verification and passes the code to OnCode.
func (m *Mock) Send(ctx context.Context, req Request) (Verification, error) {
	if err := ctx.Err(); err != nil {
		return Verification{}, errors.Join(ErrUnavailable, err)
	}
	if m.Fail != nil {
		if err := m.Fail("send"); err != nil {
			return Verification{}, err
		}
	}
	if n := m.CodeLength(); n < minCodeLength || n > maxCodeLength {
		return Verification{}, errors.New("twofactor: Mock.Digits must be 6 to 10")
	}
	if _, err := ParsePhone(req.Phone, ""); err != nil {
		return Verification{}, err
	}
	ch := req.Channel
	if ch == "" {
		ch = SMS
	}
	now := m.now()
	v := Verification{ID: randomID(), Phone: req.Phone, Channel: ch, ExpiresAt: now.Add(m.validity())}
	code := randomDigits(m.CodeLength())

	m.mu.Lock()
	if m.pending == nil {
		m.pending = make(map[string]*mockEntry)
	}
	for id, e := range m.pending { // keep memory bounded: forget what cannot be checked any more
		if now.After(e.v.ExpiresAt.Add(time.Minute)) {
			delete(m.pending, id)
		}
	}
	m.pending[v.ID] = &mockEntry{v: v, code: code}
	m.sends++
	m.mu.Unlock()

	if m.OnCode != nil {
		m.OnCode(v, code)
	}
	return v, nil
}

// Check checks code against verification id.
func (m *Mock) Check(ctx context.Context, id, code string) error {
	if err := ctx.Err(); err != nil {
		return errors.Join(ErrUnavailable, err)
	}
	if m.Fail != nil {
		if err := m.Fail("check"); err != nil {
			return err
		}
	}
	if !validID(id) {
		return ErrNotFound
	}
	if !validCode(code, m.CodeLength()) {
		return ErrMalformedCode
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checks++
	e, ok := m.pending[id]
	switch {
	case !ok:
		return ErrNotFound
	case e.closed:
		return ErrAlreadyUsed
	case m.now().After(e.v.ExpiresAt):
		return ErrExpired
	}
	if subtle.ConstantTimeCompare([]byte(code), []byte(e.code)) == 1 {
		e.closed = true
		return nil
	}
	e.attempts++
	if e.attempts >= m.maxAttempts() {
		e.closed = true
	}
	return ErrInvalidCode
}

// Sends returns how many codes the Mock has sent.
func (m *Mock) Sends() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sends
}

// Checks returns how many well-formed codes the Mock has been asked to check.
func (m *Mock) Checks() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.checks
}
