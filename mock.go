package twofactor

import (
	"context"
	"crypto/subtle"
	"errors"
	"strconv"
	"strings"
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
	// State, if set, keeps the pending codes (and their tries and one use)
	// there instead of in this process, so that several app servers
	// sharing a State, each with a Mock of its own, check each other's
	// codes as one real provider would. Nil keeps them in the Mock.
	State State

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
		return defaultCodeLength
	}
	return m.Digits
}

func (m *Mock) validity() time.Duration {
	if m.Validity == 0 {
		return defaultValidity
	}
	return m.Validity
}

func (m *Mock) maxAttempts() int {
	if m.MaxAttempts == 0 {
		return defaultMaxAttempts
	}
	return m.MaxAttempts
}

// CarriesAction reports true: a Mock stands in for a provider whose
// messages name a confirmation's action.
func (m *Mock) CarriesAction() bool { return true }

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

	if m.State != nil {
		val := code + " " + string(ch) + " " + strconv.FormatInt(v.ExpiresAt.UnixMilli(), 10)
		if err := m.State.SetField(ctx, mockKey(v.ID), "v", val, m.validity()+time.Minute); err != nil {
			return Verification{}, err
		}
		m.mu.Lock()
		m.sends++
		m.mu.Unlock()
		if m.OnCode != nil {
			m.OnCode(v, code)
		}
		return v, nil
	}
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
	if m.State != nil {
		m.mu.Lock()
		m.checks++
		m.mu.Unlock()
		return m.checkShared(ctx, id, code)
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

// State keys of a Mock with a State: the pending code, its wrong tries,
// and its one-use mark.
func mockKey(id string) string      { return "mock:" + id }
func mockTriesKey(id string) string { return "mocktries:" + id }
func mockDoneKey(id string) string  { return "mockdone:" + id }

// checkShared is Check for a Mock that keeps its codes in its State.
func (m *Mock) checkShared(ctx context.Context, id, code string) error {
	fields, err := m.State.Fields(ctx, mockKey(id))
	if err != nil {
		return errors.Join(ErrUnavailable, err)
	}
	want, rest, _ := strings.Cut(fields["v"], " ")
	_, exp, _ := strings.Cut(rest, " ")
	expires, perr := strconv.ParseInt(exp, 10, 64)
	if want == "" || perr != nil {
		return ErrNotFound
	}
	ttl := time.UnixMilli(expires).Sub(m.now()) + time.Minute
	if ttl <= 0 {
		ttl = time.Minute
	}
	done, err := m.State.Exists(ctx, mockDoneKey(id))
	switch {
	case err != nil:
		return errors.Join(ErrUnavailable, err)
	case done:
		return ErrAlreadyUsed
	case m.now().After(time.UnixMilli(expires)):
		return ErrExpired
	}
	if subtle.ConstantTimeCompare([]byte(code), []byte(want)) == 1 {
		first, err := m.State.SetNX(ctx, mockDoneKey(id), ttl)
		if err != nil {
			return errors.Join(ErrUnavailable, err)
		}
		if !first {
			return ErrAlreadyUsed
		}
		return nil
	}
	n, _, err := m.State.Incr(ctx, mockTriesKey(id), 1, ttl)
	if err != nil {
		return errors.Join(ErrUnavailable, err)
	}
	if n >= int64(m.maxAttempts()) {
		if _, err := m.State.SetNX(ctx, mockDoneKey(id), ttl); err != nil {
			return errors.Join(ErrUnavailable, err)
		}
	}
	return ErrInvalidCode
}
