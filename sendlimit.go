package twofactor

import (
	"context"
	"log/slog"
	"time"

	"github.com/go-twofactor/twofactor/internal/batch"
)

// The send limiter.
//
// A send must pass every limit, and it counts against all of them or
// against none. limitSend first reads every counter (State.Incr by 0, which
// creates nothing) and refuses at the first limit already spent: such a
// refusal changes nothing in the State. Otherwise it counts the send
// against every limit (State.Incr, atomic per key, so parallel sends can
// never exceed a limit) and, when a parallel send took the last room of
// one in between, gives every count back. A request refused by one limit
// therefore spends nothing of any other. With a State that batches
// (MemoryState, redisstate: internal/batch), reading is one round trip,
// and so are counting (with what the caller reads along, such as the
// user's generation, and the conversion watch's count) and giving back.
//
// A sendReservation can be given back (cancel), or release one limit when
// the send never went out (the session's resend cooldown after a provider
// failure: send.go). Like rate.Reservation with its Cancel, and like
// codeTry (codelife.go), it knows State keys and nothing of HTTP, pages or
// events: the flow (limits.go) builds the plan from the request and
// answers a sendRefusal with its page, JSON, log line and events.

// sendPlan is what a send counts against.
type sendPlan struct {
	rules []rule      // in order, the requester's own first (sendRules)
	locks []guessLock // the locks of wrong codes: read, never counted
	// A requester's mark of owning the number and the number's mark of
	// being known (fraud.go), read when set, with the locks after the
	// requester's own rules; marks is their window.
	ownerMark, knownMark string
	marks                time.Duration
	onFile               bool // the number is on file: known, and the requester's own
	// watch is the State key of the conversion watch's count of codes to
	// first-time numbers; "" for no watch.
	watch string
	with  []batch.Op // ops to run with the count, answered in place
}

// sendRefusal says which limit refused a send, and how.
type sendRefusal struct {
	rule rule          // the limit that refused the send, unless lock is set
	lock *guessLock    // the lock of wrong codes that refused it, if one did
	ttl  time.Duration // the time left in the refusing counter's window
	// read marks a refusal by the read of the counters: it changed nothing
	// in the State. Else a parallel send took the last room between read
	// and count, and the counts were given back.
	read bool
}

// sendReservation is one send counted against every limit of its plan.
type sendReservation struct {
	state State
	log   *slog.Logger
	ops   []batch.Op // the counts the send made
	rules []rule     // the rule of each count
	// What the read learnt: the requester owns the number, the number is
	// known (either passes the budgets and the number range's limit).
	owner, known bool
	// watched is the conversion watch's count after this send; 0 when the
	// watch did not count it (no watch, or a known number).
	watched int64
}

// limitSend counts a send against every limit of p, or against none: it
// then returns the refusal, or the State's error.
//
// It reads every counter first and refuses at the first limit already
// spent, in the order of p.rules with the marks and locks between the
// requester's own limits and the shared ones. Only when every counter has
// room does it count the send against all of them (with p.with and the
// conversion watch's count, in the same round trip); if a parallel send
// took the last room in between, it gives every count back.
func limitSend(ctx context.Context, st State, log *slog.Logger, p sendPlan) (*sendReservation, *sendRefusal, error) {
	j := newSendJudge(p)
	// Read: refuse at the first counter already spent.
	if err := runIncrs(ctx, st, log, j.reads, j.full); err != nil {
		return nil, nil, err
	}
	for i, op := range j.reads {
		if !j.full(i, op.N) {
			continue
		}
		no := &sendRefusal{ttl: op.Left, read: true}
		if j.kinds[i] == lockRead {
			no.lock = &j.locks[j.at[i]]
		} else {
			no.rule = j.rules[j.at[i]]
		}
		return nil, no, nil
	}
	return j.count(ctx, st, log, p)
}

// cancel gives every count of the send back.
func (s *sendReservation) cancel(ctx context.Context) { giveBackCounts(ctx, s.state, s.log, s.ops) }

// release deletes the counter of the rule name, if the send counted it:
// for a limit that must not outlast a send that never went out (the
// session's resend cooldown), while the others keep counting it.
func (s *sendReservation) release(ctx context.Context, name string) error {
	for _, ru := range s.rules {
		if ru.name == name {
			return s.state.Delete(ctx, ru.key)
		}
	}
	return nil
}

// What a read of limitSend is: a rule's counter, a lock, or a mark.
const ruleRead, lockRead, ownerRead, knownRead, onlyIfRead = 0, 1, 2, 3, 4

// sendJudge reads the counters of a send and judges them: in order, it
// learns whether the number is known, owned or sent to again, and which
// read refuses the send.
type sendJudge struct {
	rules []rule
	locks []guessLock
	reads []batch.Op
	kinds []int // of each read: ruleRead, lockRead, …
	at    []int // of each read: its index in rules or locks
	// A known number (on file, or verified lately: fraud.go) passes the
	// budgets and the number range's limit: someone else's flood must not
	// stop a customer. A number that got a code in its window already is no
	// new number of its range: that limit neither refuses nor counts it.
	// The number's owner meets its own window and locks, strangers theirs.
	known, owner, again bool
	off                 map[string]bool // onlyIf marks found absent
}

// newSendJudge lists what to read: every counter in the order of p.rules,
// and after the requester's own: the marks of owner and known number (if
// p has them), then the locks of wrong codes (owners.go).
func newSendJudge(p sendPlan) *sendJudge {
	j := &sendJudge{rules: p.rules, locks: p.locks, off: map[string]bool{}}
	j.known, j.owner = p.onFile, p.onFile
	read := func(key string, window time.Duration, kind, at int) {
		j.reads = append(j.reads, batch.Op{Kind: batch.Incr, Key: key, TTL: window})
		j.kinds, j.at = append(j.kinds, kind), append(j.at, at)
	}
	for i, ru := range p.rules {
		if !ru.own && (i == 0 || p.rules[i-1].own) {
			if p.ownerMark != "" {
				read(p.ownerMark, p.marks, ownerRead, 0)
				read(p.knownMark, p.marks, knownRead, 0)
			}
			for k, l := range j.locks {
				read(l.key, l.limit.Per, lockRead, k)
			}
		}
		if ru.onlyIf != "" {
			read(ru.onlyIf, ru.limit.Per, onlyIfRead, i)
		}
		read(ru.key, ru.limit.Per, ruleRead, i)
	}
	return j
}

func (j *sendJudge) skip(ru rule) bool {
	return (j.known && (ru.budget || ru.firstSend)) || (j.again && ru.firstSend) || j.off[ru.onlyIf]
}

func (j *sendJudge) refuses(ru rule) bool {
	return !j.skip(ru) && (ru.owner == 0 || (ru.owner > 0) == j.owner)
}

// full reports whether read i, of value n, refuses the send. Called in
// order, it also learns whether the number is known, owned or sent again.
func (j *sendJudge) full(i int, n int64) bool {
	switch j.kinds[i] {
	case lockRead:
		l := j.locks[j.at[i]]
		return l.applies(j.owner) && n >= int64(l.limit.N)
	case ownerRead:
		j.owner = j.owner || n > 0
	case knownRead:
		j.known = j.known || n > 0
	case onlyIfRead:
		j.off[j.reads[i].Key] = n == 0
	default:
		ru := j.rules[j.at[i]]
		if ru.name == "phone" {
			j.again = n > 0
		}
		return j.refuses(ru) && n >= int64(ru.limit.N)
	}
	return false
}

// count counts the send against every rule of j it does not skip, with
// p.with and the conversion watch's count, in one round trip; if a
// parallel send took the last room of one, it gives every count back.
func (j *sendJudge) count(ctx context.Context, st State, log *slog.Logger, p sendPlan) (*sendReservation, *sendRefusal, error) {
	var counted []rule
	var ops []batch.Op
	for _, ru := range j.rules {
		if !j.skip(ru) {
			counted = append(counted, ru)
			ops = append(ops, batch.Op{Kind: batch.Incr, Key: ru.key, Delta: 1, TTL: ru.limit.Per})
		}
	}
	watch := !j.known && p.watch != "" // the watch looks at first-time numbers
	if watch {
		ops = append(ops, batch.Op{Kind: batch.Incr, Key: p.watch, Delta: 1, TTL: conversionWindow})
	}
	n := len(ops)
	ops = append(ops, p.with...)
	if err := batch.Run(ctx, st, ops); err != nil {
		// Which counts a failed batch made is unknown: giving back one it
		// did not make would free a send, so keep them (fail closed).
		return nil, nil, err
	}
	copy(p.with, ops[n:])
	s := &sendReservation{state: st, log: log, ops: ops[:n], rules: counted, owner: j.owner, known: j.known}
	for i, ru := range counted {
		if j.refuses(ru) && ops[i].N > int64(ru.limit.N) {
			// A parallel send took the last room: this one spends nothing.
			s.cancel(ctx)
			return nil, &sendRefusal{rule: ru, ttl: ops[i].Left}, nil
		}
	}
	if watch {
		s.watched = ops[n-1].N
	}
	return s, nil, nil
}

// giveBackCounts takes back the counts of ops (Incr ops that counted one
// each).
func giveBackCounts(ctx context.Context, st State, log *slog.Logger, ops []batch.Op) {
	b := back(ops)
	if len(b) == 0 {
		return
	}
	if err := batch.Run(ctx, st, b); err != nil {
		log.Error("twofactor: state backend failed giving back a count", "counters", len(ops), "err", err)
	}
}

// runIncrs runs the Incr ops: in one round trip when the State can batch,
// else one after the other, stopping after the first whose new value stop
// reports (nil: none), with the values after it left zero. Without a
// batch, an error gives back what the ops counted before it.
func runIncrs(ctx context.Context, st State, log *slog.Logger, ops []batch.Op, stop func(i int, n int64) bool) error {
	if batch.Can(st) {
		return batch.Run(ctx, st, ops)
	}
	for i := range ops {
		if err := batch.Do(ctx, st, &ops[i]); err != nil {
			giveBackCounts(ctx, st, log, ops[:i])
			return err
		}
		if stop != nil && stop(i, ops[i].N) {
			break
		}
	}
	return nil
}
