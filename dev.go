package twofactor

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// development is what WithDevelopment asked for.
type development struct {
	addr string
}

// devOut is where development mode prints the Mock's codes.
var devOut io.Writer = os.Stderr

// Development mode's send windows and limits, for one developer signing in
// again and again. They replace only the defaults: a limit the app set
// itself stays.
var (
	devResendCooldown  = 5 * time.Second
	devAccountAttempts = Limit{N: 100, Per: 24 * time.Hour}
	devPhoneSends      = Limit{N: 100, Per: time.Hour}
	devIPSends         = Limit{N: 1000, Per: time.Hour}
	devNetSends        = Limit{N: 1000, Per: time.Hour}
	devVoicePhoneSends = Limit{N: 100, Per: time.Hour}
	devVoiceIPSends    = Limit{N: 1000, Per: time.Hour}
)

// WithDevelopment sets the Manager up for work on this machine, served on
// listenAddr (the address the app's server listens on, such as
// "127.0.0.1:8080" or "localhost:8080"):
//
//   - the session cookie works over plain http (Cookie.Insecure);
//   - the send windows and the wrong-code limit are relaxed, so signing in
//     again and again does not lock the developer out: 5 seconds between
//     sends, 100 codes an hour per number, 1000 per client IP or network,
//     100 wrong codes a day per account. Only the defaults are relaxed: a
//     limit the app sets with WithLimits stays;
//   - with a *Mock provider that has neither OnCode nor OnSend set, each
//     code is printed to standard error with what it is for, since no SMS
//     is sent.
//
// New refuses it, naming the fix, unless listenAddr's host is a loopback
// address or "localhost": an empty host or 0.0.0.0 would serve other
// machines with these weakened settings. The flow then also refuses any
// request that does not come from this machine (403). New logs one warning
// that development mode is on.
//
// To clear a lockout or the send windows of your own number during
// development, call Manager.Unlock.
func WithDevelopment(listenAddr string) Option {
	return func(c *config) error {
		if err := CheckLoopback(listenAddr); err != nil {
			return fmt.Errorf("twofactor: WithDevelopment: %w", err)
		}
		c.dev = &development{addr: listenAddr}
		return nil
	}
}

// CheckLoopback returns nil when a server listening on addr (host:port, as
// http.Server.Addr) is reachable from this machine only, and otherwise an
// error that names the fix. An app calls it with its listen address before
// turning on anything meant for local development.
func CheckLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q is not host:port (%v); development mode needs one such as 127.0.0.1:8080", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	what := fmt.Sprintf("host %q", host)
	if host == "" || host == "0.0.0.0" || host == "::" {
		what = "every interface"
	}
	return fmt.Errorf("listen address %q serves %s, not just this machine; development mode (insecure cookie, relaxed limits, printed codes) is for this machine only: listen on 127.0.0.1:%s, or leave development mode out", addr, what, port)
}

// applyDevelopment puts WithDevelopment's settings in place once every
// option has been applied, so that the app's own limits stay.
func (c *config) applyDevelopment(provider Provider) error {
	if c.dev == nil {
		return nil
	}
	def := defaultConfig()
	c.insecureCookie = true
	if c.resendCooldown == def.resendCooldown {
		c.resendCooldown = devResendCooldown
	}
	for _, l := range []struct {
		cur      *Limit
		def, dev Limit
	}{
		{&c.accountAttempts, def.accountAttempts, devAccountAttempts},
		{&c.phoneSends, def.phoneSends, devPhoneSends},
		{&c.ipSends, def.ipSends, devIPSends},
		{&c.net56Sends, def.net56Sends, devNetSends},
		{&c.net48Sends, def.net48Sends, devNetSends},
		{&c.voicePhoneSends, def.voicePhoneSends, devVoicePhoneSends},
		{&c.voiceIPSends, def.voiceIPSends, devVoiceIPSends},
	} {
		if *l.cur == l.def {
			*l.cur = l.dev
		}
	}
	if mock, ok := provider.(*Mock); ok && mock != nil && mock.OnCode == nil && mock.OnSend == nil {
		mock.OnSend = printCode
	}
	log := c.logger
	if log == nil {
		log = slog.Default()
	}
	log.Warn("twofactor: development mode: insecure cookie, relaxed send windows and limits; never use it in production", "listen", c.dev.addr)
	return nil
}

// printCode is the Mock's OnSend in development mode.
func printCode(req Request, v Verification, code string) {
	what := "sign-in code"
	if req.Amount != "" || req.Payee != "" {
		what = fmt.Sprintf("code to confirm %s to %s", req.Amount, req.Payee)
	}
	fmt.Fprintf(devOut, "\n  twofactor (development, nothing sent): %s for %s: %s\n\n", what, MaskPhone(v.Phone), code)
}

// loopbackOnly refuses, in development mode, requests that do not come
// from this machine.
func (m *Manager) loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			m.log.Error("twofactor: development mode refused a request from another machine", "remote", r.RemoteAddr)
			http.Error(w, "This server is in development mode and serves this machine only.", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
