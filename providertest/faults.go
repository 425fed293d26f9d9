package providertest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
)

// Fault is a failure the fault matrix has a fake service put on, each in
// the vendor's own words: its statuses, error codes and JSON.
type Fault string

// The faults of the matrix.
const (
	// FaultUnauthorized: the key is refused (401).
	FaultUnauthorized Fault = "401"
	// FaultForbidden: the key may not use this API (403).
	FaultForbidden Fault = "403"
	// FaultNoBalance: the account has no credit (402, or the vendor's code).
	FaultNoBalance Fault = "402"
	// FaultNotFound: the service, workspace or path the provider is set up
	// with does not exist (404 to a send).
	FaultNotFound Fault = "404"
	// FaultInvalidParameter: a parameter other than the number is refused
	// (422, or the vendor's 400).
	FaultInvalidParameter Fault = "422"
	// FaultRateLimited: a limit, with Retry-After: FaultRetryAfter.
	FaultRateLimited Fault = "429 with Retry-After"
	// FaultRateLimitedNoWait: a limit, without Retry-After.
	FaultRateLimitedNoWait Fault = "429"
	// FaultServerError: the service fails (5xx).
	FaultServerError Fault = "5xx"
	// FaultHangBeforeSend: no request gets written (the connection hangs
	// before it is made) until the request's context is done.
	FaultHangBeforeSend Fault = "hang before send"
	// FaultHangAfterSend: the service reads the request in full, then
	// answers nothing until the request's context is done.
	FaultHangAfterSend Fault = "hang after send"
	// FaultMalformed: a 2xx answer that cannot be used.
	FaultMalformed Fault = "malformed 2xx"
)

// Faults lists every Fault, in the order the suite tries them.
var Faults = []Fault{
	FaultUnauthorized, FaultForbidden, FaultNoBalance, FaultNotFound, FaultInvalidParameter,
	FaultRateLimited, FaultRateLimitedNoWait, FaultServerError, FaultHangBeforeSend,
	FaultHangAfterSend, FaultMalformed,
}

// FaultRetryAfter is the Retry-After a fake sends with FaultRateLimited,
// in whole seconds.
const FaultRetryAfter = 42 * time.Second

// FaultFake is an optional capability of a Fake: the fault matrix. A
// provider whose Fake implements it must map every fault to its class.
type FaultFake interface {
	Fake
	// SetFault makes the fake answer every request with f, in the
	// vendor's own words, until SetFault(""), which ends any fault. It
	// reports false when the vendor has no such answer: the suite then
	// skips f. For FaultHangBeforeSend and FaultHangAfterSend the fake
	// holds each request until its context is done and then signals Held.
	SetFault(f Fault) bool
	// Held receives once for each request (or connection) a hang fault
	// holds: for FaultHangAfterSend once the request has been read in
	// full; for FaultHangBeforeSend once its connection is held.
	Held() <-chan struct{}
}

// sendWant is what a send must return under each fault: an error that
// matches want, and not notWant (nil: no such check).
var sendWant = map[Fault]struct{ want, also, notWant error }{
	FaultUnauthorized:      {twofactor.ErrConfiguration, nil, twofactor.ErrUnavailable},
	FaultForbidden:         {twofactor.ErrConfiguration, nil, twofactor.ErrUnavailable},
	FaultNoBalance:         {twofactor.ErrNoBalance, nil, twofactor.ErrUnavailable},
	FaultNotFound:          {twofactor.ErrConfiguration, nil, twofactor.ErrUnavailable},
	FaultInvalidParameter:  {twofactor.ErrConfiguration, nil, twofactor.ErrUnavailable},
	FaultRateLimited:       {twofactor.ErrRateLimited, nil, twofactor.ErrUnavailable},
	FaultRateLimitedNoWait: {twofactor.ErrRateLimited, nil, twofactor.ErrUnavailable},
	FaultServerError:       {twofactor.ErrUnavailable, nil, twofactor.ErrUnknownOutcome},
	FaultHangBeforeSend:    {twofactor.ErrUnavailable, context.DeadlineExceeded, twofactor.ErrUnknownOutcome},
	FaultHangAfterSend:     {twofactor.ErrUnknownOutcome, context.DeadlineExceeded, nil},
	FaultMalformed:         {twofactor.ErrUnknownOutcome, nil, nil},
}

// checkWant is the same for a check of a code sent before the fault; the
// faults missing here are not tried on checks.
var checkWant = map[Fault]struct{ want, also, notWant error }{
	FaultUnauthorized:      {twofactor.ErrConfiguration, nil, twofactor.ErrUnavailable},
	FaultForbidden:         {twofactor.ErrConfiguration, nil, twofactor.ErrUnavailable},
	FaultRateLimitedNoWait: {twofactor.ErrRateLimited, nil, twofactor.ErrUnavailable},
	FaultServerError:       {twofactor.ErrUnavailable, nil, nil},
	FaultHangBeforeSend:    {twofactor.ErrUnavailable, context.DeadlineExceeded, twofactor.ErrUnknownOutcome},
	FaultHangAfterSend:     {twofactor.ErrUnavailable, context.DeadlineExceeded, nil},
	FaultMalformed:         {twofactor.ErrUnavailable, nil, nil},
}

// testFaults runs the fault matrix, when the Fake is a FaultFake.
func testFaults(s *suite) {
	ff, ok := s.f.(FaultFake)
	if !ok {
		s.t.Skip("the Fake is not a FaultFake")
	}
	v, code := s.send()
	for _, f := range Faults {
		s.t.Run("Send/"+string(f), func(t *testing.T) {
			if !ff.SetFault(f) {
				t.Skipf("the vendor has no answer for %s", f)
			}
			defer ff.SetFault("")
			err := runFault(t, ff, f, func(ctx context.Context) error {
				_, err := s.p.Send(ctx, twofactor.Request{Phone: s.phone})
				return err
			})
			w := sendWant[f]
			expect(t, "Send", f, err, w.want, w.also, w.notWant)
			var rl *twofactor.RateLimitError
			switch {
			case f == FaultRateLimited && (!errors.As(err, &rl) || rl.RetryAfter != FaultRetryAfter):
				t.Errorf("Send under %s = %v: want a *twofactor.RateLimitError with RetryAfter %v", f, err, FaultRetryAfter)
			case f == FaultRateLimitedNoWait && errors.As(err, &rl) && rl.RetryAfter == FaultRetryAfter:
				t.Errorf("Send under %s = %v: a RetryAfter without a Retry-After", f, err)
			}
		})
		if w, ok := checkWant[f]; ok {
			s.t.Run("Check/"+string(f), func(t *testing.T) {
				if !ff.SetFault(f) {
					t.Skipf("the vendor has no answer for %s", f)
				}
				defer ff.SetFault("")
				err := runFault(t, ff, f, func(ctx context.Context) error { return s.p.Check(ctx, v.ID, code) })
				expect(t, "Check", f, err, w.want, w.also, w.notWant)
			})
		}
	}
	ff.SetFault("")
	s.check("right code after every fault", v.ID, code, nil)
}

// runFault runs op under fault f. For a hang, op gets a context whose
// deadline the suite fires once the fake holds the request: no wall clock
// decides what the fake saw.
func runFault(t *testing.T, ff FaultFake, f Fault, op func(context.Context) error) error {
	t.Helper()
	if f != FaultHangBeforeSend && f != FaultHangAfterSend {
		ctx, cancel := context.WithTimeout(t.Context(), Timeout)
		defer cancel()
		return op(ctx)
	}
	ctx := newFiredContext()
	errc := make(chan error, 1)
	go func() { errc <- op(ctx) }()
	select {
	case <-ff.Held():
	case err := <-errc:
		t.Fatalf("under %s the call returned %v before the fake held it", f, err)
	case <-time.After(Timeout):
		t.Fatalf("under %s the fake held nothing within %v", f, Timeout)
	}
	ctx.fire()
	select {
	case err := <-errc:
		return err
	case <-time.After(Timeout):
		t.Fatalf("under %s the call did not return within %v of its deadline", f, Timeout)
	}
	return nil
}

func expect(t *testing.T, op string, f Fault, err, want, also, notWant error) {
	t.Helper()
	if !errors.Is(err, want) || also != nil && !errors.Is(err, also) {
		t.Errorf("%s under %s = %v; want %v (and %v)", op, f, err, want, also)
	}
	if notWant != nil && errors.Is(err, notWant) {
		t.Errorf("%s under %s = %v; must not match %v", op, f, err, notWant)
	}
}

// firedContext is a context whose deadline passes when fire is called:
// Err is then context.DeadlineExceeded, as after a real deadline.
type firedContext struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newFiredContext() *firedContext {
	return &firedContext{Context: context.Background(), done: make(chan struct{})}
}

func (c *firedContext) Done() <-chan struct{} { return c.done }

func (c *firedContext) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func (c *firedContext) fire() { c.once.Do(func() { close(c.done) }) }
