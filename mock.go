package twofactor

import (
	"context"
	"crypto/subtle"
	"errors"
	"sync"
	"time"
)

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
	// OnSend, if set, receives every code sent with the Request it answers,
	// after OnCode: what the code is for shows in it (a transfer's Amount
	// and Payee are set; a sign-in's are empty). It is called like OnCode.
	OnSend func(req Request, v Verification, code string)
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
	if m.OnSend != nil {
		m.OnSend(req, v, code)
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
