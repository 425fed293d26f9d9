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
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, errTooLarge
	case err != nil:
		return nil, errBadInput
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

// servePasskeyBegin starts a passkey sign-in for the signed-in user: a
// challenge that only that user's passkeys may answer, once, from this
// browser, within ceremonyLife.
func (m *Manager) servePasskeyBegin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, fs, err := m.load(r)
	if err != nil {
		m.storeFailed(w, r, flowState{}, err)
		return
	}
	body, fe := readPasskeyBody(w, r, defaultMaxBody)
	var in passkeyRequest
	if fe == nil && json.Unmarshal(body, &in) != nil {
		fe = errBadInput
	}
	if fe != nil {
		m.fail(w, r, fs, fe)
		return
	}
	subject := m.subject(r)
	if subject == "" {
		m.fail(w, r, fs, errRequired)
		return
	}
	if in.Next != "" {
		ret, ok := safeReturn(in.Next)
		if !ok {
			m.fail(w, r, fs, errBadReturn)
			return
		}
		fs.Return = ret
	} else if fs.Return == "" {
		fs.Return = m.returnCookie(r)
	}
	acct := accountKey(m.requester(r))
	n, ttl, err := m.cfg.state.Incr(ctx, acct, 0, m.cfg.accountAttempts.Per)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if m.cfg.accountAttempts.enabled() && n >= int64(m.cfg.accountAttempts.N) {
		m.accountLocked(w, r, fs, acct, ttl, "")
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
	gen, err := m.generation(ctx, subject)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	assertion, sd, err := m.pk.wa.BeginLogin(user, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		m.log.Error("twofactor: passkey sign-in could not start", "err", err)
		m.fail(w, r, fs, errBadInput)
		return
	}
	if err := m.keepCeremony(ctx, subject, ceremony{Kind: "get", Flow: fs.FlowID, Gen: gen, Session: *sd}); err != nil {
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
// servePasskeyBegin and verifies the session.
func (m *Manager) servePasskeyFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, fs, err := m.load(r)
	if err != nil {
		m.storeFailed(w, r, flowState{}, err)
		return
	}
	body, fe := readPasskeyBody(w, r, passkeyMaxBody)
	if fe != nil {
		m.fail(w, r, fs, fe)
		return
	}
	subject := m.subject(r)
	if subject == "" {
		m.fail(w, r, fs, errRequired)
		return
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		m.fail(w, r, fs, errBadInput)
		return
	}
	c, ok, err := m.takeCeremony(ctx, subject, parsed.Response.CollectedClientData.Challenge, "get", fs.FlowID)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if !ok {
		m.passkeyFailed(r, subject, errPasskeyGone.code)
		m.fail(w, r, fs, errPasskeyGone)
		return
	}
	// Reserve the try before checking, so parallel answers cannot pass
	// the limit; a right answer gives it back.
	acct, per := accountKey(m.requester(r)), m.cfg.accountAttempts.Per
	n, ttl, err := m.cfg.state.Incr(ctx, acct, 1, per)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	giveBack := func() {
		if _, _, err := m.cfg.state.Incr(ctx, acct, -1, per); err != nil {
			m.log.Error("twofactor: state backend failed", "err", err)
		}
	}
	if m.cfg.accountAttempts.enabled() && n > int64(m.cfg.accountAttempts.N) {
		giveBack() // refused unchecked: it counts for nothing
		m.accountLocked(w, r, fs, acct, ttl, "")
		return
	}
	key, cred, err := m.checkAssertion(ctx, subject, c.Session, parsed) // passkey_confirm.go
	if errors.Is(err, ErrStoreUnavailable) {
		giveBack()
		m.storeFailed(w, r, fs, err)
		return
	}
	if err != nil {
		m.passkeyFailed(r, subject, reason(err))
		m.fail(w, r, fs, errPasskey)
		return
	}
	giveBack()
	if err := m.passkeyUsed(ctx, subject, key, cred); errors.Is(err, errPasskeyRemoved) {
		m.passkeyFailed(r, subject, err.Error())
		m.fail(w, r, fs, errPasskey)
		return
	} else if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	m.verifyAndRedirect(w, r, sess, fs, MethodPasskey, "", origin{gen: c.Gen}, false)
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

// registrationGround answers, and returns false, unless r comes from a
// verified session of the signed-in user whose verification is fresh
// enough to add a factor (step-up).
func (m *Manager) registrationGround(w http.ResponseWriter, r *http.Request, fs flowState) (string, bool) {
	subject := m.subject(r)
	live, err := m.grantLive(r, fs)
	switch {
	case err != nil:
		m.storeFailed(w, r, fs, err)
	case !live || subject == "" || fs.Subject != subject:
		m.fail(w, r, fs, errRequired)
	case !fs.record().fresh(m.cfg.now(), changeFreshness):
		m.fail(w, r, fs, errStale)
	default:
		return subject, true
	}
	return "", false
}

// servePasskeyRegisterBegin starts adding a passkey for a freshly verified
// user: a challenge for this session, with the user's passkeys excluded
// (an authenticator that has one says so instead of making another).
func (m *Manager) servePasskeyRegisterBegin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, fs, err := m.load(r)
	if err != nil {
		m.storeFailed(w, r, flowState{}, err)
		return
	}
	body, fe := readPasskeyBody(w, r, defaultMaxBody)
	var in passkeyRequest
	if fe == nil && json.Unmarshal(body, &in) != nil {
		fe = errBadInput
	}
	if fe != nil {
		m.fail(w, r, fs, fe)
		return
	}
	subject, ok := m.registrationGround(w, r, fs)
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

// servePasskeyRegisterFinish checks the new credential against the
// challenge and stores it, if everything that allowed the start still
// holds: the same verified session, still fresh, of the same generation.
func (m *Manager) servePasskeyRegisterFinish(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, fs, err := m.load(r)
	if err != nil {
		m.storeFailed(w, r, flowState{}, err)
		return
	}
	body, fe := readPasskeyBody(w, r, passkeyMaxBody)
	if fe != nil {
		m.fail(w, r, fs, fe)
		return
	}
	subject, ok := m.registrationGround(w, r, fs)
	if !ok {
		return
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		m.fail(w, r, fs, errBadInput)
		return
	}
	c, ok, err := m.takeCeremony(ctx, subject, parsed.Response.CollectedClientData.Challenge, "create", fs.FlowID)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if !ok || c.Grant != fs.Grant {
		m.fail(w, r, fs, errPasskeyGone)
		return
	}
	gen, err := m.generation(ctx, subject)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if gen != c.Gen {
		m.fail(w, r, fs, errPasskeyGone) // signed out everywhere, or a factor changed, since
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
