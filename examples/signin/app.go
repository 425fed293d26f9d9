package main

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-twofactor/twofactor/examples/internal/demo"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/messagebird"
	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
)

// flowPages are the flow's pages this app changes; the others are the
// library's own.
//
//go:embed flowpages/*.html
var flowPagesDir embed.FS

var flowPages, _ = fs.Sub(flowPagesDir, "flowpages")

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
	// PasskeyOrigin is the origin the app is served at, for passkeys
	// (PASSKEY_ORIGIN); empty: http://localhost:8090.
	PasskeyOrigin string

	// The password step's limits; zero: the defaults of limits.go.
	LoginPerAccount, LoginPerNetwork, SignupPerNetwork limiter.Rate
}

// Demo accounts.
const (
	alicePhone = "+31612345678"
	// freshFor is how recent a code must be for the settings (step-up).
	freshFor = 5 * time.Minute
	// loginCookie is the app's own login session: a token naming a login
	// session kept on the server (see store.go). The library keeps its
	// verification in a cookie of its own, sessionName.
	loginCookie = "birdbank_login"
	// sessionName names the library's session (and so its cookies): not
	// the default "twofactor", which BirdBank uses, so that both examples
	// can run side by side on localhost (browsers ignore the port) without
	// signing each other out.
	sessionName = "signin_twofactor"
	loginMaxAge = 12 * time.Hour
	maxForm     = 8 << 10
)

// app is the HTTP handler of BirdBank with password logins.
type app struct {
	http.Handler
	tf     *twofactor.Manager
	users  *accounts
	st     store
	limits *limits
	now    func() time.Time
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
	a := &app{log: cfg.Log, now: cfg.Now}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	provider, err := chooseProvider(cfg, a.log)
	if err != nil {
		return nil, err
	}
	keys, err := cookieKeys(cfg.SessionKey)
	if err != nil {
		return nil, err
	}
	if cfg.SessionKey == "" {
		a.log.Warn("no SESSION_KEY: using a random key, so sessions end when the app restarts")
	}
	if err := a.openOwnData(cfg); err != nil {
		_ = a.Close()
		return nil, err
	}
	// The app's own login session: a signed and encrypted cookie that
	// says who is signed in, apart from the library's.
	a.logins = sessions.NewCookieStore(keys[2], keys[3])
	a.logins.Options = &sessions.Options{
		Path: "/", MaxAge: int(loginMaxAge.Seconds()), HttpOnly: true,
		Secure: !cfg.PlainHTTP, SameSite: http.SameSiteLaxMode,
	}
	a.logins.MaxAge(int(loginMaxAge.Seconds()))

	if a.tf, err = a.newTwoFactor(cfg, provider, keys); err != nil {
		_ = a.Close()
		return nil, err
	}
	// Refuse cross-origin POSTs to every form of the app (the flow's too).
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.render(w, r, http.StatusForbidden, "error", pageData{Message: "This form was sent from another site, so we refused it."})
	}))
	a.Handler = cop.Handler(a.routes())
	return a, nil
}

// chooseProvider picks the SMS provider: the config's (tests), MessageBird
// with an API key, else the mock that prints codes.
func chooseProvider(cfg config, log *slog.Logger) (twofactor.Provider, error) {
	switch {
	case cfg.Provider != nil:
		return cfg.Provider, nil
	case cfg.APIKey != "":
		mb, err := messagebird.New(cfg.APIKey, messagebird.Config{
			Originator: "BirdBank",
			Template:   "Your BirdBank verification code is %token.",
		})
		if err != nil {
			return nil, err
		}
		log.Info("sending real SMS through MessageBird")
		return mb, nil
	default:
		return demo.PrintingMock(cfg.CodeOut, log), nil
	}
}

// openOwnData opens the app's own data: users and login sessions, and the
// password step's limits. In Redis when REDIS_URL is set, so that several
// servers behind one address act as one; else in memory. The demo
// accounts are made if they are not there yet.
func (a *app) openOwnData(cfg config) error {
	var client redis.UniversalClient // nil: memory
	if cfg.RedisURL != "" {
		c, err := demo.RedisClient(cfg.RedisURL)
		if err != nil {
			return err
		}
		client = c
		a.close = append(a.close, client.Close)
		a.st = &redisStore{client: client, prefix: "signin:"}
		a.log.Info("accounts, login sessions and login limits live in Redis")
	} else {
		a.st = newMemStore(a.now)
	}
	var err error
	if a.limits, err = newLimits(client, "signin:", cfg.LoginPerAccount, cfg.LoginPerNetwork, cfg.SignupPerNetwork); err != nil {
		return fmt.Errorf("connecting to Redis at REDIS_URL: %w", err)
	}
	if a.users, err = newAccounts(cfg.BcryptCost, a.st); err != nil {
		return err
	}
	for _, u := range []struct{ name, password, phone string }{
		{"alice", "alice-password", alicePhone},
		{"bob", "bob-password", ""},
	} {
		// Another server (or an earlier run) may have made them in Redis.
		if err := a.users.create(context.Background(), u.name, u.password, u.phone); err != nil && !errors.Is(err, errTaken) {
			return err
		}
	}
	return nil
}

// newTwoFactor sets up the library: known-number mode for the signed-in
// user, enrolment, recovery codes, remembered devices, authenticator apps
// and passkeys, its State and sessions in Redis with REDIS_URL.
func (a *app) newTwoFactor(cfg config, provider twofactor.Provider, keys [4][]byte) (*twofactor.Manager, error) {
	opts := []twofactor.Option{
		twofactor.WithLogger(a.log),
		// Verification belongs to the signed-in user: a session verified
		// for alice is not verified for bob.
		twofactor.WithSubject(a.currentUser),
		// Known-number mode: the code goes to the number on file.
		twofactor.WithPhoneLookup(func(r *http.Request) (string, error) {
			return a.users.phone(r.Context(), a.currentUser(r))
		}),
		// A user with no number proves one at first sign-in; a number
		// change (GET /2fa/change) lands here too.
		twofactor.WithEnrolment(a.saveNumber),
		// The app's name above the flow's pages, and a way back home.
		twofactor.WithBranding(twofactor.Branding{Name: "BirdBank", HomeURL: "/"}),
		twofactor.WithCookie(twofactor.Cookie{Name: sessionName}),
		// The library's pages with a few changes (flowpages_test.go lists
		// them): a sign-out button, Cancel on the number change, no
		// recovery code for an enrolling user, one "Remember this device",
		// a placeholder that follows the country chosen.
		twofactor.WithTemplates(flowPages),
		twofactor.WithRecoveryCodes(nil), // kept in the State: in Redis with REDIS_URL, shared by every server
		twofactor.WithRememberDevice(30 * 24 * time.Hour),
		// Authenticator apps beside SMS, offered first to users who have
		// one; kept (sealed) in the State: in Redis with REDIS_URL.
		twofactor.WithTOTP(nil),
		twofactor.WithVoice(),
		twofactor.WithEvents(func(e twofactor.Event) {
			// An audit log; a real app would also tell the user by e-mail
			// about a new number, new recovery codes or a new device.
			a.log.Info("twofactor event", "type", e.Type, "user", e.Subject, "method", e.Method)
		}),
	}
	if cfg.PlainHTTP {
		// Local development on http://localhost only: in production
		// (HTTPS) leave this out and the cookie stays Secure.
		opts = append(opts, twofactor.WithCookie(twofactor.Cookie{Insecure: true}))
	}
	if cfg.Now != nil {
		opts = append(opts, twofactor.WithClock(cfg.Now))
	}
	if cfg.PasskeyOrigin == "" {
		cfg.PasskeyOrigin = "http://localhost:8090"
	}
	passkeys, err := passkeyOptions(cfg.PasskeyOrigin) // passkey.go
	if err != nil {
		return nil, err
	}
	store, shared, err := a.sharedStores(cfg, provider, keys)
	if err != nil {
		return nil, err
	}
	return twofactor.New(provider, store, append(append(opts, passkeys), shared...)...)
}

// sharedStores returns the library's session store and the options that
// share what it keeps: its State in Redis with REDIS_URL (the mock then
// keeps its printed codes there too, so every server checks them), and
// the server secret.
func (a *app) sharedStores(cfg config, provider twofactor.Provider, keys [4][]byte) (sessions.Store, []twofactor.Option, error) {
	store, state, closeStores, err := demo.Stores(cfg.RedisURL, "signin:", keys[0], keys[1], cfg.SessionKey != "", a.log)
	if err != nil {
		return nil, nil, err
	}
	a.close = append(a.close, closeStores)
	var opts []twofactor.Option
	if state != nil {
		opts = append(opts, twofactor.WithState(state))
		if mock, ok := provider.(*twofactor.Mock); ok {
			mock.State = state // several servers check each other's printed codes
		}
	}
	secret, err := demo.Secret(cfg.SessionKey, "signin")
	if err != nil {
		return nil, nil, err
	}
	return store, append(opts, twofactor.WithSecret(secret)), nil
}

// routes are the app's pages, the library's flow under /2fa/, and clear
// answers for a wrong method or an unknown path.
func (a *app) routes() http.Handler {
	tf := a.tf
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
	mux.Handle("GET /settings/totp", a.needLogin(fresh(http.HandlerFunc(a.serveTOTPSetup)))) // totp.go
	mux.Handle("POST /settings/totp", a.needLogin(fresh(http.HandlerFunc(a.serveAddTOTP))))
	mux.Handle("POST /settings/factors/remove", a.needLogin(fresh(http.HandlerFunc(a.serveRemoveFactor))))
	mux.Handle("POST /settings/passkeys/remove", a.needLogin(fresh(http.HandlerFunc(a.serveRemovePasskey))))
	mux.Handle("GET /transfer", a.needLogin(tf.Require(http.HandlerFunc(a.serveTransferForm)))) // transfer.go
	mux.Handle("POST /transfer", a.needLogin(tf.Require(http.HandlerFunc(a.serveTransfer))))
	mux.Handle("POST /transfer/confirm", a.needLogin(tf.Require(http.HandlerFunc(a.serveTransferConfirm))))
	// The verification flow, for signed-in users only: it needs to know
	// whose number to use.
	mux.Handle("/2fa/", a.needLogin(tf.Handler()))
	// Known paths, wrong method: say so rather than "not found".
	for path, allow := range map[string]string{
		"/signup": "GET, HEAD, POST", "/login": "GET, HEAD, POST", "/logout": "POST",
		"/account": "GET, HEAD", "/settings": "GET, HEAD",
		"/settings/devices/revoke": "POST", "/settings/recovery-codes": "POST", "/settings/sign-out-everywhere": "POST",
		"/settings/totp": "GET, HEAD, POST", "/settings/factors/remove": "POST",
		"/settings/passkeys/remove": "POST", "/transfer": "GET, HEAD, POST", "/transfer/confirm": "POST",
	} {
		mux.HandleFunc(path, methodNotAllowed(allow))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.render(w, r, http.StatusNotFound, "error", pageData{Message: "There's no page here."})
	})
	return mux
}

// userCtx is the context key of the signed-in user a request was found
// to have (needLogin looks once; the library then asks again and again).
type userCtx struct{}

// currentUser is the signed-in user's name, "" for none (or when the store
// can't say: closed, never open). It is the library's subject (WithSubject).
func (a *app) currentUser(r *http.Request) string {
	name, _ := a.identify(r)
	return name
}

// identify finds the signed-in user: the login session named by the
// login cookie's token, kept on the server, as long as the user has not
// signed out everywhere since it was made. Only a store failure is an
// error.
func (a *app) identify(r *http.Request) (string, error) {
	if name, ok := r.Context().Value(userCtx{}).(string); ok {
		return name, nil
	}
	token := a.loginToken(r)
	if token == "" {
		return "", nil
	}
	ctx := r.Context()
	l, ok, err := a.st.login(ctx, token)
	if err != nil || !ok {
		return "", err
	}
	u, ok, err := a.st.user(ctx, l.User)
	if err != nil || !ok || u.Gen != l.Gen {
		return "", err
	}
	return u.Name, nil
}

// loginToken is the login cookie's token, "" for none.
func (a *app) loginToken(r *http.Request) string {
	sess, err := a.logins.Get(r, loginCookie)
	if err != nil {
		return ""
	}
	token, _ := sess.Values["token"].(string)
	return token
}

// signIn makes u the signed-in user of this browser: a new login session,
// on the server and in a new token (the old session, if any, ends: no
// fixation). Any verification the browser had (for this user or another)
// is revoked first: every sign-in is verified afresh, and one user's
// verification never carries over to the next (the library binds
// verification to the subject as well). A remembered device still spares
// the code.
func (a *app) signIn(w http.ResponseWriter, r *http.Request, u user) error {
	if err := a.tf.Reset(w, r); err != nil {
		return err
	}
	if old := a.loginToken(r); old != "" {
		if err := a.st.endLogin(r.Context(), old); err != nil {
			return err
		}
	}
	token := rand.Text()
	if err := a.st.newLogin(r.Context(), token, login{User: u.Name, Gen: u.Gen}, loginMaxAge); err != nil {
		return err
	}
	sess, _ := a.logins.Get(r, loginCookie) // a bad old cookie: a new session
	clear(sess.Values)
	sess.Values["token"] = token
	return sess.Save(r, w)
}

// signOut ends this browser's login session, on the server first: a copy
// of the cookie signs nobody in afterwards.
func (a *app) signOut(w http.ResponseWriter, r *http.Request) error {
	var err error
	if token := a.loginToken(r); token != "" {
		err = a.st.endLogin(r.Context(), token)
	}
	sess, _ := a.logins.Get(r, loginCookie)
	clear(sess.Values)
	sess.Options.MaxAge = -1
	return errors.Join(err, sess.Save(r, w))
}

// saveNumber is the library's enrolment hook: it files the number a code
// has just proved as the user's, and after a change (the user had one)
// leaves a notice for the settings page.
func (a *app) saveNumber(r *http.Request, phone string) error {
	ctx := r.Context()
	name := a.currentUser(r)
	old, err := a.users.phone(ctx, name)
	if err != nil {
		return err
	}
	if err := a.st.setPhone(ctx, name, phone); err != nil {
		return err
	}
	if old != "" && old != phone {
		notice := "Your number is changed: codes now go to " + twofactor.MaskPhone(phone) + ". Your other devices need a code to that number."
		if err := a.st.setNotice(ctx, a.loginToken(r), notice); err != nil {
			a.log.Error("keeping the number-change notice failed", "err", err)
		}
	}
	return nil
}

// needLogin lets through signed-in users only; others are sent to the
// login page (GET) or refused (other methods).
func (a *app) needLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, err := a.identify(r)
		if err != nil {
			a.failed(w, r, "finding the login session", err)
			return
		}
		if name != "" {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userCtx{}, name)))
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
