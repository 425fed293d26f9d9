// Package failover is a twofactor.Provider made of several: a send goes to
// the first provider whose circuit is closed and fails over to the next on
// an outage, a configuration error or an empty account, never after an
// unknown outcome (a code may be on its way). See Provider.
package failover

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/wire"
)

// Config configures New. The zero value uses the defaults
// listed with each field.
type Config struct {
	// Threshold is how many consecutive sends failing with an outage
	// (twofactor.ErrUnavailable, but not ErrUnknownOutcome) open a
	// provider's circuit. Zero means 3.
	Threshold int
	// CoolOff is how long an open circuit keeps its provider out of use;
	// then the circuit is half-open and one send tries the provider again.
	// Zero means 30 seconds.
	CoolOff time.Duration
	// AttemptTimeout bounds each provider's part of a send. Zero means a
	// fair share: when the context has a deadline, each provider gets the
	// time left divided by the number of providers still to try, so a slow
	// provider leaves time for the next one.
	AttemptTimeout time.Duration
	// OnEvent, if set, receives every Event: each switch to the
	// next provider and each change of a circuit. It is called
	// synchronously, without the Provider's lock held, and must be safe for
	// concurrent use.
	OnEvent func(Event)
	// Now returns the current time. Nil means time.Now. Tests use it to
	// pass the cool-off without sleeping.
	Now func() time.Time
	// UnlinkedConfirmations lets a Provider none of whose providers
	// carries a confirmation's action (see twofactor.ActionCarrier) send
	// confirmation codes anyway, through any provider: their SMS then
	// names no action, so the app's page must show it. Without it,
	// New refuses such providers. When some provider carries the
	// action, confirmations go only to those that do, whatever this says.
	UnlinkedConfirmations bool
}

// EventKind says what a Event reports.
type EventKind string

// The kinds of Event.
const (
	// Switched: a send failed at Provider with an outage
	// (twofactor.ErrUnavailable), a configuration error (ErrConfiguration)
	// or no balance (ErrNoBalance) and goes on at Next.
	Switched EventKind = "switched"
	// CircuitOpened: Provider failed Threshold sends in a row (or
	// its half-open trial failed) and is out of use for CoolOff.
	CircuitOpened EventKind = "circuit_opened"
	// CircuitHalfOpened: CoolOff has passed; one send tries
	// Provider again.
	CircuitHalfOpened EventKind = "circuit_half_opened"
	// CircuitClosed: Provider's trial send got an answer; it is in
	// use again.
	CircuitClosed EventKind = "circuit_closed"
)

// Event reports a switch between providers or a change of a
// provider's circuit. Providers are named by their index in the slice given
// to New.
type Event struct {
	Kind     EventKind // what happened
	Provider int       // the provider that failed, or whose circuit changed
	Next     int       // Switched only: the provider tried next; else -1
	Err      error     // Switched and CircuitOpened: the failure
	At       time.Time // when it happened, by Config.Now
}

// Provider is a twofactor.Provider made of several. A send goes to the
// first provider whose circuit is closed (or half-open and free for its
// one trial); when that provider fails with an outage (ErrUnavailable: a
// 5xx, a refused connection, a timeout before the request was sent), a
// configuration error (ErrConfiguration: a refused key, a wrong service)
// or an empty account (ErrNoBalance), the same request goes on to the next
// one: nothing was sent, and another vendor may well send it. Any other
// answer, such as ErrInvalidPhone or ErrRateLimited, is returned as is: it
// is an answer about this request. ErrUnknownOutcome (the request was
// written but its answer missed its deadline, or a 2xx could not be used)
// is returned as is too: a code may be on its way, and asking another
// provider would send a second one. When no circuit lets a send through,
// Send returns ErrUnavailable without a call. (The errors are the
// twofactor package's.)
//
// A confirmation's send (a Request with Message, Amount or Payee) goes
// only to providers that carry the action (twofactor.ActionCarrier); see
// Config.UnlinkedConfirmations.
//
// A check goes to the provider that sent the verification, whatever its
// circuit: the verification id Provider returns is that provider's id with
// the provider's index in front ("f1_…"); Check refuses ids it did not make
// with ErrNotFound. The ids stay within the flow's limits (at most 128 of
// A-Z a-z 0-9 _ -) as long as each provider's ids have at most 125
// characters.
//
// Each provider has a circuit breaker: Threshold consecutive sends failing
// with an outage open it; after CoolOff it is half-open and one send tries
// the provider (others skip it meanwhile); an answer closes it, another
// outage opens it again. Only outages count: a configuration error or an
// empty account fails over without opening the circuit, and an unknown
// outcome says nothing either way. Only sends count; a send cut short by
// the caller's own context does not. Circuits are kept in memory, per
// process: each app server finds out about an outage by itself.
//
// A Provider is safe for concurrent use.
type Provider struct {
	providers []twofactor.Provider
	carries   []bool // the provider may send a confirmation's code
	cfg       Config
	codeLen   int

	mu       sync.Mutex
	circuits []circuit
}

type circuitState int

const (
	circuitClosed circuitState = iota
	circuitOpen
	circuitHalfOpen
)

type circuit struct {
	state    circuitState
	failures int       // consecutive, while closed
	openedAt time.Time // while open
	trial    bool      // while half-open: the trial send is under way
}

var (
	_ twofactor.Provider      = (*Provider)(nil)
	_ twofactor.CodeLengther  = (*Provider)(nil)
	_ twofactor.ActionCarrier = (*Provider)(nil)
)

// maxFailoverProviders keeps the provider's index one digit in the id.
const maxFailoverProviders = 10

// New returns a Provider over providers, tried in their order. It needs 1
// to 10 providers, none nil, whose codes have the same length (that of
// twofactor.CodeLengther, or 6), at least one that carries a
// confirmation's action (twofactor.ActionCarrier) unless
// cfg.UnlinkedConfirmations, and a valid cfg.
func New(providers []twofactor.Provider, cfg Config) (*Provider, error) {
	if len(providers) == 0 || len(providers) > maxFailoverProviders {
		return nil, errors.New("failover: New needs 1 to 10 providers")
	}
	codeLen := 0
	carries := make([]bool, len(providers))
	anyCarrier := false
	for i, p := range providers {
		if p == nil {
			return nil, fmt.Errorf("failover: New: provider %d is nil", i)
		}
		n := wire.DefaultCodeLength
		if cl, ok := p.(twofactor.CodeLengther); ok {
			n = cl.CodeLength()
		}
		if i > 0 && n != codeLen {
			return nil, fmt.Errorf("failover: New: provider %d sends %d-digit codes, provider 0 %d-digit ones; all must agree", i, n, codeLen)
		}
		codeLen = n
		if ac, ok := p.(twofactor.ActionCarrier); ok && ac.CarriesAction() {
			carries[i], anyCarrier = true, true
		}
	}
	if !anyCarrier && !cfg.UnlinkedConfirmations {
		return nil, errors.New("failover: New: no provider carries a confirmation's action (amount and payee) in its message; " +
			"add one that does (MessageBird, Twilio Verify with a PSD2 service) or set Config.UnlinkedConfirmations")
	}
	if !anyCarrier {
		for i := range carries {
			carries[i] = true // any provider may send a confirmation's code
		}
	}
	if cfg.Threshold < 0 || cfg.CoolOff < 0 || cfg.AttemptTimeout < 0 {
		return nil, errors.New("failover: Config: Threshold, CoolOff and AttemptTimeout must not be negative")
	}
	cfg.Threshold = cmp.Or(cfg.Threshold, 3)
	cfg.CoolOff = cmp.Or(cfg.CoolOff, 30*time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Provider{
		providers: append([]twofactor.Provider(nil), providers...),
		carries:   carries,
		cfg:       cfg,
		codeLen:   codeLen,
		circuits:  make([]circuit, len(providers)),
	}, nil
}

// CodeLength returns the length of the codes, the same for every provider.
func (f *Provider) CodeLength() int { return f.codeLen }

// CarriesAction reports whether some provider carries a confirmation's
// action; confirmations then go only to those.
func (f *Provider) CarriesAction() bool {
	for _, p := range f.providers {
		if ac, ok := p.(twofactor.ActionCarrier); ok && ac.CarriesAction() {
			return true
		}
	}
	return false
}

// Send sends with the first provider whose circuit lets it, going on to the
// next after an outage, a configuration error or no balance, as described
// on Provider.
func (f *Provider) Send(ctx context.Context, req twofactor.Request) (twofactor.Verification, error) {
	if err := ctx.Err(); err != nil {
		return twofactor.Verification{}, fmt.Errorf("%w: %w", twofactor.ErrUnavailable, err)
	}
	eligible := func(i int) bool { return !namesAction(req) || f.carries[i] }
	var lastErr error
	last := -1 // the provider that failed last, for the switch event
	for i := range f.providers {
		if !eligible(i) {
			continue
		}
		ok, trial := f.acquire(i)
		if !ok {
			continue
		}
		if last >= 0 {
			f.emit(Event{Kind: Switched, Provider: last, Next: i, Err: lastErr, At: f.cfg.Now()})
		}
		actx, cancel := f.attemptContext(ctx, i, eligible)
		v, err := f.providers[i].Send(actx, req)
		cancel()
		if err == nil && (len(v.ID) > 125 || !wire.ValidID(v.ID)) {
			// The code is on its way, so no other provider may send one;
			// but the flow could not keep this id.
			f.release(i, trial, nil)
			return twofactor.Verification{}, fmt.Errorf("%w: failover: provider %d returned an id that does not fit", twofactor.ErrUnknownOutcome, i)
		}
		switch {
		case err == nil:
			f.release(i, trial, nil)
			v.ID = "f" + string(rune('0'+i)) + "_" + v.ID
			return v, nil
		case errors.Is(err, twofactor.ErrUnknownOutcome):
			// A code may be on its way: never ask another provider.
			f.release(i, trial, errSkipped)
			return twofactor.Verification{}, err
		case errors.Is(err, twofactor.ErrUnavailable) && ctx.Err() != nil:
			// The caller gave up; that says nothing about the provider.
			f.release(i, trial, errSkipped)
			return twofactor.Verification{}, fmt.Errorf("%w: %w", twofactor.ErrUnavailable, ctx.Err())
		case errors.Is(err, twofactor.ErrUnavailable):
			f.release(i, trial, err) // an outage: counts towards the circuit
		case errors.Is(err, twofactor.ErrConfiguration), errors.Is(err, twofactor.ErrNoBalance):
			// An answer, so no outage; but another vendor may send.
			f.release(i, trial, nil)
		default:
			f.release(i, trial, nil) // an answer about this request
			return twofactor.Verification{}, err
		}
		lastErr, last = err, i
	}
	if lastErr == nil {
		if namesAction(req) {
			return twofactor.Verification{}, fmt.Errorf("%w: the circuit of every provider that carries a confirmation's action is open", twofactor.ErrUnavailable)
		}
		return twofactor.Verification{}, fmt.Errorf("%w: every provider's circuit is open", twofactor.ErrUnavailable)
	}
	return twofactor.Verification{}, lastErr
}

// Check checks code with the provider that sent verification id.
func (f *Provider) Check(ctx context.Context, id, code string) error {
	if len(id) < 4 || len(id) > 128 || id[0] != 'f' || id[2] != '_' || id[1] < '0' || int(id[1]-'0') >= len(f.providers) {
		return twofactor.ErrNotFound
	}
	return f.providers[id[1]-'0'].Check(ctx, id[3:], code)
}

// attemptContext returns the context for provider i's part of a send.
func (f *Provider) attemptContext(ctx context.Context, i int, eligible func(int) bool) (context.Context, context.CancelFunc) {
	if f.cfg.AttemptTimeout > 0 {
		return context.WithTimeout(ctx, f.cfg.AttemptTimeout)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	left := 0 // providers after i that could still be tried
	f.mu.Lock()
	now := f.cfg.Now()
	for j := i + 1; j < len(f.circuits); j++ {
		if c := f.circuits[j]; eligible(j) && (c.state == circuitClosed || c.state == circuitOpen && !now.Before(c.openedAt.Add(f.cfg.CoolOff))) {
			left++
		}
	}
	f.mu.Unlock()
	if left == 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, time.Until(deadline)/time.Duration(left+1))
}

// errSkipped marks an attempt that says nothing about the provider.
var errSkipped = errors.New("skipped")

// acquire reports whether provider i may take a send now, and whether that
// send is its half-open trial.
func (f *Provider) acquire(i int) (ok, trial bool) {
	var ev *Event
	f.mu.Lock()
	c := &f.circuits[i]
	switch c.state {
	case circuitClosed:
		ok = true
	case circuitOpen:
		now := f.cfg.Now()
		if !now.Before(c.openedAt.Add(f.cfg.CoolOff)) {
			c.state, c.trial = circuitHalfOpen, true
			ok, trial = true, true
			ev = &Event{Kind: CircuitHalfOpened, Provider: i, Next: -1, At: now}
		}
	case circuitHalfOpen:
		if !c.trial {
			c.trial = true
			ok, trial = true, true
		}
	}
	f.mu.Unlock()
	if ev != nil {
		f.emit(*ev)
	}
	return ok, trial
}

// release records the outcome of provider i's send: err nil for an answer,
// twofactor.ErrUnavailable for a failure, errSkipped for neither.
func (f *Provider) release(i int, trial bool, err error) {
	var ev *Event
	f.mu.Lock()
	c := &f.circuits[i]
	now := f.cfg.Now()
	switch {
	case err == errSkipped:
		if trial {
			c.trial = false // let another send try
		}
	case trial && err == nil:
		*c = circuit{}
		ev = &Event{Kind: CircuitClosed, Provider: i, Next: -1, At: now}
	case trial:
		*c = circuit{state: circuitOpen, openedAt: now}
		ev = &Event{Kind: CircuitOpened, Provider: i, Next: -1, Err: err, At: now}
	case c.state != circuitClosed:
		// A send that started before the circuit opened: the circuit
		// already knows.
	case err == nil:
		c.failures = 0
	default:
		c.failures++
		if c.failures >= f.cfg.Threshold {
			*c = circuit{state: circuitOpen, openedAt: now}
			ev = &Event{Kind: CircuitOpened, Provider: i, Next: -1, Err: err, At: now}
		}
	}
	f.mu.Unlock()
	if ev != nil {
		f.emit(*ev)
	}
}

func (f *Provider) emit(ev Event) {
	if f.cfg.OnEvent != nil {
		f.cfg.OnEvent(ev)
	}
}

// namesAction reports whether req is a confirmation's: it has a message,
// an amount or a payee.
func namesAction(req twofactor.Request) bool {
	return req.Message != "" || req.Amount != "" || req.Payee != ""
}
