package failover_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/failover"
	"github.com/go-twofactor/twofactor/internal/testkit"
	"github.com/go-twofactor/twofactor/internal/wire"
	"github.com/go-twofactor/twofactor/providertest"
)

// fakeProvider is a Provider whose sends fail, block or succeed on demand.
type fakeProvider struct {
	name string

	mu       sync.Mutex
	fail     error         // Send returns it when set
	block    bool          // Send waits for its context
	entered  chan struct{} // when set, Send reports each call here
	hold     chan struct{} // when set, Send waits for it (or its context)
	sends    int
	checks   []string
	idLength int
	plain    bool // its messages cannot name a confirmation's action
}

// CarriesAction reports whether p's messages name a confirmation's action.
func (p *fakeProvider) CarriesAction() bool { return !p.plain }

func (p *fakeProvider) Send(ctx context.Context, req twofactor.Request) (twofactor.Verification, error) {
	p.mu.Lock()
	p.sends++
	n, fail, block, entered, hold, idLen := p.sends, p.fail, p.block, p.entered, p.hold, p.idLength
	p.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return twofactor.Verification{}, fmt.Errorf("%w: %w", twofactor.ErrUnavailable, ctx.Err())
		}
	}
	if block {
		<-ctx.Done()
		return twofactor.Verification{}, fmt.Errorf("%w: %w", twofactor.ErrUnavailable, ctx.Err())
	}
	if fail != nil {
		return twofactor.Verification{}, fail
	}
	id := fmt.Sprintf("%s-%d", p.name, n)
	if idLen > 0 {
		id = strings.Repeat("x", idLen)
	}
	return twofactor.Verification{ID: id, Phone: req.Phone, Channel: twofactor.SMS, ExpiresAt: time.Unix(1, 0)}, nil
}

func (p *fakeProvider) Check(_ context.Context, id, _ string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checks = append(p.checks, id)
	return nil
}

func (p *fakeProvider) set(f func(p *fakeProvider)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *fakeProvider) counts() (sends int, checks []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sends, append([]string(nil), p.checks...)
}

var errDown = fmt.Errorf("%w: HTTP 503", twofactor.ErrUnavailable)

// events records FailoverEvents.
type events struct {
	mu  sync.Mutex
	evs []failover.Event
}

func (e *events) record(ev failover.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
}

// take returns the events so far in a short form and forgets them.
func (e *events) take() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var s []string
	for _, ev := range e.evs {
		if ev.Kind == failover.Switched {
			s = append(s, fmt.Sprintf("%s %d>%d", ev.Kind, ev.Provider, ev.Next))
		} else {
			s = append(s, fmt.Sprintf("%s %d", ev.Kind, ev.Provider))
		}
	}
	e.evs = nil
	return strings.Join(s, ", ")
}

type failoverFixture struct {
	f      *failover.Provider
	ps     []*fakeProvider
	events *events
	clock  *testkit.Clock
}

func newFailoverFixture(t *testing.T, n int, cfg failover.Config) *failoverFixture {
	t.Helper()
	fx := &failoverFixture{events: &events{}, clock: testkit.NewClock(time.Date(2026, 5, 3, 14, 0, 0, 0, time.UTC))}
	var ps []twofactor.Provider
	for i := range n {
		p := &fakeProvider{name: string(rune('a' + i))}
		fx.ps = append(fx.ps, p)
		ps = append(ps, p)
	}
	cfg.OnEvent, cfg.Now = fx.events.record, fx.clock.Now
	f, err := failover.New(ps, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fx.f = f
	return fx
}

func (fx *failoverFixture) send(t *testing.T) (twofactor.Verification, error) {
	t.Helper()
	return fx.f.Send(t.Context(), twofactor.Request{Phone: "+31612345678"})
}

func TestFailoverOneProviderDown(t *testing.T) {
	fx := newFailoverFixture(t, 2, failover.Config{})
	a, b := fx.ps[0], fx.ps[1]
	a.set(func(p *fakeProvider) { p.fail = errDown })

	v, err := fx.send(t)
	if err != nil || v.ID != "f1_b-1" || v.Phone != "+31612345678" {
		t.Fatalf("Send = %+v, %v", v, err)
	}
	if got := fx.events.take(); got != "switched 0>1" {
		t.Errorf("events = %q", got)
	}
	if err := fx.f.Check(t.Context(), v.ID, "123456"); err != nil {
		t.Fatal(err)
	}
	if _, checks := b.counts(); len(checks) != 1 || checks[0] != "b-1" {
		t.Errorf("b checked %v, want [b-1]", checks)
	}
	if _, checks := a.counts(); len(checks) != 0 {
		t.Errorf("a checked %v", checks)
	}

	for range 2 {
		if _, err := fx.send(t); err != nil {
			t.Fatal(err)
		}
	}
	if got := fx.events.take(); got != "switched 0>1, circuit_opened 0, switched 0>1" {
		t.Errorf("events = %q", got)
	}
	// The circuit is open: a goes unasked, and there is no switch.
	if _, err := fx.send(t); err != nil {
		t.Fatal(err)
	}
	if sends, _ := a.counts(); sends != 3 {
		t.Errorf("a got %d sends, want 3", sends)
	}
	if got := fx.events.take(); got != "" {
		t.Errorf("events = %q, want none", got)
	}
	// A check of a's verification still goes to a, circuit or not.
	if err := fx.f.Check(t.Context(), "f0_a-0", "123456"); err != nil {
		t.Fatal(err)
	}
	if _, checks := a.counts(); len(checks) != 1 || checks[0] != "a-0" {
		t.Errorf("a checked %v", checks)
	}
}

// Answers about the request are not outages: they are returned as they
// are, never tried elsewhere, and they end a run of failures.
func TestFailoverAnswersDoNotSwitch(t *testing.T) {
	answers := []error{
		fmt.Errorf("%w: bad", twofactor.ErrInvalidPhone), twofactor.ErrRateLimited,
		&twofactor.RateLimitError{RetryAfter: time.Minute, Vendor: "Bird"},
		fmt.Errorf("%w: landline", twofactor.ErrDestinationRefused), errors.New("some other error"),
	}
	for _, answer := range answers {
		fx := newFailoverFixture(t, 2, failover.Config{Threshold: 2})
		a, b := fx.ps[0], fx.ps[1]
		a.set(func(p *fakeProvider) { p.fail = answer })
		if _, err := fx.send(t); err != answer {
			t.Errorf("Send = %v, want %v as is", err, answer)
		}
		if sends, _ := b.counts(); sends != 0 {
			t.Errorf("%v: b got %d sends", answer, sends)
		}
		// down, answer, down: never two failures in a row
		for _, e := range []error{errDown, answer, errDown} {
			a.set(func(p *fakeProvider) { p.fail = e })
			fx.send(t)
		}
		if got := fx.events.take(); got != "switched 0>1, switched 0>1" {
			t.Errorf("%v: events = %q; the answer should have reset the count", answer, got)
		}
	}
}

// A refused key, a wrong service or an empty account is exactly when a
// second vendor helps: the send goes on to the next provider. They are
// answers, not outages: however many, they never open the circuit.
func TestFailoverSwitchesOnConfigurationAndBalance(t *testing.T) {
	for _, answer := range []error{
		twofactor.ErrBadAPIKey, fmt.Errorf("%w: wrong service", twofactor.ErrConfiguration), twofactor.ErrNoBalance,
	} {
		fx := newFailoverFixture(t, 2, failover.Config{Threshold: 2})
		a, b := fx.ps[0], fx.ps[1]
		a.set(func(p *fakeProvider) { p.fail = answer })
		for range 4 {
			if v, err := fx.send(t); err != nil || !strings.HasPrefix(v.ID, "f1_") {
				t.Fatalf("%v: Send = %+v, %v; want b's code", answer, v, err)
			}
		}
		if sends, _ := a.counts(); sends != 4 {
			t.Errorf("%v: a got %d sends, want 4 (its circuit stays closed)", answer, sends)
		}
		if sends, _ := b.counts(); sends != 4 {
			t.Errorf("%v: b got %d sends, want 4", answer, sends)
		}
		if got := fx.events.take(); strings.Contains(got, "open") {
			t.Errorf("%v: events = %q; only outages open a circuit", answer, got)
		}
		// The last provider's error is what the caller sees.
		b.set(func(p *fakeProvider) { p.fail = twofactor.ErrNoBalance })
		if _, err := fx.send(t); err != twofactor.ErrNoBalance {
			t.Errorf("%v: both failing: Send = %v, want b's ErrNoBalance", answer, err)
		}
	}
}

// A send whose outcome is unknown may have sent a code: Failover never asks
// another provider then, and the circuit does not count it.
func TestFailoverNeverAfterUnknownOutcome(t *testing.T) {
	fx := newFailoverFixture(t, 2, failover.Config{Threshold: 1})
	a, b := fx.ps[0], fx.ps[1]
	lost := fmt.Errorf("%w: %w", twofactor.ErrUnknownOutcome, context.DeadlineExceeded)
	a.set(func(p *fakeProvider) { p.fail = lost })
	for range 3 {
		if _, err := fx.send(t); err != lost {
			t.Fatalf("Send = %v, want %v as is", err, lost)
		}
	}
	if sends, _ := b.counts(); sends != 0 {
		t.Errorf("b got %d sends after unknown outcomes; the phone would get two codes", sends)
	}
	if got := fx.events.take(); got != "" {
		t.Errorf("events = %q, want none", got)
	}
}

// A confirmation goes only to providers whose message names its action.
func TestFailoverConfirmationsOnlyToCarriers(t *testing.T) {
	fx := &failoverFixture{ps: []*fakeProvider{{name: "a", plain: true}, {name: "b"}, {name: "c", plain: true}}}
	f, err := failover.New([]twofactor.Provider{fx.ps[0], fx.ps[1], fx.ps[2]}, failover.Config{})
	if err != nil {
		t.Fatal(err)
	}
	fx.f = f
	confirm := twofactor.Request{Phone: "+31612345678", Message: "Confirm EUR 5 to X. Code: {code}", Amount: "EUR 5", Payee: "X"}
	v, err := fx.f.Send(context.Background(), confirm)
	if err != nil || !strings.HasPrefix(v.ID, "f1_") {
		t.Fatalf("confirmation: Send = %+v, %v; want provider 1's", v, err)
	}
	if sends, _ := fx.ps[0].counts(); sends != 0 {
		t.Errorf("provider 0, which cannot name the action, got %d sends", sends)
	}
	// The only carrier down: no confirmation goes to the others.
	fx.ps[1].set(func(p *fakeProvider) { p.fail = errDown })
	if _, err := fx.f.Send(context.Background(), confirm); !errors.Is(err, twofactor.ErrUnavailable) {
		t.Errorf("carrier down: Send = %v, want ErrUnavailable", err)
	}
	if s0, _ := fx.ps[0].counts(); s0 != 0 {
		t.Errorf("provider 0 got %d sends", s0)
	}
	if s2, _ := fx.ps[2].counts(); s2 != 0 {
		t.Errorf("provider 2 got %d sends", s2)
	}
	// A sign-in code goes to the first provider, carrier or not.
	if v, err := fx.send(t); err != nil || !strings.HasPrefix(v.ID, "f0_") {
		t.Errorf("sign-in: Send = %+v, %v; want provider 0's", v, err)
	}
	if !fx.f.CarriesAction() {
		t.Error("CarriesAction = false with a carrier")
	}
}

// New refuses providers none of which can name a confirmation's
// action, unless told confirmations may go without it.
func TestNewNeedsACarrier(t *testing.T) {
	ps := []twofactor.Provider{&fakeProvider{name: "a", plain: true}, &fakeProvider{name: "b", plain: true}}
	if _, err := failover.New(ps, failover.Config{}); err == nil || !strings.Contains(err.Error(), "UnlinkedConfirmations") {
		t.Errorf("New without a carrier = %v, want an error naming UnlinkedConfirmations", err)
	}
	f, err := failover.New(ps, failover.Config{UnlinkedConfirmations: true})
	if err != nil {
		t.Fatal(err)
	}
	if f.CarriesAction() {
		t.Error("CarriesAction = true without a carrier")
	}
	v, err := f.Send(context.Background(), twofactor.Request{Phone: "+31612345678", Amount: "EUR 5", Payee: "X"})
	if err != nil || !strings.HasPrefix(v.ID, "f0_") {
		t.Errorf("unlinked confirmation: Send = %+v, %v", v, err)
	}
}

func TestFailoverWrongCodeIsAnAnswer(t *testing.T) {
	m1, m2 := &twofactor.Mock{}, &twofactor.Mock{}
	f, err := failover.New([]twofactor.Provider{m1, m2}, failover.Config{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.Send(t.Context(), twofactor.Request{Phone: "+31612345678"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Check(t.Context(), v.ID, "000000"); !errors.Is(err, twofactor.ErrInvalidCode) {
		t.Fatalf("Check = %v", err)
	}
	if m2.Sends() != 0 || m2.Checks() != 0 || m1.Checks() != 1 {
		t.Errorf("m1 %d/%d, m2 %d/%d sends/checks", m1.Sends(), m1.Checks(), m2.Sends(), m2.Checks())
	}
}

// A slow provider gets a fair share of the deadline, then the next one is
// asked; the slowness counts as a failure.
func TestFailoverSlowProvider(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cfg     failover.Config
		timeout time.Duration
	}{
		{"share of the deadline", failover.Config{Threshold: 1}, 400 * time.Millisecond},
		{"AttemptTimeout", failover.Config{Threshold: 1, AttemptTimeout: 50 * time.Millisecond}, time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFailoverFixture(t, 2, tt.cfg)
			fx.ps[0].set(func(p *fakeProvider) { p.block = true })
			ctx, cancel := context.WithTimeout(t.Context(), tt.timeout)
			defer cancel()
			v, err := fx.f.Send(ctx, twofactor.Request{Phone: "+31612345678"})
			if err != nil || v.ID != "f1_b-1" {
				t.Fatalf("Send = %+v, %v", v, err)
			}
			if got := fx.events.take(); got != "circuit_opened 0, switched 0>1" {
				t.Errorf("events = %q", got)
			}
		})
	}
}

// A send the caller gives up on is not the provider's fault: no switch,
// no failure counted.
func TestFailoverCallerCancels(t *testing.T) {
	fx := newFailoverFixture(t, 2, failover.Config{Threshold: 1})
	a, b := fx.ps[0], fx.ps[1]
	entered := make(chan struct{}, 1)
	a.set(func(p *fakeProvider) { p.block, p.entered = true, entered })
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := fx.f.Send(ctx, twofactor.Request{Phone: "+31612345678"})
		errc <- err
	}()
	<-entered
	cancel()
	if err := <-errc; !errors.Is(err, twofactor.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Send = %v", err)
	}
	if sends, _ := b.counts(); sends != 0 {
		t.Errorf("b got %d sends", sends)
	}
	if got := fx.events.take(); got != "" {
		t.Errorf("events = %q", got)
	}
	done, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if _, err := fx.f.Send(done, twofactor.Request{Phone: "+31612345678"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a done context = %v", err)
	}
	if sends, _ := a.counts(); sends != 1 {
		t.Errorf("a got %d sends, want 1", sends)
	}
}

// A flapping provider: failures in a row open its circuit, not failures
// in between answers; after the cool-off one trial decides.
func TestFailoverFlapping(t *testing.T) {
	fx := newFailoverFixture(t, 2, failover.Config{Threshold: 3, CoolOff: 30 * time.Second})
	a := fx.ps[0]
	setA := func(err error) { a.set(func(p *fakeProvider) { p.fail = err }) }
	for range 5 {
		setA(errDown)
		fx.send(t)
		fx.send(t)
		setA(nil)
		if v, err := fx.send(t); err != nil || !strings.HasPrefix(v.ID, "f0_") {
			t.Fatalf("Send = %+v, %v", v, err)
		}
	}
	if got := fx.events.take(); strings.Contains(got, "circuit") {
		t.Fatalf("circuit changed with no three failures in a row: %q", got)
	}
	setA(errDown)
	for range 3 {
		fx.send(t)
	}
	if got := fx.events.take(); got != "switched 0>1, switched 0>1, circuit_opened 0, switched 0>1" {
		t.Errorf("events = %q", got)
	}
	fx.clock.Advance(29 * time.Second)
	fx.send(t)
	if got := fx.events.take(); got != "" {
		t.Errorf("events during the cool-off = %q", got)
	}
	fx.clock.Advance(time.Second)
	fx.send(t) // the trial fails
	if got := fx.events.take(); got != "circuit_half_opened 0, circuit_opened 0, switched 0>1" {
		t.Errorf("events = %q", got)
	}
	fx.clock.Advance(30 * time.Second)
	setA(nil)
	if v, err := fx.send(t); err != nil || !strings.HasPrefix(v.ID, "f0_") {
		t.Fatalf("trial Send = %+v, %v", v, err)
	}
	if got := fx.events.take(); got != "circuit_half_opened 0, circuit_closed 0" {
		t.Errorf("events = %q", got)
	}
	sends, _ := a.counts()
	if _, err := fx.send(t); err != nil {
		t.Fatal(err)
	}
	if after, _ := a.counts(); after != sends+1 {
		t.Error("a closed circuit does not take sends")
	}
}

// While a half-open circuit's trial is under way, other sends skip it.
func TestFailoverHalfOpenOneTrial(t *testing.T) {
	fx := newFailoverFixture(t, 2, failover.Config{Threshold: 1, CoolOff: time.Second})
	a, b := fx.ps[0], fx.ps[1]
	a.set(func(p *fakeProvider) { p.fail = errDown })
	fx.send(t) // opens a's circuit
	fx.clock.Advance(time.Second)
	entered, hold := make(chan struct{}, 1), make(chan struct{})
	a.set(func(p *fakeProvider) { p.fail, p.entered, p.hold = nil, entered, hold })
	trial := make(chan error, 1)
	go func() {
		v, err := fx.send(t)
		if err == nil && !strings.HasPrefix(v.ID, "f0_") {
			err = fmt.Errorf("trial went to %s", v.ID)
		}
		trial <- err
	}()
	<-entered
	bSends, _ := b.counts()
	for range 3 {
		// bounded, so that a send wrongly held by a fails rather than hangs
		ctx, cancel := context.WithTimeout(t.Context(), providertest.Timeout)
		v, err := fx.f.Send(ctx, twofactor.Request{Phone: "+31612345678"})
		cancel()
		if err != nil || !strings.HasPrefix(v.ID, "f1_") {
			t.Fatalf("Send during the trial = %+v, %v", v, err)
		}
	}
	if after, _ := b.counts(); after != bSends+3 {
		t.Errorf("b got %d sends during the trial, want 3", after-bSends)
	}
	close(hold)
	if err := <-trial; err != nil {
		t.Fatal(err)
	}
	if sends, _ := a.counts(); sends != 2 {
		t.Errorf("a got %d sends, want 2 (the failure and the trial)", sends)
	}
	if got := fx.events.take(); got != "circuit_opened 0, switched 0>1, circuit_half_opened 0, circuit_closed 0" {
		t.Errorf("events = %q", got)
	}
}

func TestFailoverAllOpen(t *testing.T) {
	fx := newFailoverFixture(t, 2, failover.Config{Threshold: 1})
	for _, p := range fx.ps {
		p.set(func(p *fakeProvider) { p.fail = errDown })
	}
	if _, err := fx.send(t); !errors.Is(err, twofactor.ErrUnavailable) {
		t.Fatalf("Send = %v", err)
	}
	if _, err := fx.send(t); !errors.Is(err, twofactor.ErrUnavailable) || !strings.Contains(err.Error(), "circuit") {
		t.Fatalf("Send with every circuit open = %v", err)
	}
	for i, p := range fx.ps {
		if sends, _ := p.counts(); sends != 1 {
			t.Errorf("provider %d got %d sends, want 1", i, sends)
		}
	}
}

// Many parallel sends while one provider is down: all succeed, the
// circuit opens once, and -race finds nothing.
func TestFailoverParallelSends(t *testing.T) {
	fx := newFailoverFixture(t, 3, failover.Config{})
	fx.ps[0].set(func(p *fakeProvider) { p.fail = errDown })
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			v, err := fx.f.Send(context.Background(), twofactor.Request{Phone: "+31612345678"})
			if err == nil && !strings.HasPrefix(v.ID, "f1_") {
				err = fmt.Errorf("sent by %s", v.ID)
			}
			if err == nil {
				err = fx.f.Check(context.Background(), v.ID, "123456")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(fx.events.take(), "circuit_opened 0"); got != 1 {
		t.Errorf("circuit opened %d times, want 1", got)
	}
	if sends, checks := fx.ps[1].counts(); sends != n || len(checks) != n {
		t.Errorf("b: %d sends, %d checks; want %d", sends, len(checks), n)
	}
	if sends, _ := fx.ps[2].counts(); sends != 0 {
		t.Errorf("c got %d sends", sends)
	}
}

func TestFailoverCheckRefusesForeignIDs(t *testing.T) {
	fx := newFailoverFixture(t, 2, failover.Config{})
	for _, id := range []string{"", "a-1", "f0", "f0_", "f2_a-1", "f9_a-1", "fa_a-1", "f/_a-1", "f0-a-1", "F0_a-1", "g0_a-1", "f0_" + strings.Repeat("a", 126)} {
		if err := fx.f.Check(t.Context(), id, "123456"); !errors.Is(err, twofactor.ErrNotFound) {
			t.Errorf("Check(%q) = %v, want ErrNotFound", id, err)
		}
	}
	for i, p := range fx.ps {
		if _, checks := p.counts(); len(checks) != 0 {
			t.Errorf("provider %d checked %v", i, checks)
		}
	}
}

// An id too long to carry the provider's index is an error, but the code
// is on its way: no other provider sends one.
func TestFailoverIDTooLong(t *testing.T) {
	fx := newFailoverFixture(t, 2, failover.Config{})
	fx.ps[0].set(func(p *fakeProvider) { p.idLength = 126 })
	if _, err := fx.send(t); !errors.Is(err, twofactor.ErrUnknownOutcome) {
		t.Errorf("Send = %v, want ErrUnknownOutcome", err)
	}
	if sends, _ := fx.ps[1].counts(); sends != 0 {
		t.Errorf("b got %d sends", sends)
	}
	fx.ps[0].set(func(p *fakeProvider) { p.idLength = 125 })
	if v, err := fx.send(t); err != nil || len(v.ID) != 128 {
		t.Errorf("Send = %q, %v", v.ID, err)
	}
}

func TestNew(t *testing.T) {
	m := &twofactor.Mock{}
	many := make([]twofactor.Provider, 11)
	for i := range many {
		many[i] = m
	}
	for name, tt := range map[string]struct {
		ps  []twofactor.Provider
		cfg failover.Config
	}{
		"none":               {nil, failover.Config{}},
		"eleven":             {many, failover.Config{}},
		"nil provider":       {[]twofactor.Provider{m, nil}, failover.Config{}},
		"code lengths":       {[]twofactor.Provider{m, &twofactor.Mock{Digits: 8}}, failover.Config{}},
		"no CodeLengther, 8": {[]twofactor.Provider{&fakeProvider{}, &twofactor.Mock{Digits: 8}}, failover.Config{}},
		"negative threshold": {[]twofactor.Provider{m}, failover.Config{Threshold: -1}},
		"negative cool-off":  {[]twofactor.Provider{m}, failover.Config{CoolOff: -time.Second}},
		"negative timeout":   {[]twofactor.Provider{m}, failover.Config{AttemptTimeout: -time.Second}},
	} {
		if f, err := failover.New(tt.ps, tt.cfg); err == nil || f != nil {
			t.Errorf("%s: New = %v, %v; want an error", name, f, err)
		}
	}
	f, err := failover.New([]twofactor.Provider{&twofactor.Mock{Digits: 8}, &twofactor.Mock{Digits: 8}}, failover.Config{})
	if err != nil || f.CodeLength() != 8 {
		t.Errorf("New = %v, %v", f, err)
	}
	if f, err := failover.New(many[:10], failover.Config{}); err != nil || f.CodeLength() != 6 {
		t.Errorf("ten providers: %v, %v", f, err)
	}
}

// mockFake gives the conformance suite its hooks into a Mock (as the root
// package's own conformance test does).
type mockFake struct {
	m     *twofactor.Mock
	clock *testkit.Clock
	mu    sync.Mutex
	code  string
	down  bool
}

func (f *mockFake) LastCode() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.code
}

func (f *mockFake) Expire() { f.clock.Advance(wire.MaxValidity + time.Minute) }

func (f *mockFake) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *mockFake) Calls() int { return f.m.Sends() + f.m.Checks() }

// newMockFake returns a Mock on clock and its hooks.
func newMockFake(clock *testkit.Clock) *mockFake {
	f := &mockFake{clock: clock}
	f.m = &twofactor.Mock{
		Now: clock.Now,
		OnCode: func(_ twofactor.Verification, code string) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.code = code
		},
		Fail: func(string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.down {
				return twofactor.ErrUnavailable
			}
			return nil
		},
	}
	return f
}

// failoverFake gives the conformance suite its hooks into a Failover of
// two Mocks: an outage is an outage of both.
type failoverFake struct {
	mocks []*mockFake
}

func (f *failoverFake) LastCode() string {
	code := ""
	for _, m := range f.mocks {
		if c := m.LastCode(); c != "" {
			code = c
		}
	}
	return code
}

func (f *failoverFake) Expire() {
	for _, m := range f.mocks {
		m.Expire()
	}
}

func (f *failoverFake) SetDown(down bool) {
	for _, m := range f.mocks {
		m.SetDown(down)
	}
}

func (f *failoverFake) Calls() int {
	n := 0
	for _, m := range f.mocks {
		n += m.Calls()
	}
	return n
}

func TestFailoverConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{New: func(t *testing.T) (twofactor.Provider, providertest.Fake) {
		fake := &failoverFake{}
		var ps []twofactor.Provider
		clock := testkit.NewClock(time.Date(2026, 5, 3, 14, 0, 0, 0, time.UTC))
		for range 2 {
			mf := newMockFake(clock)
			fake.mocks = append(fake.mocks, mf)
			ps = append(ps, mf.m)
		}
		// A high threshold: the suite's outage must not leave circuits open.
		f, err := failover.New(ps, failover.Config{Threshold: 100})
		if err != nil {
			t.Fatal(err)
		}
		return f, fake
	}})
}
