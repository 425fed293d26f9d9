package main

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"

	"github.com/go-twofactor/twofactor/examples/internal/demo"

	"github.com/go-twofactor/twofactor"
	"github.com/gorilla/sessions"
)

// config is what BirdBank is started with.
type config struct {
	APIKey     string             // MESSAGEBIRD_API_KEY; empty: the mock provider
	SessionKey string             // SESSION_KEY; empty: a random key
	RedisURL   string             // REDIS_URL; empty: cookie sessions, in-memory limits
	CodeOut    io.Writer          // where the mock provider prints codes
	Log        *slog.Logger       // where the app and the library log
	Provider   twofactor.Provider // overrides the provider chosen from APIKey (main: chooseProvider; tests)
	Options    []twofactor.Option // added after BirdBank's own (tests: a clock, a state on that clock)
	Listen     string             // the address the server listens on; with the mock on loopback: development mode
}

// app is BirdBank's HTTP handler.
type app struct {
	http.Handler
	close []func() error
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
	a := &app{}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}

	provider, printing, err := configProvider(cfg, log)
	if err != nil {
		return nil, err
	}

	hashKey, blockKey, err := cookieKeys(cfg.SessionKey)
	if err != nil {
		return nil, err
	}
	if cfg.SessionKey == "" && cfg.RedisURL == "" {
		log.Warn("no SESSION_KEY: using a random key, so sessions end when BirdBank restarts")
	}

	opts := []twofactor.Option{
		twofactor.WithLogger(log),
		// BirdBank runs on plain http://localhost for the demo. A real bank
		// serves HTTPS and leaves this out, keeping the cookie Secure.
		twofactor.WithCookie(twofactor.Cookie{Insecure: true}),
		// Offer "call me instead": the code read out in a phone call.
		twofactor.WithVoice(),
		// The app's name on the flow's pages and in transfer SMS: "BirdBank:
		// confirm EUR 500.00 to NL91…4300. Code: …", and a way back.
		twofactor.WithBranding(twofactor.Branding{Name: "BirdBank", HomeURL: "/"}),
		// Most BirdBank customers are Dutch: "06 12345678" works as typed,
		// and the country list starts at the Netherlands.
		twofactor.WithDefaultRegion("NL"),
	}
	if printing && cfg.Listen != "" && twofactor.CheckLoopback(cfg.Listen) == nil {
		// No provider's key, on this machine only: development mode, so
		// signing in again and again does not lock the developer out.
		opts = append(opts, twofactor.WithDevelopment(cfg.Listen))
	}
	store, shared, err := a.sharedStores(cfg, provider, hashKey, blockKey, log)
	if err != nil {
		return nil, err
	}
	opts = append(append(opts, shared...), cfg.Options...)
	tf, err := twofactor.New(provider, store, opts...)
	if err != nil {
		return nil, err
	}

	a.Handler = routes(tf, log)
	return a, nil
}

// sharedStores returns the library's session store and the options that
// share what it keeps: its State in Redis with REDIS_URL (the mock then
// keeps its printed codes there too, so every server checks them), and
// the server secret.
func (a *app) sharedStores(cfg config, provider twofactor.Provider, hashKey, blockKey []byte, log *slog.Logger) (sessions.Store, []twofactor.Option, error) {
	store, state, closeStores, err := demo.Stores(cfg.RedisURL, "birdbank:", hashKey, blockKey, cfg.SessionKey != "", log)
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
		if cfg.SessionKey == "" {
			log.Warn("no SESSION_KEY: each server keys numbers and recovery codes with its own random secret; give every server the same SESSION_KEY")
		}
	}
	secret, err := demo.Secret(cfg.SessionKey, "birdbank")
	if err != nil {
		return nil, nil, err
	}
	return store, append(opts, twofactor.WithSecret(secret)), nil
}

// configProvider picks the SMS provider: the config's (tests), MessageBird
// with an API key, else the mock that prints codes (printing is then true).
func configProvider(cfg config, log *slog.Logger) (p twofactor.Provider, printing bool, err error) {
	switch {
	case cfg.Provider != nil:
		return cfg.Provider, false, nil
	case cfg.APIKey != "":
		mb, err := newMessageBird(cfg.APIKey)
		if err != nil {
			return nil, false, err
		}
		log.Info("sending real SMS through MessageBird")
		return mb, false, nil
	default:
		return demo.PrintingMock(cfg.CodeOut, log), true, nil
	}
}

// routes are BirdBank's pages, the library's flow under /2fa/, transfers,
// and clear answers for a wrong method or an unknown path.
func routes(tf *twofactor.Manager, log *slog.Logger) http.Handler {
	csrf := http.NewCrossOriginProtection()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		render(w, http.StatusOK, "home", pageData{Verified: tf.Verified(r)})
	})
	mux.Handle("GET /account", tf.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		render(w, http.StatusOK, "account", pageData{Verified: true, Balance: "1,234.56"})
	})))
	mux.Handle("POST /logout", csrf.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := tf.Reset(w, r); err != nil {
			log.Error("logout failed", "err", err)
			render(w, http.StatusServiceUnavailable, "error", pageData{Message: "We couldn't log you out just now. Please try again in a moment."})
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})))
	mux.Handle("/2fa/", tf.Handler())
	registerTransfer(mux, tf, csrf, log) // GET/POST /transfer, /transfer/confirm: transfer.go
	// Known paths, wrong method: say so rather than "not found".
	mux.HandleFunc("/account", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("/logout", methodNotAllowed("POST"))
	// Browsers ask for /favicon.ico on their own: the flow's icon.
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/2fa/icon.svg", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		render(w, http.StatusNotFound, "error", pageData{Message: "There's no page here."})
	})
	return mux
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		render(w, http.StatusMethodNotAllowed, "error", pageData{Message: "That page can't be used this way."})
	}
}

// cookieKeys derives the cookie signing and encryption keys from
// SESSION_KEY, or makes random ones when it is empty.
func cookieKeys(secret string) (hashKey, blockKey []byte, err error) {
	if secret == "" {
		hashKey, blockKey = make([]byte, 32), make([]byte, 32)
		_, _ = rand.Read(hashKey)
		_, _ = rand.Read(blockKey)
		return hashKey, blockKey, nil
	}
	if len(secret) < 32 {
		return nil, nil, errors.New("SESSION_KEY must be at least 32 characters (try: openssl rand -hex 32)")
	}
	if hashKey, err = hkdf.Key(sha256.New, []byte(secret), nil, "birdbank session signing", 32); err != nil {
		return nil, nil, err
	}
	if blockKey, err = hkdf.Key(sha256.New, []byte(secret), nil, "birdbank session encryption", 32); err != nil {
		return nil, nil, err
	}
	return hashKey, blockKey, nil
}

type pageData struct {
	Verified bool
	Balance  string
	Message  string
}

var pages = template.Must(template.New("").Parse(`
{{define "top"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>BirdBank</title><link rel="icon" href="/2fa/icon.svg" type="image/svg+xml">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1f1f1f}
header{display:flex;justify-content:space-between;align-items:center}a{color:#0b57d0}
.balance{font-size:2rem;font-weight:700}button{padding:.5rem 1rem;font-size:1rem}</style>
</head><body><header><h1>🐦 BirdBank</h1>{{if .Verified}}<form method="post" action="/logout"><button type="submit">Log out</button></form>{{end}}</header><main>{{end}}
{{define "bottom"}}</main></body></html>{{end}}
{{define "home"}}{{template "top" .}}
<p>Welcome to BirdBank, the bank that keeps your nest egg safe.</p>
<p><a href="/account">Go to your account</a> — we'll text you a code first.</p>
{{template "bottom" .}}{{end}}
{{define "account"}}{{template "top" .}}
<h2>Your account</h2>
<p>Current balance</p>
<p class="balance">{{.Balance}} EUR</p>
<p><a href="/transfer">Make a transfer</a></p>
{{template "bottom" .}}{{end}}
{{define "error"}}{{template "top" .}}
<p role="alert">{{.Message}}</p>
<p><a href="/">Back to BirdBank</a></p>
{{template "bottom" .}}{{end}}
`))

func render(w http.ResponseWriter, status int, name string, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, name, d)
}
