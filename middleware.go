package twofactor

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// Require is middleware that lets a request through only when its session
// is verified (and, with WithSubject, verified for the same user; within
// the max age and idle timeout; not reset or signed out). Otherwise GET and
// HEAD requests for pages are redirected into the flow, which brings the
// visitor back here afterwards; a browser's form (another method, sent
// from a page) goes through the flow and back to the page it was sent from;
// other requests (JSON, scripts) get 401 Unauthorized. If the
// session store or state backend fails, it answers 503 and lets nothing
// through. The handler behind it reads the session's Record with
// RecordFrom.
//
// WithDenyHandler lets the app answer these refusals itself; DenyReason
// tells it why.
//
// It has the standard shape func(http.Handler) http.Handler, so it works
// with net/http's ServeMux, chi and gorilla/mux alike.
//
// With a *sessions.CookieStore, Require remembers the decoded contents of
// up to 10 000 verified cookies, so it does not decrypt the same cookie on
// every request; the checks above (max age, subject, revocation, idle
// timeout) still run on every request, at the cost of one State call.
// With a server-side store that implements GateLoader for the Manager's
// State (redisstate.SessionStore), loading the session and that State call
// are one round trip.
func (m *Manager) Require(next http.Handler) http.Handler {
	return m.gate(next, 0)
}

// RequireFresh is Require for sensitive actions (step-up): it also wants
// the verification to be younger than within, made by a code or a recovery
// code (a remembered device does not count). A visitor who is verified but
// not freshly enough is sent through the flow again (GET and HEAD) and then
// back here. A browser's form sent to it (a POST that went stale while the
// visitor read the page) goes through the flow too, and then back to the
// page the form was on (its Referer, when that is a page of this site;
// else the app's home), where the visitor sends it again: the form's data
// is not kept. Other requests (JSON, scripts) get 401 with the code
// "step_up_required". Abandoning the step-up leaves the session verified
// for routes behind Require.
//
// In known-number mode the new code goes to the number on file; otherwise
// to the number the session was verified with.
//
// within must be at least a minute: RequireFresh panics, when the route is
// set up, on a smaller value, which is a mistake (RequireFresh(5) is five
// nanoseconds, and no code could ever be fresh enough) that would
// otherwise send every visitor round the step-up for ever. Write
// RequireFresh(5*time.Minute).
func (m *Manager) RequireFresh(within time.Duration) func(http.Handler) http.Handler {
	if err := checkFresh(within); err != nil {
		panic(err)
	}
	return func(next http.Handler) http.Handler { return m.gate(next, within) }
}

// minFresh is the least freshness RequireFresh takes.
const minFresh = time.Minute

// checkFresh explains a RequireFresh duration below minFresh.
func checkFresh(within time.Duration) error {
	if within >= minFresh {
		return nil
	}
	hint := "such as RequireFresh(5*time.Minute)"
	if within > 0 && within < 1000 {
		// A bare number: surely meant as minutes.
		hint = fmt.Sprintf("did you mean RequireFresh(%d*time.Minute)?", int64(within))
	}
	return fmt.Errorf("twofactor: RequireFresh(%v): a step-up must accept verifications at least a minute old, or no code is ever fresh enough; %s", within, hint)
}

// ErrNotVerified is returned by Manager.Check for a session that is not
// verified (never, or no longer), and is the reason (DenyReason) the gate
// refuses it.
var ErrNotVerified = errors.New("twofactor: session not verified")

// ErrStepUpRequired is the reason (DenyReason) RequireFresh refuses a
// session that is verified, but not recently enough or not by a code: the
// visitor must step up. It does not match ErrNotVerified.
var ErrStepUpRequired = errors.New("twofactor: verification not fresh enough")

// Check reports whether r's session is verified now, by the same rules as
// Require, and returns its record. The error is nil, ErrNotVerified, or one
// matching ErrStoreUnavailable when the session store or state backend
// failed (treat it as not verified). Check refreshes the idle timer as the
// gate does.
func (m *Manager) Check(r *http.Request) (Record, error) {
	fs, err := m.decide(r, 0)
	if err != nil {
		return Record{}, err
	}
	return fs.record(), nil
}

// Verified reports whether r's session is verified now, by the same rules as
// Require. Store failures count as not verified.
func (m *Manager) Verified(r *http.Request) bool {
	_, err := m.Check(r)
	return err == nil
}

// gate serves next to verified requests; fresh > 0 also wants the record
// younger than fresh. It decides (decide), then lets the request through
// or answers the refusal (deny).
func (m *Manager) gate(next http.Handler, fresh time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs, err := m.decide(r, fresh)
		if err != nil {
			m.deny(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, &passed{fs.record(), fs.Grant})))
	})
}

// decide is the gate's decision, with plain values: r's session when it is
// verified (and, with fresh > 0, younger than fresh), else ErrNotVerified,
// ErrStepUpRequired, or an error matching ErrStoreUnavailable. Its State
// and store calls run under the request's budget; r's own context is left
// as it came, for the handler behind the gate.
func (m *Manager) decide(r *http.Request, fresh time.Duration) (flowState, error) {
	br, end := m.budgeted(r)
	fs, ok, err := m.verified(br)
	end()
	switch {
	case err != nil:
		return flowState{}, err
	case !ok:
		return flowState{}, ErrNotVerified
	case fresh > 0 && !fs.record().fresh(m.cfg.now(), fresh):
		return flowState{}, ErrStepUpRequired
	}
	return fs, nil
}

// denyKey is the context key of the reason the gate refused a request.
type denyKey struct{}

// DenyReason returns why the gate (Require, RequireFresh) refused r, for a
// handler set with WithDenyHandler: ErrNotVerified, ErrStepUpRequired, or
// an error matching ErrStoreUnavailable (the session store or State
// failed). It returns nil for a request the gate did not refuse.
func DenyReason(r *http.Request) error {
	err, _ := r.Context().Value(denyKey{}).(error)
	return err
}

// deny answers a request the gate refused for err, the one place that
// does: the app's handler (WithDenyHandler) when there is one; else a
// store failure gets 503, GET and HEAD requests for pages are redirected
// into the flow, a browser's form goes through the flow and back to the
// page it was sent from, and other requests (JSON, scripts) get 401.
// Store failures are logged either way.
func (m *Manager) deny(w http.ResponseWriter, r *http.Request, err error) {
	stale := errors.Is(err, ErrStepUpRequired)
	var fe *flowError
	if !stale && !errors.Is(err, ErrNotVerified) {
		fe = m.storeFailure(r, err)
	}
	if m.cfg.denyHandler != nil {
		m.cfg.denyHandler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), denyKey{}, err)))
		return
	}
	if fe != nil {
		m.fail(w, r, flowState{}, fe)
		return
	}
	page := r.Method == http.MethodGet || r.Method == http.MethodHead
	if wantsJSON(r) || (!page && !browserNavigation(r)) {
		fe = errRequired
		if stale {
			fe = errStale
		}
		m.fail(w, r, flowState{}, fe)
		return
	}
	q := url.Values{}
	ret, safe := safeReturn(r.URL.RequestURI())
	if !page {
		// A browser's form (a POST that went stale while the visitor
		// read the page): through the flow and back to the page the
		// form was on, where the visitor sends it again. The form's
		// data is not kept.
		ret, safe = m.formPage(r)
	}
	if safe {
		q.Set("next", ret)
	}
	if stale {
		q.Set("stepup", "1")
	}
	target := m.cfg.prefix
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	setSecurityHeaders(w.Header())
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// browserNavigation reports whether r is a browser navigating (a form
// sent from a page), not a script or API client: those get 401 and JSON.
func browserNavigation(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Mode") == "navigate" {
		return true
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part)); mt == "text/html" {
			return true
		}
	}
	return false
}

// formPage is where a browser whose form was refused by the gate comes
// back to after the flow: the page the form was on (its Referer) when that
// is a local page of this site outside the flow, else the app's home
// (Branding.HomeURL when local, else "/").
func (m *Manager) formPage(r *http.Request) (string, bool) {
	if ref, err := url.Parse(r.Referer()); err == nil && (ref.Scheme == "https" || ref.Scheme == "http") && strings.EqualFold(ref.Host, r.Host) {
		if ret, ok := safeReturn(ref.RequestURI()); ok && !strings.HasPrefix(ref.Path, m.cfg.prefix) {
			return ret, true
		}
	}
	if ret, ok := safeReturn(m.cfg.branding.HomeURL); ok {
		return ret, true
	}
	return "/", true
}

// verified loads r's session, through the gate cache when the store is a
// cookie store, and checks its verified state.
func (m *Manager) verified(r *http.Request) (flowState, bool, error) {
	if m.gateLoader != nil {
		if fs, ok, done, err := m.verifiedAtOnce(r); done {
			return fs, ok, err
		}
	}
	var key gateKey
	var value string
	cached := false
	if m.gateCache != nil {
		if ck, err := r.Cookie(m.cfg.sessionName); err == nil && len(ck.Value) <= gateMaxCookie {
			value, key, cached = ck.Value, cookieKey(ck.Value), true
			if fs, hit := m.gateCache.get(key, time.Now(), m.cfg.now()); hit {
				ok, err := m.grantValid(r, fs)
				if !ok && err == nil {
					m.gateCache.drop(key) // revoked, idle, aged out or another subject: decode afresh next time
				}
				return fs, ok, err
			}
		}
	}
	_, fs, err := m.load(r)
	if err != nil {
		return flowState{}, false, err
	}
	ok, err := m.grantValid(r, fs)
	if ok && err == nil && cached {
		m.cacheVerified(key, value, fs)
	}
	return fs, ok, err
}

// verifiedAtOnce is verified for a GateLoader store: the session and its
// grant in one round trip. done is false when the gate must load and check
// apart: WithSubject names no user for r, so the session may only pass if
// it has no subject either, which LoadGate cannot be told.
func (m *Manager) verifiedAtOnce(r *http.Request) (fs flowState, ok, done bool, err error) {
	now := m.cfg.now()
	c := GateCheck{Now: now, Idle: now.Add(m.cfg.idleTimeout)}
	if m.cfg.subject != nil {
		sub := m.cfg.subject(r)
		if sub == "" {
			return flowState{}, false, false, nil
		}
		c.User = userKey(sub, "")
	}
	sess, live, err := m.gateLoader.LoadGate(r, m.cfg.sessionName, c)
	_, fs, err = m.opened(sess, err)
	if err != nil {
		return flowState{}, false, true, err
	}
	return fs, live && m.grantSound(r, fs, now), true, nil
}

// cacheVerified remembers fs, just decoded from the cookie value and
// accepted by grantValid, under k, until the cookie store or the Manager
// would refuse it.
func (m *Manager) cacheVerified(k gateKey, value string, fs flowState) {
	if fs.VerifiedAt == 0 || fs.Grant == "" {
		return // only verified sessions; grantValid refuses others anyway
	}
	ts, ok := cookieTimestamp(value)
	if !ok {
		return
	}
	limit, ok := codecMaxAge(m.cookieStore)
	if !ok {
		return
	}
	if limit <= 0 || limit > m.cfg.maxAge {
		limit = m.cfg.maxAge
	}
	fs.Return = "" // never read by the gate; the one field of any size
	e := gateEntry{
		fs:         fs,
		cookieEnds: time.Unix(ts, 0).Add(limit),
		ends:       time.Unix(fs.VerifiedAt, 0).Add(m.cfg.maxAge),
	}
	m.gateCache.put(k, e, time.Now(), m.cfg.now())
}

// codecMaxAge returns the smallest positive max age of the cookie store's
// codecs (0 when none limits the age), and false when a codec is not a
// *securecookie.SecureCookie, whose limit the gate cannot know. securecookie
// has no getter for it, so the field is read by reflection.
func codecMaxAge(cs *sessions.CookieStore) (time.Duration, bool) {
	var limit time.Duration
	for _, c := range cs.Codecs {
		sc, ok := c.(*securecookie.SecureCookie)
		if !ok || sc == nil {
			return 0, false
		}
		f := reflect.ValueOf(sc).Elem().FieldByName("maxAge")
		if !f.IsValid() || !f.CanInt() {
			return 0, false
		}
		if age := time.Duration(f.Int()) * time.Second; age > 0 && (limit == 0 || age < limit) {
			limit = age
		}
	}
	return limit, true
}

// grantValid checks a session's verified state against the clock, the
// subject and the server-side grant, and refreshes the grant's idle timer:
// one State call. Only the gate refreshes it (a gated request is activity);
// the flow's own pages and status polling use grantLive, which does not.
func (m *Manager) grantValid(r *http.Request, fs flowState) (bool, error) {
	return m.grantCheck(r, fs, true)
}

// grantLive is grantValid without refreshing the idle timer.
func (m *Manager) grantLive(r *http.Request, fs flowState) (bool, error) {
	return m.grantCheck(r, fs, false)
}

func (m *Manager) grantCheck(r *http.Request, fs flowState, touch bool) (bool, error) {
	now := m.cfg.now()
	if !m.grantSound(r, fs, now) {
		return false, nil
	}
	var idle time.Time
	if touch {
		idle = now.Add(m.cfg.idleTimeout)
	}
	alive, err := m.cfg.state.CheckGrant(r.Context(), userOf(fs), fs.Grant, now, idle)
	if err != nil {
		return false, storeErr(err)
	}
	return alive, nil
}

// grantSound is what grantCheck checks without the State: fs holds a
// verification within the max age at now, for r's subject.
func (m *Manager) grantSound(r *http.Request, fs flowState, now time.Time) bool {
	if fs.VerifiedAt == 0 || fs.Grant == "" || !validID(fs.Grant) {
		return false
	}
	vat := time.Unix(fs.VerifiedAt, 0)
	if now.Before(vat.Add(-time.Minute)) || !now.Before(vat.Add(m.cfg.maxAge)) {
		return false
	}
	return m.cfg.subject == nil || m.cfg.subject(r) == fs.Subject
}

// Reset forgets r's verification (call it at logout): the server-side grant
// is revoked, so even a copy of the verified cookie no longer passes the
// gate, and the session cookie is deleted.
func (m *Manager) Reset(w http.ResponseWriter, r *http.Request) error {
	r, end := m.budgeted(r)
	defer end()
	sess, fs, err := m.load(r)
	if err != nil {
		return err
	}
	if fs.Grant != "" && validID(fs.Grant) {
		var err error
		if fs.Subject == "" {
			err = m.cfg.state.Delete(r.Context(), userOf(fs))
		} else {
			_, err = m.cfg.state.DeleteField(r.Context(), userOf(fs), grantPrefix+fs.Grant)
		}
		if err != nil {
			return storeErr(err)
		}
	}
	m.emit(r, Event{Type: EventReset, Subject: fs.Subject, Phone: fs.VerifiedPhone})
	return m.destroy(w, r, sess)
}
