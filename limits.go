package twofactor

import (
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-twofactor/twofactor/internal/batch"
)

// Send limits: the flow's side.
//
// A send must pass every limit, and it counts against all of them or
// against none: the limiter (limitSend, sendlimit.go) reads every counter,
// refuses at the first limit already spent without changing anything, and
// otherwise counts the send against every limit, giving every count back
// if a parallel send took the last room of one. A request refused by one
// limit therefore spends nothing of any other, and an attacker at his own
// address limit cannot wear down a victim's number window. With a State
// that batches, a refused send costs one round trip, a send two.
//
// This side decides and answers: sendRules and sendPlan build the limits
// of a send from the request (its address, network, subject and number),
// and reserve turns a refusal into the flow's error (refuse, lockedError),
// its log line (refused: once per key and window) and its events, or into
// a challenge (challenge.go).
//
// The requester's own limits come first (the session's cooldown, then the
// address windows from the widest network to the address), then the
// locks of wrong codes (owners.go: read, never counted here), then the shared ones: the
// number's windows and the country and global budgets of the fraud guard
// (fraud.go). A refusal names the first limit in that order that is spent.
// While a request is between its count and its give-back, a parallel
// request may see the count: that can refuse it a moment early, never let
// one through too many.
//
// Every key a send limit counts under is built in sendRules.

// Keys of the send limits and the fraud guard, besides cooldownKey,
// phoneSendsKey and ipSendsKey (state.go).
func netSendsKey(prefix netip.Prefix) string { return "net:" + prefix.String() }
func voicePhoneKey(number string) string     { return "voice:" + number }
func voiceIPKey(ip string) string            { return "voiceip:" + ip }
func countryKey(region string) string        { return "budget:" + region }
func rangeKey(rangeID string) string         { return "range:" + rangeID } // numberID of numberRange

// rangeDigits is how many trailing digits a number range leaves open: a
// range is the number without them, 10,000 numbers, the size of the blocks
// operators are given and pumps send codes to one after the other.
const rangeDigits = 4

// numberRange returns the range of the E.164 number e164: the number
// without its last rangeDigits digits (never less than "+" and a digit).
func numberRange(e164 string) string {
	return e164[:max(len(e164)-rangeDigits, min(len(e164), 2))]
}

const globalKey = "budget:global"

// rule is one limit a send must pass.
type rule struct {
	name  string // what the logs call it
	key   string // State key of its counter
	limit Limit
	// own marks the requester's own limits (session, address): a refusal
	// may say exactly how long to wait. A refusal by a shared limit tells a
	// stranger nothing about the number's or the country's traffic.
	own bool
	// budget marks the fraud guard's budgets: a refusal pauses sending for
	// everyone, "try again later", with an event and one log line per window.
	budget bool
	// firstSend marks a limit that counts only sends to a number that got
	// none in the window of the number's own limit (the "phone" rule): the
	// number range's limit counts distinct numbers that way.
	firstSend bool
	// onlyIf, when set, is the State key of a mark (a counter) without
	// which the limit does not apply: the conversion trickle's slowKey.
	onlyIf string
	region string // for budgets: the region, or "" for the global budget
	// owner: 0 when it refuses every requester, 1 when it refuses the
	// number's owner only (the requester's own window of the number), -1
	// when everyone else only (owners.go). Every send counts in it.
	owner int8
}

// sendRules returns every limit a send to info over ch from the client ip
// must pass, the requester's own first. Disabled limits are left out.
func (m *Manager) sendRules(r *http.Request, fs flowState, info phoneInfo, ch Channel, ip string) []rule {
	c := &m.cfg
	rules := []rule{{name: "cooldown", key: cooldownKey(fs.FlowID), limit: Limit{N: 1, Per: c.resendCooldown}, own: true}}
	if a, err := netip.ParseAddr(ip); err == nil {
		a = a.WithZone("")
		for _, n := range []struct {
			bits int
			l    Limit
			v6   bool
		}{{48, c.net48Sends, true}, {56, c.net56Sends, true}, {24, c.net24Sends, false}} {
			if a.Is6() != n.v6 {
				continue
			}
			if p, err := a.Prefix(n.bits); err == nil {
				rules = append(rules, rule{name: "net/" + strconv.Itoa(n.bits), key: netSendsKey(p), limit: n.l, own: true})
			}
		}
	}
	bucket := ipBucket(ip)
	rules = append(rules, rule{name: "ip", key: ipSendsKey(bucket), limit: c.ipSends, own: true})
	if ch == Voice {
		rules = append(rules, rule{name: "voice ip", key: voiceIPKey(bucket), limit: c.voiceIPSends, own: true})
	}
	// The number's windows: the shared one, which refuses strangers, and
	// the requester's own, which refuses the owner (owners.go): a stranger's
	// sends never spend the owner's window.
	own := m.ownerID(info.e164, m.requester(r))
	rules = append(rules,
		rule{name: "phone", key: phoneSendsKey(m.numberID(info.e164)), limit: c.phoneSends, owner: -1},
		rule{name: "phone (owner)", key: phoneSendsKey(own), limit: c.phoneSends, owner: 1})
	if ch == Voice {
		rules = append(rules,
			rule{name: "voice phone", key: voicePhoneKey(m.numberID(info.e164)), limit: c.voicePhoneSends, owner: -1},
			rule{name: "voice phone (owner)", key: voicePhoneKey(own), limit: c.voicePhoneSends, owner: 1})
	}
	rules = append(rules, rule{name: "number range", key: rangeKey(m.numberID(numberRange(info.e164))), limit: c.rangeSends, firstSend: true})
	rules = append(rules, m.countryRules(info.region)...)
	rules = append(rules, rule{name: "global budget", key: globalKey, limit: Limit{N: c.globalBudget, Per: budgetWindow}, budget: true})
	out := rules[:0]
	for _, r := range rules {
		if r.limit.enabled() || (r.budget && r.limit.N == 0) {
			out = append(out, r)
		}
	}
	return out
}

// sendReq is one send to reserve: the request, the flow, the number and
// channel, whether the session's resend cooldown applies, and the ops to
// run with the count (a generation read: send.go). reserve fills in the
// reservation: what the limiter learnt (whether the requester owns the
// number, whether the number is known, whether the conversion watch
// counted the send), and what a failed send releases (send.go).
type sendReq struct {
	r        *http.Request
	fs       flowState
	info     phoneInfo
	ch       Channel
	cooldown bool
	with     []batch.Op
	res      *sendReservation
}

// reserveSend counts q's send against every limit, or against none and
// answers the request with the refusal. It reports whether the send may go.
func (m *Manager) reserveSend(w http.ResponseWriter, q *sendReq) bool {
	fe, err := m.reserve(q)
	switch {
	case err != nil:
		m.storeFailed(w, q.r, q.fs, err)
		return false
	case fe != nil:
		m.fail(w, q.r, q.fs, fe)
		return false
	}
	return true
}

// reserve counts q's send against every limit (the session's resend
// cooldown too, if q.cooldown), or against none (limitSend, sendlimit.go):
// it then returns the refusal as the flow answers it, or the State's
// error. It refuses numbers the fraud guard does not send to before
// reading any counter.
func (m *Manager) reserve(q *sendReq) (*flowError, error) {
	if fe := m.guardNumber(q.info, q.ch); fe != nil {
		return fe, nil
	}
	p, fe := m.sendPlan(q)
	if fe != nil {
		return fe, nil
	}
	ctx := q.r.Context()
	s, no, err := limitSend(ctx, m.cfg.state, m.log, p)
	switch {
	case err != nil:
		return nil, err
	case no != nil:
		return m.refusal(q, no)
	}
	q.res = s
	if s.watched > 0 {
		m.judgeConversion(ctx, q.r, q.info.region, s.watched)
	}
	return nil, nil
}

// sendPlan returns what q's send counts against: its limits (sendRules),
// the locks of wrong codes (owners.go), the marks of owner and known number
// (fraud.go) and the conversion watch; or the refusal of a region whose
// budget is zero.
func (m *Manager) sendPlan(q *sendReq) (sendPlan, *flowError) {
	rules := m.sendRules(q.r, q.fs, q.info, q.ch, m.clientIP(q.r))
	if q.info.challenged {
		// Past a spent budget, a send that passed the challenge meets a
		// second budget as large (challenge.go).
		for i := range rules {
			if rules[i].budget {
				rules[i].key += ":challenged"
				rules[i].name += " (challenged)"
			}
		}
	}
	if !q.cooldown { // the session's resend cooldown is the flow's own
		rules = slices.DeleteFunc(rules, func(ru rule) bool { return ru.name == "cooldown" })
	}
	for _, ru := range rules {
		if ru.budget && ru.limit.N == 0 {
			return sendPlan{}, errRegion // a region whose budget is zero gets no codes at all
		}
	}
	p := sendPlan{rules: rules, locks: m.guessLocks(q.r, q.info.e164), onFile: q.info.onFile, with: q.with}
	if m.cfg.knownFor > 0 && !q.info.onFile {
		p.ownerMark = ownerKey(m.ownerID(q.info.e164, m.requester(q.r)))
		p.knownMark, p.marks = knownKey(m.numberID(q.info.e164)), m.cfg.knownFor
	}
	if m.cfg.conversionSends > 0 {
		p.watch = convSentKey(regionOrZZ(q.info.region))
	}
	return p, nil
}

// refusal answers q's send refused by no: a lock of wrong codes with its
// end and EventLocked, a limit as refuse answers it, and a spent budget
// read before counting with a challenge (challenge.go).
func (m *Manager) refusal(q *sendReq, no *sendRefusal) (*flowError, error) {
	r, ip := q.r, m.clientIP(q.r)
	if no.lock != nil {
		until := lockEnd(m.cfg.now(), no.ttl)
		m.refused(r, no.lock.name, no.lock.key, until, q.info.masked, ip)
		m.emit(r, Event{Type: EventLocked, Subject: m.subject(r), Phone: q.info.e164})
		return lockedError(until, m.cfg.now()), nil
	}
	fe := m.refuse(r, q.fs, no.rule, no.ttl, q.info, ip)
	if no.read && no.rule.budget && !q.info.challenged {
		return m.challenge(q, fe) // degrade, not switch off
	}
	return fe, nil
}

// refuse logs a send refused by ru, whose window ends in ttl, and returns
// the answer.
func (m *Manager) refuse(r *http.Request, fs flowState, ru rule, ttl time.Duration, info phoneInfo, ip string) *flowError {
	now := m.cfg.now()
	first := m.refused(r, ru.name, ru.key, now.Add(ttl), info.masked, ip)
	if ru.budget {
		if first { // later refusals in this window were alerted for already
			m.budgetExceeded(r, ru, ttl)
		}
		fe := *errPaused
		fe.retryAfter = coarse(ttl, time.Minute)
		return &fe
	}
	m.emit(r, Event{Type: EventRateLimited, Subject: m.subject(r), Phone: info.e164})
	fe := *errSendLimited
	switch {
	case ru.name == "cooldown":
		fe.msg = "err_cooldown" // one code was just sent: say how long to wait
		fe.arg = int64((ttl + time.Second - 1) / time.Second)
		fe.retryAfter = ttl
		if fs.PendingID == "" || fs.Phone != info.e164 {
			// Another number than the code on its way: speak of this
			// one, and keep it in the field.
			fe.msg, fe.field = "err_cooldown_new", "phone"
		}
	case ru.own:
		fe.retryAfter = ttl // the requester's own window
	default:
		// The number's window: the same answer from any client at any
		// time, so nobody learns when or how often the number got codes.
		fe.retryAfter = ru.limit.Per
	}
	return &fe
}

// coarse rounds d up to a multiple of unit.
func coarse(d, unit time.Duration) time.Duration {
	if d <= 0 {
		return unit
	}
	return (d + unit - 1) / unit * unit
}

// lockEnd is when a lock whose counter has ttl left ends, rounded up to
// the next full hour: a stranger learns no more than the hour.
func lockEnd(now time.Time, ttl time.Duration) time.Time {
	end := now.Add(ttl)
	if t := end.Truncate(time.Hour); t.Before(end) {
		end = t.Add(time.Hour)
	}
	return end
}

func lockedError(until, now time.Time) *flowError {
	fe := *errLocked
	fe.msg = "err_locked_until"
	fe.until = until
	fe.retryAfter = until.Sub(now)
	return &fe
}

// refusalLogWindow bounds how long one log line stands for the refusals of
// a key whose window is longer, and is the window of keys without one.
const refusalLogWindow = time.Hour

// refusalLogMax bounds the keys whose refusals are being counted for the
// log; past it, refusals of further keys are counted under one entry.
const refusalLogMax = 4096

// refusalLog logs repeated refusals once per key and window: the first
// refusal at once, and how many followed when the window has turned (at
// the key's next refusal, or when the entry is swept). Its memory is
// bounded by refusalLogMax entries.
type refusalLog struct {
	mu      sync.Mutex
	entries map[string]*refusalEntry
}

type refusalEntry struct {
	name  string
	ends  time.Time
	count int
}

// refused logs the refusal of a request by the limit name (State key key,
// whose window ends at end): once per key and window, with a count. It
// reports whether this was the first refusal of the key's window here.
func (m *Manager) refused(r *http.Request, name, key string, end time.Time, masked, ip string) bool {
	now := m.cfg.now()
	if end.Sub(now) > refusalLogWindow {
		end = now.Add(refusalLogWindow)
	}
	l := &m.refusals
	l.mu.Lock()
	if l.entries == nil {
		l.entries = make(map[string]*refusalEntry)
	}
	var summaries []refusalEntry
	e, ok := l.entries[key]
	if ok && now.Before(e.ends) {
		e.count++
		l.mu.Unlock()
		return false
	}
	if ok {
		if e.count > 1 {
			summaries = append(summaries, *e)
		}
		delete(l.entries, key)
	}
	if len(l.entries) >= refusalLogMax {
		for k, e := range l.entries {
			if !now.Before(e.ends) {
				if e.count > 1 {
					summaries = append(summaries, *e)
				}
				delete(l.entries, k)
			}
		}
	}
	first := true
	if len(l.entries) >= refusalLogMax {
		// Still full: count it under one shared entry.
		key, name, end = "", "other limits", now.Add(time.Minute)
		if e, ok := l.entries[key]; ok && now.Before(e.ends) {
			e.count++
			first = false
		}
	}
	if first {
		l.entries[key] = &refusalEntry{name: name, ends: end, count: 1}
	}
	l.mu.Unlock()
	for _, s := range summaries {
		m.log.Warn("twofactor: sends rate-limited in the last window", "limit", s.name, "refused", s.count)
	}
	if first {
		m.log.Warn("twofactor: send rate-limited; further refusals by this limit are counted until its window ends",
			"limit", name, "phone", masked, "ip", ip, "until", end.UTC().Format(time.RFC3339))
	}
	return first
}

// stateFullLogged limits the "state full" log line to one a minute.
type onceAMinute struct {
	mu   sync.Mutex
	next time.Time
	n    int
}

// tick reports whether to log now, and how many events were not logged since.
func (o *onceAMinute) tick(now time.Time) (bool, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n++
	if now.Before(o.next) {
		return false, 0
	}
	n := o.n
	o.n, o.next = 0, now.Add(time.Minute)
	return true, n
}

// isStateFull reports whether err is a full State refusing new keys.
func isStateFull(err error) bool { return errors.Is(err, errStateFull) }
