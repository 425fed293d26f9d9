package twofactor

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/go-twofactor/twofactor/internal/batch"
)

// serveCheck checks the code typed: it decides (codelife.go), then
// answers.
func (m *Manager) serveCheck(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, in input) {
	code, fe := m.checkable(r, fs, in.Code)
	if fe != nil {
		m.fail(w, r, fs, fe)
		return
	}
	if !m.groundMayHold(r, fs) {
		m.startAgain(w, r, sess, fs)
		return
	}
	if fs.LastWrong != "" && fs.LastWrong == wrongMark(fs.PendingID, code) {
		// The same wrong code again (a reload that resubmits the form): the
		// same answer, without counting a try or asking the provider.
		m.fail(w, r, fs, errWrongCode(fs.Left))
		return
	}
	res, err := m.checkCode(r.Context(), m.signInCheck(r, fs, code))
	switch {
	case err != nil:
		m.storeFailed(w, r, fs, err)
	case res.gone:
		m.startAgain(w, r, sess, fs)
	case res.refused == tryLocked:
		m.accountLocked(w, r, fs, res.lock, res.ttl, fs.Phone)
	case res.err != nil:
		m.checkFailed(w, r, sess, fs, res.err, max(res.left, 0), code)
	default:
		m.checkPassed(w, r, sess, fs, in.Remember)
	}
}

// checkable returns the code typed for fs's pending code, or the answer
// to a check that asks nobody: no code pending, a malformed code, a code
// spent.
func (m *Manager) checkable(r *http.Request, fs flowState, typed string) (string, *flowError) {
	if !m.pending(r, fs) {
		if m.awaiting(r, fs) {
			return "", errExpired
		}
		return "", errNoPending
	}
	code := normalCode(typed)
	switch {
	case !validCode(code, m.codeLen) || !validID(fs.PendingID):
		return "", errMalformed(m.codeLen)
	case fs.Spent:
		m.emit(r, Event{Type: EventCheckFailed, Subject: fs.Subject, Phone: fs.Phone, Err: ErrTooManyAttempts})
		return "", errTooMany
	}
	return code, nil
}

// normalCode is a code as typed without the spaces and dashes people
// put in.
func normalCode(typed string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, typed)
}

// signInCheck is the check of code against fs's pending code: a try
// counted per code and against the guesser's locks, the user's
// generation read with it (for groundHolds), and the marks of a proved
// number when it is right.
func (m *Manager) signInCheck(r *http.Request, fs flowState, code string) codeCheck {
	onFile := fs.Purpose == "" && m.cfg.phoneLookup != nil
	plan := tryPlan{
		tries:  attemptsKey(fs.PendingID),
		limit:  int64(m.cfg.maxAttempts),
		window: time.Unix(fs.ExpiresAt, 0).Sub(m.cfg.now()) + time.Minute,
		locks:  m.applyingLocks(r, fs.Phone, m.ownsPending(r, fs, onFile)),
	}
	if subject := m.subject(r); subject != "" && subject == fs.Subject {
		plan.with = []batch.Op{m.generationOp(subject)}
	}
	return codeCheck{
		id: fs.PendingID, code: code, plan: plan, used: usedKey(fs.PendingID),
		holds: func(with []batch.Op) (bool, error) {
			gen := ""
			if len(with) > 0 {
				gen = with[0].Gen
			}
			return m.groundHolds(r, fs, &gen)
		},
		marks: m.spentMarks(r, fs),
	}
}

// spentMarks are the ops that go with the spending of fs's pending code
// when it is right: the marks of the proved number (provedMarks), and, for
// a step-up, the end of the grant the new one replaces (verify would end
// it a round trip later). A number change or enrolment keeps it until the
// number is saved: a failure to save leaves the session as it was.
func (m *Manager) spentMarks(r *http.Request, fs flowState) []batch.Op {
	marks := m.provedMarks(r, fs.Phone, fs.Watched)
	if fs.Purpose == "" && fs.Grant != "" && validID(fs.Grant) {
		marks = append(marks, dropGrantOp(userOf(fs), fs.Grant))
	}
	return marks
}

// checkPassed answers a right code for fs's pending code: the number is
// saved for an enrolment or a number change (savePhone), and the session
// verified.
func (m *Manager) checkPassed(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, remember bool) {
	method := MethodSMS
	if Channel(fs.Channel) == Voice {
		method = MethodVoice
	}
	phone, purpose := fs.Phone, fs.Purpose
	o := origin{gen: fs.PendingGen}
	if purpose == "" {
		fs.Grant = "" // ended with the code's spending (spentMarks)
	}
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
	m.verifyAndRedirect(w, r, sess, fs, method, phone, o, remember && purpose == "")
}

// groundGone answers the request, and reports true, when what allowed
// fs's pending code no longer holds (see groundHolds) or cannot be told.
func (m *Manager) groundGone(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState) bool {
	ok, err := m.groundHolds(r, fs, nil)
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
// enrolment, the user still has no number. gen, if not nil, is the user's
// generation, read already.
func (m *Manager) groundHolds(r *http.Request, fs flowState, gen *string) (bool, error) {
	subject := m.subject(r)
	if ok := m.groundMayHold(r, fs); !ok || subject == "" {
		return ok, nil
	}
	if gen == nil {
		g, err := m.generation(r.Context(), subject)
		if err != nil {
			return false, err
		}
		gen = &g
	}
	if *gen != fs.PendingGen {
		return false, nil
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

// groundMayHold reports whether fs's ground may hold for r at all, which
// needs no State: the same subject, and one for any purpose but signing
// in.
func (m *Manager) groundMayHold(r *http.Request, fs flowState) bool {
	subject := m.subject(r)
	return subject == fs.Subject && (subject != "" || fs.Purpose == "")
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
