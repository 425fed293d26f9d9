package twofactor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Action is one action a code confirms, such as a bank transfer: the code
// is made for this action and confirms no other (PSD2 "dynamic linking").
// The app describes the action; StartConfirmation keeps it server-side, in
// the State, and Confirm hands it back once the right code comes in.
type Action struct {
	// Description names the action for people, in the SMS and on the app's
	// page, such as "EUR 500.00 to NL91…4300". Required: one line of at
	// most 64 characters, without "{code}" or "%token".
	Description string
	// Details are the exact facts that make the action this one and no
	// other, such as the amount in cents and the full IBAN. They are kept
	// server-side and handed back by Confirm: carry out the action from
	// them, never from the form that brought the code. Optional; at most
	// 1,024 bytes of keys and values together; keys one line, values UTF-8
	// without a 0 byte.
	Details map[string]string
	// Amount and Payee, optional, name the transaction for providers that
	// bind a code to one (Twilio Verify's Amount and Payee), such as
	// "EUR 500.00" and "NL91…4300". One line of at most 64 characters each.
	Amount string
	Payee  string
}

// Confirmation is an action waiting for its code.
type Confirmation struct {
	// ID names the confirmation. It is no secret and grants nothing by
	// itself: an app may carry it in a hidden form field or a URL. Only the
	// session that started the confirmation can finish it.
	ID string
	// Action is the action to confirm, as kept server-side.
	Action Action
	// Phone is the number the code went to, masked for display, such as
	// "+31 6 •••••678".
	Phone string
	// ExpiresAt is when the code stops working: at most
	// 5 minutes after it was sent.
	ExpiresAt time.Time
	// TriesLeft is how many codes may still be tried.
	TriesLeft int
	// Passkey says the user confirms with their passkey (WithPasskeys),
	// not a code: no SMS was sent and Phone is empty. The page carries the
	// passkey's answer in the "code" field: see WithPasskeys.
	Passkey bool
}

// Limits of a confirmation.
const (
	// maxActionDescription is the most characters Action.Description may
	// have. With the app's name (Branding.Name, up to 16), "confirm", the
	// code line and an autofill line such as "@bank.example #123456", the
	// SMS still fits one 160-character text. Characters outside the GSM
	// alphabet (such as "…") make an SMS Unicode, 70 characters a part:
	// keep such descriptions shorter to stay in one part.
	maxActionDescription = 64
	// maxActionDetails is the most bytes Action.Details may hold, keys and
	// values together.
	maxActionDetails = 1 << 10
	// maxConfirmValidity is the longest a confirmation code works, whatever
	// the provider says.
	maxConfirmValidity = 5 * time.Minute
	// maxConfirmAttempts is the most codes tried against one confirmation
	// (fewer if Limits.MaxAttempts is lower).
	maxConfirmAttempts = 3

	maxActionDetailCount = 32
	maxActionField       = 64 // characters of Amount, Payee and a Details key
	maxAppName           = 16
	// confirmKeep is how long a confirmation's record outlives its code, so
	// that a late or replayed submission is told "expired" or "already
	// confirmed" rather than "unknown".
	confirmKeep = 15 * time.Minute
)

// Errors of confirmations, besides the package's other sentinel errors. A
// ConfirmError wraps one of them.
var (
	ErrInvalidAction       = errors.New("twofactor: invalid action")
	ErrNoPhoneNumber       = errors.New("twofactor: no phone number to send a code to")
	ErrUnknownConfirmation = errors.New("twofactor: unknown confirmation")
	ErrConfirmationUsed    = errors.New("twofactor: action already confirmed")
)

// ConfirmError is the error of StartConfirmation, PendingConfirmation and
// Confirm: every error they return is a *ConfirmError. Code is stable, for
// pages and JSON answers alike; Status is the HTTP status to answer with;
// errors.Is matches Err, one of the package's sentinel errors.
//
//	Code                   Status Err                      meaning
//	invalid_action         400    ErrInvalidAction         bad Action (the app's bug)
//	verification_required  401    ErrNotVerified           the session is not verified
//	no_phone_number        409    ErrNoPhoneNumber         the session proved no number, none on file
//	invalid_phone          400    ErrInvalidPhone          the number is refused (region, type)
//	rate_limited           429    ErrRateLimited           a send window or the provider's limit is full; see RetryAfter
//	locked                 429    ErrTooManyAttempts       too many wrong codes for the account; see RetryAfter
//	unknown_confirmation   404    ErrUnknownConfirmation   no such confirmation for this session
//	malformed_code         400    ErrMalformedCode         not a code of the expected length
//	invalid_code           400    ErrInvalidCode           wrong code; see TriesLeft
//	too_many_attempts      400    ErrTooManyAttempts       no tries left: start again
//	expired                400    ErrExpired               the code expired: start again
//	already_confirmed      409    ErrConfirmationUsed      confirmed before: do nothing again
//	provider_unavailable   503    ErrUnavailable           the provider failed; try again (ErrUnknownOutcome
//	                                                        too when a code may be on its way: wait for it first)
//	store_unavailable      503    ErrStoreUnavailable      the State failed; try again
//
// A JSON API answers with Status and the error itself: its MarshalJSON
// writes {"error":{"code":…,"message":…,"tries_left":…}}, the shape of the
// flow's JSON errors. Set Retry-After from RetryAfter when it is not zero.
type ConfirmError struct {
	Code       string
	Status     int
	TriesLeft  int           // for invalid_code
	RetryAfter time.Duration // for rate_limited and locked
	Err        error
}

// Error returns the wrapped error and the code, for logs; pages show their
// own message.
func (e *ConfirmError) Error() string {
	if e.Err == nil {
		return "twofactor: confirmation: " + e.Code
	}
	return e.Err.Error() + " (" + e.Code + ")"
}

// Unwrap returns Err.
func (e *ConfirmError) Unwrap() error { return e.Err }

// confirmMessages are the JSON messages of ConfirmError codes: plain
// English for the app's developers and API clients.
var confirmMessages = map[string]string{
	"invalid_action":        "The action to confirm is not valid.",
	"verification_required": "Verify your phone first.",
	"no_phone_number":       "There is no phone number to send a code to.",
	"invalid_phone":         "Codes cannot be sent to this number.",
	"rate_limited":          "Too many codes were sent. Please wait and try again.",
	"locked":                "Too many wrong codes. Please wait and try again.",
	"unknown_confirmation":  "This confirmation does not exist. Please start again.",
	"malformed_code":        "The code is not of the expected form.",
	"invalid_code":          "That code isn't right.",
	"too_many_attempts":     "Too many wrong codes. Please start again.",
	"expired":               "The code has expired. Please start again.",
	"already_confirmed":     "This was confirmed already.",
	"provider_unavailable":  "The code could not be handled just now. Please try again.",
	"store_unavailable":     "The service is unavailable just now. Please try again.",
}

// MarshalJSON writes e as the flow writes its JSON errors.
func (e *ConfirmError) MarshalJSON() ([]byte, error) {
	var body struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			TriesLeft  int    `json:"tries_left,omitempty"`
			RetryAfter int64  `json:"retry_after,omitempty"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message, body.Error.TriesLeft = e.Code, confirmMessages[e.Code], e.TriesLeft
	if e.RetryAfter > 0 {
		body.Error.RetryAfter = int64((e.RetryAfter + time.Second - 1) / time.Second)
	}
	return json.Marshal(body)
}

func confirmErr(code string, status int, err error) *ConfirmError {
	return &ConfirmError{Code: code, Status: status, Err: err}
}

func confirmStoreErr(err error) *ConfirmError {
	return confirmErr("store_unavailable", http.StatusServiceUnavailable, storeErr(err))
}

// oneLine reports whether s is valid UTF-8 without control characters or
// line breaks.
func oneLine(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	})
}

// validate checks a for StartConfirmation.
func (a Action) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidAction}, args...)...)
	}
	d := a.Description
	switch {
	case strings.TrimSpace(d) == "":
		return bad("empty description")
	case !oneLine(d):
		return bad("description must be one line of UTF-8 text")
	case utf8.RuneCountInString(d) > maxActionDescription:
		return bad("description longer than %d characters: it would not fit one SMS", maxActionDescription)
	case strings.Contains(d, CodePlaceholder) || strings.Contains(d, "%token"):
		return bad("description must not contain %s or %%token", CodePlaceholder)
	}
	for what, s := range map[string]string{"amount": a.Amount, "payee": a.Payee} {
		if !oneLine(s) || utf8.RuneCountInString(s) > maxActionField {
			return bad("%s must be one line of at most %d characters", what, maxActionField)
		}
	}
	if len(a.Details) > maxActionDetailCount {
		return bad("more than %d details", maxActionDetailCount)
	}
	size := 0
	for k, v := range a.Details {
		// No 0 byte in a value: the passkey challenge separates fields
		// with it (actionChallenge), and one would spell other details.
		if k == "" || len(k) > maxActionField || !oneLine(k) || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return bad("detail keys must be 1 to %d bytes of one-line text, values UTF-8 without a 0 byte", maxActionField)
		}
		size += len(k) + len(v)
	}
	if size > maxActionDetails {
		return bad("details hold %d bytes, more than %d", size, maxActionDetails)
	}
	return nil
}

// confirmRecord is a confirmation as kept in the State, as JSON in one
// field of the map at confirmKey(id), so that one call writes it whole.
type confirmRecord struct {
	Verification string            `json:"v"` // the provider's verification id
	Grant        string            `json:"g"` // the grant of the session that started it
	Subject      string            `json:"s"` // the app's user, if any
	Phone        string            `json:"n"` // E.164 number the code went to
	Expires      int64             `json:"e"` // unix seconds: the code's expiry
	Description  string            `json:"d"`
	Amount       string            `json:"a,omitempty"`
	Payee        string            `json:"p,omitempty"`
	Details      map[string]string `json:"x,omitempty"`
	Passkey      bool              `json:"k,omitempty"` // confirmed with a passkey, not a code (passkey_confirm.go)

	session string // a passkey confirmation's WebAuthn session data, as loadConfirmation read it
}

func (rec confirmRecord) action() Action {
	return Action{Description: rec.Description, Details: rec.Details, Amount: rec.Amount, Payee: rec.Payee}
}

// Fields of the map at confirmKey(id).
const (
	confirmFieldRecord = "r"
	confirmFieldDone   = "done"
)

// State keys of confirmations.
func confirmKey(id string) string      { return "confirm:" + id }
func confirmTriesKey(id string) string { return "confirm-tries:" + id }

// confirmSMS is the text of a confirmation SMS in the page's language.
var confirmSMS = map[string][2]string{
	"en": {"confirm", "Code"},
	"nl": {"bevestig", "Code"},
}

func (m *Manager) confirmMessage(r *http.Request, desc string) string {
	words, ok := confirmSMS[m.language(r)]
	if !ok {
		words = confirmSMS["en"]
	}
	desc = strings.TrimRight(strings.TrimSpace(desc), ".")
	verb := words[0]
	if name := m.cfg.branding.Name; name != "" {
		verb = name + ": " + verb
	} else {
		verb = strings.ToUpper(verb[:1]) + verb[1:]
	}
	return verb + " " + desc + ". " + words[1] + ": " + CodePlaceholder
}

// StartConfirmation sends a code that confirms action a, and only a, to
// the number of r's session: in known-number mode (WithPhoneLookup) the
// number on file, otherwise the number the session was verified with
// (Record.Phone). The session must be verified (as Require wants it); the
// confirmation is bound to that session and user, and to the code the
// provider sent.
//
// The SMS names the action where the provider takes the message text
// (MessageBird): "<app>: confirm <Description>. Code: <code>" (the app
// from WithBranding), in the page's language; Amount and Payee go to providers
// that bind a code to a transaction (Twilio). Providers that write their
// own text (Bird) cannot name the action: show it on the page.
//
// The code works for 5 minutes at most, for 3 tries at most (fewer if
// Limits.MaxAttempts is lower). The send limits of sign-in codes apply: a
// locked account gets no code, and the code counts against the number's
// and the client IP's send windows. Every error is a *ConfirmError. StartConfirmation writes no
// response: show the confirmation's page yourself.
func (m *Manager) StartConfirmation(r *http.Request, a Action) (Confirmation, error) {
	if err := a.validate(); err != nil {
		return Confirmation{}, confirmErr("invalid_action", http.StatusBadRequest, err)
	}
	r, end := m.budgeted(r)
	defer end()
	ctx := r.Context()
	fs, ok, err := m.verified(r)
	switch {
	case err != nil:
		return Confirmation{}, confirmStoreErr(err)
	case !ok:
		return Confirmation{}, confirmErr("verification_required", http.StatusUnauthorized, ErrNotVerified)
	}
	if c, handled, err := m.startPasskeyConfirmation(r, fs, a); handled { // passkey_confirm.go
		return c, err
	}
	info, ce := m.confirmPhone(r, fs)
	if ce != nil {
		return Confirmation{}, ce
	}
	if ce := m.confirmSendLimits(r, info); ce != nil {
		return Confirmation{}, ce
	}
	v, ce := m.confirmSend(r, info, a)
	if ce != nil {
		return Confirmation{}, ce
	}

	now := m.cfg.now()
	exp := clampExpiry(v.ExpiresAt, now)
	if limit := now.Add(maxConfirmValidity); exp.After(limit) {
		exp = limit
	}
	rec := confirmRecord{
		Verification: v.ID,
		Grant:        fs.Grant,
		Subject:      fs.Subject,
		Phone:        info.e164,
		Expires:      exp.Unix(),
		Description:  a.Description,
		Amount:       a.Amount,
		Payee:        a.Payee,
		Details:      a.Details,
	}
	id, ce := m.saveConfirmation(ctx, rec, exp.Sub(now)+confirmKeep)
	if ce != nil {
		return Confirmation{}, ce
	}
	m.log.Info("twofactor: confirmation code sent", "phone", info.masked, "ip", m.clientIP(r))
	m.emit(r, Event{Type: EventConfirmationSent, Subject: rec.Subject, Phone: info.e164})
	return Confirmation{
		ID:        id,
		Action:    rec.action(),
		Phone:     info.masked,
		ExpiresAt: time.Unix(rec.Expires, 0),
		TriesLeft: m.confirmTries(),
	}, nil
}

// confirmPhone is the number a confirmation code for r's verified session
// fs goes to: the number on file in known-number mode, else the one
// verified.
func (m *Manager) confirmPhone(r *http.Request, fs flowState) (phoneInfo, *ConfirmError) {
	phone := fs.VerifiedPhone
	if m.cfg.phoneLookup != nil {
		onFile, err := m.cfg.phoneLookup(r)
		if err != nil {
			m.log.Warn("twofactor: phone lookup failed", "err", err)
			return phoneInfo{}, confirmErr("no_phone_number", http.StatusConflict, ErrNoPhoneNumber)
		}
		if onFile != "" {
			phone = onFile
		}
	}
	if phone == "" {
		return phoneInfo{}, confirmErr("no_phone_number", http.StatusConflict, ErrNoPhoneNumber)
	}
	info, err := inspectPhone(phone, m.cfg.defaultRegion)
	if err != nil || !m.regionAllowed(info.region) || !smsCapable(info.kind, false) {
		return phoneInfo{}, confirmErr("invalid_phone", http.StatusBadRequest, ErrInvalidPhone)
	}
	info.onFile = true // the number on file, or the one verified
	return info, nil
}

// confirmSend asks the provider to send the code confirming a to info.
func (m *Manager) confirmSend(r *http.Request, info phoneInfo, a Action) (Verification, *ConfirmError) {
	pctx, done := m.providerContext(r.Context())
	v, err := m.provider.Send(pctx, Request{
		Phone:   info.e164,
		Channel: SMS,
		Message: m.confirmMessage(r, a.Description),
		Origin:  m.cfg.origin,
		Amount:  a.Amount,
		Payee:   a.Payee,
	})
	done()
	if err == nil && !validID(v.ID) {
		err = fmt.Errorf("%w: the provider returned no usable verification id", ErrUnavailable)
	}
	if err != nil {
		m.log.Error("twofactor: provider send failed", "phone", info.masked, "err", err)
		return Verification{}, confirmSendErr(err)
	}
	return v, nil
}

// confirmSendErr is the ConfirmError of a confirmation code the provider
// refused or failed to send with err.
func confirmSendErr(err error) *ConfirmError {
	var rl *RateLimitError
	switch {
	case errors.Is(err, ErrNumberRefused):
		return confirmErr("invalid_phone", http.StatusBadRequest, fmt.Errorf("%w: %w", ErrInvalidPhone, err))
	case errors.As(err, &rl):
		return &ConfirmError{Code: "rate_limited", Status: http.StatusTooManyRequests, RetryAfter: rl.RetryAfter, Err: err}
	case errors.Is(err, ErrRateLimited):
		return confirmErr("rate_limited", http.StatusTooManyRequests, err)
	case errors.Is(err, ErrUnavailable):
		return confirmErr("provider_unavailable", http.StatusServiceUnavailable, err) // ErrUnknownOutcome too
	}
	return confirmErr("provider_unavailable", http.StatusServiceUnavailable, fmt.Errorf("%w: %w", ErrUnavailable, err))
}

// saveConfirmation stores rec under a new id for ttl and returns the id.
func (m *Manager) saveConfirmation(ctx context.Context, rec confirmRecord, ttl time.Duration) (string, *ConfirmError) {
	raw, err := json.Marshal(rec)
	if err != nil {
		return "", confirmErr("invalid_action", http.StatusBadRequest, fmt.Errorf("%w: %w", ErrInvalidAction, err))
	}
	id := randomID()
	if err := m.cfg.state.SetField(ctx, confirmKey(id), confirmFieldRecord, string(raw), ttl); err != nil {
		m.log.Error("twofactor: state backend failed", "err", err)
		return "", confirmStoreErr(err)
	}
	return id, nil
}

// confirmSendLimits counts a confirmation code against every send limit
// of sign-in codes but the session's resend cooldown (limits.go): the
// account lock, the address and number windows, the fraud guard's budgets.
// A refused send spends nothing.
func (m *Manager) confirmSendLimits(r *http.Request, info phoneInfo) *ConfirmError {
	fe, err := m.reserve(&sendReq{r: r, info: info, ch: SMS})
	switch {
	case err != nil:
		return confirmStoreErr(err)
	case fe == nil:
		return nil
	}
	ce := &ConfirmError{Code: fe.code, Status: fe.status, RetryAfter: fe.retryAfter, Err: ErrRateLimited}
	switch fe.code {
	case errLocked.code:
		ce.Err = ErrTooManyAttempts
	case errRegion.code, errNumberType.code:
		ce.Err = ErrInvalidPhone
	case errPaused.code, errBusy.code:
		ce.Err = ErrUnavailable
	}
	return ce
}

// confirmTries is how many codes may be tried against one confirmation.
func (m *Manager) confirmTries() int { return min(m.cfg.maxAttempts, maxConfirmAttempts) }

// loadConfirmation reads confirmation id for r's session: the session must
// be verified, and be the one (and the user) that started it.
func (m *Manager) loadConfirmation(r *http.Request, id string) (confirmRecord, bool, *ConfirmError) {
	unknown := confirmErr("unknown_confirmation", http.StatusNotFound, ErrUnknownConfirmation)
	fs, ok, err := m.verified(r)
	switch {
	case err != nil:
		return confirmRecord{}, false, confirmStoreErr(err)
	case !ok:
		return confirmRecord{}, false, confirmErr("verification_required", http.StatusUnauthorized, ErrNotVerified)
	case len(id) != 32 || !validID(id):
		return confirmRecord{}, false, unknown
	}
	fields, err := m.cfg.state.Fields(r.Context(), confirmKey(id))
	if err != nil {
		return confirmRecord{}, false, confirmStoreErr(err)
	}
	raw, ok := fields[confirmFieldRecord]
	if !ok {
		return confirmRecord{}, false, unknown
	}
	var rec confirmRecord
	if err := json.Unmarshal([]byte(raw), &rec); err != nil || !validID(rec.Verification) {
		m.log.Error("twofactor: unreadable confirmation record", "err", err)
		return confirmRecord{}, false, unknown
	}
	if rec.Grant != fs.Grant || rec.Subject != fs.Subject {
		// Another session's or another user's: as if it did not exist.
		m.log.Warn("twofactor: confirmation used from another session", "ip", m.clientIP(r))
		return confirmRecord{}, false, unknown
	}
	rec.session = fields[confirmFieldPasskey]
	_, done := fields[confirmFieldDone]
	return rec, done, nil
}

// PendingConfirmation returns confirmation id of r's session while it
// waits for its code, for the app to show its page again (after a reload,
// or a wrong code). It fails as Confirm would without a code: unknown to
// this session, already confirmed, expired, or out of tries. Every error is
// a *ConfirmError.
func (m *Manager) PendingConfirmation(r *http.Request, id string) (Confirmation, error) {
	r, end := m.budgeted(r)
	defer end()
	rec, done, ce := m.loadConfirmation(r, id)
	if ce != nil {
		return Confirmation{}, ce
	}
	if done {
		return Confirmation{}, confirmErr("already_confirmed", http.StatusConflict, ErrConfirmationUsed)
	}
	now := m.cfg.now()
	exp := time.Unix(rec.Expires, 0)
	if !now.Before(exp) {
		return Confirmation{}, confirmErr("expired", http.StatusBadRequest, ErrExpired)
	}
	n, _, err := m.cfg.state.Incr(r.Context(), confirmTriesKey(id), 0, exp.Sub(now)+confirmKeep)
	if err != nil {
		return Confirmation{}, confirmStoreErr(err)
	}
	left := m.confirmTries() - int(n)
	if left <= 0 {
		return Confirmation{}, confirmErr("too_many_attempts", http.StatusBadRequest, ErrTooManyAttempts)
	}
	c := Confirmation{ID: id, Action: rec.action(), Phone: MaskPhone(rec.Phone), ExpiresAt: exp, TriesLeft: left, Passkey: rec.Passkey}
	if rec.Passkey {
		c.Phone = ""
	}
	return c, nil
}

// Confirm checks code against confirmation id of r's session and, when it
// is right, returns the action it confirms, exactly as StartConfirmation
// was given it. It succeeds once per confirmation: a replayed submission,
// sequential or in parallel, gets already_confirmed. Carry out the action
// only when the error is nil, and from the returned Action's Details.
//
// A code confirms only its own action, for the session and user that
// started it; another session or user is told the confirmation is unknown.
// Each try is counted before the provider is asked, so parallel guesses
// cannot exceed the confirmation's tries; wrong codes also count against the
// account's limit, as for sign-in. Every error is a *ConfirmError.
func (m *Manager) Confirm(r *http.Request, id, code string) (Action, error) {
	r, end := m.budgeted(r)
	defer end()
	ctx := r.Context()
	rec, keep, ce := m.confirmable(r, id)
	if ce != nil {
		return Action{}, ce
	}
	if rec.Passkey {
		return m.confirmPasskey(r, id, rec, keep, code) // passkey_confirm.go
	}
	if code = normalCode(code); !validCode(code, m.codeLen) {
		return Action{}, confirmErr("malformed_code", http.StatusBadRequest, ErrMalformedCode)
	}
	res, err := m.checkCode(ctx, codeCheck{
		id: rec.Verification, code: code, used: usedKey(rec.Verification),
		plan: tryPlan{
			tries: confirmTriesKey(id), limit: int64(m.confirmTries()), window: keep,
			locks: m.applyingLocks(r, rec.Phone, true), // the number on file, or the one verified
		},
	})
	switch {
	case err != nil:
		return Action{}, confirmStoreErr(err)
	case res.refused == tryLocked:
		m.log.Warn("twofactor: account locked", "phone", MaskPhone(rec.Phone))
		return Action{}, m.confirmLocked(r, rec.Subject, rec.Phone, res.ttl)
	case res.err != nil:
		return Action{}, m.confirmFailed(r, rec, m.confirmCheckFailed(ctx, rec, res.err, int(max(res.left, 0)), keep))
	}
	// Replays are now told "already confirmed" without a try or a provider
	// call; the one-use mark decides if this write fails.
	if err := m.cfg.state.SetField(ctx, confirmKey(id), confirmFieldDone, "1", keep); err != nil {
		m.log.Error("twofactor: state backend failed", "err", err)
	}
	m.log.Info("twofactor: action confirmed", "phone", MaskPhone(rec.Phone))
	m.emit(r, Event{Type: EventConfirmed, Subject: rec.Subject, Phone: rec.Phone})
	return rec.action(), nil
}

// confirmable loads confirmation id of r's session for Confirm, and how
// long its tries and one-use mark are kept; a confirmation confirmed
// already or expired fails (with its event).
func (m *Manager) confirmable(r *http.Request, id string) (confirmRecord, time.Duration, *ConfirmError) {
	rec, done, ce := m.loadConfirmation(r, id)
	if ce != nil {
		return rec, 0, ce
	}
	now, exp := m.cfg.now(), time.Unix(rec.Expires, 0)
	switch {
	case done:
		ce = confirmErr("already_confirmed", http.StatusConflict, ErrConfirmationUsed)
	case !now.Before(exp):
		ce = confirmErr("expired", http.StatusBadRequest, ErrExpired)
	}
	if ce != nil {
		return rec, 0, m.confirmFailed(r, rec, ce)
	}
	return rec, exp.Sub(now) + confirmKeep, nil
}

// confirmFailed emits the event of a confirmation that failed with ce
// and returns ce.
func (m *Manager) confirmFailed(r *http.Request, rec confirmRecord, ce *ConfirmError) *ConfirmError {
	ev := Event{Type: EventConfirmationFailed, Subject: rec.Subject, Phone: rec.Phone, Err: ce.Err}
	if errors.Is(ce, ErrExpired) {
		ev.Type = EventConfirmationExpired
	}
	if rec.Passkey {
		ev.Method = MethodPasskey
	}
	m.emit(r, ev)
	return ce
}

// confirmLocked emits the event of a confirmation refused because the
// account of subject (and phone, if any) is locked for ttl more, and
// returns its error.
func (m *Manager) confirmLocked(r *http.Request, subject, phone string, ttl time.Duration) *ConfirmError {
	m.emit(r, Event{Type: EventLocked, Subject: subject, Phone: phone})
	return &ConfirmError{Code: "locked", Status: http.StatusTooManyRequests, RetryAfter: ttl, Err: ErrTooManyAttempts}
}

// confirmCheckFailed maps a provider's refusal of a confirmation code.
func (m *Manager) confirmCheckFailed(ctx context.Context, rec confirmRecord, err error, left int, keep time.Duration) *ConfirmError {
	switch {
	case errors.Is(err, ErrInvalidCode) && left > 0:
		return &ConfirmError{Code: "invalid_code", Status: http.StatusBadRequest, TriesLeft: left, Err: ErrInvalidCode}
	case errors.Is(err, ErrInvalidCode), errors.Is(err, ErrTooManyAttempts):
		return confirmErr("too_many_attempts", http.StatusBadRequest, ErrTooManyAttempts)
	case errors.Is(err, ErrExpired):
		return confirmErr("expired", http.StatusBadRequest, ErrExpired)
	case errors.Is(err, ErrMalformedCode):
		return confirmErr("malformed_code", http.StatusBadRequest, ErrMalformedCode)
	case errors.Is(err, ErrAlreadyUsed), errors.Is(err, ErrNotFound):
		// Used up at the provider: by a parallel right code (then the
		// one-use mark is set), or closed by the provider's own rules.
		if used, serr := m.cfg.state.Touch(ctx, usedKey(rec.Verification), keep); serr == nil && used {
			return confirmErr("already_confirmed", http.StatusConflict, ErrConfirmationUsed)
		}
		return confirmErr("too_many_attempts", http.StatusBadRequest, ErrTooManyAttempts)
	}
	m.log.Error("twofactor: provider check failed", "err", err)
	return confirmErr("provider_unavailable", http.StatusServiceUnavailable, fmt.Errorf("%w: %w", ErrUnavailable, err))
}
