package twofactor

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math/bits"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Challenge is what a first-time number's sender must pass when the fraud
// guard's country or global budget for first-time numbers is spent: the
// budgets degrade instead of switching sending off. An app fills it with
// its CAPTCHA of choice (FraudGuard.Challenge); the default is a proof of work
// the flow's page solves in about a second, with no outside service.
//
// A challenged send answers 429 with the error code "challenge_required"
// and the challenge (JSON: error.challenge; HTML: the phone page carries
// it). The visitor sends again with the fields challenge_token and
// challenge_answer. A send that passes the challenge passes the spent
// budget; it still meets every other limit, and a second budget as large
// as the first (past both, "try again later" as before).
type Challenge interface {
	// Issue returns a new challenge for the send that binding names (a
	// keyed hash of the number and the requester). It should store
	// nothing: challenged requests come in floods.
	Issue(ctx context.Context, binding string) (ChallengeData, error)
	// Verify reports whether answer solves the challenge token, issued for
	// binding and not expired. Each token is accepted once.
	Verify(ctx context.Context, binding, token, answer string) (bool, error)
}

// ChallengeData is a challenge as the page and a JSON client get it.
type ChallengeData struct {
	// Kind names the challenge: "pow" for the built-in proof of work, the
	// app's own name for its CAPTCHA.
	Kind string `json:"kind"`
	// Token identifies the challenge; it comes back as challenge_token.
	Token string `json:"token"`
	// Difficulty, for "pow": the answer is a decimal number n such that
	// SHA-256(token + ":" + n) starts with Difficulty zero bits.
	Difficulty int `json:"difficulty,omitempty"`
	// Expires is when the token stops being accepted.
	Expires time.Time `json:"expires"`
}

// Defaults of the built-in proof of work.
const (
	// defaultChallengeBits is the built-in proof of work's difficulty: about
	// 2^17 SHA-256 hashes, a second or so in a browser's WebCrypto.
	defaultChallengeBits = 17
	// challengeTTL is how long a proof-of-work token is accepted.
	challengeTTL = 5 * time.Minute
)

// powChallenge is the built-in Challenge: a proof of work. Its token is the
// expiry, 16 random bytes and the difficulty, with a keyed hash binding
// them to the binding; checking an answer is one SHA-256 and one keyed
// hash, and its single use is one State key that lives until the token
// expires, written only for a correct answer.
type powChallenge struct {
	m    *Manager
	bits int
}

func (p powChallenge) mac(binding, payload string) string {
	return p.m.numberID("\x00challenge\x00" + binding + "\x00" + payload)
}

func (p powChallenge) Issue(_ context.Context, binding string) (ChallengeData, error) {
	var b [8 + 16 + 1]byte
	exp := p.m.cfg.now().Add(challengeTTL)
	binary.BigEndian.PutUint64(b[:8], uint64(exp.Unix()))
	if _, err := rand.Read(b[8:24]); err != nil {
		return ChallengeData{}, err
	}
	b[24] = byte(p.bits)
	payload := base64.RawURLEncoding.EncodeToString(b[:])
	return ChallengeData{Kind: "pow", Token: payload + "." + p.mac(binding, payload), Difficulty: p.bits, Expires: time.Unix(exp.Unix(), 0).UTC()}, nil
}

func (p powChallenge) Verify(ctx context.Context, binding, token, answer string) (bool, error) {
	payload, mac, ok := strings.Cut(token, ".")
	if !ok || len(answer) == 0 || len(answer) > 20 || len(token) > 200 {
		return false, nil
	}
	if _, err := strconv.ParseUint(answer, 10, 64); err != nil {
		return false, nil
	}
	if subtle.ConstantTimeCompare([]byte(mac), []byte(p.mac(binding, payload))) != 1 {
		return false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || len(b) != 25 {
		return false, nil
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	left := exp.Sub(p.m.cfg.now())
	if left <= 0 || int(b[24]) < p.bits {
		return false, nil
	}
	if leadingZeroBits(sha256.Sum256([]byte(token+":"+answer))) < int(b[24]) {
		return false, nil
	}
	// Once: the mark lives as long as the token could be accepted.
	return p.m.cfg.state.SetNX(ctx, "challenge:"+mac, left+time.Second)
}

type challengeCtxKey struct{}

// withChallengeAnswer returns r carrying the challenge fields of in.
func withChallengeAnswer(r *http.Request, in input) *http.Request {
	if in.ChallengeToken == "" && in.ChallengeAnswer == "" {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), challengeCtxKey{}, [2]string{in.ChallengeToken, in.ChallengeAnswer}))
}

// challengeAnswer returns the challenge token and answer r carries.
func challengeAnswer(r *http.Request) (token, answer string) {
	v, _ := r.Context().Value(challengeCtxKey{}).([2]string)
	return v[0], v[1]
}

// challenger returns the Challenge of first-time numbers past a budget, or
// nil when challenges are off.
func (m *Manager) challenger() Challenge {
	switch {
	case m.cfg.challengeOff:
		return nil
	case m.cfg.challenge != nil:
		return m.cfg.challenge
	}
	return powChallenge{m: m, bits: defaultChallengeBits}
}

// challengeBinding names the send a challenge is for: the number and the
// requester (the subject, or the client's address), as a keyed hash.
func (m *Manager) challengeBinding(r *http.Request, e164 string) string {
	return m.ownerID(e164, "challenge\x00"+m.requester(r))
}

// challenge answers a send to a first-time number refused by a spent
// budget (fe, its refusal: logged, and alerted once per window): with a
// new challenge, or, when the request answers one, by reserving the send
// again against the challenged budgets. Refusals store nothing: issuing a
// challenge writes no State key; only an accepted answer marks its token
// used.
func (m *Manager) challenge(q *sendReq, fe *flowError) (*flowError, error) {
	c := m.challenger()
	if c == nil {
		return fe, nil
	}
	ctx, binding := q.r.Context(), m.challengeBinding(q.r, q.info.e164)
	if q.info.challenge != "" {
		ok, err := c.Verify(ctx, binding, q.info.challenge, q.info.answer)
		if err != nil {
			return nil, err
		}
		if ok {
			q.info.challenged = true
			return m.reserve(q)
		}
	}
	d, err := c.Issue(ctx, binding)
	if err != nil {
		return nil, err
	}
	out := *errChallenge
	out.challenge = &d
	out.retryAfter = fe.retryAfter
	out.arg = int64(max(fe.retryAfter/time.Minute, 1))
	return &out, nil
}

// leadingZeroBits counts the zero bits at the start of h.
func leadingZeroBits(h [sha256.Size]byte) int {
	n := 0
	for _, c := range h {
		if c != 0 {
			return n + bits.LeadingZeros8(c)
		}
		n += 8
	}
	return n
}

// solveChallenge finds the answer to a proof-of-work challenge ("pow"), as
// the flow's page does in the browser: for tests and JSON clients.
func solveChallenge(c ChallengeData) (string, error) {
	if c.Kind != "pow" || c.Difficulty < 0 || c.Difficulty > 32 {
		return "", errors.New("twofactor: not a proof-of-work challenge a client can solve")
	}
	for n := uint64(0); ; n++ {
		a := strconv.FormatUint(n, 10)
		if leadingZeroBits(sha256.Sum256([]byte(c.Token+":"+a))) >= c.Difficulty {
			return a, nil
		}
	}
}
