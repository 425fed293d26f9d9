package twofactor

import (
	"context"
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
		m.emit(r, Event{Type: EventCheckFailed, Subject: fs.Subject, Phone: fs.Phone, Err: ErrTooManyAttempts})
		m.fail(w, r, fs, errTooMany)
		return
	}
	acct := accountKey(m.account(r, fs))
	an, attl, err := m.cfg.state.Incr(ctx, acct, 1, m.cfg.accountAttempts.Per)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if an > int64(m.cfg.accountAttempts.N) {
		m.log.Warn("twofactor: account locked", "phone", MaskPhone(fs.Phone))
		m.emit(r, Event{Type: EventLocked, Subject: fs.Subject, Phone: fs.Phone})
		fe := *errLocked
		fe.retryAfter = attl
		m.fail(w, r, fs, &fe)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, m.cfg.providerTimeout)
	defer cancel()
	err = m.provider.Check(pctx, fs.PendingID, code)
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
		m.checkFailed(w, r, fs, err, int64(m.cfg.maxAttempts)-n)
		return
	}
	// The correct code was no wrong guess: give the account its try back.
	if _, _, err := m.cfg.state.Incr(ctx, acct, -1, m.cfg.accountAttempts.Per); err != nil {
		m.log.Error("twofactor: state backend failed", "err", err)
	}
	grant := randomID()
	if _, err := m.cfg.state.SetNX(ctx, grantKey(grant), m.cfg.idleTimeout); err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	ret := m.returnTo(fs)
	fs.clearPending()
	fs.VerifiedAt, fs.Grant, fs.Return = m.cfg.now().Unix(), grant, ""
	fs.Subject = m.subject(r)
	fs.FlowID = randomID()
	if err := m.renew(w, r, sess, fs); err != nil {
		_ = m.cfg.state.Delete(ctx, grantKey(grant))
		m.storeFailed(w, r, fs, err)
		return
	}
	m.noteVerified(ctx, fs.Phone) // the fraud guard's conversion watch
	m.log.Info("twofactor: verified", "phone", MaskPhone(fs.Phone))
	m.emit(r, Event{Type: EventVerified, Subject: fs.Subject, Phone: fs.Phone})
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "verified", "redirect": ret})
		return
	}
	http.Redirect(w, r, ret, http.StatusSeeOther)
}

func (m *Manager) checkFailed(w http.ResponseWriter, r *http.Request, fs flowState, err error, left int64) {
	m.emit(r, Event{Type: EventCheckFailed, Subject: fs.Subject, Phone: fs.Phone, Err: err})
	switch {
	case errors.Is(err, ErrInvalidCode) && left > 0:
		m.fail(w, r, fs, errWrongCode(left))
	case errors.Is(err, ErrInvalidCode), errors.Is(err, ErrTooManyAttempts):
		m.fail(w, r, fs, errTooMany)
	case errors.Is(err, ErrExpired):
		m.fail(w, r, fs, errExpired)
	case errors.Is(err, ErrAlreadyUsed), errors.Is(err, ErrNotFound):
		m.fail(w, r, fs, errUsed)
	case errors.Is(err, ErrMalformedCode):
		m.fail(w, r, fs, errMalformed(m.codeLen))
	default:
		m.log.Error("twofactor: provider check failed", "err", err)
		m.fail(w, r, fs, errProvider)
	}
}

// account names whose wrong guesses are counted together: the app's user
// when it names one, else the phone number.
func (m *Manager) account(r *http.Request, fs flowState) string {
	if s := m.subject(r); s != "" {
		return "s:" + s
	}
	return "n:" + fs.Phone
}
