package twofactor

import (
	"context"
	"time"

	"github.com/go-twofactor/twofactor/internal/batch"
)

// What a read of reserve is: a rule's counter, a lock, or a mark.
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

// newSendJudge lists what to read: every counter in the order of rules,
// and after the requester's own: whether the requester owns the number and
// whether it is known, then the locks of wrong codes (owners.go).
func (m *Manager) newSendJudge(q *sendReq, rules []rule) *sendJudge {
	j := &sendJudge{rules: rules, locks: m.guessLocks(q.r, q.info.e164), off: map[string]bool{}}
	j.known, j.owner = q.info.onFile, q.info.onFile
	read := func(key string, window time.Duration, kind, at int) {
		j.reads = append(j.reads, batch.Op{Kind: batch.Incr, Key: key, TTL: window})
		j.kinds, j.at = append(j.kinds, kind), append(j.at, at)
	}
	for i, ru := range rules {
		if !ru.own && (i == 0 || rules[i-1].own) {
			if m.cfg.knownFor > 0 && !q.info.onFile {
				read(ownerKey(m.ownerID(q.info.e164, m.requester(q.r))), m.cfg.knownFor, ownerRead, 0)
				read(knownKey(m.numberID(q.info.e164)), m.cfg.knownFor, knownRead, 0)
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

// giveBack takes back the counts of ops (Incr ops that counted one each).
func (m *Manager) giveBack(ctx context.Context, ops []batch.Op) {
	var back []batch.Op
	for _, op := range ops {
		if op.Kind == batch.Incr && op.Delta != 0 {
			back = append(back, batch.Op{Kind: batch.Incr, Key: op.Key, Delta: -op.Delta, TTL: op.TTL})
		}
	}
	if len(back) == 0 {
		return
	}
	if err := batch.Run(ctx, m.cfg.state, back); err != nil {
		m.log.Error("twofactor: state backend failed giving back a count", "counters", len(ops), "err", err)
	}
}

// runIncrs runs the Incr ops: in one round trip when the State can batch,
// else one after the other, stopping after the first whose new value stop
// reports (nil: none), with the values after it left zero. Without a
// batch, an error gives back what the ops counted before it.
func (m *Manager) runIncrs(ctx context.Context, ops []batch.Op, stop func(i int, n int64) bool) error {
	if batch.Can(m.cfg.state) {
		return batch.Run(ctx, m.cfg.state, ops)
	}
	for i := range ops {
		if err := batch.Do(ctx, m.cfg.state, &ops[i]); err != nil {
			m.giveBack(ctx, ops[:i])
			return err
		}
		if stop != nil && stop(i, ops[i].N) {
			break
		}
	}
	return nil
}
