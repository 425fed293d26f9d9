// Package twofactor adds SMS two-factor authentication to any net/http web
// app, with authenticator apps (WithTOTP) and passkeys (WithPasskeys)
// beside it: the flow offers a user's strongest factor first, and SMS as
// the fallback.
//
// It has three parts:
//
//   - A Provider sends one-time codes and checks them. The sub-packages
//     messagebird, bird and twilioverify talk to the vendors' Verify APIs,
//     and failover makes one provider of several; Mock makes codes itself
//     and behaves like the real service (expiry, attempt limit, one use),
//     for tests and local development.
//   - A Manager, made by New, gates routes with Require (the standard
//     func(http.Handler) http.Handler shape) and serves the verification
//     flow with Handler: ask the phone number, send a code, check it, and go
//     back to where the visitor was going. Every step follows
//     Post/Redirect/Get and answers JSON when asked.
//   - Sessions live in any github.com/gorilla/sessions store (the cookie
//     store by default, Redis for several servers), and the counters that an
//     attacker must not be able to roll back (attempts, send windows,
//     revocations) live server-side in a State: MemoryState in one process,
//     the redisstate sub-package across several.
//
// A verified session carries a Record (who, how, when, which number) that
// the gate hands to the app (RecordFrom, Manager.Check). On it rest step-up
// (RequireFresh), enrolment and number changes (WithEnrolment), recovery
// codes (WithRecoveryCodes, NewRecoveryCodes), remembered devices
// (WithRememberDevice, Devices, RevokeDevice), authenticator apps
// (WithTOTP, offered before SMS to users who have one), other factors (Grant),
// signing out everywhere (SignOutEverywhere) and support unlocks (Unlock).
//
// # Where each idea lives
//
//   - verify.go: the provider side: Provider, Request, Verification,
//     sentinel errors and the classes of a provider's failure
//     (ErrConfiguration, ErrNumberRefused, ErrRateLimited and
//     RateLimitError, ErrNoBalance, ErrUnavailable, ErrUnknownOutcome),
//     the optional CodeLengther and ActionCarrier. mock.go: Mock.
//     internal/wire: what the providers share on the wire (the per-call
//     transport that knows whether a request was sent, Retry-After, the
//     checks of keys, ids, numbers, codes and language tags, the shared
//     code defaults).
//   - manager.go: New and the Manager; options.go: every Option and its
//     default, the grouped ones with their types (WithCookie and Cookie,
//     WithLimits and Limits, WithFraudGuard and FraudGuard, WithBranding
//     and Branding); dev.go: development mode (WithDevelopment,
//     CheckLoopback).
//   - middleware.go: the gate (Require, RequireFresh, Check, Verified,
//     Reset): it decides with plain errors (ErrNotVerified,
//     ErrStepUpRequired, a store failure), then answers in one place, or
//     lets the app answer (WithDenyHandler, DenyReason); gatecache.go: the
//     plain bounded cache of decoded cookies the gate drives.
//   - user.go: one model of a user's second factor (generations: one
//     atomic move revokes everything made before), the server secret's
//     keys; userrecord.go: the user record's layout and MemoryState's
//     operations on it.
//   - record.go: Record and Method; factors.go: the factors beside SMS
//     (Factor, Factors, RemoveFactor) and how the flow offers the
//     strongest (WithoutSMSFallback); totp.go: authenticator apps
//     (WithTOTP, TOTPStore, StartTOTP, AddTOTP; their secrets sealed with
//     AES-GCM, each code spent once); totp_store.go: their State-backed
//     store; totp_flow.go: their page in the flow and the check of a code
//     there; lifecycle.go: granting verification,
//     Grant, SignOutEverywhere, Unlock; recovery.go: recovery codes;
//     devices.go: remembered devices; confirm.go: confirming one action
//     (a transfer) with a code bound to it.
//   - passkey.go: passkeys (WithPasskeys, PasskeyConfig): the WebAuthn
//     ceremonies the flow serves (sign-in as the second factor,
//     registration behind step-up), their one-use challenges in the State,
//     the passkey page's texts (templates/passkey.html, passkey.js);
//     passkey_store.go: PasskeyStore, its State-backed default and the
//     record kept of each passkey; passkey_confirm.go: confirming an action
//     with a passkey, its challenge derived from the action.
//   - flow.go: the flow's pages and routes; send.go: sending a code;
//     check.go: checking one; request.go: reading requests (form and JSON
//     input, client IP, return targets); respond.go: answers (pages, JSON
//     bodies, flow errors, security headers); provider_errors.go: how the
//     flow answers each class of provider failure, and the tries a check
//     the provider did not judge gives back; pages.go and templates/: the
//     pages and their texts (flow.js: the small optional script);
//     countries.go: the phone form's country list; events.go: events.
//   - session.go: what the flow keeps in the session, and GateLoader and
//     GrantOf, with which a server-side store (redisstate.SessionStore)
//     loads a session and checks its grant in one round trip; state.go: the
//     server-side State, MemoryState and the keys; phone.go: parsing and
//     masking numbers.
//   - codelife.go: the life of one code (a try reserved before anyone
//     judges it, the code spent once, or the try given back), which
//     sign-in, confirmation and recovery codes, authenticator-app codes
//     and passkey answers share; internal/batch: the State calls of one
//     step in one round trip.
//   - limits.go: the send limits (every window passed, or none counted;
//     refusals logged once per key and window); fraud.go: the fraud guard
//     against SMS pumping (refused destinations, number types, country
//     and global budgets, the conversion watch); sendlimit.go: the send
//     limiter that counts them (a reservation that can be given back, or
//     a refusal), which knows State keys and nothing of HTTP.
//   - budget.go: one store budget per request for all its session store
//     and State calls, paused while the provider is asked; deadline.go:
//     the deadline of each call to the session store and the State.
//   - owners.go: whose windows and locks a send or a wrong code spends
//     (a number's owner, or a stranger), so no stranger can block a
//     customer; challenge.go: the challenge (a built-in proof of work, or
//     the app's Challenge) first-time numbers meet past a spent budget.
//   - doc.go: this overview.
//   - Sub-packages: messagebird (MessageBird's classic Verify API, on its
//     SDK), bird (Bird's Verify APIs: the platform's, New, and the
//     workspace one, NewWorkspace) and twilioverify (Twilio Verify, on its
//     SDK) are providers with their own dependencies; failover is a
//     Provider made of several, with a circuit breaker each (it fails over
//     on outages, configuration errors and an empty account, never after
//     an unknown outcome); redisstate keeps the State in Redis, and
//     sessions too (NewSessionStore); statetest and providertest are the conformance
//     suites a State or Provider of your own can run; cmd/twofactor-load
//     measures the gate under load; examples/ holds the BirdBank and
//     sign-in apps.
//
// A minimal app:
//
//	provider, err := messagebird.New(os.Getenv("MESSAGEBIRD_API_KEY"), messagebird.Config{})
//	...
//	store := sessions.NewCookieStore(hashKey, blockKey)
//	tf, err := twofactor.New(provider, store)
//	...
//	mux.Handle("/2fa/", tf.Handler())
//	mux.Handle("/account", tf.Require(account))
//
// The defaults are the safe ones: Secure, HttpOnly, SameSite=Lax cookies;
// three tries per code and ten wrong codes per guesser a day (a number
// locks for strangers only, at 25, never for its owner); a 30-second
// resend cooldown and per-number, per-IP and per-network send windows,
// passed all or none (a request refused by one spends nothing of another);
// a fraud guard against SMS pumping (no satellite or international-network
// numbers, none to the destinations the big providers refuse by default,
// calls to mobile numbers only, a limit per number range, per-country and
// global budgets of codes per hour and a conversion watch for first-time
// numbers, which a number verified before passes; past a spent budget,
// first-time numbers get a challenge, by default a proof of work the page
// solves in about a second); a deadline on every
// session store and State call;
// re-verification after 12 hours or 30 idle minutes; cross-origin POSTs
// refused; a __Host- cookie. For work on your own machine, add
// WithDevelopment (plain http, relaxed send windows, the Mock's codes
// printed; loopback listeners only), or just
// WithCookie(Cookie{Insecure: true}) for plain http://localhost.
//
// A Manager is safe for concurrent use.
package twofactor
