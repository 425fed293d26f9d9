package twofactor

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gorilla/sessions"
)

// PasskeyConfig configures passkeys (WebAuthn) as a second factor: see
// WithPasskeys.
type PasskeyConfig struct {
	// RPID is the relying party's ID: the site's domain, such as
	// "bank.example" (or "localhost" in development). Passkeys are bound
	// to it: changing it later makes every passkey unusable. Required.
	RPID string
	// RPDisplayName is the name the browser shows when it asks for a
	// passkey, such as "BirdBank". Default: RPID.
	RPDisplayName string
	// Origins are the full origins the pages are served from, such as
	// "https://bank.example" (with the port, if not the default one).
	// A ceremony from any other origin is refused. Required.
	Origins []string
	// Store keeps the passkeys. Nil keeps them in the Manager's State
	// (WithState): all of a user's passkeys in one map, shared by every
	// server that shares the State, for 400 days after the last was added
	// or used. A Store of the app's own needs WithSecret: the user handle
	// the library gives authenticators is a keyed hash of the subject.
	Store PasskeyStore
}

// WithPasskeys offers passkeys (WebAuthn) as a second factor beside SMS.
// It needs WithSubject: a passkey belongs to a user.
//
// The flow then serves, under its prefix: the page "passkey" ("Use your
// passkey", with the other factors beside it), its script "passkey.js",
// and JSON endpoints (POST, same-origin only) for the two ceremonies:
// "passkey/begin" and "passkey/finish" verify the session of the user on
// whose passkeys the browser signs a one-use challenge;
// "passkey/register/begin" and "passkey/register/finish" add a passkey to
// a verified user whose verification is under ten minutes old (step-up
// first otherwise), named by the request's "name" or after the browser.
// A settings page runs registration with the script: a button with the
// attribute data-tf-passkey-register (and data-tf-prefix, the flow's
// prefix) on a page that loads prefix+"passkey.js".
//
// Factors lists passkeys (MethodPasskey, with name, creation and last
// use) and RemoveFactor removes one. A verification by passkey records
// MethodPasskey. Failed passkey sign-ins count against the user's limit
// of wrong codes (Limits.Account), which Unlock clears; a sign
// counter that goes backwards (a cloned authenticator) is refused.
//
// StartConfirmation for a user with a passkey sends no SMS: the action is
// confirmed with the passkey, over a challenge derived from the action
// (see Confirmation.Passkey; the README shows the confirmation
// page's form), and Confirm checks the passkey's answer given as the code.
func WithPasskeys(pc PasskeyConfig) Option {
	return func(c *config) error {
		if pc.RPID == "" || len(pc.Origins) == 0 {
			return errors.New("twofactor: WithPasskeys needs an RPID (the site's domain) and its Origins (such as https://bank.example)")
		}
		if pc.RPDisplayName == "" {
			pc.RPDisplayName = pc.RPID
		}
		pc.Origins = slices.Clone(pc.Origins)
		c.passkeys = &pc
		return nil
	}
}

// Passkey ceremonies' bounds.
const (
	passkeyTimeout  = 4 * time.Minute  // what the browser is told to wait for the user
	ceremonyLife    = 5 * time.Minute  // how long a challenge may be answered
	maxCeremonies   = 4                // challenges live at once per user
	maxPasskeys     = 20               // passkeys per user
	passkeyMaxBody  = 32 << 10         // bytes of a ceremony's answer (attestation certificates)
	maxPasskeyName  = 64               // characters of a passkey's name
	counterMarkLife = 10 * time.Minute // a sign counter value seen lately, against parallel clones
)

// passkeys is what a Manager with WithPasskeys keeps.
type passkeys struct {
	wa     *webauthn.WebAuthn
	store  PasskeyStore
	handle []byte // HMAC key of user handles
	js     []byte
}

// initPasskeys sets up passkeys when WithPasskeys was given: go-webauthn,
// the store, the factor kind. New calls it once the State and secret are
// set.
func (m *Manager) initPasskeys() error {
	pc := m.cfg.passkeys
	if pc == nil {
		return nil
	}
	if m.cfg.subject == nil {
		return errors.New("twofactor: WithPasskeys needs WithSubject: a passkey belongs to a user")
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  pc.RPID,
		RPDisplayName:         pc.RPDisplayName,
		RPOrigins:             pc.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementPreferred,
			RequireResidentKey: protocol.ResidentKeyNotRequired(),
			UserVerification:   protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: passkeyTimeout, TimeoutUVD: passkeyTimeout},
			Registration: webauthn.TimeoutConfig{Timeout: passkeyTimeout, TimeoutUVD: passkeyTimeout},
		},
	})
	if err != nil {
		return errors.New("twofactor: WithPasskeys: " + err.Error())
	}
	p := &passkeys{wa: wa, store: pc.Store}
	if p.store == nil {
		p.store = statePasskeys{m.cfg.state}
	}
	if p.handle, err = hkdf.Key(sha256.New, m.cfg.secret, nil, "twofactor passkey user handles", 32); err != nil {
		return err
	}
	if p.js, err = pick(m.cfg.templates, "passkey.js"); err != nil {
		return err
	}
	m.pk = p // its kind joins the others in enableKinds (factors.go)
	return nil
}

// passkeyKind is the passkeys' kind of factor: the strongest.
func (m *Manager) passkeyKind() factorKind {
	return factorKind{
		method: MethodPasskey, rank: 0, page: "passkey",
		list: m.listPasskeys,
		remove: func(ctx context.Context, subject, id string) (bool, error) {
			return m.pk.store.DeletePasskey(ctx, subject, id)
		},
	}
}

// passkeyRoutes adds the passkey pages and ceremonies to the flow's mux.
func (m *Manager) passkeyRoutes(mux *http.ServeMux) {
	if m.pk == nil {
		return
	}
	p := m.cfg.prefix
	mux.HandleFunc("GET "+p+"passkey.js", m.pk.serveJS)
	mux.HandleFunc("POST "+p+"passkey/begin", m.servePasskeyBegin)
	mux.HandleFunc("POST "+p+"passkey/finish", m.servePasskeyFinish)
	mux.HandleFunc("POST "+p+"passkey/register/begin", m.servePasskeyRegisterBegin)
	mux.HandleFunc("POST "+p+"passkey/register/finish", m.servePasskeyRegisterFinish)
	mux.HandleFunc("POST "+p+"passkey/confirm/begin", m.servePasskeyConfirmBegin) // passkey_confirm.go
}

func (p *passkeys) serveJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(p.js)
}

// passkeyUser is a user as go-webauthn sees one.
type passkeyUser struct {
	handle []byte
	name   string
	creds  []webauthn.Credential
}

func (u passkeyUser) WebAuthnID() []byte                         { return u.handle }
func (u passkeyUser) WebAuthnName() string                       { return u.name }
func (u passkeyUser) WebAuthnDisplayName() string                { return u.name }
func (u passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// userHandle is subject's user handle: a keyed hash, so an authenticator
// holds no name of the app's and one app's handles say nothing of
// another's.
func (p *passkeys) userHandle(subject string) []byte {
	h := hmac.New(sha256.New, p.handle)
	h.Write([]byte(subject))
	return h.Sum(nil)
}

// storedPasskey is one passkey as read from the store.
type storedPasskey struct {
	id  string // base64url of the credential ID: the store's id and Factor.ID
	raw []byte // the credential ID
	rec passkeyRecord
}

// userPasskeys returns subject's readable passkeys, oldest first, and
// subject as go-webauthn's user. An unreadable record is logged and left
// out: it can't be used, and the rest still can.
func (m *Manager) userPasskeys(ctx context.Context, subject string) ([]storedPasskey, passkeyUser, error) {
	u := passkeyUser{handle: m.pk.userHandle(subject), name: subject}
	all, err := m.pk.store.Passkeys(ctx, subject)
	if err != nil {
		return nil, u, storeErr(err)
	}
	var out []storedPasskey
	for _, id := range slices.Sorted(maps.Keys(all)) {
		raw, err := base64.RawURLEncoding.DecodeString(id)
		rec, rerr := decodePasskey(all[id])
		if err != nil || rerr != nil {
			m.log.Error("twofactor: unreadable passkey record left out", "id", id)
			continue
		}
		out = append(out, storedPasskey{id: id, raw: raw, rec: rec})
		u.creds = append(u.creds, rec.credential(raw))
	}
	slices.SortStableFunc(out, func(a, b storedPasskey) int { return int(a.rec.Created - b.rec.Created) })
	return out, u, nil
}

// listPasskeys is the factor kind's list.
func (m *Manager) listPasskeys(ctx context.Context, subject string) ([]Factor, error) {
	keys, _, err := m.userPasskeys(ctx, subject)
	if err != nil {
		return nil, err
	}
	fs := make([]Factor, 0, len(keys))
	for _, k := range keys {
		f := Factor{Method: MethodPasskey, ID: k.id, Name: k.rec.Name, Created: time.Unix(k.rec.Created, 0)}
		if k.rec.LastUsed != 0 {
			f.LastUsed = time.Unix(k.rec.LastUsed, 0)
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// Refusals of the passkey endpoints.
var (
	errNoPasskey       = &flowError{status: http.StatusConflict, code: "no_passkey", msg: "err_no_passkey"}
	errPasskey         = &flowError{status: http.StatusBadRequest, code: "passkey_refused", msg: "err_passkey"}
	errPasskeyGone     = &flowError{status: http.StatusBadRequest, code: "passkey_challenge_used", msg: "err_passkey_again"}
	errTooManyPasskeys = &flowError{status: http.StatusConflict, code: "too_many_passkeys", msg: "err_too_many_passkeys"}
)

// errCloned is the reason of a sign-in refused for a sign counter that did
// not go up: two copies of the passkey may exist.
var errCloned = errors.New("twofactor: passkey sign counter did not increase: cloned authenticator?")

// ceremony is a WebAuthn challenge on its way, kept in the State (never
// the client) under the user's key, one field per challenge, until it is
// answered once or expires.
type ceremony struct {
	Kind    string               `json:"k"`            // "get" (sign in) or "create" (register)
	Flow    string               `json:"f"`            // the session's FlowID: answered from the same browser
	Gen     string               `json:"g"`            // the user's generation at the start
	Grant   string               `json:"gr,omitempty"` // create: the verified session's grant
	Name    string               `json:"n,omitempty"`  // create: the new passkey's name
	Expires int64                `json:"e"`            // Unix milliseconds
	Session webauthn.SessionData `json:"s"`
}

func ceremoniesKey(subject string) string { return "webauthn:" + subject }

// keepCeremony stores c under its challenge, after dropping subject's
// expired ones and, past maxCeremonies, the oldest.
func (m *Manager) keepCeremony(ctx context.Context, subject string, c ceremony) error {
	key := ceremoniesKey(subject)
	now := m.cfg.now()
	fields, err := m.cfg.state.Fields(ctx, key)
	if err != nil {
		return storeErr(err)
	}
	type live struct {
		field string
		exp   int64
	}
	var lives []live
	for f, v := range fields {
		var old ceremony
		if json.Unmarshal([]byte(v), &old) != nil || old.Expires <= now.UnixMilli() {
			_, _ = m.cfg.state.DeleteField(ctx, key, f)
			continue
		}
		lives = append(lives, live{f, old.Expires})
	}
	slices.SortFunc(lives, func(a, b live) int { return int(a.exp - b.exp) })
	for len(lives) >= maxCeremonies {
		_, _ = m.cfg.state.DeleteField(ctx, key, lives[0].field)
		lives = lives[1:]
	}
	c.Expires = now.Add(ceremonyLife).UnixMilli()
	b, _ := json.Marshal(c)
	return storeErr(m.cfg.state.SetField(ctx, key, c.Session.Challenge, string(b), ceremonyLife))
}

// takeCeremony spends subject's challenge: found, of kind, begun by the
// browser of flowID, not expired, and not spent before (of two answers
// with it, one gets it). ok is false otherwise.
func (m *Manager) takeCeremony(ctx context.Context, subject, challenge, kind, flowID string) (ceremony, bool, error) {
	var c ceremony
	if challenge == "" || len(challenge) > 128 {
		return c, false, nil
	}
	key := ceremoniesKey(subject)
	fields, err := m.cfg.state.Fields(ctx, key)
	if err != nil {
		return c, false, storeErr(err)
	}
	v, found := fields[challenge]
	if !found {
		return c, false, nil
	}
	had, err := m.cfg.state.DeleteField(ctx, key, challenge)
	if err != nil || !had {
		return c, false, storeErr(err)
	}
	if json.Unmarshal([]byte(v), &c) != nil || c.Kind != kind || c.Flow != flowID || c.Session.Challenge != challenge ||
		m.cfg.now().UnixMilli() >= c.Expires {
		return c, false, nil
	}
	return c, true, nil
}

// passkeyRequest is the small body of a begin call.
type passkeyRequest struct {
	Name string `json:"name"` // register: the passkey's name
	Next string `json:"next"` // sign in: where to go afterwards
}

// readPasskeyBody reads a ceremony call's JSON body of at most limit
// bytes; an empty body is "{}".
func readPasskeyBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *flowError) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return nil, errUnsupported
	}
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if fe := readErr(err); fe != nil {
		return nil, fe
	}
	switch {
	case len(bytes.TrimSpace(b)) == 0:
		return []byte("{}"), nil
	case !utf8.Valid(b):
		return nil, errBadInput
	}
	return b, nil
}

// passkeyName makes a passkey's name from what the user typed, or, when
// nothing usable was, from the browser: "Chrome on macOS passkey".
func passkeyName(typed, userAgent string) string {
	name := strings.Join(strings.FieldsFunc(typed, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }), " ")
	if name == "" {
		name = browserName(userAgent)
	}
	if utf8.RuneCountInString(name) > maxPasskeyName {
		name = string([]rune(name)[:maxPasskeyName])
	}
	return name
}

// ceremonyCall loads r's session and reads its JSON body of at most
// limit bytes, into in when in is not nil. It answers, and returns ok
// false, when it can't.
func (m *Manager) ceremonyCall(w http.ResponseWriter, r *http.Request, limit int64, in any) (sess *sessions.Session, fs flowState, body []byte, ok bool) {
	sess, fs, err := m.load(r)
	if err != nil {
		m.storeFailed(w, r, flowState{}, err)
		return nil, fs, nil, false
	}
	body, fe := readPasskeyBody(w, r, limit)
	if fe == nil && in != nil && json.Unmarshal(body, in) != nil {
		fe = errBadInput
	}
	if fe != nil {
		m.fail(w, r, fs, fe)
		return nil, fs, nil, false
	}
	return sess, fs, body, true
}

// signInCall is ceremonyCall for a passkey sign-in, which is for the
// signed-in user, subject; then it parses the body with parse, if not nil.
func (m *Manager) signInCall(w http.ResponseWriter, r *http.Request, limit int64, in any, parse func([]byte) error) (*sessions.Session, flowState, string, bool) {
	sess, fs, body, ok := m.ceremonyCall(w, r, limit, in)
	subject := m.subject(r)
	switch {
	case !ok:
	case subject == "":
		m.fail(w, r, fs, errRequired)
	case parse != nil && parse(body) != nil:
		m.fail(w, r, fs, errBadInput)
	default:
		return sess, fs, subject, true
	}
	return sess, fs, "", false
}

// parseInto is a parse of a ceremony's answer into *p with parse (one of
// go-webauthn's).
func parseInto[P any](p *P, parse func([]byte) (P, error)) func([]byte) error {
	return func(b []byte) (err error) {
		*p, err = parse(b)
		return err
	}
}

// servePasskeyBegin starts a passkey sign-in for the signed-in user: a
// challenge that only that user's passkeys may answer, once, from this
// browser, within ceremonyLife.
func (m *Manager) servePasskeyBegin(w http.ResponseWriter, r *http.Request) {
	var in passkeyRequest
	sess, fs, subject, ok := m.signInCall(w, r, defaultMaxBody, &in, nil)
	if !ok {
		return
	}
	if fe := m.takeReturn(r, &fs, in.Next); fe != nil {
		m.fail(w, r, fs, fe)
		return
	}
	m.beginPasskeySignIn(w, r, sess, fs, subject)
}

// beginPasskeySignIn answers with the challenge of a passkey sign-in of
// subject, kept for the browser of fs (saved with it): unless the user is
// locked (as a send is: the lock of wrong codes, read with the user's
// generation in one round trip) or has no passkey.
func (m *Manager) beginPasskeySignIn(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, subject string) {
	ctx := r.Context()
	t, err := peekTry(ctx, m.cfg.state, m.log, m.factorPlan(r, subject))
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if t.refused == tryLocked {
		m.accountLocked(w, r, fs, t.lock, t.ttl, "")
		return
	}
	keys, user, err := m.userPasskeys(ctx, subject)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if len(keys) == 0 {
		m.fail(w, r, fs, errNoPasskey)
		return
	}
	assertion, sd, err := m.pk.wa.BeginLogin(user, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		m.log.Error("twofactor: passkey sign-in could not start", "err", err)
		m.fail(w, r, fs, errBadInput)
		return
	}
	if err := m.keepCeremony(ctx, subject, ceremony{Kind: "get", Flow: fs.FlowID, Gen: t.with[0].Gen, Session: *sd}); err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if err := m.save(w, r, sess, fs); err != nil { // the FlowID the answer must come with
		m.storeFailed(w, r, fs, err)
		return
	}
	writeJSON(w, http.StatusOK, assertion)
}

// servePasskeyFinish checks a passkey's answer to the challenge of
// servePasskeyBegin and verifies the session. The challenge is taken
// (once) before the try is counted: an answer to no live challenge of
// this browser is judged by nobody.
func (m *Manager) servePasskeyFinish(w http.ResponseWriter, r *http.Request) {
	var parsed *protocol.ParsedCredentialAssertionData
	sess, fs, subject, ok := m.signInCall(w, r, passkeyMaxBody, nil, parseInto(&parsed, protocol.ParseCredentialRequestResponseBytes))
	if !ok {
		return
	}
	c, ok, err := m.takeCeremony(r.Context(), subject, parsed.Response.CollectedClientData.Challenge, "get", fs.FlowID)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if !ok {
		m.passkeyFailed(r, subject, errPasskeyGone.code)
		m.fail(w, r, fs, errPasskeyGone)
		return
	}
	plan := tryPlan{locks: []guessLock{m.accountLock(r)}} // the grant rests on the ceremony's generation
	res, err := m.checkPasskey(r.Context(), subject, plan, c.Session, parsed)
	switch {
	case err != nil:
		m.storeFailed(w, r, fs, err)
	case res.refused == tryLocked:
		m.accountLocked(w, r, fs, res.lock, res.ttl, "")
	case res.err != nil:
		m.passkeyFailed(r, subject, reason(res.err))
		m.fail(w, r, fs, errPasskey)
	default:
		m.verifyAndRedirect(w, r, sess, fs, MethodPasskey, "", origin{gen: c.Gen}, false)
	}
}

// reason is what the log says of a refused answer: go-webauthn's own
// words for developers (never shown to the visitor).
func reason(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Details
	}
	return err.Error()
}

// passkeyFailed logs and reports a refused passkey sign-in.
func (m *Manager) passkeyFailed(r *http.Request, subject, why string) {
	m.log.Info("twofactor: passkey sign-in refused", "reason", why)
	m.emit(r, Event{Type: EventCheckFailed, Subject: subject, Method: MethodPasskey, Err: ErrInvalidCode})
}

// registrationCall is ceremonyCall for adding a passkey: it answers, and
// returns ok false, unless r comes from a verified session of the
// signed-in user (subject) whose verification is fresh enough to add a
// factor (step-up); then it parses the body with parse, if not nil.
func (m *Manager) registrationCall(w http.ResponseWriter, r *http.Request, limit int64, in any, parse func([]byte) error) (flowState, string, bool) {
	_, fs, body, ok := m.ceremonyCall(w, r, limit, in)
	if !ok {
		return fs, "", false
	}
	subject := m.subject(r)
	live, err := m.grantLive(r, fs)
	switch {
	case err != nil:
		m.storeFailed(w, r, fs, err)
	case !live || subject == "" || fs.Subject != subject:
		m.fail(w, r, fs, errRequired)
	case !fs.record().fresh(m.cfg.now(), changeFreshness):
		m.fail(w, r, fs, errStale)
	case parse != nil && parse(body) != nil:
		m.fail(w, r, fs, errBadInput)
	default:
		return fs, subject, true
	}
	return fs, "", false
}

// servePasskeyRegisterBegin starts adding a passkey for a freshly verified
// user: a challenge for this session, with the user's passkeys excluded
// (an authenticator that has one says so instead of making another).
func (m *Manager) servePasskeyRegisterBegin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var in passkeyRequest
	fs, subject, ok := m.registrationCall(w, r, defaultMaxBody, &in, nil)
	if !ok {
		return
	}
	keys, user, err := m.userPasskeys(ctx, subject)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if len(keys) >= maxPasskeys {
		m.fail(w, r, fs, errTooManyPasskeys)
		return
	}
	gen, err := m.generation(ctx, subject)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	creation, sd, err := m.pk.wa.BeginRegistration(user,
		webauthn.WithExclusions(webauthn.Credentials(user.creds).CredentialDescriptors()),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred))
	if err != nil {
		m.log.Error("twofactor: passkey registration could not start", "err", err)
		m.fail(w, r, fs, errBadInput)
		return
	}
	c := ceremony{Kind: "create", Flow: fs.FlowID, Gen: gen, Grant: fs.Grant, Name: passkeyName(in.Name, r.UserAgent()), Session: *sd}
	if err := m.keepCeremony(ctx, subject, c); err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	writeJSON(w, http.StatusOK, creation)
}

// passkeyAdded is the answer to a registration.
type passkeyAdded struct {
	Status string `json:"status"` // "passkey_added"
	ID     string `json:"id"`
	Name   string `json:"name"`
}

// takeRegistration takes subject's registration ceremony whose challenge
// an answer names (takeCeremony), and reports whether what allowed its
// start still holds: begun in this verified session (its grant), and the
// user's generation unchanged (no sign out everywhere, no factor changed
// since).
func (m *Manager) takeRegistration(ctx context.Context, subject string, fs flowState, challenge string) (ceremony, bool, error) {
	c, ok, err := m.takeCeremony(ctx, subject, challenge, "create", fs.FlowID)
	if err != nil || !ok || c.Grant != fs.Grant {
		return c, false, err
	}
	gen, err := m.generation(ctx, subject)
	return c, err == nil && gen == c.Gen, err
}

// servePasskeyRegisterFinish checks the new credential against the
// challenge and stores it, if everything that allowed the start still
// holds: the same verified session, still fresh, of the same generation.
func (m *Manager) servePasskeyRegisterFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var parsed *protocol.ParsedCredentialCreationData
	fs, subject, ok := m.registrationCall(w, r, passkeyMaxBody, nil, parseInto(&parsed, protocol.ParseCredentialCreationResponseBytes))
	if !ok {
		return
	}
	c, holds, err := m.takeRegistration(ctx, subject, fs, parsed.Response.CollectedClientData.Challenge)
	switch {
	case err != nil:
		m.storeFailed(w, r, fs, err)
		return
	case !holds:
		m.fail(w, r, fs, errPasskeyGone)
		return
	}
	keys, user, err := m.userPasskeys(ctx, subject)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	cred, err := m.pk.wa.CreateCredential(user, c.Session, parsed)
	if err != nil {
		m.log.Info("twofactor: passkey registration refused", "reason", reason(err))
		m.fail(w, r, fs, errPasskey)
		return
	}
	id := base64.RawURLEncoding.EncodeToString(cred.ID)
	if len(keys) >= maxPasskeys || slices.ContainsFunc(keys, func(k storedPasskey) bool { return k.id == id }) {
		m.fail(w, r, fs, errPasskey)
		return
	}
	rec := newPasskeyRecord(cred, c.Name, m.cfg.now())
	if err := m.pk.store.AddPasskey(ctx, subject, id, rec.encode()); err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	m.log.Info("twofactor: passkey added")
	m.emit(r, Event{Type: EventFactorAdded, Subject: subject, Method: MethodPasskey, Device: id})
	writeJSON(w, http.StatusCreated, passkeyAdded{Status: "passkey_added", ID: id, Name: rec.Name})
}

// The passkey pages' texts.
var passkeyMessages = map[string]dict{
	"en": {
		"passkey_title":         "Use your passkey",
		"passkey_intro":         "Confirm it's you with the passkey on this device or your phone.",
		"passkey_button":        "Use your passkey",
		"passkey_nojs":          "Passkeys need JavaScript, which is off in this browser. Use another way to verify below.",
		"passkey_working":       "Waiting for your passkey…",
		"use_passkey":           "Use your passkey instead",
		"err_passkey":           "That passkey wasn't accepted. Please try again, or use another way to verify.",
		"err_passkey_again":     "That passkey request has expired or was already used. Please try again.",
		"err_no_passkey":        "There's no passkey for your account. Please use another way to verify.",
		"err_too_many_passkeys": "You have the most passkeys an account can have. Remove one first.",
		"err_passkey_cancelled": "The passkey wasn't used. Please try again, or use another way to verify.",
	},
	"nl": {
		"passkey_title":         "Gebruik uw passkey",
		"passkey_intro":         "Bevestig dat u het bent met de passkey op dit apparaat of uw telefoon.",
		"passkey_button":        "Gebruik uw passkey",
		"passkey_nojs":          "Passkeys hebben JavaScript nodig, en dat staat uit in deze browser. Bevestig hieronder op een andere manier.",
		"passkey_working":       "Wachten op uw passkey…",
		"use_passkey":           "Gebruik liever uw passkey",
		"err_passkey":           "Die passkey werd niet geaccepteerd. Probeer het opnieuw, of bevestig op een andere manier.",
		"err_passkey_again":     "Dat passkey-verzoek is verlopen of al gebruikt. Probeer het opnieuw.",
		"err_no_passkey":        "Er is geen passkey voor uw account. Bevestig op een andere manier.",
		"err_too_many_passkeys": "U heeft het maximale aantal passkeys. Verwijder er eerst een.",
		"err_passkey_cancelled": "De passkey is niet gebruikt. Probeer het opnieuw, of bevestig op een andere manier.",
	},
}

func init() {
	for lang, d := range passkeyMessages {
		maps.Copy(messages[lang], d)
	}
}
