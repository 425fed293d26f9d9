package twofactor

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/go-twofactor/twofactor/internal/batch"
)

// One model of a user's second factor.
//
// Each user has a record in the State (see State): its generation, its
// grants (the verified sessions) and its remembered devices. Every grant
// and device records the generation it was made under, and so does a
// pending code (in the session). Revoking is one atomic move of the
// generation (NewGeneration): sign out everywhere, a completed number
// change or enrolment, a new set of recovery codes. Use checks it: the gate
// (CheckGrant), a new grant (AddGrant), a device sign-in, the check of a
// pending code. Nothing is revoked by listing and deleting, so nothing made
// during a revocation survives it, and revoking costs the same with one
// session or a hundred thousand.
//
// A session with no subject (phone-entry mode without WithSubject, or a
// visitor the app has not signed in) has a record of its own, named by its
// grant.

// maxGrants bounds the live grants (verified sessions) of one user: a new
// one beyond it ends the one idle longest.
const maxGrants = 100

// userKey is the State key of subject's user record; for a session with no
// subject, the record of its grant alone.
func userKey(subject, grant string) string {
	if subject == "" {
		return "grant:" + grant
	}
	return "user:" + subject
}

// userTTL is how long a user record lives after its last write: as long
// as anything written into it may live (a verification, a remembered
// device), so its generation outlives everything made under it.
func (m *Manager) userTTL() time.Duration {
	return max(m.cfg.maxAge, m.cfg.rememberFor)
}

// generation returns subject's generation, creating it if the user has none.
func (m *Manager) generation(ctx context.Context, subject string) (string, error) {
	if subject == "" {
		return "", nil
	}
	g, err := m.cfg.state.Generation(ctx, userKey(subject, ""), randomID(), m.userTTL())
	if err != nil {
		return "", storeErr(err)
	}
	return g, nil
}

// generationOp is the batch op of generation(subject) (subject not ""):
// its answer is in Gen.
func (m *Manager) generationOp(subject string) batch.Op {
	return batch.Op{Kind: batch.Generation, Key: userKey(subject, ""), Gen: randomID(), TTL: m.userTTL()}
}

// newGeneration moves subject's generation on, revoking every grant and
// device made before; keep, if not "", names the grant (of the current
// generation) that stays verified. It returns the new generation.
func (m *Manager) newGeneration(ctx context.Context, subject, keep string) (string, error) {
	g := randomID()
	if err := m.cfg.state.NewGeneration(ctx, userKey(subject, ""), g, keep, m.userTTL()); err != nil {
		return "", storeErr(err)
	}
	return g, nil
}

// grantFrom returns the grant of the session the gate let through with
// ctx, or "".
func grantFrom(ctx context.Context) string {
	if p, ok := ctx.Value(ctxKey{}).(*passed); ok {
		return p.grant
	}
	return ""
}

// keys are the keys derived from the server secret (WithSecret).
type keys struct {
	recovery []byte // HMAC key of recovery codes
	number   []byte // HMAC key of phone numbers in State keys
	totp     []byte // AES-256-GCM key of authenticator-app secrets (totp.go)
}

func deriveKeys(secret []byte) (keys, error) {
	var k keys
	var err error
	if k.recovery, err = hkdf.Key(sha256.New, secret, nil, "twofactor recovery codes", 32); err != nil {
		return k, err
	}
	if k.number, err = hkdf.Key(sha256.New, secret, nil, "twofactor phone numbers", 32); err != nil {
		return k, err
	}
	k.totp, err = hkdf.Key(sha256.New, secret, nil, "twofactor totp secrets", 32)
	return k, err
}

// numberID names an E.164 number in State keys: a keyed hash, so a copy
// of the State reveals no number (128 bits: no two numbers meet).
func (m *Manager) numberID(e164 string) string {
	h := hmac.New(sha256.New, m.keys.number)
	h.Write([]byte(e164))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// userOf returns the key of the user record that r's session fs belongs to.
func userOf(fs flowState) string { return userKey(fs.Subject, fs.Grant) }
