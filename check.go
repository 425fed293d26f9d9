package twofactor

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"
)

// serveCheck checks the code typed.
func (m *Manager) serveCheck(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, in input) {
	ctx := r.Context()
	if !m.pending(r, fs) {
		if m.awaiting(r, fs) {
			m.fail(w, r, fs, errExpired)
			return
		}
		m.fail(w, r, fs, errNoPending)
		return
	}
	code := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, in.Code)
	if !validCode(code, m.codeLen) || !validID(fs.PendingID) {
		m.fail(w, r, fs, errMalformed(m.codeLen))
		return
	}
	if fs.Spent {
		m.emit(r, Event{Type: EventCheckFailed, Subject: fs.Subject, Phone: fs.Phone, Err: ErrTooManyAttempts})
		m.fail(w, r, fs, errTooMany)
		return
	}
	if m.groundGone(w, r, sess, fs) {
		return
	}
	if fs.LastWrong != "" && fs.LastWrong == wrongMark(fs.PendingID, code) {
		// The same wrong code again (a reload that resubmits the form): the
		// same answer, without counting a try or asking the provider.
		m.fail(w, r, fs, errWrongCode(fs.Left))
		return
	}
	// Reserve the attempt before asking the provider, so parallel guesses
	// cannot exceed the caps: per code, then per account.
	validity := time.Unix(fs.ExpiresAt, 0).Sub(m.cfg.now()) + time.Minute
	n, _, err := m.cfg.state.Incr(ctx, attemptsKey(fs.PendingID), 1, validity)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if n > int64(m.cfg.maxAttempts) {
		// Refused without asking the provider; still a failure to audit.
		m.checkFailed(w, r, sess, fs, ErrTooManyAttempts, 0, code)
		return
	}
	g, err := m.countGuess(ctx, r, fs.Phone, fs.Purpose == "" && m.cfg.phoneLookup != nil)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if g.locked != "" {
		m.accountLocked(w, r, fs, g.locked, g.ttl, fs.Phone)
		return
	}
	pctx, done := m.providerContext(ctx)
	err = m.provider.Check(pctx, fs.PendingID, code)
	done()
	if err == nil {
		// One use, whatever the provider does: two parallel correct
		// submissions succeed once.
		first, serr := m.cfg.state.SetNX(ctx, usedKey(fs.PendingID), validity)
		if serr != nil {
			m.storeFailed(w, r, fs, serr)
			return
		}
		if !first {
			err = ErrAlreadyUsed
		}
	}
	if err != nil {
		if checkNotJudged(err) {
			// The provider did not judge the code: give both tries back.
			m.giveBackTries(ctx, attemptsKey(fs.PendingID), validity, g)
		}
		m.checkFailed(w, r, sess, fs, err, int64(m.cfg.maxAttempts)-n, code)
		return
	}
	// The correct code was no wrong guess: give the locks their try back.
	g.giveBack(ctx, m)
	method := MethodSMS
	if Channel(fs.Channel) == Voice {
		method = MethodVoice
	}
	phone, purpose := fs.Phone, fs.Purpose
	o := origin{gen: fs.PendingGen}
	fs.clearPending()
	fs.Purpose = ""
	gen, fe := m.savePhone(r, fs, phone, purpose)
	if gen != "" {
		o.gen = gen
	}
	if fe != nil {
		// The code is used up; the number was not saved. Say so, and let
		// the visitor start again.
		fs.Phone = ""
		if err := m.save(w, r, sess, fs); err != nil {
			m.log.Error("twofactor: session store failed", "err", err)
		}
		m.fail(w, r, fs, fe)
		return
	}
	m.noteVerified(r.Context(), phone) // the fraud guard's conversion watch
	m.noteOwner(r, phone)              // its windows and locks are the prover's own
	m.verifyAndRedirect(w, r, sess, fs, method, phone, o, in.Remember && purpose == "")
}

// groundGone answers the request, and reports true, when what allowed
// fs's pending code no longer holds (see groundHolds) or cannot be told.
func (m *Manager) groundGone(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState) bool {
	ok, err := m.groundHolds(r, fs)
	switch {
	case err != nil:
		m.storeFailed(w, r, fs, err)
	case !ok:
		m.startAgain(w, r, sess, fs)
	}
	return err != nil || !ok
}

// groundHolds reports whether what allowed fs's pending code to be sent
// still holds: the user's generation has not moved on since (no sign out
// everywhere, number change or enrolment in between); for a number change,
// the verification that started it is still live and fresh; for an
// enrolment, the user still has no number.
func (m *Manager) groundHolds(r *http.Request, fs flowState) (bool, error) {
	subject := m.subject(r)
	if subject != fs.Subject {
		return false, nil
	}
	if subject == "" {
		return fs.Purpose == "", nil
	}
	gen, err := m.generation(r.Context(), subject)
	if err != nil || gen != fs.PendingGen {
		return false, err
	}
	switch fs.Purpose {
	case purposeChange:
		live, err := m.grantLive(r, fs)
		return live && fs.record().fresh(m.cfg.now(), changeFreshness), err
	case purposeEnrol:
		onFile, err := m.cfg.phoneLookup(r)
		return err == nil && onFile == "", nil
	}
	return true, nil
}

// savePhone hands a newly proved number to the app (WithEnrolment) for an
// enrolment or a number change, and then moves the user's generation on:
// every other session and remembered device ends (whoever held the old
// number must not keep access through them), and nothing started before
// can complete. It returns the new generation, for this session's grant.
func (m *Manager) savePhone(r *http.Request, fs flowState, phone, purpose string) (string, *flowError) {
	if purpose == "" {
		return "", nil
	}
	subject := m.subject(r)
	if m.cfg.enrol == nil || subject == "" || (purpose == purposeChange && (fs.VerifiedAt == 0 || fs.Subject != subject)) {
		return "", errNoPending
	}
	if err := m.cfg.enrol(r, phone); err != nil {
		m.log.Error("twofactor: saving the verified number failed", "phone", MaskPhone(phone), "err", err)
		return "", errSavePhone
	}
	gen, err := m.newGeneration(r.Context(), subject, "")
	if err != nil {
		m.log.Error("twofactor: signing out other sessions after a new number failed", "err", err)
		return "", errStore
	}
	if purpose == purposeEnrol {
		m.emit(r, Event{Type: EventEnrolled, Subject: subject, Phone: phone})
		return gen, nil
	}
	m.emit(r, Event{Type: EventSignedOutEverywhere, Subject: subject})
	m.emit(r, Event{Type: EventNumberChanged, Subject: subject, Phone: phone})
	return gen, nil
}

func (m *Manager) checkFailed(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, err error, left int64, code string) {
	m.emit(r, Event{Type: EventCheckFailed, Subject: fs.Subject, Phone: fs.Phone, Err: err})
	var fe *flowError
	switch {
	case errors.Is(err, ErrInvalidCode) && left > 0:
		fe = errWrongCode(left)
		fs.LastWrong, fs.Left = wrongMark(fs.PendingID, code), left
	case errors.Is(err, ErrInvalidCode), errors.Is(err, ErrTooManyAttempts):
		fe, fs.Spent = errTooMany, true
	case errors.Is(err, ErrExpired):
		fe = errExpired
	case errors.Is(err, ErrAlreadyUsed), errors.Is(err, ErrNotFound):
		fe, fs.Spent = errUsed, true
	case errors.Is(err, ErrMalformedCode):
		fe = errMalformed(m.codeLen)
	default:
		m.log.Error("twofactor: provider check failed", "err", err)
		fe = providerFailure(err, true)
	}
	if fs.LastWrong != "" || fs.Spent {
		// Remember it, so the page offers the right next step and a reload
		// costs nothing. A failure to save costs only that convenience.
		if err := m.save(w, r, sess, fs); err != nil {
			m.log.Error("twofactor: session store failed", "err", err)
		}
	}
	m.fail(w, r, fs, fe)
}

// wrongMark identifies a wrong code typed for a verification without
// keeping the code itself in the session.
func wrongMark(pendingID, code string) string {
	h := sha256.Sum256([]byte(pendingID + "\x00" + code))
	return hex.EncodeToString(h[:8])
}

// accountLocked answers a check refused because the account (State key
// acct) is locked for ttl more: an event every time, one log line per
// account and window.
func (m *Manager) accountLocked(w http.ResponseWriter, r *http.Request, fs flowState, acct string, ttl time.Duration, phone string) {
	masked := ""
	if phone != "" {
		masked = MaskPhone(phone)
	}
	m.refused(r, "account locked", acct, m.cfg.now().Add(ttl), masked, m.clientIP(r))
	m.emit(r, Event{Type: EventLocked, Subject: m.subject(r), Phone: phone})
	fe := *errLocked
	fe.retryAfter = ttl
	m.fail(w, r, fs, &fe)
}
