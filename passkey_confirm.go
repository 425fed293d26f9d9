package twofactor

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Confirming an action with a passkey (PSD2 dynamic linking).
//
// With WithPasskeys, StartConfirmation for a user who has a passkey sends
// no SMS: the Confirmation says Passkey, and the WebAuthn challenge the
// passkey signs is derived from the action itself:
//
//	challenge = nonce || SHA-256("twofactor action v1" 0x00 nonce 0x00 action)
//	action    = Description 0x00 Amount 0x00 Payee 0x00 (key 0x00 value 0x00, keys sorted)...
//
// with a 16-byte random nonce, so the signed client data names this
// action and no other, and whoever keeps the assertion can show later
// what was signed. The app's page shows the action (amount and payee) and
// a form posting the confirmation's id and a hidden "code" field, marked
// data-tf-passkey-confirm; passkey.js asks the browser for the passkey
// (POST prefix+"passkey/confirm/begin" for the options), puts the answer
// in "code" and sends the form. Confirm then checks it as it checks a
// code: once, for the session and user that started it, counted against
// the confirmation's tries and the account's limit.

// confirmFieldPasskey is the field of the map at confirmKey(id) that
// holds a passkey confirmation's WebAuthn session data.
const confirmFieldPasskey = "pk"

// actionChallenge derives the challenge of action a from nonce.
func actionChallenge(nonce []byte, a Action) []byte {
	h := sha256.New()
	h.Write([]byte("twofactor action v1\x00"))
	h.Write(nonce)
	h.Write([]byte{0})
	for _, s := range []string{a.Description, a.Amount, a.Payee} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	keys := make([]string, 0, len(a.Details))
	for k := range a.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(a.Details[k]))
		h.Write([]byte{0})
	}
	return h.Sum(append([]byte{}, nonce...))
}

// startPasskeyConfirmation is StartConfirmation for a user with a passkey:
// no SMS, a challenge derived from a. handled is false when the user has
// no passkey (or passkeys are off): then the code goes by SMS.
func (m *Manager) startPasskeyConfirmation(r *http.Request, fs flowState, a Action) (c Confirmation, handled bool, err error) {
	if m.pk == nil || fs.Subject == "" {
		return Confirmation{}, false, nil
	}
	ctx := r.Context()
	keys, user, kerr := m.userPasskeys(ctx, fs.Subject)
	switch {
	case kerr != nil:
		return Confirmation{}, true, confirmStoreErr(kerr)
	case len(keys) == 0:
		return Confirmation{}, false, nil
	}
	// A locked account confirms nothing, as it gets no code.
	t, err := peekTry(ctx, m.cfg.state, m.log, tryPlan{locks: []guessLock{m.accountLock(r)}})
	switch {
	case err != nil:
		return Confirmation{}, true, confirmStoreErr(err)
	case t.refused == tryLocked:
		return Confirmation{}, true, m.confirmLocked(r, fs.Subject, "", t.ttl)
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	_, sd, berr := m.pk.wa.BeginLogin(user, webauthn.WithChallenge(actionChallenge(nonce, a)),
		webauthn.WithUserVerification(protocol.VerificationPreferred))
	if berr != nil {
		m.log.Error("twofactor: passkey confirmation could not start", "err", berr)
		return Confirmation{}, true, confirmErr("invalid_action", http.StatusBadRequest, ErrInvalidAction)
	}
	now := m.cfg.now()
	exp := now.Add(maxConfirmValidity)
	rec := confirmRecord{
		Verification: randomID(), // no provider's: names the one-use mark
		Grant:        fs.Grant,
		Subject:      fs.Subject,
		Expires:      exp.Unix(),
		Description:  a.Description,
		Amount:       a.Amount,
		Payee:        a.Payee,
		Details:      a.Details,
		Passkey:      true,
	}
	keep := exp.Sub(now) + confirmKeep
	id, ce := m.saveConfirmation(ctx, rec, keep)
	if ce != nil {
		return Confirmation{}, true, ce
	}
	sdj, _ := json.Marshal(sd)
	if err := m.cfg.state.SetField(ctx, confirmKey(id), confirmFieldPasskey, string(sdj), keep); err != nil {
		return Confirmation{}, true, confirmStoreErr(err)
	}
	m.log.Info("twofactor: passkey confirmation started", "ip", m.clientIP(r))
	return Confirmation{ID: id, Action: rec.action(), ExpiresAt: exp, TriesLeft: m.confirmTries(), Passkey: true}, true, nil
}

// passkeySession is the WebAuthn session data of passkey confirmation
// rec, as loadConfirmation read it.
func passkeySession(rec confirmRecord) (webauthn.SessionData, error) {
	var sd webauthn.SessionData
	if err := json.Unmarshal([]byte(rec.session), &sd); err != nil || sd.Challenge == "" {
		return sd, errors.New("twofactor: passkey confirmation without its challenge")
	}
	return sd, nil
}

// servePasskeyConfirmBegin answers passkey.js with the options of a
// passkey confirmation of this session: its action's challenge and the
// user's passkeys.
func (m *Manager) servePasskeyConfirmBegin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID string `json:"id"`
	}
	_, fs, _, ok := m.ceremonyCall(w, r, defaultMaxBody, &in)
	if !ok {
		return
	}
	rec, done, ce := m.loadConfirmation(r, in.ID)
	if ce == nil && (!rec.Passkey || done || !m.cfg.now().Before(time.Unix(rec.Expires, 0))) {
		ce = confirmErr("unknown_confirmation", http.StatusNotFound, ErrUnknownConfirmation)
	}
	if ce != nil {
		writeJSON(w, ce.Status, ce)
		return
	}
	sd, err := passkeySession(rec)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	allow := make([]protocol.CredentialDescriptor, 0, len(sd.AllowedCredentialIDs))
	for _, id := range sd.AllowedCredentialIDs {
		allow = append(allow, protocol.CredentialDescriptor{Type: protocol.PublicKeyCredentialType, CredentialID: id})
	}
	writeJSON(w, http.StatusOK, protocol.CredentialAssertion{Response: protocol.PublicKeyCredentialRequestOptions{
		Challenge:          protocol.URLEncodedBase64(mustB64(sd.Challenge)),
		Timeout:            int(time.Unix(rec.Expires, 0).Sub(m.cfg.now()).Milliseconds()),
		RelyingPartyID:     sd.RelyingPartyID,
		AllowedCredentials: allow,
		UserVerification:   sd.UserVerification,
	}})
}

func mustB64(s string) []byte {
	b, _ := base64.RawURLEncoding.DecodeString(s)
	return b
}

// confirmPasskey is Confirm for a passkey confirmation (rec.Passkey,
// live, its tries and one-use mark kept for keep): answer is the
// passkey's assertion, as passkey.js puts it in the form's "code" field.
// Its try counts against the confirmation's tries and the account's lock
// of wrong codes (checkPasskey).
func (m *Manager) confirmPasskey(r *http.Request, id string, rec confirmRecord, keep time.Duration, answer string) (Action, error) {
	ctx := r.Context()
	sd, err := passkeySession(rec)
	if err != nil {
		return Action{}, confirmStoreErr(err)
	}
	parsed, perr := protocol.ParseCredentialRequestResponseBytes([]byte(answer))
	if perr != nil || len(answer) > passkeyMaxBody {
		return Action{}, confirmErr("malformed_code", http.StatusBadRequest, ErrMalformedCode)
	}
	res, err := m.checkPasskey(ctx, rec.Subject, tryPlan{
		tries: confirmTriesKey(id), limit: int64(m.confirmTries()), window: keep,
		locks: []guessLock{m.accountLock(r)},
	}, sd, parsed)
	switch {
	case err != nil:
		return Action{}, confirmStoreErr(err)
	case res.refused == tryTooMany:
		return Action{}, m.confirmFailed(r, rec, confirmErr("too_many_attempts", http.StatusBadRequest, ErrTooManyAttempts))
	case res.refused == tryLocked:
		return Action{}, m.confirmLocked(r, rec.Subject, "", res.ttl)
	case res.err != nil:
		m.log.Info("twofactor: passkey confirmation refused", "reason", reason(res.err))
		ce := confirmErr("too_many_attempts", http.StatusBadRequest, ErrTooManyAttempts)
		if res.left > 0 {
			ce = &ConfirmError{Code: "invalid_code", Status: http.StatusBadRequest, TriesLeft: int(res.left), Err: ErrInvalidCode}
		}
		return Action{}, m.confirmFailed(r, rec, ce)
	}
	return m.passkeyConfirmed(r, id, rec, keep)
}

// passkeyConfirmed confirms rec's action, once: of two parallel right
// answers, one confirms.
func (m *Manager) passkeyConfirmed(r *http.Request, id string, rec confirmRecord, keep time.Duration) (Action, error) {
	ctx := r.Context()
	first, err := m.cfg.state.SetNX(ctx, usedKey(rec.Verification), keep)
	if err != nil {
		return Action{}, confirmStoreErr(err)
	}
	if !first {
		return Action{}, m.confirmFailed(r, rec, confirmErr("already_confirmed", http.StatusConflict, ErrConfirmationUsed))
	}
	if err := m.cfg.state.SetField(ctx, confirmKey(id), confirmFieldDone, "1", keep); err != nil {
		m.log.Error("twofactor: state backend failed", "err", err)
	}
	m.log.Info("twofactor: action confirmed with a passkey")
	m.emit(r, Event{Type: EventConfirmed, Subject: rec.Subject, Method: MethodPasskey})
	return rec.action(), nil
}

// checkPasskey lives the life of a passkey's answer to sd's challenge for
// subject (codelife.go): a try reserved against plan before the answer is
// judged, given back when nobody judged it (the store failed), spent when
// it is right (the mark of its sign counter, once: of two answers with
// one count, one wins; and the locks' try back), and kept when it is
// wrong. res.err is why a judged answer was refused (errCloned,
// errPasskeyRemoved, or go-webauthn's). The error is the State's.
func (m *Manager) checkPasskey(ctx context.Context, subject string, plan tryPlan, sd webauthn.SessionData, parsed *protocol.ParsedCredentialAssertionData) (codeChecked, error) {
	t, err := reserveTry(ctx, m.cfg.state, m.log, plan)
	if err != nil || t.refused != tryReserved {
		return codeChecked{codeTry: t}, err
	}
	out := codeChecked{codeTry: t}
	key, cred, err := m.checkAssertion(ctx, subject, sd, parsed)
	switch {
	case errors.Is(err, ErrStoreUnavailable):
		t.cancel(ctx)
		return out, err
	case err != nil:
		out.err = err // the try stays counted
		return out, nil
	}
	first, err := t.spend(ctx, counterMark(subject, key.id, parsed), counterMarkLife, nil)
	switch {
	case err != nil:
		return out, err
	case !first:
		t.recount(ctx)
		out.err = m.cloned(subject)
	default:
		out.err = m.passkeyUsed(ctx, subject, key, cred)
		if out.err != nil && !errors.Is(out.err, errPasskeyRemoved) {
			return out, out.err
		}
	}
	return out, nil
}

// counterMark is the State key that marks the sign counter of parsed seen
// for subject's passkey id, so that each value is used once, even by two
// answers at the same time; "" for an authenticator that counts nothing.
func counterMark(subject, id string, parsed *protocol.ParsedCredentialAssertionData) string {
	count := parsed.Response.AuthenticatorData.Counter
	if count == 0 {
		return ""
	}
	return "pkcount:" + subject + ":" + id + ":" + strconv.FormatUint(uint64(count), 10)
}

// cloned logs a passkey refused for a sign counter that did not go up,
// and returns errCloned.
func (m *Manager) cloned(subject string) error {
	m.log.Warn("twofactor: passkey refused: its sign counter did not increase, so it may be cloned", "subject", subject)
	return errCloned
}

// checkAssertion checks a passkey's answer against the session data sd
// of subject: one of subject's passkeys signed sd's challenge for this
// site, with a sign counter that went up from the one stored (the mark of
// its value is checkPasskey's). A store failure matches
// ErrStoreUnavailable.
func (m *Manager) checkAssertion(ctx context.Context, subject string, sd webauthn.SessionData, parsed *protocol.ParsedCredentialAssertionData) (storedPasskey, *webauthn.Credential, error) {
	keys, user, err := m.userPasskeys(ctx, subject)
	if err != nil {
		return storedPasskey{}, nil, err
	}
	cred, err := m.pk.wa.ValidateLogin(user, sd, parsed)
	if err != nil {
		return storedPasskey{}, nil, err
	}
	if cred.Authenticator.CloneWarning {
		return storedPasskey{}, nil, m.cloned(subject)
	}
	i := slices.IndexFunc(keys, func(k storedPasskey) bool { return bytes.Equal(k.raw, cred.ID) })
	return keys[i], cred, nil // ValidateLogin found it among them
}

// errPasskeyRemoved is passkeyUsed's answer when the passkey was removed
// while it was being used: the use is refused.
var errPasskeyRemoved = errors.New("twofactor: passkey removed while in use")

// passkeyUsed keeps what a use of passkey key taught: its sign counter,
// its backup state, when it was last used. A passkey removed meanwhile is
// not brought back: errPasskeyRemoved.
func (m *Manager) passkeyUsed(ctx context.Context, subject string, key storedPasskey, cred *webauthn.Credential) error {
	key.rec.Count, key.rec.Flags, key.rec.LastUsed = cred.Authenticator.SignCount, byte(cred.Flags.ProtocolValue()), m.cfg.now().Unix()
	there, err := m.pk.store.UpdatePasskey(ctx, subject, key.id, key.rec.encode())
	switch {
	case err != nil:
		return storeErr(err)
	case !there:
		return errPasskeyRemoved
	}
	return nil
}
