package twofactor

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Send limits.
//
// A send must pass every limit, and it counts against all of them or
// against none: reserveSend counts the send against each limit in turn
// (State.Incr, atomic per key, so parallel sends can never exceed a limit)
// and, when one refuses, gives back every count it made, the refusing one
// included. A request refused by one limit therefore spends nothing of any
// other, and an attacker at his own address limit cannot wear down a
// victim's number window.
//
// The requester's own limits come first (the session's cooldown, then the
// address windows from the widest network to the address), so a refused
// flood touches nothing shared; then the account lock (read, not counted);
// then the shared ones: the number's windows and the country and global
// budgets of the fraud guard (fraud.go). While a request is between its
// count and its give-back, a parallel request may see the count: that can
// refuse it a moment early, never let one through too many.
//
// Every key a send limit counts under is built in sendRules.

// Keys of the send limits and the fraud guard, besides cooldownKey,
// phoneSendsKey and ipSendsKey (state.go).
func netSendsKey(prefix netip.Prefix) string { return "net:" + prefix.String() }
func voicePhoneKey(number string) string     { return "voice:" + number }
func voiceIPKey(ip string) string            { return "voiceip:" + ip }
func countryKey(region string) string        { return "budget:" + region }

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
	region string // for budgets: the region, or "" for the global budget
}

// sendRules returns every limit a send to info over ch from the client ip
// must pass, the requester's own first. Disabled limits are left out.
func (m *Manager) sendRules(ctx context.Context, fs flowState, info phoneInfo, ch Channel, ip string) ([]rule, error) {
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
	rules = append(rules, rule{name: "phone", key: phoneSendsKey(m.numberID(info.e164)), limit: c.phoneSends})
	if ch == Voice {
		rules = append(rules, rule{name: "voice phone", key: voicePhoneKey(m.numberID(info.e164)), limit: c.voicePhoneSends})
	}
	country, err := m.countryRules(ctx, info.region)
	if err != nil {
		return nil, err
	}
	rules = append(rules, country...)
	rules = append(rules, rule{name: "global budget", key: globalKey, limit: Limit{N: c.globalBudget, Per: budgetWindow}, budget: true})
	out := rules[:0]
	for _, r := range rules {
		if r.limit.enabled() || (r.budget && r.limit.N == 0) {
			out = append(out, r)
		}
	}
	return out, nil
}

// reserveSend counts a send to info over ch against every limit, or
// against none and answers the request with the refusal. It reports
// whether the send may go.
func (m *Manager) reserveSend(w http.ResponseWriter, r *http.Request, fs flowState, info phoneInfo, ch Channel) bool {
	fe, err := m.reserve(r, fs, info, ch, true)
	switch {
	case err != nil:
		m.storeFailed(w, r, fs, err)
		return false
	case fe != nil:
		m.fail(w, r, fs, fe)
		return false
	}
	return true
}

// reserve counts a send to info over ch against every limit (the session's
// resend cooldown too, if cooldown), or against none: it then returns the
// refusal, or the State's error.
func (m *Manager) reserve(r *http.Request, fs flowState, info phoneInfo, ch Channel, cooldown bool) (*flowError, error) {
	ctx := r.Context()
	if fe := m.guardNumber(info, ch); fe != nil {
		return fe, nil
	}
	ip := m.clientIP(r)
	rules, err := m.sendRules(ctx, fs, info, ch, ip)
	if err != nil {
		return nil, err
	}
	if !cooldown { // the session's resend cooldown is the flow's own
		rules = slices.DeleteFunc(rules, func(ru rule) bool { return ru.name == "cooldown" })
	}
	var counted []rule
	giveBack := func() {
		for i := len(counted) - 1; i >= 0; i-- {
			if _, _, err := m.cfg.state.Incr(ctx, counted[i].key, -1, counted[i].limit.Per); err != nil {
				m.log.Error("twofactor: state backend failed giving back a send count", "limit", counted[i].name, "err", err)
			}
		}
	}
	lockChecked := false
	for _, ru := range rules {
		if !ru.own && !lockChecked {
			// The requester passed his own limits: now, before anything
			// shared is counted, refuse a locked account or number.
			lockChecked = true
			until, err := m.lockedUntil(ctx, r, info.e164)
			if err != nil {
				giveBack()
				return nil, err
			}
			if !until.IsZero() {
				giveBack()
				m.refused(r, "account locked", accountKey(m.sendAccount(r, info.e164)), until, info.masked, ip)
				m.emit(r, Event{Type: EventLocked, Subject: m.subject(r), Phone: info.e164})
				return lockedError(until, m.cfg.now()), nil
			}
		}
		if ru.budget && ru.limit.N == 0 {
			giveBack() // a region whose budget is zero gets no codes at all
			return errRegion, nil
		}
		n, ttl, err := m.cfg.state.Incr(ctx, ru.key, 1, ru.limit.Per)
		if err != nil {
			giveBack()
			return nil, err
		}
		counted = append(counted, ru)
		if n <= int64(ru.limit.N) {
			continue
		}
		giveBack()
		return m.refuse(r, fs, ru, ttl, info, ip), nil
	}
	m.noteSent(ctx, r, info.region)
	return nil, nil
}

// refuse logs a send refused by ru, whose window ends in ttl, and returns
// the answer.
func (m *Manager) refuse(r *http.Request, fs flowState, ru rule, ttl time.Duration, info phoneInfo, ip string) *flowError {
	now := m.cfg.now()
	m.refused(r, ru.name, ru.key, now.Add(ttl), info.masked, ip)
	if ru.budget {
		m.budgetExceeded(r, ru, ttl)
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

// sendAccount names the account whose wrong codes are counted together and
// lock sends to e164: the app's user when it names one, else the number
// (by its keyed hash). Sign-in codes and confirmations count against it;
// recovery codes have a counter of their own.
func (m *Manager) sendAccount(r *http.Request, e164 string) string {
	if s := m.subject(r); s != "" {
		return "s:" + s
	}
	return "n:" + m.numberID(e164)
}

// lockedUntil reports until when the account of a send to e164 is locked
// by wrong codes, rounded up to the next full hour (a stranger learns no
// more than the hour); the zero time when it is not locked. It reads the
// account counter without counting.
func (m *Manager) lockedUntil(ctx context.Context, r *http.Request, e164 string) (time.Time, error) {
	l := m.cfg.accountAttempts
	n, ttl, err := m.cfg.state.Incr(ctx, accountKey(m.sendAccount(r, e164)), 0, l.Per)
	if err != nil || n < int64(l.N) {
		return time.Time{}, err
	}
	end := m.cfg.now().Add(ttl)
	if t := end.Truncate(time.Hour); t.Before(end) {
		end = t.Add(time.Hour)
	}
	return end, nil
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
// whose window ends at end): once per key and window, with a count.
func (m *Manager) refused(r *http.Request, name, key string, end time.Time, masked, ip string) {
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
		return
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
func isStateFull(err error) bool { return errors.Is(err, ErrStateFull) }
