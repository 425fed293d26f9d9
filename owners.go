package twofactor

import (
	"net/http"
	"time"

	"github.com/go-twofactor/twofactor/internal/batch"
)

// Whose windows and locks a request spends.
//
// A stranger must spend only his own. So the windows of a number and the
// locks that wrong codes set are keyed by who asks:
//
//   - The requester is the app's user (the subject) when there is one, else
//     the client's address (ipBucket: an IPv4 address, an IPv6 /64).
//   - A number's owner is a requester who proved it lately (a correct code
//     for it within FraudGuard.KnownNumbers' period, kept as a keyed hash of
//     number and requester with that expiry), or the user whose number on
//     file it is (known-number mode, and transaction confirmations).
//   - Sends the owner asks for count in the owner's own window of the
//     number (Limits.Phone per owner and number); everyone else's are
//     refused by the number's shared window. Every send counts in both (the
//     requester's window of the number, and the shared one), so the owner's
//     window bounds what one requester gets, stranger then owner, and the
//     shared one what strangers get; but only strangers are refused by it.
//   - Wrong codes count against the guesser (the requester: the subject, or
//     the address) with Limits.Account, and against one of two totals
//     of the number that lock much later (totalAttempts each): its
//     strangers' or its owners'. A stranger who spends the strangers' total
//     locks strangers out of the number, never its owner.
//   - Whether a check's guesser is the owner is decided when its code is
//     sent (the send reads the owner mark with its limits): the session
//     keeps it as the keyed hash of number and requester (ownsPending), so
//     the check asks the State nothing more, and a session replayed by
//     another requester claims nothing.
//
// Bounded guessing: a code has 10^codeLen values and is chosen by
// crypto/rand, so one wrong guess finds it with probability at most
// 10^-codeLen. Every guess against a number counts against one of its two
// totals, so in one window at most 2 × totalAttempts guesses reach it, and
// any 24 hours overlap at most two windows: at 6 digits and the default 25,
// at most 100 guesses a day, a chance of at most 100 / 10^6 = 1 in 10,000.

// defaultTotalAttempts is the default of each total of wrong codes (see
// above): 25 per 24 hours for a number's strangers, as many for its
// owners.
const defaultTotalAttempts = 25

// totalAttempts is the limit of each total of wrong codes: 25 per 24 hours,
// or the Limits.Account limit when that is higher or longer.
func (m *Manager) totalAttempts() Limit {
	a := m.cfg.accountAttempts
	return Limit{N: max(defaultTotalAttempts, a.N), Per: max(24*time.Hour, a.Per)}
}

// requester names who asks r: the subject, or the client's address.
func (m *Manager) requester(r *http.Request) string {
	if s := m.subject(r); s != "" {
		return "s:" + s
	}
	return "a:" + ipBucket(m.clientIP(r))
}

// ownerID is the keyed hash that names the number e164 together with the
// requester who: the owner mark's key and the owner's send windows.
func (m *Manager) ownerID(e164, who string) string { return m.numberID(e164 + "\x00" + who) }

// ownerKey is the mark of a requester who proved a number lately.
func ownerKey(id string) string { return "owner:" + id } // id: ownerID

// guessLock is one counter of wrong codes that locks at limit.
type guessLock struct {
	name  string
	key   string
	limit Limit
	// owner: 0 for every requester, 1 for the number's owner only, -1 for
	// everyone else only.
	owner int8
}

// applies reports whether the lock counts a request by an owner (owner)
// or a stranger.
func (l guessLock) applies(owner bool) bool {
	return l.owner == 0 || (l.owner > 0) == owner
}

// guessLocks returns every counter of wrong codes typed by r's requester
// for codes sent to e164: the guesser's own first (the subject, as before
// this rule, so Unlock(subject) still frees it; else the address).
func (m *Manager) guessLocks(r *http.Request, e164 string) []guessLock {
	id, total := m.numberID(e164), m.totalAttempts()
	return []guessLock{
		m.accountLock(r),
		{name: "number locked", key: accountKey("n:" + id), limit: total, owner: -1},
		{name: "number locked", key: accountKey("o:" + id), limit: total, owner: 1},
	}
}

// accountLock is the lock of wrong codes of r's requester (the subject,
// else the address): the one lock of the factors that send no code
// (authenticator apps, passkeys), shared with SMS codes.
func (m *Manager) accountLock(r *http.Request) guessLock {
	return guessLock{name: "account locked", key: accountKey(m.requester(r)), limit: m.cfg.accountAttempts}
}

// factorPlan is what a try at a factor that sends no code counts
// against: the lock of wrong codes of r's requester (accountLock), with
// subject's generation read along (its answer is the try's with[0]).
func (m *Manager) factorPlan(r *http.Request, subject string) tryPlan {
	return tryPlan{locks: []guessLock{m.accountLock(r)}, with: []batch.Op{m.generationOp(subject)}}
}

// applyingLocks returns the locks of wrong codes that count a try by r's
// requester at a code sent to e164: the guesser's own, and the number's
// total of its owners (owner) or of its strangers.
func (m *Manager) applyingLocks(r *http.Request, e164 string, owner bool) []guessLock {
	var out []guessLock
	for _, l := range m.guessLocks(r, e164) {
		if l.applies(owner) {
			out = append(out, l)
		}
	}
	return out
}

// ownsPending reports whether r's requester owns the number of fs's
// pending code: onFile (the app vouches for it), or the send found a mark
// of a correct code for it by this requester lately (fs.Owner: the keyed
// hash of number and requester, so a session taken elsewhere claims
// nothing). Marks are never taken back but by their expiry, which the
// minutes a code lives cannot reach.
func (m *Manager) ownsPending(r *http.Request, fs flowState, onFile bool) bool {
	return onFile || (fs.Owner != "" && fs.Owner == m.ownerID(fs.Phone, m.requester(r)))
}

// provedMarks are the ops that record a correct code for e164 by r's
// requester: the number is known (fraud.go: it passes the budgets) and
// the requester its owner (its windows and locks are the prover's own),
// each for FraudGuard.KnownNumbers' period from now; and, when the conversion
// watch counted the code's send (watched), one more code verified.
func (m *Manager) provedMarks(r *http.Request, e164 string, watched bool) []batch.Op {
	var ops []batch.Op
	if d := m.cfg.knownFor; d > 0 {
		// Marks a counter reads (reserve reads them with the others).
		known := batch.Mark(knownKey(m.numberID(e164)), d)
		owner := batch.Mark(ownerKey(m.ownerID(e164, m.requester(r))), d)
		ops = append(ops, known[0], known[1], owner[0], owner[1])
	}
	if watched {
		if info, err := inspectPhone(e164, ""); err == nil {
			ops = append(ops, batch.Op{Kind: batch.Incr, Key: convOKKey(regionOrZZ(info.region)), Delta: 1, TTL: conversionWindow})
		}
	}
	return ops
}
