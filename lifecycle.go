package twofactor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gorilla/sessions"
)

// verify marks the session verified by method (and phone, if the method
// proved one): a new server-side grant, a renewed session (no fixation),
// and the grant listed under the subject so that SignOutEverywhere finds
// it. It returns the new state.
func (m *Manager) verify(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, method Method, phone string) (flowState, error) {
	ctx := r.Context()
	grant := randomID()
	if _, err := m.cfg.state.SetNX(ctx, grantKey(grant), m.cfg.idleTimeout); err != nil {
		return fs, storeErr(err)
	}
	subject := m.subject(r)
	if subject != "" {
		if err := m.cfg.state.SetField(ctx, subjectGrantsKey(subject), grant, strconv.FormatInt(m.cfg.now().Unix(), 10), m.cfg.maxAge); err != nil {
			_ = m.cfg.state.Delete(ctx, grantKey(grant))
			return fs, storeErr(err)
		}
	}
	old := fs.Grant
	fs.clearPending()
	fs.Purpose, fs.Return = "", ""
	fs.VerifiedAt, fs.Grant, fs.Method, fs.VerifiedPhone = m.cfg.now().Unix(), grant, string(method), phone
	fs.Subject = subject
	fs.FlowID = randomID()
	if err := m.renew(w, r, sess, fs); err != nil {
		_ = m.cfg.state.Delete(ctx, grantKey(grant))
		return fs, err
	}
	if _, err := r.Cookie(m.returnCookieName()); err == nil {
		// The return target is spent: forget the cookie that carried it.
		http.SetCookie(w, &http.Cookie{Name: m.returnCookieName(), Path: "/", MaxAge: -1,
			Secure: !m.cfg.insecureCookie, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	if old != "" && old != grant && validID(old) {
		// A step-up replaces the session's grant: the old one goes.
		if err := m.cfg.state.Delete(ctx, grantKey(old)); err != nil {
			m.log.Error("twofactor: state backend failed", "err", err)
		}
		if subject != "" {
			_, _ = m.cfg.state.DeleteField(ctx, subjectGrantsKey(subject), old)
		}
	}
	return fs, nil
}

// verifyAndRedirect verifies the session and answers: back where the
// visitor was going (JSON: where to go), remembering the device if asked.
func (m *Manager) verifyAndRedirect(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, method Method, phone string, remember bool) {
	ret := m.returnTo(fs)
	fs, err := m.verify(w, r, sess, fs, method, phone)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	m.log.Info("twofactor: verified", "method", string(method), "phone", MaskPhone(phone))
	m.emit(r, Event{Type: EventVerified, Subject: fs.Subject, Phone: phone, Method: method})
	if remember {
		m.rememberDevice(w, r, fs.Subject)
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, verifiedBody{Status: "verified", Redirect: ret, Method: string(method)})
		return
	}
	http.Redirect(w, r, ret, http.StatusSeeOther)
}

// Grant marks r's session verified by a factor other than the library's
// SMS or voice codes (the app's own, such as a security key), recording
// method. The gate, RequireFresh and Check then treat the session like one
// verified by a code. Like the flow, Grant renews the session (so call it
// before writing the response body) and binds it to the subject of
// WithSubject. method must not be empty; phone, if the factor proved a
// number, is its E.164 form, else "".
func (m *Manager) Grant(w http.ResponseWriter, r *http.Request, method Method, phone string) error {
	if method == "" || len(method) > 32 {
		return errors.New("twofactor: Grant needs a method name of 1 to 32 bytes")
	}
	if phone != "" {
		p, err := ParsePhone(phone, m.cfg.defaultRegion)
		if err != nil {
			return err
		}
		phone = p
	}
	sess, fs, err := m.load(r)
	if err != nil {
		return err
	}
	fs, err = m.verify(w, r, sess, fs, method, phone)
	if err != nil {
		return err
	}
	m.emit(r, Event{Type: EventVerified, Subject: fs.Subject, Phone: phone, Method: method})
	return nil
}

// SignOutEverywhere revokes every verification and every remembered device
// of subject: from the next request on, every session of that user on any
// server must verify again (their sign-in to the app itself is the app's to
// end). Call it after a password reset or when the user asks for it; a
// number change does it by itself. The gate pays nothing for it: each
// session's grant is deleted, and the gate already checks its grant.
func (m *Manager) SignOutEverywhere(ctx context.Context, subject string) error {
	if subject == "" {
		return errors.New("twofactor: SignOutEverywhere needs a subject")
	}
	grants, err := m.cfg.state.Fields(ctx, subjectGrantsKey(subject))
	if err != nil {
		return storeErr(err)
	}
	for g := range grants {
		if err := m.cfg.state.Delete(ctx, grantKey(g)); err != nil {
			return storeErr(err)
		}
	}
	if err := m.cfg.state.Delete(ctx, subjectGrantsKey(subject)); err != nil {
		return storeErr(err)
	}
	if err := m.cfg.state.Delete(ctx, devicesKey(subject)); err != nil {
		return storeErr(err)
	}
	m.log.Info("twofactor: signed out everywhere", "sessions", len(grants))
	m.emitCtx(Event{Type: EventSignedOutEverywhere, Subject: subject})
	return nil
}

// Unlock clears the lockout after too many wrong codes and the send
// windows of a subject, a phone number, or both (either may be ""), for a
// support desk that has checked who is calling. phone may be in any form
// ParsePhone takes.
func (m *Manager) Unlock(ctx context.Context, subject, phone string) error {
	if subject == "" && phone == "" {
		return errors.New("twofactor: Unlock needs a subject or a phone number")
	}
	var keys []string
	if subject != "" {
		keys = append(keys, accountKey("s:"+subject))
	}
	if phone != "" {
		e164, err := ParsePhone(phone, m.cfg.defaultRegion)
		if err != nil {
			return fmt.Errorf("twofactor: Unlock: %w", err)
		}
		phone = e164
		keys = append(keys, accountKey("n:"+e164), phoneSendsKey(e164))
	}
	for _, k := range keys {
		if err := m.cfg.state.Delete(ctx, k); err != nil {
			return storeErr(err)
		}
	}
	m.emitCtx(Event{Type: EventUnlocked, Subject: subject, Phone: phone})
	return nil
}
