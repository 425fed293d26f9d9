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
	acct := accountKey(m.requester(r))
	n, ttl, ierr := m.cfg.state.Incr(ctx, acct, 0, m.cfg.accountAttempts.Per)
	if ierr != nil {
		return Confirmation{}, true, confirmStoreErr(ierr)
	}
	if m.cfg.accountAttempts.enabled() && n >= int64(m.cfg.accountAttempts.N) {
		m.emit(r, Event{Type: EventLocked, Subject: fs.Subject})
		return Confirmation{}, true, &ConfirmError{Code: "locked", Status: http.StatusTooManyRequests, RetryAfter: ttl, Err: ErrTooManyAttempts}
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

// passkeySession reads the WebAuthn session data of passkey confirmation
// id, and whether it was confirmed already.
func (m *Manager) passkeySession(ctx context.Context, id string) (webauthn.SessionData, bool, error) {
	var sd webauthn.SessionData
	fields, err := m.cfg.state.Fields(ctx, confirmKey(id))
	if err != nil {
		return sd, false, err
	}
	_, done := fields[confirmFieldDone]
	if err := json.Unmarshal([]byte(fields[confirmFieldPasskey]), &sd); err != nil || sd.Challenge == "" {
		return sd, done, errors.New("twofactor: passkey confirmation without its challenge")
	}
	return sd, done, nil
}

// servePasskeyConfirmBegin answers passkey.js with the options of a
// passkey confirmation of this session: its action's challenge and the
// user's passkeys.
func (m *Manager) servePasskeyConfirmBegin(w http.ResponseWriter, r *http.Request) {
	_, fs, err := m.load(r)
	if err != nil {
		m.storeFailed(w, r, flowState{}, err)
		return
	}
	body, fe := readPasskeyBody(w, r, defaultMaxBody)
	var in struct {
		ID string `json:"id"`
	}
	if fe == nil && json.Unmarshal(body, &in) != nil {
		fe = errBadInput
	}
	if fe != nil {
		m.fail(w, r, fs, fe)
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
	sd, _, err := m.passkeySession(r.Context(), in.ID)
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

// confirmPasskey is Confirm for a passkey confirmation (rec.Passkey):
// answer is the passkey's assertion, as passkey.js puts it in the form's
// "code" field.
func (m *Manager) confirmPasskey(r *http.Request, id string, rec confirmRecord, answer string) (Action, error) {
	ctx := r.Context()
	failed := func(ce *ConfirmError) (Action, error) {
		typ := EventConfirmationFailed
		if errors.Is(ce, ErrExpired) {
			typ = EventConfirmationExpired
		}
		m.emit(r, Event{Type: typ, Subject: rec.Subject, Method: MethodPasskey, Err: ce.Err})
		return Action{}, ce
	}
	sd, done, err := m.passkeySession(ctx, id)
	switch {
	case err != nil && done:
	case err != nil:
		return Action{}, confirmStoreErr(err)
	}
	if done {
		return failed(confirmErr("already_confirmed", http.StatusConflict, ErrConfirmationUsed))
	}
	now := m.cfg.now()
	exp := time.Unix(rec.Expires, 0)
	if !now.Before(exp) {
		return failed(confirmErr("expired", http.StatusBadRequest, ErrExpired))
	}
	parsed, perr := protocol.ParseCredentialRequestResponseBytes([]byte(answer))
	if perr != nil || len(answer) > passkeyMaxBody {
		return Action{}, confirmErr("malformed_code", http.StatusBadRequest, ErrMalformedCode)
	}
	// Reserve the try before checking: per confirmation, then per account.
	keep := exp.Sub(now) + confirmKeep
	n, _, err := m.cfg.state.Incr(ctx, confirmTriesKey(id), 1, keep)
	if err != nil {
		return Action{}, confirmStoreErr(err)
	}
	limit := int64(m.confirmTries())
	if n > limit {
		return failed(confirmErr("too_many_attempts", http.StatusBadRequest, ErrTooManyAttempts))
	}
	acct, per := accountKey(m.requester(r)), m.cfg.accountAttempts.Per
	an, attl, err := m.cfg.state.Incr(ctx, acct, 1, per)
	if err != nil {
		return Action{}, confirmStoreErr(err)
	}
	giveBack := func() {
		if _, _, err := m.cfg.state.Incr(ctx, acct, -1, per); err != nil {
			m.log.Error("twofactor: state backend failed", "err", err)
		}
	}
	if m.cfg.accountAttempts.enabled() && an > int64(m.cfg.accountAttempts.N) {
		giveBack()
		m.emit(r, Event{Type: EventLocked, Subject: rec.Subject})
		return Action{}, &ConfirmError{Code: "locked", Status: http.StatusTooManyRequests, RetryAfter: attl, Err: ErrTooManyAttempts}
	}
	key, cred, verr := m.checkAssertion(ctx, rec.Subject, sd, parsed)
	if verr != nil {
		if errors.Is(verr, ErrStoreUnavailable) {
			giveBack()
			return Action{}, confirmStoreErr(verr)
		}
		m.log.Info("twofactor: passkey confirmation refused", "reason", reason(verr))
		if left := limit - n; left > 0 {
			return failed(&ConfirmError{Code: "invalid_code", Status: http.StatusBadRequest, TriesLeft: int(left), Err: ErrInvalidCode})
		}
		return failed(confirmErr("too_many_attempts", http.StatusBadRequest, ErrTooManyAttempts))
	}
	giveBack()
	if err := m.passkeyUsed(ctx, rec.Subject, key, cred); errors.Is(err, errPasskeyRemoved) {
		return failed(&ConfirmError{Code: "invalid_code", Status: http.StatusBadRequest, TriesLeft: int(limit - n), Err: ErrInvalidCode})
	} else if err != nil {
		return Action{}, confirmStoreErr(err)
	}
	// One use: of two parallel right answers, one confirms.
	first, err := m.cfg.state.SetNX(ctx, usedKey(rec.Verification), keep)
	if err != nil {
		return Action{}, confirmStoreErr(err)
	}
	if !first {
		return failed(confirmErr("already_confirmed", http.StatusConflict, ErrConfirmationUsed))
	}
	if err := m.cfg.state.SetField(ctx, confirmKey(id), confirmFieldDone, "1", keep); err != nil {
		m.log.Error("twofactor: state backend failed", "err", err)
	}
	m.log.Info("twofactor: action confirmed with a passkey")
	m.emit(r, Event{Type: EventConfirmed, Subject: rec.Subject, Method: MethodPasskey})
	return rec.action(), nil
}

// checkAssertion checks a passkey's answer against the session data sd
// of subject: one of subject's passkeys signed sd's challenge for this
// site, with a sign counter that went up. A store failure matches
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
		m.log.Warn("twofactor: passkey refused: its sign counter did not increase, so it may be cloned", "subject", subject)
		return storedPasskey{}, nil, errCloned
	}
	i := slices.IndexFunc(keys, func(k storedPasskey) bool { return bytes.Equal(k.raw, cred.ID) })
	key := keys[i] // ValidateLogin found it among them
	if count := parsed.Response.AuthenticatorData.Counter; count != 0 {
		// Each counter value once, even by two answers at the same time.
		first, err := m.cfg.state.SetNX(ctx, "pkcount:"+subject+":"+key.id+":"+strconv.FormatUint(uint64(count), 10), counterMarkLife)
		if err != nil {
			return storedPasskey{}, nil, storeErr(err)
		}
		if !first {
			m.log.Warn("twofactor: passkey refused: its sign counter did not increase, so it may be cloned", "subject", subject)
			return storedPasskey{}, nil, errCloned
		}
	}
	return key, cred, nil
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
