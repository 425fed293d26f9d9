package twofactor

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// flowError is a failure the visitor sees: a status, a stable code for JSON
// clients and a message key for pages.
type flowError struct {
	status     int
	code       string
	msg        string    // message key
	arg        int64     // for messages with a number
	until      time.Time // for messages with a time (%s): shown as 15:04 UTC
	retryAfter time.Duration
}

func (e *flowError) Error() string { return e.code }

var (
	errStore       = &flowError{status: http.StatusServiceUnavailable, code: "store_unavailable", msg: "err_store"}
	errProvider    = &flowError{status: http.StatusServiceUnavailable, code: "provider_unavailable", msg: "err_provider"}
	errRequired    = &flowError{status: http.StatusUnauthorized, code: "verification_required", msg: "err_required"}
	errCrossOrigin = &flowError{status: http.StatusForbidden, code: "cross_origin", msg: "err_cross_origin"}
	errBadReturn   = &flowError{status: http.StatusBadRequest, code: "invalid_return", msg: "err_return"}
	errBadInput    = &flowError{status: http.StatusBadRequest, code: "bad_request", msg: "err_bad_input"}
	errTooLarge    = &flowError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: "err_bad_input"}
	errUnsupported = &flowError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", msg: "err_bad_input"}
	errNoNumber    = &flowError{status: http.StatusConflict, code: "no_phone_number", msg: "err_no_number"}
	errNoPending   = &flowError{status: http.StatusConflict, code: "no_pending_code", msg: "err_no_pending"}
	errPhone       = &flowError{status: http.StatusBadRequest, code: "invalid_phone", msg: "err_phone"}
	errRegion      = &flowError{status: http.StatusBadRequest, code: "region_not_allowed", msg: "err_region"}
	errNumberType  = &flowError{status: http.StatusBadRequest, code: "unsupported_number", msg: "err_number_type"}
	errNoVoice     = &flowError{status: http.StatusBadRequest, code: "voice_disabled", msg: "err_no_voice"}
	errSendLimited = &flowError{status: http.StatusTooManyRequests, code: "rate_limited", msg: "err_send_limited"}
	errLocked      = &flowError{status: http.StatusTooManyRequests, code: "locked", msg: "err_locked"}
	errPaused      = &flowError{status: http.StatusServiceUnavailable, code: "sending_paused", msg: "err_paused"}
	errBusy        = &flowError{status: http.StatusServiceUnavailable, code: "busy", msg: "err_busy"}
	errTooMany     = &flowError{status: http.StatusBadRequest, code: "too_many_attempts", msg: "err_too_many"}
	errExpired     = &flowError{status: http.StatusBadRequest, code: "expired", msg: "err_expired"}
	errUsed        = &flowError{status: http.StatusBadRequest, code: "code_used", msg: "err_used"}
)

func errWrongCode(left int64) *flowError {
	msg := "err_wrong_code"
	if left == 1 {
		msg = "err_wrong_one" // "1 try left", not "1 tries left"
	}
	return &flowError{status: http.StatusBadRequest, code: "invalid_code", msg: msg, arg: left}
}

func errMalformed(n int) *flowError {
	return &flowError{status: http.StatusBadRequest, code: "malformed_code", msg: "err_malformed", arg: int64(n)}
}

// storeFailed logs a session store or state backend failure and answers
// 503: the flow and the gate fail closed.
func (m *Manager) storeFailed(w http.ResponseWriter, r *http.Request, fs flowState, err error) {
	if isStateFull(err) {
		// Full of live limits: refuse, never forget one; log once a minute.
		if ok, n := m.fullLog.tick(m.cfg.now()); ok {
			m.log.Error("twofactor: state full; new sends and verifications refused until keys expire", "refused_since_last_log", n)
		}
		fe := *errBusy
		fe.retryAfter = time.Minute
		m.fail(w, r, fs, &fe)
		return
	}
	m.log.Error("twofactor: session store or state backend failed", "path", r.URL.Path, "err", err)
	m.fail(w, r, fs, errStore)
}

// fail answers with fe: a JSON error for API clients, else the page the
// visitor is at with the message on it.
func (m *Manager) fail(w http.ResponseWriter, r *http.Request, fs flowState, fe *flowError) {
	if fe.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((fe.retryAfter+time.Second-1)/time.Second)))
	}
	d := m.data(r, fs)
	d.Error = d.T.format(fe.msg, fe.arg)
	if !fe.until.IsZero() {
		d.Error = fmt.Sprintf(d.T[fe.msg], fe.until.UTC().Format("15:04 UTC"))
	}
	if wantsJSON(r) {
		e := map[string]any{"code": fe.code, "message": d.Error}
		if !fe.until.IsZero() {
			e["until"] = fe.until.UTC().Format(time.RFC3339)
		}
		writeJSON(w, fe.status, map[string]any{"error": e})
		return
	}
	page := "message.html"
	switch fe {
	case errStore, errRequired, errCrossOrigin, errBadReturn, errLocked, errNoNumber:
	default:
		if fe.status < 500 {
			page = m.pageFor(r, fs)
		}
	}
	if fe == errRequired {
		d.Link = m.cfg.prefix
	}
	setSecurityHeaders(w.Header()) // also for the gate's pages, served outside Handler
	m.render(w, r, fe.status, page, d)
}

func (m *Manager) language(r *http.Request) string {
	if m.cfg.language != nil {
		if l := m.cfg.language(r); l != "" {
			return matchLanguage(l)
		}
	}
	return matchLanguage(r.Header.Get("Accept-Language"))
}

// data is what every page receives.
func (m *Manager) data(r *http.Request, fs flowState) *pageData {
	lang := m.language(r)
	d := &pageData{
		Lang:       lang,
		T:          messages[lang],
		Prefix:     m.cfg.prefix,
		CodeLength: m.codeLen,
		Voice:      m.cfg.voice,
		KnownPhone: m.cfg.phoneLookup != nil,
	}
	d.ResendIn = m.resendIn(fs) // also after "use another number": the cooldown holds
	if m.awaiting(r, fs) {
		d.Phone = MaskPhone(fs.Phone)
		d.Channel = fs.Channel
	} else if m.cfg.phoneLookup != nil {
		if p, err := m.cfg.phoneLookup(r); err == nil && p != "" {
			d.Phone = MaskPhone(p)
		}
	}
	return d
}

// securityHeaders sets headers every flow response carries: no caching, no
// framing (clickjacking), no referrer leaking the flow's URLs.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		h.ServeHTTP(w, r)
	})
}

// setSecurityHeaders sets the headers of securityHeaders; the gate's own
// error pages carry them too.
func setSecurityHeaders(hd http.Header) {
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}
