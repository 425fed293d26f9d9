// Package providertest is a conformance suite for implementations of
// twofactor.Provider. Every provider the library ships runs it against a
// fake of its provider's API; a provider written for an app can run it too.
//
// The suite needs a fake that behaves like the real service (codes that
// expire and work once, outages on demand) and a few hooks into it, the
// Fake interface. A test builds a Harness and calls Run:
//
//	func TestConformance(t *testing.T) {
//		providertest.Run(t, providertest.Harness{
//			New: func(t *testing.T) (twofactor.Provider, providertest.Fake) {
//				fake := newFakeAPI(t) // an httptest server speaking the API
//				return newProvider(fake.URL), fake
//			},
//		})
//	}
package providertest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/wire"
)

// Fake is what the suite needs to know about, and do to, the fake service
// behind a provider. Its methods must be safe for concurrent use.
type Fake interface {
	// LastCode returns the code of the latest verification the fake
	// started, as the phone would receive it; "" if none.
	LastCode() string
	// Expire makes every code the fake has sent so far expire, for
	// example by moving the fake's clock past their validity. It must not
	// sleep.
	Expire()
	// SetDown starts (true) or ends (false) an outage: while down, every
	// request fails the way the real service fails when it is down (an
	// HTTP 5xx, a refused connection).
	SetDown(down bool)
	// Calls returns how many requests reached the fake so far.
	Calls() int
}

// Hanger is an optional capability of a Fake. While hanging, the fake holds
// every request until the request's context is done (or the test ends), so
// the suite can check that a deadline reaches a call in flight. Fakes of
// in-process providers, which make no calls, need not implement it.
type Hanger interface {
	SetHang(hang bool)
}

// Harness tells Run how to get a provider and its fake.
type Harness struct {
	// New returns a provider and its fake, both fresh for one subtest. It
	// is called once per subtest; cleanup goes through t.Cleanup.
	New func(t *testing.T) (twofactor.Provider, Fake)
	// Phone is the recipient the suite sends to, in E.164 form. Empty
	// means "+31612345678".
	Phone string
}

// Timeout bounds how long the suite waits for any one call before it fails
// the test; a call whose context has a shorter deadline must return well
// before it.
const Timeout = 10 * time.Second

// Run runs the conformance suite as parallel subtests of t. It checks that
// the provider:
//
//   - sends: returns a Verification with a well-formed id (1 to 128 of
//     A-Z a-z 0-9 _ -), the phone number asked, the channel (SMS when the
//     request names none) and an expiry;
//   - answers a wrong code with ErrInvalidCode, and still takes the right
//     code afterwards;
//   - accepts the right code once, and fails a second use with
//     ErrAlreadyUsed or ErrNotFound;
//   - fails a code after it expired with ErrExpired or ErrNotFound;
//   - fails an id it did not issue (the issued one with its last character
//     changed) with ErrNotFound, even with the right code;
//   - refuses a malformed phone number (ErrInvalidPhone), code
//     (ErrMalformedCode) or id (ErrNotFound) without a call;
//   - reports an outage of the service as ErrUnavailable and recovers
//     when it ends;
//   - returns ErrUnavailable, wrapping the context's error, without a call
//     when the context is canceled or past its deadline, and promptly when
//     the deadline passes during a call (for a Fake that is a Hanger);
//   - classifies every failure of the fault matrix (for a Fake that is a
//     FaultFake): a refused key, a wrong service or a refused parameter as
//     ErrConfiguration; no credit as ErrNoBalance; a limit as
//     ErrRateLimited (a *twofactor.RateLimitError carrying Retry-After); a
//     5xx or a hang before the request is sent as ErrUnavailable but not
//     ErrUnknownOutcome; a hang after the request is sent, or an unusable
//     2xx, as ErrUnknownOutcome on a send; and checks likewise.
//
// The length of a well-formed code is the provider's CodeLength when it
// implements twofactor.CodeLengther, else 6.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("providertest: Harness.New is nil")
	}
	if h.Phone == "" {
		h.Phone = "+31612345678"
	}
	tests := []struct {
		name string
		fn   func(*suite)
	}{
		{"Send", testSend},
		{"WrongCode", testWrongCode},
		{"RightCode", testRightCode},
		{"SecondUseFails", testSecondUse},
		{"Expiry", testExpiry},
		{"UnknownID", testUnknownID},
		{"MalformedPhone", testMalformedPhone},
		{"MalformedCode", testMalformedCode},
		{"MalformedID", testMalformedID},
		{"Outage", testOutage},
		{"ContextDone", testContextDone},
		{"DeadlineDuringCall", testDeadlineDuringCall},
		{"Faults", testFaults},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, f := h.New(t)
			if p == nil || f == nil {
				t.Fatal("providertest: Harness.New returned nil")
			}
			n := wire.DefaultCodeLength
			if cl, ok := p.(twofactor.CodeLengther); ok {
				n = cl.CodeLength()
			}
			tt.fn(&suite{t: t, p: p, f: f, phone: h.Phone, codeLen: n})
		})
	}
}

// suite is one subtest's provider, fake and helpers.
type suite struct {
	t       *testing.T
	p       twofactor.Provider
	f       Fake
	phone   string
	codeLen int
}

func (s *suite) ctx() context.Context {
	ctx, cancel := context.WithTimeout(s.t.Context(), Timeout)
	s.t.Cleanup(cancel)
	return ctx
}

// send starts a verification and returns it with its code.
func (s *suite) send() (twofactor.Verification, string) {
	s.t.Helper()
	v, err := s.p.Send(s.ctx(), twofactor.Request{Phone: s.phone})
	if err != nil {
		s.t.Fatalf("Send(%s) = %v", s.phone, err)
	}
	code := s.f.LastCode()
	if len(code) != s.codeLen {
		s.t.Fatalf("the fake's LastCode() = %q, want %d digits", code, s.codeLen)
	}
	return v, code
}

// check calls Check and fails the test unless the result matches one of want
// (nil: success).
func (s *suite) check(what, id, code string, want ...error) {
	s.t.Helper()
	err := s.p.Check(s.ctx(), id, code)
	if len(want) == 1 && want[0] == nil {
		if err != nil {
			s.t.Fatalf("%s: Check = %v, want nil", what, err)
		}
		return
	}
	for _, w := range want {
		if errors.Is(err, w) {
			if errors.Is(err, twofactor.ErrUnavailable) && w != twofactor.ErrUnavailable {
				s.t.Errorf("%s: Check = %v: an answer must not also match ErrUnavailable", what, err)
			}
			return
		}
	}
	s.t.Fatalf("%s: Check = %v, want one of %v", what, err, want)
}

// otherCode returns a well-formed code that differs from code.
func otherCode(code string) string {
	last := code[len(code)-1]
	return code[:len(code)-1] + string('0'+(last-'0'+1)%10)
}

func testSend(s *suite) {
	before := s.f.Calls()
	v, _ := s.send()
	if !validID(v.ID) {
		s.t.Errorf("Verification.ID = %q: want 1 to 128 of A-Z a-z 0-9 _ -", v.ID)
	}
	if v.Phone != s.phone {
		s.t.Errorf("Verification.Phone = %q, want %q", v.Phone, s.phone)
	}
	if v.Channel != twofactor.SMS {
		s.t.Errorf("Verification.Channel = %q, want %q", v.Channel, twofactor.SMS)
	}
	if v.ExpiresAt.IsZero() {
		s.t.Error("Verification.ExpiresAt is zero")
	}
	if n := s.f.Calls() - before; n < 1 {
		s.t.Errorf("Send made %d calls to the fake, want at least 1", n)
	}
	if v2, _ := s.send(); !validID(v2.ID) || v2.Phone != s.phone {
		s.t.Errorf("second Send = %+v", v2)
	}
}

func testWrongCode(s *suite) {
	v, code := s.send()
	s.check("wrong code", v.ID, otherCode(code), twofactor.ErrInvalidCode)
	s.check("right code after a wrong one", v.ID, code, nil)
}

func testRightCode(s *suite) {
	v, code := s.send()
	s.check("right code", v.ID, code, nil)
}

func testSecondUse(s *suite) {
	v, code := s.send()
	s.check("first use", v.ID, code, nil)
	s.check("second use", v.ID, code, twofactor.ErrAlreadyUsed, twofactor.ErrNotFound)
}

func testExpiry(s *suite) {
	v, code := s.send()
	s.f.Expire()
	s.check("right code after expiry", v.ID, code, twofactor.ErrExpired, twofactor.ErrNotFound)
}

func testUnknownID(s *suite) {
	v, code := s.send()
	id := v.ID
	c := byte('0')
	if id[len(id)-1] == '0' {
		c = '1'
	}
	other := id[:len(id)-1] + string(c)
	s.check("right code, id not issued", other, code, twofactor.ErrNotFound)
}

func testMalformedPhone(s *suite) {
	before := s.f.Calls()
	for _, phone := range []string{"", "not a number", "+12", "+1234567890123456789", "+31612345678\n+1"} {
		_, err := s.p.Send(s.ctx(), twofactor.Request{Phone: phone})
		if !errors.Is(err, twofactor.ErrInvalidPhone) {
			s.t.Errorf("Send(Phone %q) = %v, want ErrInvalidPhone", phone, err)
		}
	}
	if n := s.f.Calls() - before; n != 0 {
		s.t.Errorf("malformed phone numbers made %d calls, want 0", n)
	}
}

func testMalformedCode(s *suite) {
	v, code := s.send()
	before := s.f.Calls()
	bad := []string{
		"", code[1:], code + "0", code[:len(code)-1] + "a", " " + code[1:], code[1:] + "\n",
		strings.Repeat("１", s.codeLen), code[:len(code)-2] + "%3",
	}
	for _, c := range bad {
		if err := s.p.Check(s.ctx(), v.ID, c); !errors.Is(err, twofactor.ErrMalformedCode) {
			s.t.Errorf("Check(code %q) = %v, want ErrMalformedCode", c, err)
		}
	}
	if n := s.f.Calls() - before; n != 0 {
		s.t.Errorf("malformed codes made %d calls, want 0", n)
	}
	s.check("right code after malformed ones", v.ID, code, nil)
}

func testMalformedID(s *suite) {
	_, code := s.send()
	before := s.f.Calls()
	for _, id := range []string{"", "../x", "a b", "abc?token=1", "abc&x=1", "abc/def", "%2F", "é", strings.Repeat("a", 129)} {
		if err := s.p.Check(s.ctx(), id, code); !errors.Is(err, twofactor.ErrNotFound) {
			s.t.Errorf("Check(id %q) = %v, want ErrNotFound", id, err)
		}
	}
	if n := s.f.Calls() - before; n != 0 {
		s.t.Errorf("malformed ids made %d calls, want 0", n)
	}
}

func testOutage(s *suite) {
	v, code := s.send()
	s.f.SetDown(true)
	if _, err := s.p.Send(s.ctx(), twofactor.Request{Phone: s.phone}); !errors.Is(err, twofactor.ErrUnavailable) {
		s.t.Errorf("Send during an outage = %v, want ErrUnavailable", err)
	}
	if err := s.p.Check(s.ctx(), v.ID, code); !errors.Is(err, twofactor.ErrUnavailable) {
		s.t.Errorf("Check during an outage = %v, want ErrUnavailable", err)
	}
	s.f.SetDown(false)
	s.check("right code after the outage", v.ID, code, nil)
}

func testContextDone(s *suite) {
	v, code := s.send()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	past, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	before := s.f.Calls()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{{"canceled", canceled, context.Canceled}, {"past deadline", past, context.DeadlineExceeded}} {
		if _, err := s.p.Send(c.ctx, twofactor.Request{Phone: s.phone}); !errors.Is(err, twofactor.ErrUnavailable) || !errors.Is(err, c.want) {
			s.t.Errorf("Send with a %s context = %v, want ErrUnavailable and %v", c.name, err, c.want)
		}
		if err := s.p.Check(c.ctx, v.ID, code); !errors.Is(err, twofactor.ErrUnavailable) || !errors.Is(err, c.want) {
			s.t.Errorf("Check with a %s context = %v, want ErrUnavailable and %v", c.name, err, c.want)
		}
	}
	if n := s.f.Calls() - before; n != 0 {
		s.t.Errorf("calls with a done context reached the fake %d times, want 0", n)
	}
	s.check("right code after", v.ID, code, nil)
}

func testDeadlineDuringCall(s *suite) {
	h, ok := s.f.(Hanger)
	if !ok {
		s.t.Skip("the Fake is not a Hanger")
	}
	v, code := s.send()
	h.SetHang(true)
	ops := map[string]func(ctx context.Context) error{
		"Send": func(ctx context.Context) error {
			_, err := s.p.Send(ctx, twofactor.Request{Phone: s.phone})
			return err
		},
		"Check": func(ctx context.Context) error { return s.p.Check(ctx, v.ID, code) },
	}
	for name, op := range ops {
		ctx, cancel := context.WithTimeout(s.t.Context(), 100*time.Millisecond)
		errc := make(chan error, 1)
		go func() { errc <- op(ctx) }()
		select {
		case err := <-errc:
			if !errors.Is(err, twofactor.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				s.t.Errorf("%s past its deadline = %v, want ErrUnavailable and DeadlineExceeded", name, err)
			}
		case <-time.After(Timeout):
			s.t.Errorf("%s did not return within %v of its 100ms deadline", name, Timeout)
		}
		cancel()
	}
	h.SetHang(false)
}

// validID mirrors the flow's check of verification ids.
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
