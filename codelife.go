package twofactor

import (
	"context"
	"log/slog"
	"time"

	"github.com/go-twofactor/twofactor/internal/batch"
)

// The life of one code.
//
// A try at a code is reserved before anyone judges the code: counted
// against the code's own tries and against every lock of wrong codes that
// applies to the guesser (owners.go), so parallel guesses can never exceed
// a cap. Then either the code was right and is spent once (a one-use mark:
// of two parallel right submissions, one wins), and the locks get their
// try back, since a right code was no wrong guess; or nobody judged it (the
// provider failed) and the whole try is given back; or it was wrong and the
// try stays counted. Sign-in codes (check.go), confirmation codes
// (confirm.go), recovery codes (recovery.go), codes from authenticator
// apps (totp_flow.go: their one-use mark is the user's step, with the
// steps before it) and passkeys' answers (passkey_confirm.go: their mark
// is the sign counter's value) live this life alike; a right code spent
// before by another try is a wrong try for the factors that send no code
// (recount).
//
// Like rate.Reservation with its Cancel, a codeTry knows State keys and
// nothing of HTTP, pages or events. Each step is one round trip with a
// State that batches (batch.Run): the reservation, with what the caller
// reads along (a user's generation); the spending, with the marks of a
// proved number.

// tryPlan is what a try at a code counts against.
type tryPlan struct {
	tries  string        // State key of the code's own tries; "" for none
	limit  int64         // how many tries the code has
	window time.Duration // how long its tries are kept
	locks  []guessLock   // the locks of wrong codes that apply to the guesser
	with   []batch.Op    // ops to run with the reservation, such as a generation read
}

// tryRefusal says why a try was refused, if it was.
type tryRefusal int8

const (
	tryReserved tryRefusal = iota // not refused
	tryTooMany                    // the code's own tries are spent
	tryLocked                     // a lock of wrong codes is spent
)

// codeTry is one try at a code.
type codeTry struct {
	state State
	log   *slog.Logger
	ops   []batch.Op // what the try counted: the code's tries (if any), then the locks
	tries bool       // ops[0] is the code's own tries
	with  []batch.Op // the answers of tryPlan.with

	refused tryRefusal
	left    int64         // tries left at the code after this one
	lock    string        // the State key of the lock that refused the try
	ttl     time.Duration // the time left in its window
}

// reserveTry counts a try at a code against p's counters, in one round
// trip with p.with. A try the code's tries refuse keeps that count (the
// code is spent) and gives the locks theirs back; a try a lock refuses
// gives every lock its count back, so a locked guesser cannot go on to
// spend the totals of a number.
func reserveTry(ctx context.Context, st State, log *slog.Logger, p tryPlan) (*codeTry, error) {
	return countTry(ctx, st, log, p, 1)
}

// peekTry reads p's counters, in one round trip with p.with, and refuses
// as reserveTry would refuse a try now, counting nothing: a locked user
// starts no ceremony that would end in a refusal (as a send, limits.go).
func peekTry(ctx context.Context, st State, log *slog.Logger, p tryPlan) (*codeTry, error) {
	return countTry(ctx, st, log, p, 0)
}

// countTry counts delta tries (1, or 0 to read) against p's counters and
// judges the counts before it as reserveTry says.
func countTry(ctx context.Context, st State, log *slog.Logger, p tryPlan, delta int64) (*codeTry, error) {
	t := &codeTry{state: st, log: log, tries: p.tries != ""}
	ops := make([]batch.Op, 0, 1+len(p.locks)+len(p.with))
	if t.tries {
		ops = append(ops, batch.Op{Kind: batch.Incr, Key: p.tries, Delta: delta, TTL: p.window})
	}
	for _, l := range p.locks {
		ops = append(ops, batch.Op{Kind: batch.Incr, Key: l.key, Delta: delta, TTL: l.limit.Per})
	}
	ops = append(ops, p.with...)
	if err := batch.Run(ctx, st, ops); err != nil {
		return nil, err
	}
	t.ops, t.with = ops[:len(ops)-len(p.with)], ops[len(ops)-len(p.with):]
	if t.tries {
		t.left = p.limit - t.ops[0].N
		if t.left+delta <= 0 {
			t.refused = tryTooMany
			t.giveBack(ctx, t.locks())
			return t, nil
		}
	}
	for i, l := range p.locks {
		if op := t.locks()[i]; op.N-delta >= int64(l.limit.N) {
			t.refused, t.lock, t.ttl = tryLocked, l.key, op.Left
			t.giveBack(ctx, t.locks())
			return t, nil
		}
	}
	return t, nil
}

// locks returns the ops that counted the try against the locks.
func (t *codeTry) locks() []batch.Op {
	if t.tries {
		return t.ops[1:]
	}
	return t.ops
}

// cancel gives the whole try back: nobody judged the code.
func (t *codeTry) cancel(ctx context.Context) { t.giveBack(ctx, t.ops) }

// spend marks the code used (State key used, for keep; "" for a code
// with no one-use mark of its own) and gives the locks their try back,
// with the ops marks (a proved number's marks), in one round trip. It
// reports whether this try was the first to spend the code.
func (t *codeTry) spend(ctx context.Context, used string, keep time.Duration, marks []batch.Op) (bool, error) {
	var ops []batch.Op
	if used != "" {
		ops = append(ops, batch.Op{Kind: batch.SetNX, Key: used, TTL: keep})
	}
	ops = append(ops, back(t.locks())...)
	ops = append(ops, marks...)
	if err := batch.Run(ctx, t.state, ops); err != nil {
		return false, storeErr(err)
	}
	copy(marks, ops[len(ops)-len(marks):])
	return used == "" || ops[0].OK, nil
}

// recount counts the try against the locks again, after spend gave it
// back: a right code that was spent before (a replay) is a wrong try.
func (t *codeTry) recount(ctx context.Context) { t.giveBack(ctx, back(t.locks())) }

// giveBack takes back the counts of ops.
func (t *codeTry) giveBack(ctx context.Context, ops []batch.Op) {
	if len(ops) == 0 {
		return
	}
	if err := batch.Run(ctx, t.state, back(ops)); err != nil {
		t.log.Error("twofactor: state backend failed giving back a try", "err", err)
	}
}

// back returns the Incr ops that take back the counts of ops.
func back(ops []batch.Op) []batch.Op {
	out := make([]batch.Op, 0, len(ops))
	for _, op := range ops {
		if op.Kind == batch.Incr && op.Delta != 0 {
			out = append(out, batch.Op{Kind: batch.Incr, Key: op.Key, Delta: -op.Delta, TTL: op.TTL})
		}
	}
	return out
}

// codeCheck is one code to check: the provider's verification id, the
// code typed, what a try at it counts against, its one-use mark, and
// what to record when it is right.
type codeCheck struct {
	id, code string
	plan     tryPlan
	used     string // State key of the one-use mark, kept for plan.window
	// holds, if set, tells from the answers of plan.with whether the code
	// may still be checked at all; when not, the try is given back.
	holds func(with []batch.Op) (bool, error)
	marks []batch.Op // run with the spending of a right code
}

// codeChecked is what came of checking a code.
type codeChecked struct {
	*codeTry
	// err is nil when the code was right and this try spent it;
	// ErrTooManyAttempts when the code's tries were spent already;
	// ErrAlreadyUsed when a parallel try spent it first; else the
	// judge's (the provider's; ErrInvalidCode from an authenticator app;
	// why a passkey's answer was refused). A try a lock refused has
	// refused == tryLocked.
	err  error
	gone bool // holds said no (for an authenticator app: the user has none)
}

// checkCode lives the life of one code (see above): reserve a try, ask
// the provider, spend the code once, or give the try back. The error is
// the State's.
func (m *Manager) checkCode(ctx context.Context, c codeCheck) (codeChecked, error) {
	t, err := reserveTry(ctx, m.cfg.state, m.log, c.plan)
	if err != nil {
		return codeChecked{}, err
	}
	out := codeChecked{codeTry: t}
	switch t.refused {
	case tryTooMany:
		out.err = ErrTooManyAttempts
		return out, nil
	case tryLocked:
		return out, nil
	}
	if c.holds != nil {
		ok, err := c.holds(t.with)
		if err != nil || !ok {
			t.cancel(ctx)
			out.gone = err == nil
			return out, err
		}
	}
	pctx, answered := m.providerContext(ctx)
	out.err = m.provider.Check(pctx, c.id, c.code)
	answered()
	if out.err != nil {
		if checkNotJudged(out.err) {
			t.cancel(ctx) // the provider did not judge the code
		}
		return out, nil
	}
	// One use, whatever the provider does: of two parallel right
	// submissions, one wins.
	first, err := t.spend(ctx, c.used, c.plan.window, c.marks)
	if err != nil {
		return out, err
	}
	if !first {
		out.err = ErrAlreadyUsed
		t.giveBack(ctx, c.marks) // the winner counted the code verified
	}
	return out, nil
}
