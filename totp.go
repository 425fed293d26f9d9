package twofactor

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/go-twofactor/twofactor/internal/batch"
)

// Authenticator apps (TOTP, RFC 6238): a user adds one from the app's
// settings (StartTOTP, then AddTOTP with a first code) and then signs in
// with the six-digit code it shows, in the flow's page prefix+"totp".
//
// The codes are the common ones every app reads from a QR code: HMAC-SHA1,
// six digits, a new code every 30 seconds, from a secret of 160 random
// bits. The flow accepts the code of the current step and of the step
// before and after it (a phone's clock a little off); each step's code
// works once per user, and wrong codes count against the same per-user
// limit as wrong SMS codes (Limits.Account).

// TOTPStore keeps users' authenticator-app secrets, one per user: a table
// in the app's database in a real app. The library hands it only sealed
// records (text of at most a few hundred bytes): the secret encrypted with
// AES-256-GCM under a key derived from WithSecret and bound to the user, so
// a copy of the table shows no secret and a record moved to another user
// opens for nobody. Compare records as strings.
//
// Implementations must be safe for concurrent use.
type TOTPStore interface {
	// TOTPSecret returns the subject's record and when it last verified a
	// session (zero: never); "" when the subject has none.
	TOTPSecret(ctx context.Context, subject string) (record string, lastUsed time.Time, err error)
	// SetTOTPSecret makes record the subject's only one, replacing any
	// other.
	SetTOTPSecret(ctx context.Context, subject, record string) error
	// DeleteTOTPSecret removes the subject's record if it is record, and
	// reports whether it did: a record that was replaced meanwhile stays.
	DeleteTOTPSecret(ctx context.Context, subject, record string) (bool, error)
	// TOTPUsed notes that the subject's record verified a session at t. A
	// record that is no longer the subject's is not brought back.
	TOTPUsed(ctx context.Context, subject, record string, t time.Time) error
}

// WithTOTP offers authenticator apps as a second factor beside SMS:
// Manager.StartTOTP and AddTOTP add one for a user, Factors lists it and
// RemoveFactor removes it, and the flow offers it first to users who have
// one, with "Text me a code instead" beside it (see WithoutSMSFallback).
// store keeps the sealed secrets: nil keeps them in the State (so every
// server sharing it knows them; each lives 400 days after it was added or
// last used), or a table of the app's (then WithSecret is needed, so every
// server and restart opens them). Needs WithSubject.
func WithTOTP(store TOTPStore) Option {
	return func(c *config) error {
		c.factors.totp, c.factors.totpOn = store, true
		return nil
	}
}

// TOTPSetup is what a user needs to add an authenticator app: a QR code to
// scan, or the secret to type in.
type TOTPSetup struct {
	URL    string // the otpauth:// URL the QR code holds
	Secret string // the secret in base 32, for typing in by hand (no spaces)
	QR     []byte // the QR code, a PNG image of 256×256 pixels
}

const (
	totpDigits = 6
	totpPeriod = 30 * time.Second
	// totpSetupLife is how long a setup started by StartTOTP waits for its
	// first code.
	totpSetupLife = 10 * time.Minute
	// totpLife is how long a secret kept in the State lives after it was
	// added or last used.
	totpLife = 400 * 24 * time.Hour
)

var (
	// errTOTPOff is the error of the enrolment calls without WithTOTP.
	errTOTPOff = errors.New("twofactor: authenticator apps need WithTOTP")
	// errBadRecord is the error of a record the library did not write.
	errBadRecord = errors.New("twofactor: an authenticator-app record of a form this library does not write")
)

// freshSubject returns the subject of r, which must have passed
// RequireFresh within changeFreshness: ErrNotVerified or
// ErrStepUpRequired otherwise.
func (m *Manager) freshSubject(r *http.Request) (string, error) {
	rec, ok := RecordFrom(r)
	switch {
	case !ok || rec.Subject == "" || rec.Subject != m.subject(r):
		return "", ErrNotVerified
	case !rec.fresh(m.cfg.now(), changeFreshness):
		return "", ErrStepUpRequired
	}
	return rec.Subject, nil
}

// StartTOTP starts adding an authenticator app for the user r is for, and
// returns what the user scans or types into the app. The secret waits on
// the server (in the State, sealed, bound to the user and to their
// generation) for ten minutes for AddTOTP; calling StartTOTP again within
// them returns the same secret, so a reloaded page shows the same QR code.
// r must have passed RequireFresh within the last ten minutes (else the
// error matches ErrStepUpRequired; unverified: ErrNotVerified). It needs
// WithTOTP.
//
// The QR code names the app by WithBranding's name (else the request's
// host) and the user by their subject.
func (m *Manager) StartTOTP(r *http.Request) (TOTPSetup, error) {
	if !m.cfg.factors.totpOn {
		return TOTPSetup{}, errTOTPOff
	}
	subject, err := m.freshSubject(r)
	if err != nil {
		return TOTPSetup{}, err
	}
	ctx, end := m.withBudget(r.Context())
	defer end()
	gen, err := m.generation(ctx, subject)
	if err != nil {
		return TOTPSetup{}, err
	}
	raw, err := m.pendingTOTP(ctx, subject, gen)
	if err != nil {
		return TOTPSetup{}, err
	}
	if raw == nil {
		raw = make([]byte, 20) // 160 bits, as RFC 4226 recommends
		_, _ = rand.Read(raw)
		sealed := m.seal(raw, setupAAD(subject))
		if err := m.cfg.state.SetField(ctx, totpSetupKey(subject), "p", gen+" "+sealed, totpSetupLife); err != nil {
			return TOTPSetup{}, storeErr(err)
		}
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      m.totpIssuer(r),
		AccountName: subject,
		Secret:      raw,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("twofactor: StartTOTP: %w", err)
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("twofactor: StartTOTP: the QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return TOTPSetup{}, fmt.Errorf("twofactor: StartTOTP: the QR code: %w", err)
	}
	return TOTPSetup{URL: key.URL(), Secret: key.Secret(), QR: buf.Bytes()}, nil
}

// AddTOTP finishes adding the authenticator app StartTOTP began for the
// user r is for: code is the first code the app shows, which proves the
// user has the secret. A wrong code is ErrInvalidCode (the setup waits for
// a right one); a setup that timed out, was never started, or was started
// before the user signed out everywhere is ErrExpired (start again). r
// must have passed RequireFresh within the last ten minutes, as for
// StartTOTP.
//
// The app replaces any the user had; replacing one moves the user's
// generation on, as a new set of recovery codes does: every other session
// and remembered device of the user ends, r's stays verified. It emits
// EventFactorAdded.
func (m *Manager) AddTOTP(r *http.Request, code string) error {
	if !m.cfg.factors.totpOn {
		return errTOTPOff
	}
	subject, err := m.freshSubject(r)
	if err != nil {
		return err
	}
	ctx, end := m.withBudget(r.Context())
	defer end()
	gen, err := m.generation(ctx, subject)
	if err != nil {
		return err
	}
	raw, err := m.pendingTOTP(ctx, subject, gen)
	if err != nil {
		return err
	}
	if raw == nil {
		return fmt.Errorf("twofactor: no authenticator app is being added (timed out or never started): %w", ErrExpired)
	}
	step, ok := m.totpMatch(raw, code)
	if !ok {
		return ErrInvalidCode
	}
	// Take the setup, once: of two requests with right codes, one adds.
	taken, err := m.cfg.state.DeleteField(ctx, totpSetupKey(subject), "p")
	if err != nil {
		return storeErr(err)
	}
	if !taken {
		return fmt.Errorf("twofactor: the authenticator app was added by another request: %w", ErrExpired)
	}
	// The code that confirmed the app signs nobody in.
	if err := m.spendTOTP(ctx, subject, step); err != nil {
		return err
	}
	store := m.cfg.factors.totp
	old, _, err := store.TOTPSecret(ctx, subject)
	if err != nil {
		return storeErr(err)
	}
	id := randomID()
	if err := store.SetTOTPSecret(ctx, subject, m.sealTOTP(subject, id, m.cfg.now(), raw)); err != nil {
		return storeErr(err)
	}
	if old != "" {
		// Whoever had the old secret may have signed in with it.
		if _, err := m.newGeneration(ctx, subject, grantFrom(r.Context())); err != nil {
			return err
		}
	}
	m.emit(r, Event{Type: EventFactorAdded, Subject: subject, Method: MethodTOTP, Device: id})
	return nil
}

// pendingTOTP returns the secret of subject's setup, if one waits under
// generation gen; nil when none does.
func (m *Manager) pendingTOTP(ctx context.Context, subject, gen string) ([]byte, error) {
	fields, err := m.cfg.state.Fields(ctx, totpSetupKey(subject))
	if err != nil {
		return nil, storeErr(err)
	}
	g, sealed, ok := strings.Cut(fields["p"], " ")
	if !ok || g != gen {
		return nil, nil
	}
	raw, err := m.open(sealed, setupAAD(subject))
	if err != nil {
		return nil, nil // sealed under another secret: start again
	}
	return raw, nil
}

func totpSetupKey(subject string) string { return "totpsetup:" + subject }
func setupAAD(subject string) string     { return "twofactor totp setup\x00" + subject }

// totpIssuer names the app in the authenticator app: WithBranding's name,
// else r's host.
func (m *Manager) totpIssuer(r *http.Request) string {
	if n := m.cfg.branding.Name; n != "" {
		return n
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" {
		return "twofactor"
	}
	return host
}

// A sealed record (TOTPStore) is "v1.<id>.<added, Unix seconds>.<nonce and
// ciphertext, base64url>": the secret under AES-256-GCM with the server
// secret's TOTP key, its additional data binding it to the subject, the id
// and the time, so no part can be swapped.

// sealTOTP seals subject's secret raw as the record of id, added at t.
func (m *Manager) sealTOTP(subject, id string, t time.Time, raw []byte) string {
	added := strconv.FormatInt(t.Unix(), 10)
	return "v1." + id + "." + added + "." + m.seal(raw, recordAAD(subject, id, added))
}

// totpRecord is an opened record.
type totpRecord struct {
	id     string
	added  time.Time
	secret []byte
}

// openTOTP opens subject's sealed record.
func (m *Manager) openTOTP(subject, record string) (totpRecord, error) {
	id, added, sealed, ok := splitRecord(record)
	if !ok {
		return totpRecord{}, errBadRecord
	}
	raw, err := m.open(sealed, recordAAD(subject, id, added))
	if err != nil {
		return totpRecord{}, fmt.Errorf("twofactor: an authenticator-app record that does not open (another WithSecret, or another user's): %w", err)
	}
	unix, _ := strconv.ParseInt(added, 10, 64)
	return totpRecord{id: id, added: time.Unix(unix, 0), secret: raw}, nil
}

// splitRecord splits a sealed record into its parts.
func splitRecord(record string) (id, added, sealed string, ok bool) {
	parts := strings.Split(record, ".")
	if len(parts) != 4 || parts[0] != "v1" || !validID(parts[1]) {
		return "", "", "", false
	}
	if _, err := strconv.ParseInt(parts[2], 10, 64); err != nil {
		return "", "", "", false
	}
	return parts[1], parts[2], parts[3], true
}

func recordAAD(subject, id, added string) string {
	return "twofactor totp\x00" + subject + "\x00" + id + "\x00" + added
}

// seal encrypts raw with AES-256-GCM under the TOTP key, binding aad to
// it: base64url of a random nonce and the ciphertext.
func (m *Manager) seal(raw []byte, aad string) string {
	aead := m.totpAEAD()
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(raw)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, raw, []byte(aad)))
}

// open reverses seal.
func (m *Manager) open(sealed, aad string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	aead := m.totpAEAD()
	if err != nil || len(b) < aead.NonceSize() {
		return nil, errors.New("twofactor: not a sealed secret")
	}
	return aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], []byte(aad))
}

func (m *Manager) totpAEAD() cipher.AEAD {
	block, err := aes.NewCipher(m.keys.totp)
	if err != nil {
		panic("twofactor: the TOTP key is not 32 bytes") // deriveKeys makes 32
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // a standard block cipher always has GCM
	}
	return aead
}

// b32 is how authenticator apps write a secret: base 32, no padding.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// totpMatch checks code against secret at the Manager's clock, with one
// step of drift either way, and returns the step whose code it is.
// (totp.ValidateCustom would say yes or no, not which step; the step is
// what spendTOTP spends.) Every step is compared, in constant time.
func (m *Manager) totpMatch(secret []byte, code string) (int64, bool) {
	if code = normalCode(code); !validCode(code, totpDigits) {
		return 0, false
	}
	key := b32.EncodeToString(secret)
	now := m.cfg.now()
	cur := now.Unix() / int64(totpPeriod/time.Second)
	var found int64
	ok := 0
	for _, step := range []int64{cur - 1, cur, cur + 1} {
		want, err := totp.GenerateCodeCustom(key, time.Unix(step*int64(totpPeriod/time.Second), 0), totp.ValidateOpts{
			Period: uint(totpPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && ok == 0 {
			found, ok = step, 1
		}
	}
	return found, ok == 1
}

// totpSpentFor is how long a spent step's mark lives: a step's code is
// accepted until the end of the step after it, at most 90 seconds after
// any check; the rest is room for servers' clocks.
const totpSpentFor = 5 * time.Minute

func totpUsedKey(subject string, step int64) string {
	return "totpused:" + subject + ":" + strconv.FormatInt(step, 10)
}

// spendTOTP spends subject's code of step, in one round trip, with the
// two steps before it (totpOlder).
func (m *Manager) spendTOTP(ctx context.Context, subject string, step int64) error {
	ops := append([]batch.Op{{Kind: batch.SetNX, Key: totpUsedKey(subject, step), TTL: totpSpentFor}}, totpOlder(subject, step)...)
	return storeErr(batch.Run(ctx, m.cfg.state, ops))
}

// totpOlder are the marks that spend the two steps before step when
// subject's code of step is spent, so that after a code no older one is
// accepted (RFC 6238, 5.2): a code seen over the user's shoulder is worth
// nothing once they used a newer one.
func totpOlder(subject string, step int64) []batch.Op {
	return []batch.Op{
		{Kind: batch.SetNX, Key: totpUsedKey(subject, step-2), TTL: totpSpentFor},
		{Kind: batch.SetNX, Key: totpUsedKey(subject, step-1), TTL: totpSpentFor},
	}
}
