package twofactor

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/sessions"
)

// serveSend sends a code to the number typed (or, in known-number mode, to
// the number on file).
func (m *Manager) serveSend(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, in input) {
	phone := in.Phone
	if m.cfg.phoneLookup != nil {
		var ok bool
		if phone, ok = m.phoneOnFile(w, r, fs); !ok {
			return
		}
	}
	m.send(w, r, sess, fs, phone, in.Channel)
}

// serveResend sends a new code to the number of the last one.
func (m *Manager) serveResend(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, in input) {
	phone := fs.Phone
	if m.cfg.phoneLookup != nil {
		var ok bool
		if phone, ok = m.phoneOnFile(w, r, fs); !ok {
			return
		}
	} else if phone == "" || (m.cfg.subject != nil && m.cfg.subject(r) != fs.Subject) {
		m.fail(w, r, fs, errNoPending)
		return
	}
	ch := in.Channel
	if ch == "" {
		ch = Channel(fs.Channel)
	}
	m.send(w, r, sess, fs, phone, ch)
}

func (m *Manager) send(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, phone string, ch Channel) {
	ctx := r.Context()
	switch ch {
	case "", SMS:
		ch = SMS
	case Voice:
		if !m.cfg.voice {
			m.fail(w, r, fs, errNoVoice)
			return
		}
	default:
		m.fail(w, r, fs, errBadInput)
		return
	}
	info, err := inspectPhone(phone, m.cfg.defaultRegion)
	if err != nil {
		m.fail(w, r, fs, errPhone)
		return
	}
	if m.cfg.allowedRegions != nil && !m.cfg.allowedRegions[info.region] {
		m.fail(w, r, fs, errRegion)
		return
	}
	if !smsCapable(info.kind, ch == Voice) {
		m.fail(w, r, fs, errNumberType)
		return
	}
	if !m.reserveSend(w, r, fs, info, ch) { // every limit, or none (limits.go)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, m.cfg.providerTimeout)
	defer cancel()
	req := Request{Phone: info.e164, Channel: ch}
	if ch == Voice {
		req.Language = voiceLocales[m.language(r)] // the call speaks the page's language
	}
	v, err := m.provider.Send(pctx, req)
	if err != nil {
		m.log.Error("twofactor: provider send failed", "phone", info.masked, "err", err)
		// No code is waiting, so the page's "try again in a moment" must
		// not meet this session's resend cooldown. The per-number and
		// per-IP windows keep counting: a timed-out send may have gone out.
		if m.cfg.resendCooldown > 0 {
			if derr := m.cfg.state.Delete(ctx, cooldownKey(fs.FlowID)); derr != nil {
				m.log.Error("twofactor: state backend failed", "err", derr)
			}
		}
		if errors.Is(err, ErrInvalidPhone) {
			m.fail(w, r, fs, errPhone)
			return
		}
		m.fail(w, r, fs, errProvider)
		return
	}
	now := m.cfg.now()
	fs.PendingID, fs.Phone, fs.Channel = v.ID, info.e164, string(ch)
	fs.SentAt, fs.ExpiresAt = now.Unix(), v.ExpiresAt.Unix()
	if v.ExpiresAt.IsZero() {
		fs.ExpiresAt = now.Add(DefaultValidity).Unix()
	}
	if s := m.subject(r); s != fs.Subject {
		// The session's verified state (if any) belongs to another user:
		// relabelling the session must not hand it to this one.
		fs.VerifiedAt, fs.Grant = 0, ""
		fs.Subject = s
	}
	if err := m.save(w, r, sess, fs); err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	m.log.Info("twofactor: code sent", "phone", info.masked, "channel", string(ch), "ip", m.clientIP(r))
	m.emit(r, Event{Type: EventCodeSent, Subject: fs.Subject, Phone: info.e164})
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{
			"status":       "code_sent",
			"phone":        info.masked,
			"channel":      string(ch),
			"expires_at":   time.Unix(fs.ExpiresAt, 0).UTC().Format(time.RFC3339),
			"resend_after": m.resendIn(fs),
		})
		return
	}
	http.Redirect(w, r, m.cfg.prefix, http.StatusSeeOther)
}

// voiceLocales maps page languages to the locales voice providers speak
// (MessageBird wants a region: "nl-nl", not "nl").
var voiceLocales = map[string]string{"en": "en-gb", "nl": "nl-nl"}
