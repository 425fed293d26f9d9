package twofactor

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// flowState is everything the flow keeps in the visitor's session. Only
// strings and int64 values go into the session, so apps never need
// gob.Register, and any sessions.Store can hold it.
type flowState struct {
	FlowID        string // random id of this browser's flow, keys the resend cooldown
	PendingID     string // provider's verification id of the code on its way
	Phone         string // E.164 number the pending code went to (or the number typed)
	Channel       string // "sms" or "voice"
	SentAt        int64  // unix seconds
	ExpiresAt     int64  // unix seconds, the pending code's expiry
	Subject       string // the app's user the pending or verified state belongs to
	VerifiedAt    int64  // unix seconds; 0 when not verified
	Method        string // how it was verified: a Method
	VerifiedPhone string // E.164 number the verification proved, if any
	Purpose       string // what the pending code is for: "" (sign in, step up), purposeEnrol, purposeChange
	Spent         bool   // the pending code can't be used any more (too many tries, used)
	LastWrong     string // wrongMark of the last wrong code, so a reload costs no try
	Left          int64  // tries left after that wrong code
	Grant         string // server-side grant id of the verified state
	PendingGen    string // the user's generation when the pending code was sent (see user.go)
	Return        string // local path to go back to after verification
	Owner         string // ownerID of the number and requester, when the send found the requester its owner (owners.go)
	Watched       bool   // the conversion watch counted the pending code's send (fraud.go)
}

// Session value keys. Short, because the cookie store carries them.
const (
	kFlow     = "f"
	kPending  = "p"
	kPhone    = "n"
	kChannel  = "c"
	kSent     = "s"
	kExpires  = "e"
	kSubject  = "u"
	kVerified = "v"
	kGrant    = "g"
	kMethod   = "m"
	kVPhone   = "vn"
	kPurpose  = "o"
	kSpent    = "x"
	kWrong    = "w"
	kLeft     = "l"
	kReturn   = "r"
	kGen      = "pg"
	kOwner    = "ow"
	kWatched  = "cw"
)

func readFlow(values map[any]any) flowState {
	str := func(k string) string { s, _ := values[k].(string); return s }
	num := func(k string) int64 { n, _ := values[k].(int64); return n }
	return flowState{
		FlowID:        str(kFlow),
		PendingID:     str(kPending),
		Phone:         str(kPhone),
		Channel:       str(kChannel),
		SentAt:        num(kSent),
		ExpiresAt:     num(kExpires),
		Subject:       str(kSubject),
		VerifiedAt:    num(kVerified),
		Grant:         str(kGrant),
		Method:        str(kMethod),
		VerifiedPhone: str(kVPhone),
		Purpose:       str(kPurpose),
		Spent:         num(kSpent) == 1,
		LastWrong:     str(kWrong),
		Left:          num(kLeft),
		Return:        str(kReturn),
		PendingGen:    str(kGen),
		Owner:         str(kOwner),
		Watched:       num(kWatched) == 1,
	}
}

func (f flowState) write(values map[any]any) {
	clear(values)
	set := func(k, v string) {
		if v != "" {
			values[k] = v
		}
	}
	num := func(k string, v int64) {
		if v != 0 {
			values[k] = v
		}
	}
	set(kFlow, f.FlowID)
	set(kPending, f.PendingID)
	set(kPhone, f.Phone)
	set(kChannel, f.Channel)
	num(kSent, f.SentAt)
	num(kExpires, f.ExpiresAt)
	set(kSubject, f.Subject)
	num(kVerified, f.VerifiedAt)
	set(kGrant, f.Grant)
	set(kMethod, f.Method)
	set(kVPhone, f.VerifiedPhone)
	set(kPurpose, f.Purpose)
	if f.Spent {
		num(kSpent, 1)
	}
	set(kWrong, f.LastWrong)
	num(kLeft, f.Left)
	set(kReturn, f.Return)
	set(kGen, f.PendingGen)
	set(kOwner, f.Owner)
	if f.Watched {
		num(kWatched, 1)
	}
}

// What a pending code is for, besides signing in or stepping up.
const (
	purposeEnrol  = "enrol"  // a first number, in known-number mode
	purposeChange = "change" // a new number for a verified user
)

// clearPending forgets the code on its way, keeping the number for a resend.
func (f *flowState) clearPending() {
	f.PendingID, f.SentAt, f.ExpiresAt = "", 0, 0 // PendingGen stays: a resend keeps the ground it started on
	f.Spent, f.LastWrong, f.Left = false, "", 0
	f.Owner, f.Watched = "", false
}

// unverify forgets the verified state.
func (f *flowState) unverify() {
	f.VerifiedAt, f.Grant, f.Method, f.VerifiedPhone = 0, "", "", ""
}

// load reads the flow's session. A cookie that does not decode (tampered,
// garbage, signed with an old key) counts as no session at all; any other
// store failure is ErrStoreUnavailable, so callers fail closed.
func (m *Manager) load(r *http.Request) (*sessions.Session, flowState, error) {
	sess, err := m.storeNew(r, m.cfg.sessionName)
	return m.opened(sess, err)
}

// opened is load's reading of what the store's New (or a GateLoader's
// LoadGate) returned.
func (m *Manager) opened(sess *sessions.Session, err error) (*sessions.Session, flowState, error) {
	if err != nil {
		// securecookie errors all mean a cookie we cannot read (bad MAC,
		// bad encoding, too long: the last is not flagged IsDecode).
		// A missing record (FilesystemStore: the file of an id deleted
		// at renewal or logout) is no session either, not an outage.
		var scErr securecookie.Error
		if !errors.As(err, &scErr) && !errors.Is(err, os.ErrNotExist) {
			return nil, flowState{}, storeErr(err)
		}
		sess = sessions.NewSession(m.store, m.cfg.sessionName)
		sess.IsNew = true
	}
	if sess == nil {
		return nil, flowState{}, fmt.Errorf("%w: store returned no session", ErrStoreUnavailable)
	}
	if sess.IsNew {
		// Some server-side stores (redisstore among them) keep the id a
		// cookie names even when they hold no record for it. Never adopt an
		// id the store did not issue: a fresh one is made on save.
		sess.ID = ""
	}
	fs := readFlow(sess.Values)
	if fs.FlowID == "" {
		fs.FlowID = randomID()
	}
	return sess, fs, nil
}

// cookieOptions returns the session cookie's attributes.
func (m *Manager) cookieOptions(maxAge int) *sessions.Options {
	return &sessions.Options{
		Path:     m.cfg.cookiePath,
		Domain:   m.cfg.cookieDomain,
		MaxAge:   maxAge,
		Secure:   !m.cfg.insecureCookie,
		HttpOnly: true,
		SameSite: m.cfg.sameSite,
	}
}

// unverifiedMaxAge bounds the life of a session that holds no
// verification: longer than any code's validity and cooldown, far shorter
// than a verification lasts.
const unverifiedMaxAge = time.Hour

// save writes fs into sess and saves it with the library's cookie options.
func (m *Manager) save(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState) error {
	fs.write(sess.Values)
	maxAge := m.cfg.maxAge
	if fs.VerifiedAt == 0 {
		// Nothing verified yet: a visitor who never finishes the flow
		// should not leave a session (or a server-side record) for 12 h.
		maxAge = min(maxAge, unverifiedMaxAge)
	}
	sess.Options = m.cookieOptions(int(maxAge.Seconds()))
	if err := m.storeSave(r, w, sess); err != nil {
		return storeErr(err)
	}
	return nil
}

// renew replaces the session by a fresh one holding fs: server-side stores
// delete the old record and issue a new id, the cookie store a new cookie.
// It defends against session fixation: whatever id the visitor (or an
// attacker who planted a cookie) came with does not survive verification.
func (m *Manager) renew(w http.ResponseWriter, r *http.Request, old *sessions.Session, fs flowState) error {
	if !old.IsNew {
		old.Options = m.cookieOptions(-1)
		clear(old.Values)
		// Delete the old record; its Set-Cookie goes nowhere, the new one follows.
		if err := m.storeSave(r, discardHeaders{}, old); err != nil {
			return storeErr(err)
		}
	}
	fresh := sessions.NewSession(m.store, m.cfg.sessionName)
	fresh.IsNew = true
	return m.save(w, r, fresh, fs)
}

// destroy deletes the session and its cookie.
func (m *Manager) destroy(w http.ResponseWriter, r *http.Request, sess *sessions.Session) error {
	clear(sess.Values)
	sess.Options = m.cookieOptions(-1)
	if err := m.storeSave(r, w, sess); err != nil {
		return storeErr(err)
	}
	return nil
}

// discardHeaders is a ResponseWriter that throws everything away.
type discardHeaders struct{}

func (discardHeaders) Header() http.Header         { return http.Header{} }
func (discardHeaders) Write(b []byte) (int, error) { return len(b), nil }
func (discardHeaders) WriteHeader(int)             {}

// cookieName names a cookie of the library's besides the session's: the
// session name (without a __Host- prefix) and suffix, with the __Host-
// prefix whenever the cookie can take it (Secure, for /, no Domain). These
// cookies are always set for Path=/.
func (m *Manager) cookieName(suffix string) string {
	name := strings.TrimPrefix(m.cfg.sessionName, hostPrefix) + suffix
	if !m.cfg.insecureCookie && m.cfg.cookieDomain == "" {
		name = hostPrefix + name
	}
	return name
}

// GateLoader is an optional capability of a server-side session store: it
// loads a session and checks the grant the session holds in one round trip
// to its backend, where the gate otherwise makes two (load the session,
// then State.CheckGrant). The gate finds it by type assertion on the store
// given to New, and uses it only when GateState returns the Manager's own
// State (WithState): the grant must be checked where it lives.
// redisstate.NewSessionStore implements it.
type GateLoader interface {
	sessions.Store

	// GateState returns the State whose user records LoadGate checks.
	GateState() State

	// LoadGate is New(r, name) (with its errors, which the gate treats as
	// it treats New's) and, in the same round trip, State.CheckGrant(ctx,
	// user, grant, c.Now, c.Idle) on the user record and grant that the
	// session's values named when they were saved (GrantOf). live is false
	// when the session is new or names no grant, when c.User is not empty
	// and the session belongs to another user (then the grant is neither
	// checked nor touched), and when the grant is not live.
	LoadGate(r *http.Request, name string, c GateCheck) (sess *sessions.Session, live bool, err error)
}

// GateCheck is what GateLoader.LoadGate checks besides loading.
type GateCheck struct {
	Now  time.Time // the Manager's clock
	Idle time.Time // the grant's new idle deadline (as State.CheckGrant's idle)
	User string    // if not "", the only user record whose grant may be checked
}

// GrantOf returns the user record (a State key) and grant id a session's
// values name, as the gate checks them; both "" when the session holds no
// verification. A GateLoader calls it when it saves a session and keeps
// the two beside the encoded values, so that LoadGate can check the grant
// without decoding them.
func GrantOf(values map[any]any) (user, grant string) {
	fs := readFlow(values)
	if fs.VerifiedAt == 0 || !validID(fs.Grant) {
		return "", ""
	}
	return userOf(fs), fs.Grant
}
