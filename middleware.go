package twofactor

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// ctxKey is the context key under which Require records a verified request.
type ctxKey struct{}

// Require is middleware that lets a request through only when its session
// is verified (and, with WithSubject, verified for the same user; within
// the max age and idle timeout; not reset). Otherwise GET and HEAD requests
// for pages are redirected into the flow, which brings the visitor back
// here afterwards; other requests get 401 Unauthorized. If the session
// store or state backend fails, it answers 503 and lets nothing through.
//
// It has the standard shape func(http.Handler) http.Handler, so it works
// with net/http's ServeMux, chi and gorilla/mux alike.
//
// With a *sessions.CookieStore, Require remembers the decoded contents of
// up to 10 000 verified cookies, so it does not decrypt the same cookie on
// every request; the checks above (max age, subject, reset, idle timeout)
// still run on every request.
func (m *Manager) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, err := m.verified(r)
		if err != nil {
			m.storeFailed(w, r, flowState{}, err)
			return
		}
		if ok {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, true)))
			return
		}
		if wantsJSON(r) || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			m.fail(w, r, flowState{}, errRequired)
			return
		}
		target := m.cfg.prefix
		if ret, ok := safeReturn(r.URL.RequestURI()); ok {
			target += "?next=" + url.QueryEscape(ret)
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
}

// Verified reports whether Require let r through. It is false for requests
// that did not pass through Require.
func Verified(r *http.Request) bool {
	ok, _ := r.Context().Value(ctxKey{}).(bool)
	return ok
}

// Verified reports whether r's session is verified now, by the same rules as
// Require. Store failures count as not verified.
func (m *Manager) Verified(r *http.Request) bool {
	ok, err := m.verified(r)
	return ok && err == nil
}

func (m *Manager) verified(r *http.Request) (bool, error) {
	if m.gate != nil {
		return m.gate.verified(m, r) // skips only the cookie decode; see gatecache.go
	}
	return m.verifiedUncached(r)
}

func (m *Manager) verifiedUncached(r *http.Request) (bool, error) {
	_, fs, err := m.load(r)
	if err != nil {
		return false, err
	}
	return m.grantValid(r, fs)
}

// grantValid checks a session's verified state against the clock, the
// subject and the server-side grant, and refreshes the grant's idle timer.
func (m *Manager) grantValid(r *http.Request, fs flowState) (bool, error) {
	if fs.VerifiedAt == 0 || fs.Grant == "" || !validID(fs.Grant) {
		return false, nil
	}
	now := m.cfg.now()
	vat := time.Unix(fs.VerifiedAt, 0)
	if now.Before(vat.Add(-time.Minute)) || !now.Before(vat.Add(m.cfg.maxAge)) {
		return false, nil
	}
	if m.cfg.subject != nil && m.cfg.subject(r) != fs.Subject {
		return false, nil
	}
	alive, err := m.cfg.state.Touch(r.Context(), grantKey(fs.Grant), m.cfg.idleTimeout)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	return alive, nil
}

// Reset forgets r's verification (call it at logout): the server-side grant
// is revoked, so even a copy of the verified cookie no longer passes the
// gate, and the session cookie is deleted.
func (m *Manager) Reset(w http.ResponseWriter, r *http.Request) error {
	sess, fs, err := m.load(r)
	if err != nil {
		return err
	}
	if fs.Grant != "" && validID(fs.Grant) {
		if err := m.cfg.state.Delete(r.Context(), grantKey(fs.Grant)); err != nil {
			return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
		}
	}
	m.emit(r, Event{Type: EventReset, Subject: fs.Subject, Phone: fs.Phone})
	return m.destroy(w, r, sess)
}
