// Command birdbank is BirdBank, a fictitious online bank that protects its
// account page with SMS two-factor authentication from twofactor.
//
//	go run ./examples/birdbank
//
// then open http://localhost:8080/account. Without MESSAGEBIRD_API_KEY (or
// another provider's settings, below) the codes are not sent but printed to
// this terminal, so the whole flow works with no account; on loopback (the
// default) BirdBank then runs in twofactor's development mode, whose send
// windows let you sign in again and again. Settings come from the
// environment or a .env file:
//
//	HOST                 address to listen on (default 127.0.0.1, this machine only;
//	                     0.0.0.0 or :: to serve other machines)
//	PORT                 port to listen on (default 8080)
//	BIRD_ACCESS_KEY, BIRD_WORKSPACE_ID, BIRD_NAVIGATOR_ID (or BIRD_CHANNEL_ID)
//	                     send through Bird's workspace Verify API (api.bird.com);
//	                     BIRD_API_KEY may hold the access key instead
//	BIRD_API_KEY         key of Bird's platform (bk_{region}_…): send through Bird
//	TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN (or TWILIO_API_KEY, TWILIO_API_SECRET),
//	TWILIO_VERIFY_SERVICE_SID
//	                     send through Twilio Verify
//	MESSAGEBIRD_API_KEY  live MessageBird key: send real SMS through MessageBird's
//	                     classic API
//	                     (several providers set: failover, in the order above)
//	SESSION_KEY          secret for the session cookies (at least 32 characters);
//	                     without it a random key is made, and sessions end at restart
//	REDIS_URL            redis://host:port/db: keep sessions and limits in Redis,
//	                     so several BirdBank servers can share them
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	// Like the tutorial: settings may come from a .env file.
	if err := godotenv.Load(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Error("birdbank stopped", "err", fmt.Errorf("reading .env: %w", err))
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, os.Getenv, os.Stdout); err != nil {
		log.Error("birdbank stopped", "err", err)
		os.Exit(1)
	}
}

// run serves BirdBank with the settings getenv reads until ctx ends. It
// says BirdBank is open only once the port is bound.
func run(ctx context.Context, log *slog.Logger, getenv func(string) string, codeOut io.Writer) error {
	host, port := listenHost(getenv("HOST")), getenv("PORT")
	if port == "" {
		port = "8080"
	}
	addr := net.JoinHostPort(host, port)
	provider, err := chooseProvider(providerSettingsFrom(getenv), log)
	if err != nil {
		return err
	}
	app, err := newApp(config{
		Provider:   provider, // nil without provider settings: the mock
		APIKey:     getenv("MESSAGEBIRD_API_KEY"),
		SessionKey: getenv("SESSION_KEY"),
		RedisURL:   getenv("REDIS_URL"),
		CodeOut:    codeOut,
		Log:        log,
		Listen:     addr,
	})
	if err != nil {
		return err
	}
	defer app.Close()

	srv := &http.Server{
		Addr:              addr,
		Handler:           app,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s (set PORT or HOST to use another): %w", addr, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	_, bound, _ := net.SplitHostPort(ln.Addr().String())
	log.Info("BirdBank is open", "listen", ln.Addr().String(), "url", "http://localhost:"+bound+"/account", "reachable_from", reach(host))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// listenHost is the address to listen on: HOST, or loopback only, since the
// demo's cookie is not Secure and its codes are printed.
func listenHost(env string) string {
	if env == "" {
		return "127.0.0.1"
	}
	return env
}

// reach says who can connect to a server listening on host.
func reach(host string) string {
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return "this machine only (set HOST=0.0.0.0 to serve others)"
	}
	return "other machines too (HOST=" + host + ")"
}
