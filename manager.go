package twofactor

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
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
	// The gate's cache of decoded cookies of verified sessions, and the
	// cookie store whose cookies it holds; both nil for other stores.
	gateCache   *gateCache
	cookieStore *sessions.CookieStore
	// gateLoader is the store when it loads a session and checks its
	// grant in one round trip (GateLoader) against the Manager's State.
	gateLoader GateLoader
	refusals   refusalLog // logs repeated send refusals once per key and window
	fullLog    onceAMinute
	keys       keys // derived from the server secret (WithSecret)
	// kinds are the factors beside SMS that options enabled, strongest
	// first (factors.go).
	kinds []factorKind
	pk    *passkeys // WithPasskeys (passkey.go); nil without

	countriesOnce sync.Once // the phone form's country lists, less refused regions
	countryLists  map[string][]country
}

// hostPrefix is the cookie name prefix browsers accept only on a Secure
// cookie with Path=/ and no Domain, set by the host itself.
const hostPrefix = "__Host-"

// New returns a Manager that verifies visitors with provider and keeps their
// flow in store, under the session name set by Cookie.Name. Any
// gorilla/sessions store works. A nil store means a cookie store with
// random signing and encryption keys made now: sessions then do not survive
// a restart and are not shared between servers, so pass your own store in
// production.
//
// A *sessions.CookieStore must sign with a hash key of at least 32 bytes
// (the cookie carries the verification: a short key could be guessed and
// a cookie forged) and, if it encrypts, use a block key of 16, 24 or 32
// bytes; make them with securecookie.GenerateRandomKey(32).
//
// New returns an error, never panics, for bad configuration.
func New(provider Provider, store sessions.Store, opts ...Option) (*Manager, error) {
	if provider == nil {
		return nil, errors.New("twofactor: nil provider")
	}
	if v := reflect.ValueOf(provider); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, errors.New("twofactor: nil provider") // a typed nil, such as a (*Mock)(nil)
	}
	cfg, err := newConfig(provider, store, opts)
	if err != nil {
		return nil, err
	}
	if store == nil {
		store = randomCookieStore(cfg.maxAge)
	}
	if cfg.state == nil {
		cfg.state = new(MemoryState)
	}
	if cfg.secret == nil {
		_, memState := cfg.state.(*MemoryState)
		_, memRecovery := cfg.recovery.(*MemoryRecoveryStore)
		if !memState || (cfg.recovery != nil && !memRecovery) || cfg.factors.totp != nil || (cfg.passkeys != nil && cfg.passkeys.Store != nil) {
			return nil, errors.New("twofactor: WithState (other than a MemoryState), WithRecoveryCodes (other than a MemoryRecoveryStore), WithTOTP with a store and a PasskeyConfig.Store need WithSecret: the keyed hashes of numbers, recovery codes and passkey user handles, and the key of authenticator apps' secrets, must be the same on every server and after a restart")
		}
		cfg.secret = make([]byte, minSecretLen)
		_, _ = rand.Read(cfg.secret)
	}
	ks, err := deriveKeys(cfg.secret)
	if err != nil {
		return nil, fmt.Errorf("twofactor: %w", err)
	}
	gl, _ := store.(GateLoader)
	if gl != nil && gl.GateState() != cfg.state {
		gl = nil // its grants are not ours: load and check apart
	}
	cfg.state = withStateDeadline(cfg.state, cfg.storeTimeout) // every State call has its own deadline (deadline.go)
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	m := &Manager{cfg: cfg, provider: provider, store: store, gateLoader: gl, codeLen: defaultCodeLength, log: cfg.logger, keys: ks}
	if cfg.recoveryOn && cfg.recovery == nil {
		m.cfg.recovery = stateRecovery{cfg.state} // recovery.go
	}
	if cs, ok := store.(*sessions.CookieStore); ok && cs != nil {
		m.cookieStore, m.gateCache = cs, newGateCache(gateCacheSize)
	}
	if cl, ok := provider.(CodeLengther); ok {
		m.codeLen = cl.CodeLength()
	}
	if m.codeLen < minCodeLength || m.codeLen > maxCodeLength {
		return nil, fmt.Errorf("twofactor: provider code length %d is not 6 to 10", m.codeLen)
	}
	if err := m.initPasskeys(); err != nil { // passkey.go
		return nil, err
	}
	if err := m.routes(); err != nil {
		return nil, err
	}
	return m, nil
}

// newConfig applies opts over the defaults and development mode (dev.go)
// and refuses settings that are wrong together, or wrong for store.
func newConfig(provider Provider, store sessions.Store, opts []Option) (config, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return config{}, err
		}
	}
	if err := cfg.applyDevelopment(provider); err != nil { // dev.go
		return config{}, err
	}
	if cfg.phoneLookup != nil && cfg.subject == nil {
		// The verification would prove "someone holds the phone of the
		// user on file" without saying which user: whoever verifies once
		// could then sign in as anyone and pass the gate.
		return config{}, errors.New("twofactor: WithPhoneLookup needs WithSubject: a code sent to a user's number on file must verify that user only, so the flow must know who the user is")
	}
	if !cfg.insecureCookie && cfg.cookiePath == "/" && cfg.cookieDomain == "" {
		// A __Host- cookie can only be set Secure, for /, by the host
		// itself: a sibling subdomain cannot plant one to shadow it.
		if !strings.HasPrefix(cfg.sessionName, hostPrefix) {
			cfg.sessionName = hostPrefix + cfg.sessionName
		}
	} else if strings.HasPrefix(cfg.sessionName, hostPrefix) {
		return config{}, errors.New("twofactor: a __Host- session name needs a Secure cookie with Path / and no Domain")
	}
	if cs, ok := store.(*sessions.CookieStore); ok && cs != nil {
		if err := checkCookieKeys(cs); err != nil {
			return config{}, err
		}
	}
	if (cfg.enrol != nil || cfg.recoveryOn || cfg.rememberFor > 0) && cfg.subject == nil {
		return config{}, errors.New("twofactor: WithEnrolment, WithRecoveryCodes and WithRememberDevice need WithSubject: they belong to a user")
	}
	return cfg, nil
}

// randomCookieStore is the session store of New(provider, nil): a cookie
// store with random keys, for one process.
func randomCookieStore(maxAge time.Duration) *sessions.CookieStore {
	hashKey, blockKey := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(hashKey)
	_, _ = rand.Read(blockKey)
	cs := sessions.NewCookieStore(hashKey, blockKey)
	cs.MaxAge(int(maxAge.Seconds()))
	return cs
}

// routes loads the pages and builds the flow's handler: its routes,
// cross-origin protection and, outside development, one store budget per
// request.
func (m *Manager) routes() error {
	var err error
	if m.pages, err = loadPages(m.cfg.templates); err != nil {
		return err
	}
	m.cop = http.NewCrossOriginProtection()
	for _, o := range m.cfg.trustedOrigins {
		if err := m.cop.AddTrustedOrigin(o); err != nil {
			return fmt.Errorf("twofactor: %w", err)
		}
	}
	m.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.fail(w, r, flowState{}, errCrossOrigin)
	}))
	mux := http.NewServeMux()
	p := m.cfg.prefix
	mux.HandleFunc("GET "+p+"{$}", m.servePage)
	mux.HandleFunc("GET "+p+"status", m.serveStatus)
	mux.HandleFunc("GET "+p+"style.css", m.pages.serveCSS)
	mux.HandleFunc("GET "+p+"flow.js", m.pages.serveJS)
	mux.HandleFunc("GET "+p+"icon.svg", m.pages.serveIcon)
	mux.HandleFunc("POST "+p+"send", m.post(m.smsGuard(m.serveSend, true))) // smsGuard: factors.go
	mux.HandleFunc("POST "+p+"resend", m.post(m.smsGuard(m.serveResend, false)))
	mux.HandleFunc("POST "+p+"check", m.post(m.smsGuard(m.serveCheck, false)))
	mux.HandleFunc("POST "+p+"restart", m.post(m.serveRestart))
	mux.HandleFunc("POST "+p+"recover", m.post(m.serveRecover))
	mux.HandleFunc("GET "+p+"change", m.serveChange)
	if err := m.enableKinds(mux); err != nil { // the factors beside SMS (factors.go)
		return err
	}
	m.passkeyRoutes(mux) // passkey.go
	m.handler = m.cop.Handler(m.routed(mux))
	if !m.inProcess() {
		flow := m.handler
		m.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r, end := m.budgeted(r) // one store budget for the whole request (budget.go)
			defer end()
			flow.ServeHTTP(w, r)
		})
	}
	return nil
}

// Handler returns the handler of the verification flow. Mount it at the
// prefix (default "/2fa/"): mux.Handle("/2fa/", m.Handler()).
//
// Pages: GET prefix (phone or code page), POST prefix+"send", "resend",
// "check", "restart", GET prefix+"status"; with WithPasskeys also the
// passkey page, its script and its JSON endpoints (see WithPasskeys). Every endpoint answers JSON when
// the request asks for it (Accept: application/json or a JSON body).
func (m *Manager) Handler() http.Handler {
	if m.cfg.dev != nil {
		return securityHeaders(m.loopbackOnly(m.handler)) // dev.go
	}
	return securityHeaders(m.handler)
}

func (m *Manager) subject(r *http.Request) string {
	if m.cfg.subject == nil {
		return ""
	}
	return m.cfg.subject(r)
}

// routed serves the flow's routes, and answers requests for no route (404)
// or a route with another method (405) in the flow's own voice: a page, or
// JSON for JSON clients.
func (m *Manager) routed(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// Ask the mux which it is, without letting it answer.
		probe := &statusProbe{header: http.Header{}}
		mux.ServeHTTP(probe, r)
		fe := errNotFound
		if probe.status == http.StatusMethodNotAllowed {
			fe = errMethod
			w.Header().Set("Allow", probe.header.Get("Allow"))
		}
		m.fail(w, r, flowState{}, fe)
	})
}

// statusProbe records the status and headers a handler would answer with.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header         { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *statusProbe) WriteHeader(status int)      { p.status = status }

// minCookieKey is the least length, in bytes, of a cookie store's hash key
// that New accepts.
const minCookieKey = 32

// checkCookieKeys refuses a cookie store whose keys are too short to keep
// its cookies from being forged or read. securecookie keeps its keys
// unexported, so the hash key's length is read by reflection (and not
// checked if the field is ever renamed); a bad block key shows as an
// encoding error.
func checkCookieKeys(cs *sessions.CookieStore) error {
	const fix = "make keys with securecookie.GenerateRandomKey(32), or derive them from a long secret with crypto/hkdf"
	if len(cs.Codecs) == 0 {
		return errors.New("twofactor: the cookie store has no keys; " + fix)
	}
	for i, c := range cs.Codecs {
		sc, ok := c.(*securecookie.SecureCookie)
		if !ok || sc == nil {
			continue
		}
		if f := reflect.ValueOf(sc).Elem().FieldByName("hashKey"); f.IsValid() && f.Kind() == reflect.Slice && f.Len() < minCookieKey {
			return fmt.Errorf("twofactor: the cookie store's hash key (pair %d) is %d bytes; it must be at least %d random bytes so nobody can forge a session cookie: %s", i+1, f.Len(), minCookieKey, fix)
		}
		if _, err := sc.Encode("twofactor-probe", "x"); err != nil {
			return fmt.Errorf("twofactor: the cookie store's keys (pair %d) don't work: %v; the block key must be 16, 24 or 32 bytes (or nil for no encryption): %s", i+1, err, fix)
		}
	}
	return nil
}
