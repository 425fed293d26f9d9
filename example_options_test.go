package twofactor_test

import (
	"log"
	"net/http"
	"time"

	"github.com/gorilla/sessions"

	"github.com/go-twofactor/twofactor"
)

// ExampleWithLimits changes two windows and leaves the others at their
// defaults: a function edits the current Limits, and a zero Limit turns a
// window off.
func ExampleWithLimits() {
	tf, err := twofactor.New(&twofactor.Mock{}, nil,
		twofactor.WithLimits(func(l *twofactor.Limits) {
			// Many mobile customers behind one carrier's NAT.
			l.Net24 = twofactor.Limit{N: 2000, Per: time.Hour}
			// The app keeps its own per-session cooldown.
			l.ResendCooldown = 0
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = tf
}

// ExampleWithFraudGuard serves two countries, with a larger budget for
// first-time numbers of the Netherlands, and the app's own CAPTCHA in place
// of the built-in proof of work (captcha is the app's Challenge).
func ExampleWithFraudGuard() {
	var captcha twofactor.Challenge // the app's; nil keeps the proof of work
	tf, err := twofactor.New(&twofactor.Mock{}, nil,
		twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) {
			g.Regions = []string{"NL", "BE"}
			g.CountryBudgets["NL"] = 5000
			g.GlobalBudget = 8000
			g.Challenge = captcha
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = tf
}

// ExampleWithCookie names the session's cookie and makes it Strict; its
// other attributes keep their safe defaults (Secure, HttpOnly, Path=/, no
// Domain: the cookie is "__Host-bank2fa").
func ExampleWithCookie() {
	store := sessions.NewCookieStore([]byte("32-byte-hash-key-for-this-sample"), []byte("32-byte-block-key-for-the-sample"))
	store.MaxAge(int(twofactor.DefaultMaxAge.Seconds())) // as long as a verification lasts
	tf, err := twofactor.New(&twofactor.Mock{}, store,
		twofactor.WithCookie(twofactor.Cookie{Name: "bank2fa", SameSite: http.SameSiteStrictMode}),
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = tf
}
