package twofactor

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/sessions"
)

// The authenticator app in the flow: its kind (factors.go), and the check
// of a code typed on its page (POST prefix+"totp").

// Answers of the authenticator-app page.
var (
	errNoTOTP        = &flowError{status: http.StatusConflict, code: "no_authenticator_app", msg: "err_no_totp"}
	errTOTPWrong     = &flowError{status: http.StatusBadRequest, code: "invalid_code", msg: "err_totp_wrong", field: "code"}
	errTOTPMalformed = &flowError{status: http.StatusBadRequest, code: "malformed_code", msg: "err_totp_malformed", field: "code"}
	errTOTPUsed      = &flowError{status: http.StatusBadRequest, code: "code_used", msg: "err_totp_used", field: "code"}
)

// totpKind is the authenticator app's kind of factor.
func (m *Manager) totpKind() factorKind {
	if m.cfg.factors.totp == nil {
		m.cfg.factors.totp = stateTOTP{m.cfg.state}
	}
	return factorKind{method: MethodTOTP, rank: 1, page: "totp", list: m.listTOTP, remove: m.removeTOTP, post: m.serveTOTP}
}

// listTOTP lists subject's authenticator app, if any.
func (m *Manager) listTOTP(ctx context.Context, subject string) ([]Factor, error) {
	record, last, err := m.cfg.factors.totp.TOTPSecret(ctx, subject)
	if err != nil || record == "" {
		return nil, err
	}
	id, added, _, ok := splitRecord(record)
	if !ok {
		return nil, errBadRecord
	}
	unix, _ := strconv.ParseInt(added, 10, 64)
	return []Factor{{Method: MethodTOTP, ID: id, Name: "Authenticator app", Created: time.Unix(unix, 0), LastUsed: last}}, nil
}

// removeTOTP removes subject's authenticator app if it is id.
func (m *Manager) removeTOTP(ctx context.Context, subject, id string) (bool, error) {
	store := m.cfg.factors.totp
	record, _, err := store.TOTPSecret(ctx, subject)
	if err != nil || record == "" {
		return false, err
	}
	if rid, _, _, ok := splitRecord(record); !ok || rid != id {
		return false, nil
	}
	return store.DeleteTOTPSecret(ctx, subject, record)
}

// serveTOTP verifies the session with a code from the user's
// authenticator app. The try is counted first against the user's limit of
// wrong codes, the same as SMS codes' (Limits.Account; Unlock clears
// it), so parallel guesses cannot pass it; a locked user is answered as
// for SMS. A right code is spent once per user and step, on every server
// sharing the State: the same code again, in this browser or another, is
// refused. The same wrong code again (a reload) costs no try.
func (m *Manager) serveTOTP(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, in input) {
	ctx := r.Context()
	subject := m.subject(r)
	if subject == "" {
		m.fail(w, r, fs, errNoTOTP)
		return
	}
	code := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, in.Code)
	if !validCode(code, totpDigits) {
		m.fail(w, r, fs, errTOTPMalformed)
		return
	}
	step := m.cfg.now().Unix() / int64(totpPeriod/time.Second)
	mark := wrongMark("totp\x00"+subject+"\x00"+strconv.FormatInt(step, 10), code)
	if fs.LastWrong == mark {
		m.fail(w, r, fs, errTOTPWrong)
		return
	}
	acct, limit := accountKey("s:"+subject), m.cfg.accountAttempts
	n, ttl, err := m.cfg.state.Incr(ctx, acct, 1, limit.Per)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	giveBack := func() {
		if _, _, err := m.cfg.state.Incr(ctx, acct, -1, limit.Per); err != nil {
			m.log.Error("twofactor: state backend failed", "err", err)
		}
	}
	if n > int64(limit.N) {
		giveBack() // a locked user's tries count against nothing
		m.accountLocked(w, r, fs, acct, ttl, "")
		return
	}
	// The generation before the secret: a removal racing this check
	// deletes the secret and then moves the generation on, so a grant made
	// under the generation read here fails if the secret read next was
	// already being removed.
	gen, err := m.generation(ctx, subject)
	if err != nil {
		giveBack()
		m.storeFailed(w, r, fs, err)
		return
	}
	store := m.cfg.factors.totp
	record, _, err := store.TOTPSecret(ctx, subject)
	if err != nil {
		giveBack()
		m.storeFailed(w, r, fs, err)
		return
	}
	if record == "" {
		giveBack()
		m.fail(w, r, fs, errNoTOTP)
		return
	}
	rec, err := m.openTOTP(subject, record)
	if err != nil {
		giveBack()
		m.log.Error("twofactor: an authenticator app's secret does not open", "err", err)
		m.fail(w, r, fs, errNoTOTP)
		return
	}
	matched, ok := m.totpMatch(rec.secret, code)
	if !ok {
		m.emit(r, Event{Type: EventCheckFailed, Subject: subject, Method: MethodTOTP, Err: ErrInvalidCode})
		fs.LastWrong = mark
		if err := m.save(w, r, sess, fs); err != nil {
			m.log.Error("twofactor: session store failed", "err", err)
		}
		m.fail(w, r, fs, errTOTPWrong)
		return
	}
	first, err := m.spendTOTP(ctx, subject, matched)
	if err != nil {
		giveBack()
		m.storeFailed(w, r, fs, err)
		return
	}
	if !first {
		// A replay: the try stays counted.
		m.emit(r, Event{Type: EventCheckFailed, Subject: subject, Method: MethodTOTP, Err: ErrAlreadyUsed})
		m.fail(w, r, fs, errTOTPUsed)
		return
	}
	giveBack() // a right code is no wrong guess
	if err := store.TOTPUsed(ctx, subject, record, m.cfg.now()); err != nil {
		m.log.Error("twofactor: noting an authenticator app's use failed", "err", err)
	}
	fs.LastWrong = ""
	m.verifyAndRedirect(w, r, sess, fs, MethodTOTP, "", origin{gen: gen}, in.Remember)
}
