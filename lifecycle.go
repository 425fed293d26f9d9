package twofactor

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/sessions"

	"github.com/go-twofactor/twofactor/internal/batch"
)

// origin is what a new verification rests on: the user's generation it
// is made under (a pending code's, a device's, or the current one), and
// the remembered device that opened it, if any.
type origin struct{ gen, device string }

// errRevoked is the answer to a verification whose ground was revoked
// while it was under way (sign out everywhere, a number change, a revoked
// device): start again.
var errRevoked = errors.New("twofactor: revoked while verifying")

// verify marks the session verified by method (and phone, if the method
// proved one): a new grant in the user's record, of the generation o.gen
// (refused with errRevoked if the user's generation has moved on since,
// or o.device was revoked), and a renewed session (no fixation). It
// returns the new state.
func (m *Manager) verify(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, method Method, phone string, o origin) (flowState, error) {
	ctx := r.Context()
	grant := randomID()
	subject := m.subject(r)
	if subject == "" {
		o = origin{gen: randomID()} // a record of its own
	}
	if o.gen == "" {
		return fs, errRevoked
	}
	now := m.cfg.now()
	key := userKey(subject, grant)
	ok, err := m.cfg.state.AddGrant(ctx, key, grant, o.gen, o.device, now, now.Add(m.cfg.idleTimeout), now.Add(m.cfg.maxAge), maxGrants, m.userTTL())
	if err != nil {
		return fs, storeErr(err)
	}
	if !ok {
		return fs, errRevoked
	}
	old, oldKey := fs.Grant, userOf(fs)
	fs.clearPending()
	fs.Purpose, fs.Return, fs.PendingGen = "", "", ""
	fs.VerifiedAt, fs.Grant, fs.Method, fs.VerifiedPhone = now.Unix(), grant, string(method), phone
	fs.Subject = subject
	fs.FlowID = randomID()
	if err := m.renew(w, r, sess, fs); err != nil {
		m.dropGrant(ctx, key, grant)
		return fs, err
	}
	if _, err := r.Cookie(m.returnCookieName()); err == nil {
		// The return target is spent: forget the cookie that carried it.
		http.SetCookie(w, &http.Cookie{Name: m.returnCookieName(), Path: "/", MaxAge: -1,
			Secure: !m.cfg.insecureCookie, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	if old != "" && old != grant && validID(old) {
		m.dropGrant(ctx, oldKey, old) // a step-up replaces the session's grant
	}
	return fs, nil
}

// dropGrant ends one grant: the field in its user's record, or the record
// of a grant with no subject.
func (m *Manager) dropGrant(ctx context.Context, key, grant string) {
	op := dropGrantOp(key, grant)
	if err := batch.Do(ctx, m.cfg.state, &op); err != nil {
		m.log.Error("twofactor: state backend failed", "err", err)
	}
}

// dropGrantOp is the batch op of dropGrant.
func dropGrantOp(key, grant string) batch.Op {
	if key == userKey("", grant) {
		return batch.Op{Kind: batch.Delete, Key: key}
	}
	return batch.Op{Kind: batch.DeleteField, Key: key, Field: grantPrefix + grant}
}

// verifyAndRedirect verifies the session and answers: back where the
// visitor was going (JSON: where to go), remembering the device if asked.
func (m *Manager) verifyAndRedirect(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, method Method, phone string, o origin, remember bool) {
	ret := m.returnTo(fs)
	fs, err := m.verify(w, r, sess, fs, method, phone, o)
	if errors.Is(err, errRevoked) {
		m.startAgain(w, r, sess, fs)
		return
	}
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	m.log.Info("twofactor: verified", "method", string(method), "phone", MaskPhone(phone))
	m.emit(r, Event{Type: EventVerified, Subject: fs.Subject, Phone: phone, Method: method})
	if remember {
		m.rememberDevice(w, r, fs)
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, verifiedBody{Status: "verified", Redirect: ret, Method: string(method)})
		return
	}
	http.Redirect(w, r, ret, http.StatusSeeOther)
}

// startAgain answers a verification refused with errRevoked: the pending
// code is forgotten (the session keeps nothing of what was revoked) and
// the visitor asked for a new one.
func (m *Manager) startAgain(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState) {
	fs.clearPending()
	fs.Purpose, fs.PendingGen = "", ""
	if err := m.save(w, r, sess, fs); err != nil {
		m.log.Error("twofactor: session store failed", "err", err)
	}
	m.fail(w, r, fs, errUsed)
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
	r, end := m.budgeted(r)
	defer end()
	sess, fs, err := m.load(r)
	if err != nil {
		return err
	}
	gen, err := m.generation(r.Context(), m.subject(r))
	if err != nil {
		return err
	}
	fs, err = m.verify(w, r, sess, fs, method, phone, origin{gen: gen})
	if err != nil {
		return err
	}
	m.emit(r, Event{Type: EventVerified, Subject: fs.Subject, Phone: phone, Method: method})
	return nil
}

// SignOutEverywhere revokes every verification and every remembered device
// of subject: from the next request on, every session of that user on any
// server must verify again (their sign-in to the app itself is the app's to
// end), and a number change or enrolment started before cannot complete.
// Call it after a password reset or when the user asks for it; a number
// change does it by itself. It is one atomic State call whatever the number
// of sessions: the user's generation moves on (see State), and everything
// made under the old one is refused where it is used.
func (m *Manager) SignOutEverywhere(ctx context.Context, subject string) error {
	if subject == "" {
		return errors.New("twofactor: SignOutEverywhere needs a subject")
	}
	ctx, end := m.withBudget(ctx)
	defer end()
	if _, err := m.newGeneration(ctx, subject, ""); err != nil {
		return err
	}
	m.log.Info("twofactor: signed out everywhere")
	m.emitCtx(Event{Type: EventSignedOutEverywhere, Subject: subject})
	return nil
}

// Unlock clears the lockout after too many wrong codes and the send
// windows of a subject, a phone number, or both (either may be ""), for a
// support desk that has checked who is calling. phone may be in any form
// ParsePhone takes. For a number it clears both totals of wrong codes
// (its strangers' and its owners') and its shared send window; the lock of
// an address that guessed (without a subject) ends with its window.
func (m *Manager) Unlock(ctx context.Context, subject, phone string) error {
	if subject == "" && phone == "" {
		return errors.New("twofactor: Unlock needs a subject or a phone number")
	}
	ctx, end := m.withBudget(ctx)
	defer end()
	var keys []string
	if subject != "" {
		keys = append(keys, accountKey("s:"+subject), recoveryTriesKey(subject))
	}
	if phone != "" {
		e164, err := ParsePhone(phone, m.cfg.defaultRegion)
		if err != nil {
			return fmt.Errorf("twofactor: Unlock: %w", err)
		}
		phone = e164
		id := m.numberID(e164)
		keys = append(keys, accountKey("n:"+id), accountKey("o:"+id), phoneSendsKey(id))
	}
	for _, k := range keys {
		if err := m.cfg.state.Delete(ctx, k); err != nil {
			return storeErr(err)
		}
	}
	m.emitCtx(Event{Type: EventUnlocked, Subject: subject, Phone: phone})
	return nil
}
