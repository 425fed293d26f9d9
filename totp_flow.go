package twofactor

import (
	"context"
	"errors"
	"net/http"
	"strconv"
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
// authenticator app: it decides (checkTOTP), then answers. A locked user
// is answered as for SMS; the same wrong code again (a reload) costs no
// try.
func (m *Manager) serveTOTP(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, in input) {
	subject := m.subject(r)
	if subject == "" {
		m.fail(w, r, fs, errNoTOTP)
		return
	}
	code := normalCode(in.Code)
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
	res, err := m.checkTOTP(r, subject, code)
	switch {
	case err != nil:
		m.storeFailed(w, r, fs, err)
	case res.refused == tryLocked:
		m.accountLocked(w, r, fs, res.lock, res.ttl, "")
	case res.gone:
		m.fail(w, r, fs, errNoTOTP)
	case res.err != nil:
		m.totpFailed(w, r, sess, fs, res.err, mark)
	default:
		fs.LastWrong = ""
		m.verifyAndRedirect(w, r, sess, fs, MethodTOTP, "", origin{gen: res.with[0].Gen}, in.Remember)
	}
}

// checkTOTP lives the life of a code from subject's authenticator app
// (codelife.go): the try is reserved against the user's lock of wrong
// codes, the same as SMS codes' (Limits.Account; Unlock clears it), so
// parallel guesses cannot pass it; a right code is spent once per user
// and step, on every server sharing the State, with the two steps before
// it. res.gone says the user has no (readable) app: the try was given
// back. A replay stays counted. The error is the State's.
func (m *Manager) checkTOTP(r *http.Request, subject, code string) (codeChecked, error) {
	ctx := r.Context()
	// The generation (read with the reservation) before the secret: a
	// removal racing this check deletes the secret and then moves the
	// generation on, so a grant made under the generation read here fails
	// if the secret read next was already being removed.
	t, err := reserveTry(ctx, m.cfg.state, m.log, m.factorPlan(r, subject))
	if err != nil || t.refused != tryReserved {
		return codeChecked{codeTry: t}, err
	}
	out := codeChecked{codeTry: t}
	record, secret, err := m.totpSecret(ctx, subject)
	if err != nil || secret == nil {
		t.cancel(ctx) // nobody judged the code
		out.gone = err == nil
		return out, err
	}
	step, ok := m.totpMatch(secret, code)
	if !ok {
		out.err = ErrInvalidCode // the try stays counted
		return out, nil
	}
	first, err := t.spend(ctx, totpUsedKey(subject, step), totpSpentFor, totpOlder(subject, step))
	if err != nil || !first {
		if err == nil {
			t.recount(ctx) // a replay is no right code
			out.err = ErrAlreadyUsed
		}
		return out, err
	}
	if err := m.cfg.factors.totp.TOTPUsed(ctx, subject, record, m.cfg.now()); err != nil {
		m.log.Error("twofactor: noting an authenticator app's use failed", "err", err)
	}
	return out, nil
}

// totpSecret reads subject's authenticator app: its record and its
// secret, opened; a nil secret when there is none (or it does not open,
// which is logged).
func (m *Manager) totpSecret(ctx context.Context, subject string) (string, []byte, error) {
	record, _, err := m.cfg.factors.totp.TOTPSecret(ctx, subject)
	if err != nil || record == "" {
		return "", nil, err
	}
	rec, err := m.openTOTP(subject, record)
	if err != nil {
		m.log.Error("twofactor: an authenticator app's secret does not open", "err", err)
		return "", nil, nil
	}
	return record, rec.secret, nil
}

// totpFailed answers a code from an authenticator app that was refused
// with err: wrong (ErrInvalidCode, remembered by its mark so a reload
// costs nothing), or used before (ErrAlreadyUsed).
func (m *Manager) totpFailed(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, err error, mark string) {
	m.emit(r, Event{Type: EventCheckFailed, Subject: m.subject(r), Method: MethodTOTP, Err: err})
	if errors.Is(err, ErrAlreadyUsed) {
		m.fail(w, r, fs, errTOTPUsed)
		return
	}
	fs.LastWrong = mark
	if err := m.save(w, r, sess, fs); err != nil {
		m.log.Error("twofactor: session store failed", "err", err)
	}
	m.fail(w, r, fs, errTOTPWrong)
}
