package twofactor

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/sessions"
)

// Manager gates routes behind SMS verification and serves the flow that
// verifies visitors. Create one with New; it is safe for concurrent use.
type Manager struct {
	cfg      config
	provider Provider
	store    sessions.Store
	codeLen  int
	log      *slog.Logger
	pages    *pages
	cop      *http.CrossOriginProtection
	handler  http.Handler
	gate     *gateCache // decoded cookies of verified sessions; nil unless the store is a *sessions.CookieStore
}

// New returns a Manager that verifies visitors with provider and keeps their
// flow in store, under the session name set by WithSessionName. Any
// gorilla/sessions store works. A nil store means a cookie store with
// random signing and encryption keys made now: sessions then do not survive
// a restart and are not shared between servers, so pass your own store in
// production.
//
// New returns an error, never panics, for bad configuration.
func New(provider Provider, store sessions.Store, opts ...Option) (*Manager, error) {
	if provider == nil {
		return nil, errors.New("twofactor: nil provider")
	}
	if v := reflect.ValueOf(provider); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, errors.New("twofactor: nil provider") // a typed nil, such as a (*Mock)(nil)
	}
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if store == nil {
		hashKey, blockKey := make([]byte, 32), make([]byte, 32)
		_, _ = rand.Read(hashKey)
		_, _ = rand.Read(blockKey)
		cs := sessions.NewCookieStore(hashKey, blockKey)
		cs.MaxAge(int(cfg.maxAge.Seconds()))
		store = cs
	}
	if cfg.state == nil {
		cfg.state = NewMemoryState()
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	m := &Manager{cfg: cfg, provider: provider, store: store, codeLen: DefaultCodeLength, log: cfg.logger}
	m.gate = newGateCache(store, gateCacheSize)
	if cl, ok := provider.(CodeLengther); ok {
		m.codeLen = cl.CodeLength()
	}
	if m.codeLen < minCodeLength || m.codeLen > maxCodeLength {
		return nil, fmt.Errorf("twofactor: provider code length %d is not 6 to 10", m.codeLen)
	}
	var err error
	if m.pages, err = loadPages(cfg.templates); err != nil {
		return nil, err
	}
	m.cop = http.NewCrossOriginProtection()
	for _, o := range cfg.trustedOrigins {
		if err := m.cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("twofactor: %w", err)
		}
	}
	m.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.fail(w, r, flowState{}, errCrossOrigin)
	}))
	mux := http.NewServeMux()
	p := cfg.prefix
	mux.HandleFunc("GET "+p+"{$}", m.servePage)
	mux.HandleFunc("GET "+p+"status", m.serveStatus)
	mux.HandleFunc("GET "+p+"style.css", m.pages.serveCSS)
	mux.HandleFunc("POST "+p+"send", m.post(m.serveSend))
	mux.HandleFunc("POST "+p+"resend", m.post(m.serveResend))
	mux.HandleFunc("POST "+p+"check", m.post(m.serveCheck))
	mux.HandleFunc("POST "+p+"restart", m.post(m.serveRestart))
	m.handler = m.cop.Handler(mux)
	return m, nil
}

// Handler returns the handler of the verification flow. Mount it at the
// prefix (default "/2fa/"): mux.Handle("/2fa/", m.Handler()).
//
// Pages: GET prefix (phone or code page), POST prefix+"send", "resend",
// "check", "restart", GET prefix+"status". Every endpoint answers JSON when
// the request asks for it (Accept: application/json or a JSON body).
func (m *Manager) Handler() http.Handler {
	return securityHeaders(m.handler)
}

// ctxKey is the context key under which Require records a verified request.
type ctxKey struct{}

// Require is middleware that lets a request through only when its session
// is verified (and, with WithSubject, verified for the same user; within
// the max age and idle timeout; not reset). Otherwise GET and HEAD requests
// for pages are redirected into the flow, which brings the visitor back
// here afterwards; other requests get 401 Unauthorized. If the session
// store or state backend fails, it answers 503 and lets nothing through.
//
// It has the standard shape func(http.Handler) http.Handler, so it works
// with net/http's ServeMux, chi and gorilla/mux alike.
//
// With a *sessions.CookieStore, Require remembers the decoded contents of
// up to 10 000 verified cookies, so it does not decrypt the same cookie on
// every request; the checks above (max age, subject, reset, idle timeout)
// still run on every request.
func (m *Manager) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, err := m.verified(r)
		if err != nil {
			m.storeFailed(w, r, flowState{}, err)
			return
		}
		if ok {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, true)))
			return
		}
		if wantsJSON(r) || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			m.fail(w, r, flowState{}, errRequired)
			return
		}
		target := m.cfg.prefix
		if ret, ok := safeReturn(r.URL.RequestURI()); ok {
			target += "?next=" + url.QueryEscape(ret)
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
}

// Verified reports whether Require let r through. It is false for requests
// that did not pass through Require.
func Verified(r *http.Request) bool {
	ok, _ := r.Context().Value(ctxKey{}).(bool)
	return ok
}

// Verified reports whether r's session is verified now, by the same rules as
// Require. Store failures count as not verified.
func (m *Manager) Verified(r *http.Request) bool {
	ok, err := m.verified(r)
	return ok && err == nil
}

func (m *Manager) verified(r *http.Request) (bool, error) {
	if m.gate != nil {
		return m.gate.verified(m, r) // skips only the cookie decode; see gatecache.go
	}
	return m.verifiedUncached(r)
}

func (m *Manager) verifiedUncached(r *http.Request) (bool, error) {
	_, fs, err := m.load(r)
	if err != nil {
		return false, err
	}
	return m.grantValid(r, fs)
}

// grantValid checks a session's verified state against the clock, the
// subject and the server-side grant, and refreshes the grant's idle timer.
func (m *Manager) grantValid(r *http.Request, fs flowState) (bool, error) {
	if fs.VerifiedAt == 0 || fs.Grant == "" || !validID(fs.Grant) {
		return false, nil
	}
	now := m.cfg.now()
	vat := time.Unix(fs.VerifiedAt, 0)
	if now.Before(vat.Add(-time.Minute)) || !now.Before(vat.Add(m.cfg.maxAge)) {
		return false, nil
	}
	if m.cfg.subject != nil && m.cfg.subject(r) != fs.Subject {
		return false, nil
	}
	alive, err := m.cfg.state.Touch(r.Context(), grantKey(fs.Grant), m.cfg.idleTimeout)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	return alive, nil
}

// Reset forgets r's verification (call it at logout): the server-side grant
// is revoked, so even a copy of the verified cookie no longer passes the
// gate, and the session cookie is deleted.
func (m *Manager) Reset(w http.ResponseWriter, r *http.Request) error {
	sess, fs, err := m.load(r)
	if err != nil {
		return err
	}
	if fs.Grant != "" && validID(fs.Grant) {
		if err := m.cfg.state.Delete(r.Context(), grantKey(fs.Grant)); err != nil {
			return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
		}
	}
	m.emit(r, Event{Type: EventReset, Subject: fs.Subject, Phone: fs.Phone})
	return m.destroy(w, r, sess)
}

// State keys. The state backend namespaces them further.
func grantKey(g string) string         { return "grant:" + g }
func attemptsKey(id string) string     { return "attempts:" + id }
func usedKey(id string) string         { return "used:" + id }
func accountKey(acct string) string    { return "account:" + acct }
func cooldownKey(flow string) string   { return "cooldown:" + flow }
func phoneSendsKey(e164 string) string { return "phone:" + e164 }
func ipSendsKey(ip string) string      { return "ip:" + ip }

// servePage shows the step the visitor is at.
func (m *Manager) servePage(w http.ResponseWriter, r *http.Request) {
	sess, fs, err := m.load(r)
	if err != nil {
		m.storeFailed(w, r, flowState{}, err)
		return
	}
	if next := r.URL.Query().Get("next"); next != "" || r.URL.Query().Has("next") {
		ret, ok := safeReturn(next)
		if !ok {
			m.fail(w, r, fs, errBadReturn)
			return
		}
		if fs.Return != ret {
			fs.Return = ret
			if err := m.save(w, r, sess, fs); err != nil {
				m.storeFailed(w, r, fs, err)
				return
			}
		}
	}
	if ok, err := m.grantValid(r, fs); err != nil {
		m.storeFailed(w, r, fs, err)
		return
	} else if ok {
		http.Redirect(w, r, m.returnTo(fs), http.StatusSeeOther)
		return
	}
	if wantsJSON(r) {
		m.serveStatus(w, r)
		return
	}
	d := m.data(r, fs)
	if m.awaiting(r, fs) && !m.pending(r, fs) {
		d.Error = d.T.format(errExpired.msg, 0) // say so now, not after a typed code
	}
	m.render(w, r, http.StatusOK, m.pageFor(r, fs), d)
}

// serveStatus answers where the flow stands, as JSON.
func (m *Manager) serveStatus(w http.ResponseWriter, r *http.Request) {
	_, fs, err := m.load(r)
	if err != nil {
		m.storeFailed(w, r, flowState{}, err)
		return
	}
	ok, err := m.grantValid(r, fs)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	st := map[string]any{"verified": ok, "pending": m.pending(r, fs)}
	if fs.Phone != "" {
		st["phone"] = MaskPhone(fs.Phone)
	}
	if m.pending(r, fs) {
		st["expires_at"] = time.Unix(fs.ExpiresAt, 0).UTC().Format(time.RFC3339)
		st["resend_after"] = m.resendIn(fs)
	}
	writeJSON(w, http.StatusOK, st)
}

// pending reports whether a code is on its way for this visitor.
func (m *Manager) pending(r *http.Request, fs flowState) bool {
	if fs.PendingID == "" {
		return false
	}
	if m.cfg.subject != nil && m.cfg.subject(r) != fs.Subject {
		return false
	}
	return m.cfg.now().Before(time.Unix(fs.ExpiresAt, 0))
}

// resendIn is how many seconds until another code may be sent.
func (m *Manager) resendIn(fs flowState) int {
	if fs.SentAt == 0 {
		return 0
	}
	left := time.Unix(fs.SentAt, 0).Add(m.cfg.resendCooldown).Sub(m.cfg.now())
	if left <= 0 {
		return 0
	}
	return int((left + time.Second - 1) / time.Second)
}

func (m *Manager) pageFor(r *http.Request, fs flowState) string {
	if m.awaiting(r, fs) {
		return "code.html"
	}
	return "phone.html"
}

// awaiting reports whether this visitor was sent a code, expired or not:
// the code page then stays, so an expired code can be resent to the same
// number without typing it again.
func (m *Manager) awaiting(r *http.Request, fs flowState) bool {
	return fs.PendingID != "" && fs.Phone != "" && (m.cfg.subject == nil || m.cfg.subject(r) == fs.Subject)
}

func (m *Manager) returnTo(fs flowState) string {
	if ret, ok := safeReturn(fs.Return); ok {
		return ret
	}
	return "/"
}

// postHandler serves a flow POST, given the session and the body read.
type postHandler func(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, in input)

// post loads the session and reads the body of a flow POST, answering the
// failure of either itself.
func (m *Manager) post(h postHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, fs, err := m.load(r)
		if err != nil {
			m.storeFailed(w, r, flowState{}, err)
			return
		}
		in, ferr := readInput(w, r)
		if ferr != nil {
			m.fail(w, r, fs, ferr)
			return
		}
		h(w, r, sess, fs, in)
	}
}

// phoneOnFile returns the number of known-number mode, answering the
// request itself when there is none.
func (m *Manager) phoneOnFile(w http.ResponseWriter, r *http.Request, fs flowState) (string, bool) {
	phone, err := m.cfg.phoneLookup(r)
	if err != nil || phone == "" {
		m.log.Warn("twofactor: no phone number on file", "err", err)
		m.fail(w, r, fs, errNoNumber)
		return "", false
	}
	return phone, true
}

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

// serveRestart forgets the number typed, so the visitor can use another.
func (m *Manager) serveRestart(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, _ input) {
	sentAt := fs.SentAt
	fs.clearPending()
	fs.SentAt = sentAt // the resend cooldown still runs: the phone page shows it
	if fs.VerifiedAt == 0 {
		fs.Phone, fs.Channel = "", ""
	}
	if err := m.save(w, r, sess, fs); err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "restarted"})
		return
	}
	http.Redirect(w, r, m.cfg.prefix, http.StatusSeeOther)
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
	// Limits, cheapest first. Each counts the attempt even if a later one
	// refuses it: an attacker gains nothing from hitting several at once.
	ip := m.clientIP(r)
	limits := []struct {
		key string
		l   Limit
	}{
		{cooldownKey(fs.FlowID), Limit{N: 1, Per: m.cfg.resendCooldown}},
		{phoneSendsKey(info.e164), m.cfg.phoneSends},
		{ipSendsKey(ipBucket(ip)), m.cfg.ipSends},
	}
	for _, lim := range limits {
		if !lim.l.enabled() {
			continue
		}
		n, ttl, err := m.cfg.state.Incr(ctx, lim.key, 1, lim.l.Per)
		if err != nil {
			m.storeFailed(w, r, fs, err)
			return
		}
		if n > int64(lim.l.N) {
			m.log.Warn("twofactor: send rate-limited", "phone", info.masked, "ip", ip, "limit", lim.key[:strings.IndexByte(lim.key, ':')])
			m.emit(r, Event{Type: EventRateLimited, Subject: m.subject(r), Phone: info.e164})
			fe := *errSendLimited
			if lim.key == cooldownKey(fs.FlowID) {
				fe.msg = "err_cooldown" // one code was just sent: say how long to wait
				fe.arg = int64((ttl + time.Second - 1) / time.Second)
			}
			fe.retryAfter = ttl
			m.fail(w, r, fs, &fe)
			return
		}
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
	m.log.Info("twofactor: code sent", "phone", info.masked, "channel", string(ch), "ip", ip)
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

// serveCheck checks the code typed.
func (m *Manager) serveCheck(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, in input) {
	ctx := r.Context()
	if !m.pending(r, fs) {
		if m.awaiting(r, fs) {
			m.fail(w, r, fs, errExpired)
			return
		}
		m.fail(w, r, fs, errNoPending)
		return
	}
	code := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, in.Code)
	if !validCode(code, m.codeLen) || !validID(fs.PendingID) {
		m.fail(w, r, fs, errMalformed(m.codeLen))
		return
	}
	// Reserve the attempt before asking the provider, so parallel guesses
	// cannot exceed the caps: per code, then per account.
	validity := time.Unix(fs.ExpiresAt, 0).Sub(m.cfg.now()) + time.Minute
	n, _, err := m.cfg.state.Incr(ctx, attemptsKey(fs.PendingID), 1, validity)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if n > int64(m.cfg.maxAttempts) {
		// Refused without asking the provider; still a failure to audit.
		m.emit(r, Event{Type: EventCheckFailed, Subject: fs.Subject, Phone: fs.Phone, Err: ErrTooManyAttempts})
		m.fail(w, r, fs, errTooMany)
		return
	}
	acct := accountKey(m.account(r, fs))
	an, attl, err := m.cfg.state.Incr(ctx, acct, 1, m.cfg.accountAttempts.Per)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	if an > int64(m.cfg.accountAttempts.N) {
		m.log.Warn("twofactor: account locked", "phone", MaskPhone(fs.Phone))
		m.emit(r, Event{Type: EventLocked, Subject: fs.Subject, Phone: fs.Phone})
		fe := *errLocked
		fe.retryAfter = attl
		m.fail(w, r, fs, &fe)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, m.cfg.providerTimeout)
	defer cancel()
	err = m.provider.Check(pctx, fs.PendingID, code)
	if err == nil {
		// One use, whatever the provider does: two parallel correct
		// submissions succeed once.
		first, serr := m.cfg.state.SetNX(ctx, usedKey(fs.PendingID), validity)
		if serr != nil {
			m.storeFailed(w, r, fs, serr)
			return
		}
		if !first {
			err = ErrAlreadyUsed
		}
	}
	if err != nil {
		m.checkFailed(w, r, fs, err, int64(m.cfg.maxAttempts)-n)
		return
	}
	// The correct code was no wrong guess: give the account its try back.
	if _, _, err := m.cfg.state.Incr(ctx, acct, -1, m.cfg.accountAttempts.Per); err != nil {
		m.log.Error("twofactor: state backend failed", "err", err)
	}
	grant := randomID()
	if _, err := m.cfg.state.SetNX(ctx, grantKey(grant), m.cfg.idleTimeout); err != nil {
		m.storeFailed(w, r, fs, err)
		return
	}
	ret := m.returnTo(fs)
	fs.clearPending()
	fs.VerifiedAt, fs.Grant, fs.Return = m.cfg.now().Unix(), grant, ""
	fs.Subject = m.subject(r)
	fs.FlowID = randomID()
	if err := m.renew(w, r, sess, fs); err != nil {
		_ = m.cfg.state.Delete(ctx, grantKey(grant))
		m.storeFailed(w, r, fs, err)
		return
	}
	m.log.Info("twofactor: verified", "phone", MaskPhone(fs.Phone))
	m.emit(r, Event{Type: EventVerified, Subject: fs.Subject, Phone: fs.Phone})
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "verified", "redirect": ret})
		return
	}
	http.Redirect(w, r, ret, http.StatusSeeOther)
}

func (m *Manager) checkFailed(w http.ResponseWriter, r *http.Request, fs flowState, err error, left int64) {
	m.emit(r, Event{Type: EventCheckFailed, Subject: fs.Subject, Phone: fs.Phone, Err: err})
	switch {
	case errors.Is(err, ErrInvalidCode) && left > 0:
		m.fail(w, r, fs, errWrongCode(left))
	case errors.Is(err, ErrInvalidCode), errors.Is(err, ErrTooManyAttempts):
		m.fail(w, r, fs, errTooMany)
	case errors.Is(err, ErrExpired):
		m.fail(w, r, fs, errExpired)
	case errors.Is(err, ErrAlreadyUsed), errors.Is(err, ErrNotFound):
		m.fail(w, r, fs, errUsed)
	case errors.Is(err, ErrMalformedCode):
		m.fail(w, r, fs, errMalformed(m.codeLen))
	default:
		m.log.Error("twofactor: provider check failed", "err", err)
		m.fail(w, r, fs, errProvider)
	}
}

func (m *Manager) subject(r *http.Request) string {
	if m.cfg.subject == nil {
		return ""
	}
	return m.cfg.subject(r)
}

// account names whose wrong guesses are counted together: the app's user
// when it names one, else the phone number.
func (m *Manager) account(r *http.Request, fs flowState) string {
	if s := m.subject(r); s != "" {
		return "s:" + s
	}
	return "n:" + fs.Phone
}

// clientIP is the connection's address, or with trusted proxies the
// right-most X-Forwarded-For address that is not one of them.
func (m *Manager) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if !m.trusted(addr) {
		return addr.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !m.trusted(a) {
			return a.String()
		}
		addr = a
	}
	return addr.String()
}

// ipBucket is what the per-IP send window counts: the address itself for
// IPv4, its /64 for IPv6, since one subscriber is usually given a whole
// /64 and could otherwise rotate through its addresses to reset the window.
func ipBucket(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() {
		return ip
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

func (m *Manager) trusted(a netip.Addr) bool {
	for _, p := range m.cfg.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// input is what a flow POST carries, from a form or a JSON body.
type input struct {
	Phone   string  `json:"phone"`
	Code    string  `json:"code"`
	Channel Channel `json:"channel"`
}

// readInput reads a flow POST body of at most DefaultMaxBody bytes.
func readInput(w http.ResponseWriter, r *http.Request) (input, *flowError) {
	var in input
	if r.ContentLength > DefaultMaxBody {
		return in, errTooLarge // even where the body would go unread
	}
	r.Body = http.MaxBytesReader(w, r.Body, DefaultMaxBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	switch ct {
	case "application/json":
		// Read it all, so an oversized body is refused whatever its
		// first bytes are, and a body of more than one value is refused.
		var b []byte
		if b, err = io.ReadAll(r.Body); err == nil {
			err = json.Unmarshal(b, &in)
		}
	case "application/x-www-form-urlencoded", "multipart/form-data", "":
		if ct == "multipart/form-data" {
			err = r.ParseMultipartForm(DefaultMaxBody) // ParseForm leaves multipart bodies unread
		} else {
			err = r.ParseForm()
		}
		if err == nil {
			in = input{Phone: r.PostForm.Get("phone"), Code: r.PostForm.Get("code"), Channel: Channel(r.PostForm.Get("channel"))}
		}
	default:
		return in, errUnsupported
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return in, errTooLarge
	case err != nil:
		return in, errBadInput
	case !utf8.ValidString(in.Phone) || !utf8.ValidString(in.Code) || !utf8.ValidString(string(in.Channel)):
		return in, errBadInput
	}
	if in.Channel == "tts" { // MessageBird's name, accepted as before
		in.Channel = Voice
	}
	return in, nil
}

// wantsJSON reports whether the client asked for JSON rather than pages.
func wantsJSON(r *http.Request) bool {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/json" {
		return true
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part)); mt == "application/json" {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// safeReturn reports whether s is a local path to send a visitor back to,
// and returns it. Anything that a browser could read as another origin
// (//host, /\host, scheme:, encoded forms of these) is refused.
func safeReturn(s string) (string, bool) {
	if s == "" || len(s) > 2048 || !strings.HasPrefix(s, "/") {
		return "", false
	}
	// Look through up to three layers of percent-encoding for tricks;
	// a target still encoded after those is refused, not let through.
	cur := s
	for layer := 0; ; layer++ {
		if !utf8.ValidString(cur) || strings.HasPrefix(cur, "//") || strings.ContainsAny(cur, "\\") {
			return "", false
		}
		for _, c := range cur {
			if c < 0x20 || c == 0x7f {
				return "", false
			}
		}
		next, err := url.PathUnescape(cur)
		if err != nil {
			return "", false
		}
		if next == cur {
			break
		}
		if layer == 3 {
			return "", false
		}
		cur = next
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	return s, true
}

// Event is a security-relevant moment in the flow, passed to the function
// set with WithEvents.
type Event struct {
	Type    EventType
	Time    time.Time
	Subject string // the app's user, if WithSubject is set
	Phone   string // full E.164 number: the app decides what to keep; the library's logs mask it
	IP      string // client IP as found by the trusted-proxy rules
	Err     error  // for EventCheckFailed: the reason, matching a sentinel error
}

// EventType says what happened.
type EventType string

// Event types.
const (
	EventCodeSent    EventType = "code_sent"
	EventVerified    EventType = "verified"
	EventCheckFailed EventType = "check_failed"
	EventLocked      EventType = "locked"
	EventRateLimited EventType = "rate_limited"
	EventReset       EventType = "reset"
)

func (m *Manager) emit(r *http.Request, e Event) {
	if m.cfg.events == nil {
		return
	}
	e.Time = m.cfg.now()
	e.IP = m.clientIP(r)
	m.cfg.events(e)
}

// flowError is a failure the visitor sees: a status, a stable code for JSON
// clients and a message key for pages.
type flowError struct {
	status     int
	code       string
	msg        string // message key
	arg        int64  // for messages with a number
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
	if wantsJSON(r) {
		writeJSON(w, fe.status, map[string]any{"error": map[string]any{"code": fe.code, "message": d.Error}})
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
