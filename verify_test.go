package twofactor_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor/internal/testkit"

	"github.com/go-twofactor/twofactor"
)

// newTestMock returns a Mock on a fake clock that records its codes.
func newTestMock() (*twofactor.Mock, *testkit.Codes, *testkit.Clock) {
	clock := testkit.NewClock(time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC))
	rec := &testkit.Codes{}
	return &twofactor.Mock{OnCode: rec.Record, Now: clock.Now}, rec, clock
}

// wrongCode returns a code of the same length that differs from code, and
// from the last 98 codes it returned for it: the flow does not count a
// wrong code typed twice in a row (a reload), so guesses must differ.
func wrongCode(code string) string {
	n := int(wrongSeq.Add(1)%99) + 1 // 1 to 99: never the code itself
	last, _ := strconv.Atoi(code[len(code)-2:])
	return code[:len(code)-2] + fmt.Sprintf("%02d", (last+n)%100)
}

var wrongSeq atomic.Int64

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func TestMockSend(t *testing.T) {
	for _, digits := range []int{0, 6, 8, 10} {
		want := digits
		if want == 0 {
			want = twofactor.DefaultCodeLength
		}
		m, rec, clock := newTestMock()
		m.Digits = digits
		if got := m.CodeLength(); got != want {
			t.Errorf("Digits %d: CodeLength() = %d, want %d", digits, got, want)
		}
		ids := map[string]bool{}
		codes := map[string]bool{}
		for range 20 {
			v, err := m.Send(t.Context(), twofactor.Request{Phone: "+31612345678"})
			if err != nil {
				t.Fatalf("Digits %d: Send: %v", digits, err)
			}
			got := rec.Last(t)
			if got.Verification != v {
				t.Errorf("OnCode got %+v, Send returned %+v", got.Verification, v)
			}
			if len(got.Code) != want || !isDigits(got.Code) {
				t.Errorf("Digits %d: code %q is not %d digits", digits, got.Code, want)
			}
			if v.ID == "" || ids[v.ID] {
				t.Errorf("verification id %q empty or repeated", v.ID)
			}
			ids[v.ID] = true
			codes[got.Code] = true
			if v.Phone != "+31612345678" || v.Channel != twofactor.SMS {
				t.Errorf("verification = %+v, want phone +31612345678 and channel sms", v)
			}
			if want := clock.Now().Add(twofactor.DefaultValidity); !v.ExpiresAt.Equal(want) {
				t.Errorf("ExpiresAt = %v, want %v", v.ExpiresAt, want)
			}
		}
		if len(codes) < 15 { // 20 draws from 10^6+ values: repeats would mean no randomness
			t.Errorf("Digits %d: only %d distinct codes in 20 sends", digits, len(codes))
		}
		if m.Sends() != 20 {
			t.Errorf("Sends() = %d, want 20", m.Sends())
		}
	}
}

func TestMockSendRefuses(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		setup func(*twofactor.Mock)
		ctx   context.Context
		phone string
		want  error // nil: any error
	}{
		{"canceled context", nil, canceled, "+31612345678", twofactor.ErrUnavailable},
		{"five digits", func(m *twofactor.Mock) { m.Digits = 5 }, context.Background(), "+31612345678", nil},
		{"eleven digits", func(m *twofactor.Mock) { m.Digits = 11 }, context.Background(), "+31612345678", nil},
		{"junk number", nil, context.Background(), "call me", twofactor.ErrInvalidPhone},
		{"national number", nil, context.Background(), "0612345678", twofactor.ErrInvalidPhone},
		{"outage", func(m *twofactor.Mock) {
			m.Fail = func(op string) error { return twofactor.ErrUnavailable }
		}, context.Background(), "+31612345678", twofactor.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, rec, _ := newTestMock()
			if tt.setup != nil {
				tt.setup(m)
			}
			_, err := m.Send(tt.ctx, twofactor.Request{Phone: tt.phone})
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("Send = %v, want an error matching %v", err, tt.want)
			}
			if rec.Len() != 0 || m.Sends() != 0 {
				t.Errorf("a refused Send still produced a code")
			}
		})
	}
}

func TestMockCheck(t *testing.T) {
	// send starts a verification and returns the Mock, its id and code.
	send := func(t *testing.T) (*twofactor.Mock, *testkit.Clock, string, string) {
		m, rec, clock := newTestMock()
		v, err := m.Send(t.Context(), twofactor.Request{Phone: "+31612345678"})
		if err != nil {
			t.Fatal(err)
		}
		return m, clock, v.ID, rec.Last(t).Code
	}
	check := func(t *testing.T, m *twofactor.Mock, id, code string, want error) {
		t.Helper()
		err := m.Check(t.Context(), id, code)
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Fatalf("Check(%q) = %v, want %v", code, err, want)
		}
	}

	t.Run("correct code works once", func(t *testing.T) {
		m, _, id, code := send(t)
		check(t, m, id, code, nil)
		check(t, m, id, code, twofactor.ErrAlreadyUsed)
	})
	t.Run("wrong code", func(t *testing.T) {
		m, _, id, code := send(t)
		check(t, m, id, wrongCode(code), twofactor.ErrInvalidCode)
		check(t, m, id, code, nil) // one typo does not burn the code
	})
	t.Run("attempt limit closes the verification", func(t *testing.T) {
		m, _, id, code := send(t)
		for range twofactor.DefaultMaxAttempts {
			check(t, m, id, wrongCode(code), twofactor.ErrInvalidCode)
		}
		check(t, m, id, code, twofactor.ErrAlreadyUsed)
	})
	t.Run("MaxAttempts", func(t *testing.T) {
		m, rec, _ := newTestMock()
		m.MaxAttempts = 1
		v, err := m.Send(t.Context(), twofactor.Request{Phone: "+31612345678"})
		if err != nil {
			t.Fatal(err)
		}
		code := rec.Last(t).Code
		check(t, m, v.ID, wrongCode(code), twofactor.ErrInvalidCode)
		check(t, m, v.ID, code, twofactor.ErrAlreadyUsed)
	})
	t.Run("expiry", func(t *testing.T) {
		m, clock, id, code := send(t)
		clock.Advance(twofactor.DefaultValidity)
		check(t, m, id, code, nil) // valid up to and including ExpiresAt
		m, clock, id, code = send(t)
		clock.Advance(twofactor.DefaultValidity + time.Second)
		check(t, m, id, code, twofactor.ErrExpired)
	})
	t.Run("Validity", func(t *testing.T) {
		m, rec, clock := newTestMock()
		m.Validity = time.Minute
		v, err := m.Send(t.Context(), twofactor.Request{Phone: "+31612345678"})
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute + time.Second)
		check(t, m, v.ID, rec.Last(t).Code, twofactor.ErrExpired)
	})
	t.Run("unknown id", func(t *testing.T) {
		m, _, id, code := send(t)
		check(t, m, strings.Repeat("0", len(id)), code, twofactor.ErrNotFound)
		check(t, m, id+"/../x", code, twofactor.ErrNotFound)
		check(t, m, "", code, twofactor.ErrNotFound)
	})
	t.Run("malformed code", func(t *testing.T) {
		m, _, id, code := send(t)
		for _, bad := range []string{"", "12345", code + "0", "12a456", " " + code[1:], "١٢٣٤٥٦"} {
			check(t, m, id, bad, twofactor.ErrMalformedCode)
		}
		if m.Checks() != 0 {
			t.Errorf("Checks() = %d, want 0: malformed codes count as checks", m.Checks())
		}
		check(t, m, id, code, nil) // and they cost no attempt
	})
	t.Run("canceled context", func(t *testing.T) {
		m, _, id, code := send(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := m.Check(ctx, id, code); !errors.Is(err, twofactor.ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Check with canceled context = %v, want ErrUnavailable and context.Canceled", err)
		}
		check(t, m, id, code, nil) // the canceled call used nothing up
	})
	t.Run("outage", func(t *testing.T) {
		m, _, id, code := send(t)
		m.Fail = func(op string) error {
			if op == "check" {
				return twofactor.ErrUnavailable
			}
			return nil
		}
		check(t, m, id, code, twofactor.ErrUnavailable)
	})
}

// TestMockParallelGuesses fires 100 wrong guesses at once: exactly
// MaxAttempts of them count as wrong, the rest find the verification closed,
// and the right code is refused afterwards.
func TestMockParallelGuesses(t *testing.T) {
	m, rec, _ := newTestMock()
	v, err := m.Send(t.Context(), twofactor.Request{Phone: "+31612345678"})
	if err != nil {
		t.Fatal(err)
	}
	code := rec.Last(t).Code
	const n = 100
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			guess := wrongCode(code)
			if i%2 == 1 { // a different wrong code, same length
				guess = wrongCode(guess)
			}
			errs <- m.Check(context.Background(), v.ID, guess)
		})
	}
	wg.Wait()
	close(errs)
	var wrong, closed int
	for err := range errs {
		switch {
		case errors.Is(err, twofactor.ErrInvalidCode):
			wrong++
		case errors.Is(err, twofactor.ErrAlreadyUsed):
			closed++
		default:
			t.Errorf("Check = %v, want ErrInvalidCode or ErrAlreadyUsed", err)
		}
	}
	if wrong != twofactor.DefaultMaxAttempts || closed != n-twofactor.DefaultMaxAttempts {
		t.Errorf("%d wrong and %d closed answers, want %d and %d", wrong, closed, twofactor.DefaultMaxAttempts, n-twofactor.DefaultMaxAttempts)
	}
	if m.Checks() != n {
		t.Errorf("Checks() = %d, want %d", m.Checks(), n)
	}
	if err := m.Check(t.Context(), v.ID, code); !errors.Is(err, twofactor.ErrAlreadyUsed) {
		t.Errorf("correct code after %d wrong guesses: Check = %v, want ErrAlreadyUsed", n, err)
	}
}

func TestParsePhone(t *testing.T) {
	tests := []struct {
		in, region, want string // want "" means ErrInvalidPhone
	}{
		{"+31612345678", "", "+31612345678"},
		{"+31 6 1234 5678", "", "+31612345678"},
		{" +31 (0)6-12 34 56 78 ", "", "+31612345678"},
		{"+31 20 123 4567", "", "+31201234567"},
		{"+32 470 12 34 56", "", "+32470123456"},
		{"+49 1512 3456789", "", "+4915123456789"},
		{"0031612345678", "NL", "+31612345678"}, // the NL international prefix
		{"0031612345678", "", "+31612345678"},   // 00 is the international prefix in most of the world
		{"06 12345678", "NL", "+31612345678"},
		{"06 12345678", "nl", "+31612345678"},
		{"0470 12 34 56", "BE", "+32470123456"},
		{"+31 6 1234 5678", "BE", "+31612345678"}, // + wins over the region
		{"06 12345678", "", ""},                   // national without a region
		{"612345678", "", ""},
		{"", "", ""},
		{"   ", "NL", ""},
		{"hello", "NL", ""},
		{"+31 6 1234", "", ""},                  // too short
		{"+31 6 1234 5678 9012 3456", "", ""},   // too long
		{"+" + strings.Repeat("3", 60), "", ""}, // far too long
		{"+31612345678\xff", "", ""},            // not UTF-8
		{"+31612345678; DROP TABLE", "", ""},
		{"+999 123456789", "", ""}, // no such country code
	}
	for _, tt := range tests {
		t.Run(tt.in+"/"+tt.region, func(t *testing.T) {
			got, err := twofactor.ParsePhone(tt.in, tt.region)
			if tt.want == "" {
				if !errors.Is(err, twofactor.ErrInvalidPhone) || got != "" {
					t.Fatalf("ParsePhone(%q, %q) = %q, %v; want ErrInvalidPhone", tt.in, tt.region, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParsePhone(%q, %q) = %q, %v; want %q", tt.in, tt.region, got, err, tt.want)
			}
		})
	}
}

func TestMaskPhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+31612345678", "+31 6 •••••678"},
		{"+31 6 1234 5678", "+31 6 •••••678"},
		{"+4915123456789", "+49 1••• ••••789"},
		{"+12025550123", "+1 2••-•••-•123"},
		{"+32470123456", "+32 4•• •• •4 56"},
		{"0612345678", "•••"}, // not international: masked entirely
		{"junk", "•••"},
		{"", "•••"},
		{"\xff\xfe", "•••"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := twofactor.MaskPhone(tt.in)
			if got != tt.want {
				t.Errorf("MaskPhone(%q) = %q, want %q", tt.in, got, tt.want)
			}
			digits := strings.Map(func(r rune) rune {
				if r < '0' || r > '9' {
					return -1
				}
				return r
			}, got)
			if full, err := twofactor.ParsePhone(tt.in, ""); err == nil && len(digits) > 6 {
				t.Errorf("MaskPhone(%q) = %q keeps %d of the digits of %s", tt.in, got, len(digits), full)
			}
		})
	}
}
