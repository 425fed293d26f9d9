package twofactor

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// JSON bodies of the flow's answers. Times are RFC 3339 in UTC.
type (
	statusBody struct { // GET prefix+"status"
		Verified    bool   `json:"verified"`
		Pending     bool   `json:"pending"`
		Phone       string `json:"phone,omitempty"` // masked
		Method      string `json:"method,omitempty"`
		VerifiedAt  string `json:"verified_at,omitempty"`
		ExpiresAt   string `json:"expires_at,omitempty"`
		ResendAfter *int   `json:"resend_after,omitempty"` // seconds; present while a code is pending
		// Factors, for a user with a factor beside SMS: the ways they can
		// verify, strongest first, such as ["totp","sms"] (factors.go).
		Factors []string `json:"factors,omitempty"`
	}
	sentBody struct { // a code was sent
		Status      string `json:"status"` // "code_sent"
		Phone       string `json:"phone"`  // masked
		Channel     string `json:"channel"`
		ExpiresAt   string `json:"expires_at"`
		ResendAfter int    `json:"resend_after"`
	}
	statusOnly struct {
		Status string `json:"status"`
	}
	verifiedBody struct {
		Status   string `json:"status"` // "verified"
		Redirect string `json:"redirect"`
		Method   string `json:"method"`
	}
	errorBody struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Until   string `json:"until,omitempty"` // for locked: until when
			// Challenge, for challenge_required: what to solve (challenge.go).
			Challenge *ChallengeData `json:"challenge,omitempty"`
		} `json:"error"`
	}
)

// writeJSON answers with v as JSON, with the headers every answer carries.
func writeJSON(w http.ResponseWriter, status int, v any) {
	setSecurityHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// rfc3339 formats unix seconds for JSON bodies.
func rfc3339(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }

// flowError is a failure the visitor sees: a status, a stable code for JSON
// clients and a message key for pages.
type flowError struct {
	status     int
	code       string
	msg        string    // message key
	arg        int64     // for messages with a number
	until      time.Time // for messages with a time (%s): shown as 15:04 UTC
	retryAfter time.Duration
	field      string // the form field at fault, marked on the page
	challenge  *ChallengeData
}

func (e *flowError) Error() string { return e.code }

var (
	errStore       = &flowError{status: http.StatusServiceUnavailable, code: "store_unavailable", msg: "err_store"}
	errProvider    = &flowError{status: http.StatusServiceUnavailable, code: "provider_unavailable", msg: "err_provider"}
	errRequired    = &flowError{status: http.StatusUnauthorized, code: "verification_required", msg: "err_required"}
	errStale       = &flowError{status: http.StatusUnauthorized, code: "step_up_required", msg: "err_required"}
	errCrossOrigin = &flowError{status: http.StatusForbidden, code: "cross_origin", msg: "err_cross_origin"}
	errBadReturn   = &flowError{status: http.StatusBadRequest, code: "invalid_return", msg: "err_return"}
	errBadInput    = &flowError{status: http.StatusBadRequest, code: "bad_request", msg: "err_bad_input"}
	errTooLarge    = &flowError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: "err_bad_input"}
	errUnsupported = &flowError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", msg: "err_bad_input"}
	errNoNumber    = &flowError{status: http.StatusConflict, code: "no_phone_number", msg: "err_no_number"}
	errNoPending   = &flowError{status: http.StatusConflict, code: "no_pending_code", msg: "err_no_pending"}
	errPhone       = &flowError{status: http.StatusBadRequest, code: "invalid_phone", msg: "err_phone", field: "phone"}
	errPhoneCC     = &flowError{status: http.StatusBadRequest, code: "invalid_phone", msg: "err_phone_country", field: "phone"}
	errPhoneJunk   = &flowError{status: http.StatusBadRequest, code: "invalid_phone", msg: "err_phone_junk", field: "phone"}
	errRegion      = &flowError{status: http.StatusBadRequest, code: "region_not_allowed", msg: "err_region", field: "phone"}
	errNumberType  = &flowError{status: http.StatusBadRequest, code: "unsupported_number", msg: "err_number_type", field: "phone"}
	errNotFound    = &flowError{status: http.StatusNotFound, code: "not_found", msg: "err_not_found"}
	errMethod      = &flowError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", msg: "err_method"}
	errNoVoice     = &flowError{status: http.StatusBadRequest, code: "voice_disabled", msg: "err_no_voice"}
	errSendLimited = &flowError{status: http.StatusTooManyRequests, code: "rate_limited", msg: "err_send_limited"}
	errLocked      = &flowError{status: http.StatusTooManyRequests, code: "locked", msg: "err_locked"}
	errPaused      = &flowError{status: http.StatusServiceUnavailable, code: "sending_paused", msg: "err_paused"}
	errChallenge   = &flowError{status: http.StatusTooManyRequests, code: "challenge_required", msg: "err_challenge"}
	errBusy        = &flowError{status: http.StatusServiceUnavailable, code: "busy", msg: "err_busy"}
	errTooMany     = &flowError{status: http.StatusBadRequest, code: "too_many_attempts", msg: "err_too_many"}
	errExpired     = &flowError{status: http.StatusBadRequest, code: "expired", msg: "err_expired"}
	errUsed        = &flowError{status: http.StatusBadRequest, code: "code_used", msg: "err_used"}
	errSavePhone   = &flowError{status: http.StatusServiceUnavailable, code: "number_not_saved", msg: "err_save_phone"}
	errNoRecovery  = &flowError{status: http.StatusNotFound, code: "recovery_codes_off", msg: "err_bad_input"}
	errRecovery    = &flowError{status: http.StatusBadRequest, code: "invalid_recovery_code", msg: "err_recovery", field: "recovery_code"}
)

func errWrongCode(left int64) *flowError {
	msg := "err_wrong_code"
	if left == 1 {
		msg = "err_wrong_one" // "1 try left", not "1 tries left"
	}
	return &flowError{status: http.StatusBadRequest, code: "invalid_code", msg: msg, arg: left, field: "code"}
}

func errMalformed(n int) *flowError {
	return &flowError{status: http.StatusBadRequest, code: "malformed_code", msg: "err_malformed", arg: int64(n), field: "code"}
}

// storeErr marks err as a session store or state backend failure, once:
// backends such as redisstate already wrap ErrStoreUnavailable.
func storeErr(err error) error {
	if err == nil || errors.Is(err, ErrStoreUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
}

// storeFailed logs a session store or state backend failure and answers
// 503: the flow and the gate fail closed.
func (m *Manager) storeFailed(w http.ResponseWriter, r *http.Request, fs flowState, err error) {
	m.fail(w, r, fs, m.storeFailure(r, err))
}

// storeFailure logs a session store or state backend failure and returns
// the answer it gets: busy (try again in a minute) when the State is full,
// else store unavailable.
func (m *Manager) storeFailure(r *http.Request, err error) *flowError {
	if isStateFull(err) {
		// Full of live limits: refuse, never forget one; log once a minute.
		if ok, n := m.fullLog.tick(m.cfg.now()); ok {
			m.log.Error("twofactor: state full; new sends and verifications refused until keys expire", "refused_since_last_log", n)
		}
		fe := *errBusy
		fe.retryAfter = time.Minute
		return &fe
	}
	m.log.Error("twofactor: session store or state backend failed", "path", r.URL.Path, "err", err)
	return errStore
}

// fail answers with fe: a JSON error for API clients, else the page the
// visitor is at with the message on it.
func (m *Manager) fail(w http.ResponseWriter, r *http.Request, fs flowState, fe *flowError) {
	if fe.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((fe.retryAfter+time.Second-1)/time.Second)))
	}
	d := m.data(r, fs)
	d.Error = d.T.format(fe.msg, fe.arg)
	d.Field = fe.field
	d.Challenge = fe.challenge
	if (fe.field == "phone" || fe.challenge != nil) && r.PostForm != nil {
		d.PhoneValue = r.PostForm.Get("phone") // keep what was typed
		if c := r.PostForm.Get("country"); supportedRegion(c) {
			d.Country = strings.ToUpper(c)
		} else if r.PostForm.Has("country") && c == "" {
			d.Country = "" // "Country…" stays chosen
		}
	}
	if !fe.until.IsZero() {
		d.Error = fmt.Sprintf(d.T[fe.msg], fe.until.UTC().Format("15:04 UTC"))
	}
	if wantsJSON(r) {
		var body errorBody
		body.Error.Code, body.Error.Message = fe.code, d.Error
		body.Error.Challenge = fe.challenge
		if !fe.until.IsZero() {
			body.Error.Until = fe.until.UTC().Format(time.RFC3339)
		}
		writeJSON(w, fe.status, body)
		return
	}
	page := "message.html"
	switch fe {
	case errStore, errRequired, errStale, errCrossOrigin, errBadReturn, errLocked, errSavePhone, errNotFound, errMethod:
	default:
		if fe.status < 500 {
			page = m.pageFor(r, fs)
		}
	}
	switch fe {
	case errRequired:
		d.Link = m.cfg.prefix
	case errStale:
		d.Link = m.cfg.prefix + "?stepup=1"
	case errStore, errSavePhone, errLocked:
		// Try again, and still go back where the visitor was going.
		d.Retry, d.Link = true, m.cfg.prefix
		if ret, ok := safeReturn(m.returnTarget(r, fs)); ok {
			d.Link += "?next=" + url.QueryEscape(ret)
		}
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
	d.CodeDead = m.awaiting(r, fs) && (fs.Spent || !m.pending(r, fs))
	d.Countries = m.countries(lang)
	d.Country = guessRegion(m.cfg.defaultRegion, r.Header.Get("Accept-Language"))
	d.Example = exampleOf(d.Countries, d.Country)
	d.AppName, d.LogoURL, d.HomeURL = m.cfg.branding.Name, m.cfg.branding.LogoURL, m.cfg.branding.HomeURL
	if ret, ok := safeReturn(m.returnTarget(r, fs)); ok {
		d.Next = ret // the forms carry it: a new visitor's session is written only by a POST
	}
	subject := m.subject(r)
	d.Recovery = m.cfg.recovery != nil && subject != ""
	d.Remember = m.cfg.rememberFor > 0 && subject != ""
	switch {
	case m.awaiting(r, fs):
		d.Phone = MaskPhone(fs.Phone)
		d.Channel = fs.Channel
	case m.cfg.phoneLookup != nil:
		if p, err := m.cfg.phoneLookup(r); err == nil && p != "" {
			d.Phone = MaskPhone(p)
		} else if m.cfg.enrol != nil && subject != "" {
			d.KnownPhone, d.Enrol = false, true // no number yet: ask for one
		}
	case fs.VerifiedAt != 0 && fs.Subject == subject && fs.VerifiedPhone != "":
		// Verified and stepping up: the code goes to the verified number.
		d.KnownPhone, d.Phone = true, MaskPhone(fs.VerifiedPhone)
	}
	if d.Enrol || (m.awaiting(r, fs) && fs.Purpose != "") {
		// A first number or a new one is being proved: a recovery code
		// proves no number, and "remember this device" belongs to signing
		// in, not to changing the factor (check.go ignores it here too).
		d.Recovery, d.Remember = false, false
	}
	m.factorPage(r, fs, d) // the factors beside SMS: factors.go
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
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}
