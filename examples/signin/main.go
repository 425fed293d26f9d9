// Command signin is BirdBank with password logins: the integration most
// apps need. Users sign in with a name and a password (the app's own login
// session), then prove their phone with twofactor before they see their
// account. It shows the whole two-factor lifecycle: enrolment at first
// sign-in, step-up before the settings, recovery codes, remembered devices,
// an authenticator app (offered before SMS once added), a number change,
// "sign out everywhere", and passkeys: added in the settings, offered
// first after the password, and confirming transfers.
//
//	go run ./examples/signin
//
// then open http://localhost:8090/ and sign in as alice / alice-password
// (number on file) or bob / bob-password (no number yet: he enrols), or
// sign up. Without MESSAGEBIRD_API_KEY the codes are not sent but printed
// to this terminal. Settings come from the environment or a .env file:
//
//	PORT                 port to listen on (default 8090)
//	HOST                 address to listen on (default 127.0.0.1: this machine only)
//	MESSAGEBIRD_API_KEY  live MessageBird key: send real SMS
//	SESSION_KEY          secret for the session cookies (at least 32 characters);
//	                     without it a random key is made, and sessions end at restart
//	PASSKEY_ORIGIN       the origin the browser shows for the app, for passkeys
//	                     (default http://localhost:PORT); passkeys work on
//	                     https:// origins and on http://localhost only
//	REDIS_URL            redis://host:port/db: keep the verification sessions and
//	                     limits, the accounts (names, password hashes, numbers on
//	                     file), the login sessions and the login limits in Redis,
//	                     so several servers behind one address act as one
//
// Without REDIS_URL all of it lives in memory: a restart forgets sign-ups,
// numbers and logins. Recovery codes live in each server's memory either
// way (MemoryRecoveryStore): on several servers, a code made on one is
// unknown to the others.
//
// The password step is limited (github.com/ulule/limiter/v3, in Redis with
// REDIS_URL): 10 tries per account and 100 per network (an IPv4 address,
// an IPv6 /64) in 15 minutes, and 10 sign-ups per network an hour; past a
// limit /login and /signup answer 429. Logout and "sign out everywhere"
// end login sessions on the server: a copied login cookie is worth nothing
// afterwards.
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/joho/godotenv"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("signin stopped", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	if err := godotenv.Load(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading .env: %w", err)
	}
	host, port := listenOn(log)
	app, err := newApp(config{
		APIKey:     os.Getenv("MESSAGEBIRD_API_KEY"),
		SessionKey: os.Getenv("SESSION_KEY"),
		RedisURL:   os.Getenv("REDIS_URL"),
		// Passkeys are bound to the site's name: the origin the
		// browser shows (https:// in production; http://localhost only
		// in development).
		PasskeyOrigin: passkeyOrigin(port),
		CodeOut:       os.Stdout,
		Log:           log,
		// go run serves plain http: cookies without Secure. Behind an
		// HTTPS proxy, set this false so that every cookie is Secure.
		PlainHTTP: true,
	})
	if err != nil {
		return err
	}
	defer app.Close()

	srv := &http.Server{
		Addr:              net.JoinHostPort(host, port),
		Handler:           app,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("BirdBank (sign-in demo) is open", "url", "http://localhost:"+port+"/login",
		"accounts", "alice / alice-password (number on file), bob / bob-password (enrols at first sign-in)")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// listenOn returns HOST and PORT: 127.0.0.1 and 8090 unless set.
func listenOn(log *slog.Logger) (host, port string) {
	port = os.Getenv("PORT")
	if port == "" {
		port = "8090"
	}
	host = os.Getenv("HOST")
	if host == "" {
		// The demo serves plain http with non-Secure cookies: keep it to
		// this machine unless asked otherwise.
		host = "127.0.0.1"
		log.Info("listening on 127.0.0.1 only; set HOST (such as HOST=0.0.0.0) to listen elsewhere")
	} else {
		log.Info("listening on HOST", "host", host)
	}
	return host, port
}

// passkeyOrigin is PASSKEY_ORIGIN, or http://localhost:port.
func passkeyOrigin(port string) string {
	if o := os.Getenv("PASSKEY_ORIGIN"); o != "" {
		return o
	}
	return "http://localhost:" + port
}
