package twofactor

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/sessions"

	"github.com/go-twofactor/twofactor/internal/batch"
)

// RecoveryStore keeps the hashes of users' recovery codes: a table in the
// app's database in a real app. The library never hands it a code, only
// keyed hashes (hex HMAC-SHA256, under a key derived from WithSecret, of
// the subject and the normalised code), so a copy of the table lets nobody
// test guesses offline; the codes themselves are shown to the user once,
// by the app, and kept nowhere.
//
// Implementations must be safe for concurrent use.
type RecoveryStore interface {
	// RecoveryHashes returns the subject's unused hashes (none: nil).
	RecoveryHashes(ctx context.Context, subject string) ([]string, error)
	// ReplaceRecoveryHashes makes hashes the subject's only ones: the old
	// set stops working.
	ReplaceRecoveryHashes(ctx context.Context, subject string, hashes []string) error
	// UseRecoveryHash removes hash from the subject's set and reports
	// whether it was there. It must be atomic: of two concurrent calls for
	// the same hash, one reports true.
	UseRecoveryHash(ctx context.Context, subject, hash string) (bool, error)
}

// Recovery codes: ten codes of 12 characters of Crockford's
// base 32 (60 bits each, from crypto/rand), written in three groups of four
// such as "7kqm-x2fa-9bne". The alphabet has no i, l, o or u; input is read
// case-insensitively, without spaces or dashes, with i and l read as 1 and
// o as 0, so a code read aloud or copied by hand is not mistyped.
const (
	recoveryCodeCount = 10
	recoveryAlphabet  = "0123456789abcdefghjkmnpqrstvwxyz"
	recoveryLen       = 12
)

// NewRecoveryCodes makes a new set of ten recovery codes for subject, stores
// their hashes (the old set stops working) and returns the codes, for the
// app to show the user once. It needs WithRecoveryCodes.
//
// A new set also moves the user's generation on: every other session and
// remembered device of the user ends (whoever saw the old codes may have
// used one). Called with the context of a request that Require or
// RequireFresh let through, as a settings page does, that request's
// session stays verified.
func (m *Manager) NewRecoveryCodes(ctx context.Context, subject string) ([]string, error) {
	if m.cfg.recovery == nil {
		return nil, errors.New("twofactor: NewRecoveryCodes needs WithRecoveryCodes")
	}
	if subject == "" {
		return nil, errors.New("twofactor: NewRecoveryCodes needs a subject")
	}
	ctx, end := m.withBudget(ctx)
	defer end()
	codes := make([]string, recoveryCodeCount)
	hashes := make([]string, recoveryCodeCount)
	for i := range codes {
		raw := randomRecovery()
		codes[i] = raw[0:4] + "-" + raw[4:8] + "-" + raw[8:12]
		hashes[i] = m.recoveryHash(subject, raw)
	}
	if err := m.cfg.recovery.ReplaceRecoveryHashes(ctx, subject, hashes); err != nil {
		return nil, err
	}
	if _, err := m.newGeneration(ctx, subject, grantFrom(ctx)); err != nil {
		return nil, err
	}
	m.emitCtx(Event{Type: EventRecoveryCodesNew, Subject: subject})
	return codes, nil
}

// randomRecovery returns recoveryLen letters of recoveryAlphabet from
// crypto/rand, uniformly: 32 letters, 5 random bits each.
func randomRecovery() string {
	var buf [recoveryLen]byte
	_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails (Go 1.24+)
	for i, c := range buf {
		buf[i] = recoveryAlphabet[c&31]
	}
	return string(buf[:])
}

// normalizeRecovery reads a typed recovery code: lower case, without
// spaces and dashes; "" when it cannot be one.
func normalizeRecovery(s string) string {
	if len(s) > 64 {
		return ""
	}
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		switch c {
		case 'i', 'l':
			c = '1'
		case 'o':
			c = '0'
		}
		switch {
		case c == ' ' || c == '-':
		case strings.ContainsRune(recoveryAlphabet, c):
			b.WriteRune(c)
		default:
			return ""
		}
	}
	if b.Len() != recoveryLen {
		return ""
	}
	return b.String()
}

// recoveryHash is what the store keeps of a code: an HMAC under the
// server secret's recovery key, bound to the subject, so one user's hash
// says nothing of another's codes and a copy of the store tests no guess.
func (m *Manager) recoveryHash(subject, code string) string {
	h := hmac.New(sha256.New, m.keys.recovery)
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write([]byte(code))
	return hex.EncodeToString(h.Sum(nil))
}

// legacyRecoveryHash is how sets made before keyed hashes were stored
// (unkeyed SHA-256). They are still accepted, so no user loses the codes
// they printed; every new set is keyed.
func legacyRecoveryHash(subject, code string) string {
	h := sha256.New()
	h.Write([]byte("twofactor recovery code\x00"))
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write([]byte(code))
	return hex.EncodeToString(h.Sum(nil))
}

// serveRecover verifies the session with a recovery code: counted against
// the user's own limit of recovery tries (apart from the SMS codes' limit,
// so wrong recovery codes never lock the user's SMS), compared in constant
// time with every stored hash, and used up.
func (m *Manager) serveRecover(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, in input) {
	ctx := r.Context()
	subject := m.subject(r)
	if m.cfg.recovery == nil || subject == "" {
		m.fail(w, r, fs, errNoRecovery)
		return
	}
	acct := recoveryTriesKey(subject)
	t, err := reserveTry(ctx, m.cfg.state, m.log, tryPlan{
		locks: []guessLock{{name: "recovery codes", key: acct, limit: m.cfg.accountAttempts}},
		with:  []batch.Op{m.generationOp(subject)}, // what the new grant rests on
	})
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if t.refused == tryLocked {
		m.accountLocked(w, r, fs, acct, t.ttl, "")
		return
	}
	used, err := m.useRecoveryCode(ctx, subject, in.RecoveryCode)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if !used {
		m.emit(r, Event{Type: EventCheckFailed, Subject: subject, Err: ErrInvalidCode, Method: MethodRecoveryCode})
		m.fail(w, r, fs, errRecovery)
		return
	}
	t.cancel(ctx) // a right code was no wrong guess
	m.emit(r, Event{Type: EventRecoveryCodeUsed, Subject: subject, Method: MethodRecoveryCode})
	m.verifyAndRedirect(w, r, sess, fs, MethodRecoveryCode, "", origin{gen: t.with[0].Gen}, in.Remember)
}

// useRecoveryCode uses up the recovery code typed, if it is one of
// subject's: compared in constant time with every stored hash, and
// removed from the store (of two parallel uses, one wins).
func (m *Manager) useRecoveryCode(ctx context.Context, subject, typed string) (bool, error) {
	code := normalizeRecovery(typed)
	hashes, err := m.cfg.recovery.RecoveryHashes(ctx, subject)
	if err != nil {
		return false, err
	}
	want, legacy := []byte(m.recoveryHash(subject, code)), []byte(legacyRecoveryHash(subject, code))
	match := ""
	for _, h := range hashes { // every hash, whatever matches: constant time
		if (subtle.ConstantTimeCompare([]byte(h), want)|subtle.ConstantTimeCompare([]byte(h), legacy)) == 1 && code != "" {
			match = h
		}
	}
	if match == "" {
		return false, nil
	}
	return m.cfg.recovery.UseRecoveryHash(ctx, subject, match)
}

// MemoryRecoveryStore is a RecoveryStore in this process's memory, for
// demos and tests: it forgets everything at a restart. The zero value is
// ready to use; it is safe for concurrent use.
type MemoryRecoveryStore struct {
	mu     sync.Mutex
	hashes map[string]map[string]bool
}

// RecoveryHashes implements RecoveryStore.
func (s *MemoryRecoveryStore) RecoveryHashes(_ context.Context, subject string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for h := range s.hashes[subject] {
		out = append(out, h)
	}
	return out, nil
}

// ReplaceRecoveryHashes implements RecoveryStore.
func (s *MemoryRecoveryStore) ReplaceRecoveryHashes(_ context.Context, subject string, hashes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hashes == nil {
		s.hashes = make(map[string]map[string]bool)
	}
	set := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		set[h] = true
	}
	s.hashes[subject] = set
	return nil
}

// UseRecoveryHash implements RecoveryStore.
func (s *MemoryRecoveryStore) UseRecoveryHash(_ context.Context, subject, hash string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hashes[subject][hash] {
		return false, nil
	}
	delete(s.hashes[subject], hash)
	return true, nil
}

// recoveryCodesLife is how long recovery codes kept in the State (see
// WithRecoveryCodes) live after their set was made or one of them was last
// used: long enough for a user who signs in once a year. A user who has
// not used them for longer needs a new set.
const recoveryCodesLife = 400 * 24 * time.Hour

// stateRecovery is the RecoveryStore of WithRecoveryCodes(nil): the hashes
// of a user's codes are the fields of one map in the State, so every
// server sharing the State knows them and a use is one atomic DeleteField.
type stateRecovery struct{ s State }

func recoveryCodesKey(subject string) string { return "recoverycodes:" + subject }

// RecoveryHashes implements RecoveryStore.
func (r stateRecovery) RecoveryHashes(ctx context.Context, subject string) ([]string, error) {
	fields, err := r.s.Fields(ctx, recoveryCodesKey(subject))
	if err != nil {
		return nil, storeErr(err)
	}
	out := make([]string, 0, len(fields))
	for h := range fields {
		out = append(out, h)
	}
	return out, nil
}

// ReplaceRecoveryHashes implements RecoveryStore.
func (r stateRecovery) ReplaceRecoveryHashes(ctx context.Context, subject string, hashes []string) error {
	key := recoveryCodesKey(subject)
	if err := r.s.Delete(ctx, key); err != nil {
		return storeErr(err)
	}
	for _, h := range hashes {
		if err := r.s.SetField(ctx, key, h, "1", recoveryCodesLife); err != nil {
			return storeErr(err)
		}
	}
	return nil
}

// UseRecoveryHash implements RecoveryStore.
func (r stateRecovery) UseRecoveryHash(ctx context.Context, subject, hash string) (bool, error) {
	key := recoveryCodesKey(subject)
	had, err := r.s.DeleteField(ctx, key, hash)
	if err != nil {
		return false, storeErr(err)
	}
	if had {
		// The codes left live on from this use. Touch keeps the map as it is.
		if _, err := r.s.Touch(ctx, key, recoveryCodesLife); err != nil {
			return true, storeErr(err)
		}
	}
	return had, nil
}

// RecoveryCodesLeft returns how many of subject's recovery codes are still
// unused, for a page that says "9 codes left". It needs WithRecoveryCodes.
func (m *Manager) RecoveryCodesLeft(ctx context.Context, subject string) (int, error) {
	if m.cfg.recovery == nil {
		return 0, errors.New("twofactor: RecoveryCodesLeft needs WithRecoveryCodes")
	}
	if subject == "" {
		return 0, errors.New("twofactor: RecoveryCodesLeft needs a subject")
	}
	ctx, end := m.withBudget(ctx)
	defer end()
	hashes, err := m.cfg.recovery.RecoveryHashes(ctx, subject)
	return len(hashes), err
}
