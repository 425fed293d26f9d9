package twofactor

import (
	"context"
	"net/http"
	"time"
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
		{name: "account locked", key: accountKey(m.requester(r)), limit: m.cfg.accountAttempts},
		{name: "number locked", key: accountKey("n:" + id), limit: total, owner: -1},
		{name: "number locked", key: accountKey("o:" + id), limit: total, owner: 1},
	}
}

// isOwner reports whether r's requester owns e164: onFile (the app vouches
// for it), or a mark of a correct code for it lately.
func (m *Manager) isOwner(ctx context.Context, r *http.Request, e164 string, onFile bool) (bool, error) {
	if onFile {
		return true, nil
	}
	if m.cfg.knownFor <= 0 {
		return false, nil
	}
	n, _, err := m.cfg.state.Incr(ctx, ownerKey(m.ownerID(e164, m.requester(r))), 0, m.cfg.knownFor)
	return n > 0, err
}

// noteOwner marks r's requester an owner of e164, which it just proved.
func (m *Manager) noteOwner(r *http.Request, e164 string) {
	d := m.cfg.knownFor
	if d <= 0 {
		return
	}
	ctx, key := r.Context(), ownerKey(m.ownerID(e164, m.requester(r)))
	// A counter, not a SetNX mark: reserve reads it with the others.
	had, err := m.cfg.state.Touch(ctx, key, d)
	if err == nil && !had {
		_, _, err = m.cfg.state.Incr(ctx, key, 1, d)
	}
	if err != nil {
		m.log.Error("twofactor: state backend failed marking a number's owner", "err", err)
	}
}

// guess is one wrong-code try counted against every lock that applies.
type guess struct {
	keys    []string
	windows []time.Duration
	// locked, when set, is the lock that refused the try (its key and
	// the time left in its window); the try then counts against none.
	locked string
	ttl    time.Duration
}

// countGuess counts a try at a code sent to e164 against every lock of
// r's requester (onFile: the app vouches for the number), or, when one of
// them is spent, against none and reports that one.
func (m *Manager) countGuess(ctx context.Context, r *http.Request, e164 string, onFile bool) (guess, error) {
	owner, err := m.isOwner(ctx, r, e164, onFile)
	if err != nil {
		return guess{}, err
	}
	var g guess
	var ls []guessLock
	for _, l := range m.guessLocks(r, e164) {
		if l.applies(owner) {
			ls = append(ls, l)
			g.keys, g.windows = append(g.keys, l.key), append(g.windows, l.limit.Per)
		}
	}
	ns, ttls, err := m.incrAll(ctx, g.keys, 1, g.windows, nil)
	if err != nil {
		return guess{}, err
	}
	for i, n := range ns {
		if n > int64(ls[i].limit.N) {
			// Spent: this try counts against none, so a locked guesser
			// cannot go on to spend the totals.
			g.giveBack(ctx, m)
			g.locked, g.ttl = ls[i].key, ttls[i]
			return g, nil
		}
	}
	return g, nil
}

// giveBack takes the try back from every lock it counted against.
func (g guess) giveBack(ctx context.Context, m *Manager) {
	if len(g.keys) == 0 {
		return
	}
	if _, _, err := m.incrAll(ctx, g.keys, -1, g.windows, nil); err != nil {
		m.log.Error("twofactor: state backend failed", "err", err)
	}
}
