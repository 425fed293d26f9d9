package twofactor

import (
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/sessions"

	"github.com/go-twofactor/twofactor/internal/batch"
)

// serveSend sends a code to the number the flow is at: the number typed;
// in known-number mode the number on file (or, for a user with none, the
// number typed: enrolment); for a verified visitor stepping up, the number
// on file or the one verified; for a number change, the new number typed.
func (m *Manager) serveSend(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, in input) {
	r = withChallengeAnswer(r, in) // for the fraud guard's budgets (challenge.go)
	phone, purpose, fe, err := m.sendTarget(r, fs, in)
	switch {
	case err != nil:
		m.storeFailed(w, r, fs, err)
	case fe != nil:
		m.fail(w, r, fs, fe)
	default:
		region := in.Country
		if region == "" && !in.noCountry {
			region = m.cfg.defaultRegion
		}
		fs.PendingGen = "" // a new code rests on the user's generation now (send)
		m.send(w, r, sess, fs, phone, in.Channel, purpose, region)
	}
}

// sendTarget decides where a new code goes and what it is for.
func (m *Manager) sendTarget(r *http.Request, fs flowState, in input) (phone, purpose string, fe *flowError, err error) {
	verified, err := m.grantLive(r, fs)
	if err != nil {
		return "", "", nil, err
	}
	if in.Purpose == purposeChange {
		switch {
		case !verified || m.cfg.subject == nil || fs.Subject == "":
			return "", "", errRequired, nil
		case !fs.record().fresh(m.cfg.now(), changeFreshness):
			return "", "", errStale, nil
		}
		return in.Phone, purposeChange, nil, nil
	}
	var onFile string
	if m.cfg.phoneLookup != nil {
		if onFile, err = m.cfg.phoneLookup(r); err != nil {
			m.log.Warn("twofactor: phone lookup failed", "err", err)
			return "", "", errNoNumber, nil
		}
	}
	switch {
	case onFile != "":
		return onFile, "", nil, nil
	case verified && fs.VerifiedPhone != "":
		// Step-up proves the number already verified, never a new one.
		return fs.VerifiedPhone, "", nil, nil
	case m.cfg.phoneLookup == nil:
		return in.Phone, "", nil, nil
	case m.cfg.enrol == nil || m.subject(r) == "":
		return "", "", errNoNumber, nil
	}
	return in.Phone, purposeEnrol, nil, nil
}

// serveResend sends a new code to the number of the last one, for the
// same purpose.
func (m *Manager) serveResend(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, in input) {
	r = withChallengeAnswer(r, in)
	if fs.Phone == "" || (m.cfg.subject != nil && m.cfg.subject(r) != fs.Subject) {
		m.fail(w, r, fs, errNoPending)
		return
	}
	if m.groundGone(w, r, sess, fs) {
		// A resend renews nothing that was revoked: a number change or
		// enrolment started before a sign out everywhere stays dead.
		return
	}
	phone := fs.Phone
	if m.cfg.phoneLookup != nil && fs.Purpose == "" {
		var ok bool
		if phone, ok = m.phoneOnFile(w, r, fs); !ok {
			return
		}
	}
	ch := in.Channel
	if ch == "" {
		ch = Channel(fs.Channel)
	}
	m.send(w, r, sess, fs, phone, ch, fs.Purpose, m.cfg.defaultRegion)
}

// send sends a code to phone by ch, for purpose, within every limit. A
// national number is read as one of region: the visitor's choice, or the
// default region; none when region is "".
func (m *Manager) send(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, phone string, ch Channel, purpose, region string) {
	ctx := r.Context()
	info, ch, fe := m.sendable(phone, ch, purpose, region)
	if fe != nil {
		m.fail(w, r, fs, fe)
		return
	}
	info.challenge, info.answer = challengeAnswer(r)
	q := &sendReq{r: r, fs: fs, info: info, ch: ch, cooldown: true}
	subject := m.subject(r)
	if fs.PendingGen == "" && subject != "" {
		// What this code rests on (see groundHolds); a resend keeps the
		// generation its flow started on. Read with the counts, so a
		// refused send writes nothing.
		q.with = []batch.Op{m.generationOp(subject)}
	}
	if !m.reserveSend(w, q) { // every limit, or none (limits.go)
		return
	}
	if len(q.with) > 0 {
		fs.PendingGen = q.with[0].Gen
	}
	pctx, done := m.providerContext(ctx)
	req := Request{Phone: info.e164, Channel: ch, Origin: m.cfg.origin}
	if ch == Voice {
		req.Language = voiceLocales[m.language(r)] // the call speaks the page's language
	}
	v, err := m.provider.Send(pctx, req)
	done()
	if err != nil {
		m.sendFailed(w, r, sess, fs, q, err)
		return
	}
	m.sent(w, r, sess, fs, q, v, purpose)
}

// sent answers q's send, which the provider took as verification v: the
// session keeps the pending code, for purpose.
func (m *Manager) sent(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, q *sendReq, v Verification, purpose string) {
	now, info := m.cfg.now(), q.info
	fs.clearPending()
	fs.PendingID, fs.Phone, fs.Channel, fs.Purpose = v.ID, info.e164, string(q.ch), purpose
	fs.SentAt, fs.ExpiresAt = now.Unix(), clampExpiry(v.ExpiresAt, now).Unix()
	// What the check needs to know of this send without asking the State
	// again (codelife.go): whether the requester owns the number, and
	// whether the conversion watch counted the code.
	if q.res.owner {
		fs.Owner = m.ownerID(info.e164, m.requester(r))
	}
	fs.Watched = q.res.watched > 0
	if s := m.subject(r); s != fs.Subject {
		// The session's verified state (if any) belongs to another user:
		// relabelling the session must not hand it to this one.
		fs.unverify()
		fs.Subject = s
	}
	if err := m.save(w, r, sess, fs); err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	m.log.Info("twofactor: code sent", "phone", info.masked, "channel", string(q.ch), "ip", m.clientIP(r))
	m.emit(r, Event{Type: EventCodeSent, Subject: fs.Subject, Phone: info.e164})
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, sentBody{
			Status: "code_sent", Phone: info.masked, Channel: string(q.ch),
			ExpiresAt: rfc3339(fs.ExpiresAt), ResendAfter: m.resendIn(fs),
		})
		return
	}
	http.Redirect(w, r, m.cfg.prefix, http.StatusSeeOther)
}

// sendable decides, without any call, whether a code may go to phone by
// ch for purpose: the channel is on, the number parses (a national number
// as one of region) and is of an allowed region and a type that takes
// SMS (or calls). It returns the number and the channel ("" is SMS), or
// the refusal.
func (m *Manager) sendable(phone string, ch Channel, purpose, region string) (phoneInfo, Channel, *flowError) {
	switch ch {
	case "", SMS:
		ch = SMS
	case Voice:
		if !m.cfg.voice {
			return phoneInfo{}, ch, errNoVoice
		}
	default:
		return phoneInfo{}, ch, errBadInput
	}
	info, err := inspectPhone(phone, region)
	if err != nil {
		return phoneInfo{}, ch, phoneError(phone, region)
	}
	// In known-number mode a sign-in code goes to the number on file (or
	// the one verified): the app vouches for it (limits.go, fraud.go).
	info.onFile = purpose == "" && m.cfg.phoneLookup != nil
	if !m.regionAllowed(info.region) {
		return phoneInfo{}, ch, errRegion
	}
	if !smsCapable(info.kind, ch == Voice) {
		return phoneInfo{}, ch, errNumberType
	}
	return info, ch, nil
}

// sendFailed answers q's send, which the provider refused or failed with
// err after the limits were counted.
func (m *Manager) sendFailed(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, q *sendReq, err error) {
	m.log.Error("twofactor: provider send failed", "phone", q.info.masked, "err", err)
	// No code is waiting, so the page's "try again in a moment" must not
	// meet this session's resend cooldown, unless a code may be on its way
	// (ErrUnknownOutcome): then the cooldown keeps a second one from
	// following at once. The per-number and per-IP windows keep counting:
	// a timed-out send may have gone out.
	switch {
	case errors.Is(err, ErrUnknownOutcome):
		// Keep the session's flow id, the cooldown's key, so that the
		// cooldown holds for this browser.
		if serr := m.save(w, r, sess, fs); serr != nil {
			m.log.Error("twofactor: session store failed", "err", serr)
		}
	default:
		if derr := q.res.release(r.Context(), "cooldown"); derr != nil {
			m.log.Error("twofactor: state backend failed", "err", derr)
		}
	}
	m.fail(w, r, fs, providerFailure(err, false))
}

// clampExpiry is when the flow stops accepting a code the provider said
// expires at exp: never later than maxValidity from now, and the default
// validity when the provider gave none or one already past. A provider's
// answer is not trusted beyond reason: a far-future expiry would stretch
// the attempt counter's window and overflow its arithmetic.
func clampExpiry(exp, now time.Time) time.Time {
	switch {
	case !exp.After(now):
		return now.Add(defaultValidity)
	case exp.After(now.Add(maxValidity)):
		return now.Add(maxValidity)
	}
	return exp
}

// voiceLocales maps page languages to the locales voice providers speak
// (MessageBird wants a region: "nl-nl", not "nl").
var voiceLocales = map[string]string{"en": "en-gb", "nl": "nl-nl"}
