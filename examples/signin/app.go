package main

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-twofactor/twofactor/examples/internal/demo"

	"github.com/go-twofactor/twofactor"
	"github.com/gorilla/sessions"
)

// config is what the app is started with.
type config struct {
	APIKey     string             // MESSAGEBIRD_API_KEY; empty: the mock provider
	SessionKey string             // SESSION_KEY; empty: a random key
	RedisURL   string             // REDIS_URL; empty: cookie sessions, in-memory limits
	CodeOut    io.Writer          // where the mock provider prints codes
	Log        *slog.Logger       // where the app and the library log
	PlainHTTP  bool               // served over plain http (local development): cookies without Secure
	Provider   twofactor.Provider // overrides the provider chosen from APIKey (tests)
	Now        func() time.Time   // the library's clock (tests); nil: time.Now
	BcryptCost int                // 0: bcrypt.DefaultCost (tests use bcrypt.MinCost)
}

// Demo accounts.
const (
	alicePhone = "+31612345678"
	// freshFor is how recent a code must be for the settings (step-up).
	freshFor = 5 * time.Minute
	// loginCookie is the app's own login session: who is signed in. The
	// library keeps its verification in a cookie of its own ("twofactor").
	loginCookie = "birdbank_login"
	loginMaxAge = 12 * time.Hour
	maxForm     = 8 << 10
)

// app is the HTTP handler of BirdBank with password logins.
type app struct {
	http.Handler
	tf     *twofactor.Manager
	users  *accounts
	logins *sessions.CookieStore
	log    *slog.Logger
	close  []func() error
}

// Close releases the app's connections.
func (a *app) Close() error {
	var errs []error
	for _, c := range a.close {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

func newApp(cfg config) (*app, error) {
	a := &app{log: cfg.Log}
	if a.log == nil {
		a.log = slog.Default()
	}
	log := a.log

	provider := cfg.Provider
	switch {
	case provider != nil:
	case cfg.APIKey != "":
		mb, err := twofactor.NewMessageBird(cfg.APIKey, twofactor.MessageBirdConfig{
			Originator: "BirdBank",
			Template:   "Your BirdBank verification code is %token.",
		})
		if err != nil {
			return nil, err
		}
		provider = mb
		log.Info("sending real SMS through MessageBird")
	default:
		provider = demo.PrintingMock(cfg.CodeOut, log)
	}

	keys, err := cookieKeys(cfg.SessionKey)
	if err != nil {
		return nil, err
	}
	if cfg.SessionKey == "" {
		log.Warn("no SESSION_KEY: using a random key, so sessions end when the app restarts")
	}

	users, err := newAccounts(cfg.BcryptCost)
	if err != nil {
		return nil, err
	}
	if err := users.create("alice", "alice-password", alicePhone); err != nil {
		return nil, err
	}
	if err := users.create("bob", "bob-password", ""); err != nil {
		return nil, err
	}
	a.users = users

	// The app's own login session: a signed and encrypted cookie that
	// says who is signed in, apart from the library's.
	a.logins = sessions.NewCookieStore(keys[2], keys[3])
	a.logins.Options = &sessions.Options{
		Path: "/", MaxAge: int(loginMaxAge.Seconds()), HttpOnly: true,
		Secure: !cfg.PlainHTTP, SameSite: http.SameSiteLaxMode,
	}
	a.logins.MaxAge(int(loginMaxAge.Seconds()))

	opts := []twofactor.Option{
		twofactor.WithLogger(log),
		// Verification belongs to the signed-in user: a session verified
		// for alice is not verified for bob.
		twofactor.WithSubject(a.currentUser),
		// Known-number mode: the code goes to the number on file.
		twofactor.WithPhoneLookup(func(r *http.Request) (string, error) {
			return users.phone(a.currentUser(r)), nil
		}),
		// A user with no number proves one at first sign-in; a number
		// change (GET /2fa/change) lands here too.
		twofactor.WithEnrolment(func(r *http.Request, phone string) error {
			return users.setPhone(a.currentUser(r), phone)
		}),
		twofactor.WithRecoveryCodes(twofactor.NewMemoryRecoveryStore()),
		twofactor.WithRememberDevice(30 * 24 * time.Hour),
		twofactor.WithVoice(),
		twofactor.WithEvents(func(e twofactor.Event) {
			// An audit log; a real app would also tell the user by e-mail
			// about a new number, new recovery codes or a new device.
			log.Info("twofactor event", "type", e.Type, "user", e.Subject, "method", e.Method)
		}),
	}
	if cfg.PlainHTTP {
		// Local development on http://localhost only: in production
		// (HTTPS) leave this out and the cookie stays Secure.
		opts = append(opts, twofactor.WithInsecureCookie())
	}
	if cfg.Now != nil {
		opts = append(opts, twofactor.WithClock(cfg.Now))
	}

	store, state, closeStores, err := demo.Stores(cfg.RedisURL, "signin:", keys[0], keys[1], log)
	if err != nil {
		return nil, err
	}
	a.close = append(a.close, closeStores)
	if state != nil {
		opts = append(opts, twofactor.WithState(state))
	}
	secret, err := demo.Secret(cfg.SessionKey, "signin")
	if err != nil {
		return nil, err
	}
	opts = append(opts, twofactor.WithSecret(secret))

	tf, err := twofactor.New(provider, store, opts...)
	if err != nil {
		return nil, err
	}
	a.tf = tf

	fresh := tf.RequireFresh(freshFor)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.serveHome)
	mux.HandleFunc("GET /signup", a.serveSignupForm)
	mux.HandleFunc("POST /signup", a.serveSignup)
	mux.HandleFunc("GET /login", a.serveLoginForm)
	mux.HandleFunc("POST /login", a.serveLogin)
	mux.HandleFunc("POST /logout", a.serveLogout)
	mux.Handle("GET /account", a.needLogin(tf.Require(http.HandlerFunc(a.serveAccount))))
	mux.Handle("GET /settings", a.needLogin(fresh(http.HandlerFunc(a.serveSettings))))
	mux.Handle("POST /settings/devices/revoke", a.needLogin(fresh(http.HandlerFunc(a.serveRevokeDevice))))
	mux.Handle("POST /settings/recovery-codes", a.needLogin(fresh(http.HandlerFunc(a.serveRecoveryCodes))))
	mux.Handle("POST /settings/sign-out-everywhere", a.needLogin(fresh(http.HandlerFunc(a.serveSignOutEverywhere))))
	// The verification flow, for signed-in users only: it needs to know
	// whose number to use.
	mux.Handle("/2fa/", a.needLogin(tf.Handler()))
	// Known paths, wrong method: say so rather than "not found".
	for path, allow := range map[string]string{
		"/signup": "GET, HEAD, POST", "/login": "GET, HEAD, POST", "/logout": "POST",
		"/account": "GET, HEAD", "/settings": "GET, HEAD",
		"/settings/devices/revoke": "POST", "/settings/recovery-codes": "POST", "/settings/sign-out-everywhere": "POST",
	} {
		mux.HandleFunc(path, methodNotAllowed(allow))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.render(w, r, http.StatusNotFound, "error", pageData{Message: "There's no page here."})
	})

	// Refuse cross-origin POSTs to every form of the app (the flow's too).
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.render(w, r, http.StatusForbidden, "error", pageData{Message: "This form was sent from another site, so we refused it."})
	}))
	a.Handler = cop.Handler(mux)
	return a, nil
}

// currentUser is the signed-in user's name, "" for none: the app's login
// session, as long as the account exists and has not signed out everywhere
// since. It is the library's subject (WithSubject).
func (a *app) currentUser(r *http.Request) string {
	sess, err := a.logins.Get(r, loginCookie)
	if err != nil {
		return ""
	}
	name, _ := sess.Values["user"].(string)
	gen, _ := sess.Values["gen"].(int64)
	if name == "" {
		return ""
	}
	if g, ok := a.users.generation(name); !ok || g != gen {
		return ""
	}
	return name
}

// signIn makes name the signed-in user of this browser. Any verification
// the browser had (for this user or another) is revoked first: every
// sign-in is verified afresh, and one user's verification never carries
// over to the next (the library binds verification to the subject as
// well). A remembered device still spares the code.
func (a *app) signIn(w http.ResponseWriter, r *http.Request, name string) error {
	if err := a.tf.Reset(w, r); err != nil {
		return err
	}
	gen, _ := a.users.generation(name)
	sess, _ := a.logins.Get(r, loginCookie) // a bad old cookie: a new session
	clear(sess.Values)
	sess.Values["user"], sess.Values["gen"] = name, gen
	return sess.Save(r, w)
}

// signOut ends this browser's login session.
func (a *app) signOut(w http.ResponseWriter, r *http.Request) error {
	sess, _ := a.logins.Get(r, loginCookie)
	clear(sess.Values)
	sess.Options.MaxAge = -1
	return sess.Save(r, w)
}

// needLogin lets through signed-in users only; others are sent to the
// login page (GET) or refused (other methods).
func (a *app) needLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.currentUser(r) != "" {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			target := "/login"
			if r.URL.Path != "/" && !strings.HasPrefix(r.URL.Path, "/2fa/") {
				target += "?next=" + r.URL.EscapedPath()
			}
			setHeaders(w.Header())
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		a.render(w, r, http.StatusUnauthorized, "error", pageData{Message: "Please sign in first.", Link: "/login"})
	})
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		render(w, http.StatusMethodNotAllowed, "error", pageData{Message: "That page can't be used this way."})
	}
}

// cookieKeys derives the signing and encryption keys of the library's
// session and of the login session from SESSION_KEY (four distinct keys),
// or makes random ones when it is empty.
func cookieKeys(secret string) ([4][]byte, error) {
	var keys [4][]byte
	if secret != "" && len(secret) < 32 {
		return keys, errors.New("SESSION_KEY must be at least 32 characters (try: openssl rand -hex 32)")
	}
	for i, info := range []string{"signin twofactor signing", "signin twofactor encryption", "signin login signing", "signin login encryption"} {
		if secret == "" {
			keys[i] = make([]byte, 32)
			_, _ = rand.Read(keys[i])
			continue
		}
		k, err := hkdf.Key(sha256.New, []byte(secret), nil, info, 32)
		if err != nil {
			return keys, err
		}
		keys[i] = k
	}
	return keys, nil
}
