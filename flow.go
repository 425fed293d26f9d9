package twofactor

import (
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/sessions"
)

// servePage shows the step the visitor is at.
func (m *Manager) servePage(w http.ResponseWriter, r *http.Request) {
	sess, fs, err := m.load(r)
	if err != nil {
		m.storeFailed(w, r, flowState{}, err)
		return
	}
	if next := r.URL.Query().Get("next"); next != "" || r.URL.Query().Has("next") {
		ret, ok := safeReturn(next)
		if !ok {
			m.fail(w, r, fs, errBadReturn)
			return
		}
		// A visitor with no session yet costs no server-side record for
		// looking at a page: the target travels in the page's forms and in
		// a small cookie of its own (for clients that post the number
		// alone) until a POST passes its checks. An existing session
		// remembers it now.
		switch {
		case sess.IsNew:
			m.setReturnCookie(w, ret)
		case fs.Return != ret:
			fs.Return = ret
			if err := m.save(w, r, sess, fs); err != nil {
				m.storeFailed(w, r, fs, err)
				return
			}
		}
		fs.Return = ret
	}
	ok, err := m.grantLive(r, fs)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	stepUp := r.URL.Query().Get("stepup") == "1"
	if ok && !stepUp && !m.pending(r, fs) {
		http.Redirect(w, r, m.returnTo(fs), http.StatusSeeOther)
		return
	}
	if !ok && !m.awaiting(r, fs) && m.signInByDevice(w, r, sess, fs) {
		return // answered: back where the visitor was going, or a failure page
	}
	if wantsJSON(r) {
		m.serveStatus(w, r)
		return
	}
	if m.offerFactor(w, r, fs, stepUp) {
		return // answered: the strongest factor's page first (factors.go)
	}
	d := m.data(r, fs)
	d.StepUp = ok
	page := m.pageFor(r, fs)
	if page == "code.html" && !m.pending(r, fs) {
		d.Error = d.T.format(errExpired.msg, 0) // say so now, not after a typed code
	}
	m.render(w, r, http.StatusOK, page, d)
}

// changeFreshness is how recent a verification must be to start changing
// the number: the number is the second factor itself, so changing it wants
// a step-up first.
const changeFreshness = 10 * time.Minute

// serveChange shows the form for a new number to a verified visitor, after
// a step-up if the verification is not fresh.
func (m *Manager) serveChange(w http.ResponseWriter, r *http.Request) {
	fs, live, ok := m.loadLive(w, r)
	switch {
	case !ok:
		return
	case !live || m.cfg.subject == nil || fs.Subject == "":
		m.fail(w, r, fs, errRequired)
		return
	case !fs.record().fresh(m.cfg.now(), changeFreshness):
		http.Redirect(w, r, m.cfg.prefix+"?stepup=1&next="+url.QueryEscape(m.cfg.prefix+"change"), http.StatusSeeOther)
		return
	}
	d := m.data(r, fs)
	d.Change, d.KnownPhone, d.Phone = true, false, ""
	m.render(w, r, http.StatusOK, "phone.html", d)
}

// loadLive loads r's flow session and tells whether its verification is
// live (grantLive). It answers a store failure itself, and returns ok
// false.
func (m *Manager) loadLive(w http.ResponseWriter, r *http.Request) (fs flowState, live, ok bool) {
	_, fs, err := m.load(r)
	if err == nil {
		live, err = m.grantLive(r, fs)
	}
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return fs, false, false
	}
	return fs, live, true
}

// serveStatus answers where the flow stands, as JSON.
func (m *Manager) serveStatus(w http.ResponseWriter, r *http.Request) {
	fs, ok, loaded := m.loadLive(w, r)
	if !loaded {
		return
	}
	st := statusBody{Verified: ok, Pending: m.pending(r, fs), Factors: m.statusFactors(r)}
	if m.awaiting(r, fs) {
		st.Phone = MaskPhone(fs.Phone)
	} else if ok && fs.VerifiedPhone != "" {
		st.Phone = MaskPhone(fs.VerifiedPhone)
	}
	if ok {
		st.Method, st.VerifiedAt = fs.Method, rfc3339(fs.VerifiedAt)
	}
	if st.Pending {
		resend := m.resendIn(fs)
		st.ExpiresAt, st.ResendAfter = rfc3339(fs.ExpiresAt), &resend
	}
	writeJSON(w, http.StatusOK, st)
}

// pending reports whether a code is on its way for this visitor.
func (m *Manager) pending(r *http.Request, fs flowState) bool {
	if fs.PendingID == "" {
		return false
	}
	if m.cfg.subject != nil && m.cfg.subject(r) != fs.Subject {
		return false
	}
	return m.cfg.now().Before(time.Unix(fs.ExpiresAt, 0))
}

// resendIn is how many seconds until another code may be sent.
func (m *Manager) resendIn(fs flowState) int {
	if fs.SentAt == 0 {
		return 0
	}
	left := time.Unix(fs.SentAt, 0).Add(m.cfg.resendCooldown).Sub(m.cfg.now())
	if left <= 0 {
		return 0
	}
	return int((left + time.Second - 1) / time.Second)
}

func (m *Manager) pageFor(r *http.Request, fs flowState) string {
	if k, ok := m.kindAt(r); ok {
		return k.page + ".html" // a factor's own page, such as totp.html
	}
	if m.awaiting(r, fs) {
		return "code.html"
	}
	return "phone.html"
}

// awaiting reports whether this visitor was sent a code, expired or not:
// the code page then stays, so an expired code can be resent to the same
// number without typing it again.
func (m *Manager) awaiting(r *http.Request, fs flowState) bool {
	return fs.PendingID != "" && fs.Phone != "" && (m.cfg.subject == nil || m.cfg.subject(r) == fs.Subject)
}

func (m *Manager) returnTo(fs flowState) string {
	if ret, ok := safeReturn(fs.Return); ok {
		return ret
	}
	return "/"
}

// postHandler serves a flow POST, given the session and the body read.
type postHandler func(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, in input)

// post loads the session and reads the body of a flow POST, answering the
// failure of either itself.
func (m *Manager) post(h postHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, fs, err := m.load(r)
		if err != nil {
			m.storeFailed(w, r, flowState{}, err)
			return
		}
		in, ferr := readInput(w, r)
		if ferr != nil {
			m.fail(w, r, fs, ferr)
			return
		}
		if fe := m.takeReturn(r, &fs, in.Next); fe != nil {
			m.fail(w, r, fs, fe)
			return
		}
		h(w, r, sess, fs, in) // fs.Return is saved with whatever h saves
	}
}

// takeReturn sets where fs's flow goes when it is done: next, when the
// request names it (a local path only: errBadReturn otherwise), or else,
// when fs has no such place yet, the return cookie's.
func (m *Manager) takeReturn(r *http.Request, fs *flowState, next string) *flowError {
	if next != "" {
		ret, ok := safeReturn(next)
		if !ok {
			return errBadReturn
		}
		fs.Return = ret
	} else if fs.Return == "" {
		fs.Return = m.returnCookie(r)
	}
	return nil
}

// phoneOnFile returns the number of known-number mode, answering the
// request itself when there is none.
func (m *Manager) phoneOnFile(w http.ResponseWriter, r *http.Request, fs flowState) (string, bool) {
	phone, err := m.cfg.phoneLookup(r)
	if err != nil || phone == "" {
		m.log.Warn("twofactor: no phone number on file", "err", err)
		m.fail(w, r, fs, errNoNumber)
		return "", false
	}
	return phone, true
}

// serveRestart forgets the number typed, so the visitor can use another.
// A visitor with no session has nothing to forget: no session is written
// for them (a server-side store would keep a record per request), and a
// return target travels in its own cookie, as for a page view.
func (m *Manager) serveRestart(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, _ input) {
	if sess.IsNew {
		if fs.Return != "" {
			m.setReturnCookie(w, fs.Return)
		}
	} else {
		sentAt := fs.SentAt
		fs.clearPending()
		fs.SentAt = sentAt // the resend cooldown still runs: the phone page shows it
		fs.Phone, fs.Channel, fs.Purpose = "", "", ""
		if err := m.save(w, r, sess, fs); err != nil {
			m.storeFailed(w, r, fs, err)
			return
		}
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, statusOnly{Status: "restarted"})
		return
	}
	http.Redirect(w, r, m.cfg.prefix, http.StatusSeeOther)
}
