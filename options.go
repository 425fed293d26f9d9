package twofactor

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

// Option configures a Manager. Options are applied by New after the safe
// defaults are set; an invalid value makes New return an error.
type Option func(*config) error

// Limit is "at most N events per Per". A zero Limit disables the check.
type Limit struct {
	N   int
	Per time.Duration
}

func (l Limit) enabled() bool { return l.N > 0 && l.Per > 0 }

// DefaultMaxAge is how long a verification lasts by default (WithMaxAge).
// An app's session store should keep sessions at least this long: give a
// cookie store MaxAge(int(DefaultMaxAge.Seconds())).
const DefaultMaxAge = 12 * time.Hour

// Defaults. They are what a bank would pick: generous enough that a person
// who mistypes or waits for a slow SMS is not locked out, tight enough that
// a script cannot guess codes or pump SMS traffic. Each option's doc states
// its default.
const (
	defaultPrefix          = "/2fa/"
	defaultSessionName     = "twofactor"
	defaultIdleTimeout     = 30 * time.Minute // or this long without a gated request
	defaultResendCooldown  = 30 * time.Second // per session, between two sends
	defaultProviderTimeout = 10 * time.Second // deadline of every provider call
	defaultMaxBody         = 8 << 10          // bytes of a flow POST body
)

// Default limits; see the README's Security section.
var (
	defaultAccountAttempts = Limit{N: 10, Per: 24 * time.Hour} // wrong codes per account, across codes and browsers
	defaultPhoneSends      = Limit{N: 5, Per: time.Hour}       // codes sent to one number
	defaultIPSends         = Limit{N: 20, Per: time.Hour}      // codes requested from one client IP (IPv6: its /64)
	defaultNet56Sends      = Limit{N: 50, Per: time.Hour}      // codes requested from one IPv6 /56 (a household's block)
	defaultNet48Sends      = Limit{N: 200, Per: time.Hour}     // codes requested from one IPv6 /48 (a site's block)
	defaultNet24Sends      = Limit{N: 200, Per: time.Hour}     // codes requested from one IPv4 /24
	defaultRangeSends      = Limit{N: 30, Per: time.Hour}      // distinct numbers of one number range (10,000 numbers) sent codes
)

// defaultStoreTimeout is the deadline of every call to the session store and
// the State.
const defaultStoreTimeout = 2 * time.Second

type config struct {
	prefix                string
	sessionName           string
	cookieDomain          string
	cookiePath            string
	insecureCookie        bool
	sameSite              http.SameSite
	maxAge                time.Duration
	idleTimeout           time.Duration
	phoneLookup           func(*http.Request) (string, error)
	subject               func(*http.Request) string
	defaultRegion         string
	allowedRegions        map[string]bool
	allowOtherRegions     bool // WithAllowedRegions named "*"
	state                 State
	maxAttempts           int
	accountAttempts       Limit
	resendCooldown        time.Duration
	phoneSends            Limit
	ipSends               Limit
	net56Sends            Limit
	net48Sends            Limit
	net24Sends            Limit
	rangeSends            Limit
	voicePhoneSends       Limit
	voiceIPSends          Limit
	voiceLandlines        bool
	internationalNetworks bool
	countryBudget         int
	countryBudgets        map[string]int
	globalBudget          int
	conversionMin         int
	conversionSends       int
	conversionTrickle     int
	knownFor              time.Duration
	challenge             Challenge // WithChallenge; nil: the built-in proof of work
	challengeOff          bool      // WithChallenge(nil): spent budgets pause, 503
	storeTimeout          time.Duration
	trustedProxies        []netip.Prefix
	proxyHeader           string
	providerTimeout       time.Duration
	logger                *slog.Logger
	events                func(Event)
	templates             fs.FS
	voice                 bool
	language              func(*http.Request) string
	trustedOrigins        []string
	now                   func() time.Time
	enrol                 func(*http.Request, string) error
	recovery              RecoveryStore
	recoveryOn            bool
	rememberFor           time.Duration
	branding              Branding
	origin                string
	secret                []byte
	dev                   *development // WithDevelopment (dev.go)
	denyHandler           http.Handler // WithDenyHandler
}

func defaultConfig() config {
	return config{
		prefix:          defaultPrefix,
		sessionName:     defaultSessionName,
		cookiePath:      "/",
		sameSite:        http.SameSiteLaxMode,
		maxAge:          DefaultMaxAge,
		idleTimeout:     defaultIdleTimeout,
		maxAttempts:     defaultMaxAttempts,
		accountAttempts: defaultAccountAttempts,
		resendCooldown:  defaultResendCooldown,
		phoneSends:      defaultPhoneSends,
		ipSends:         defaultIPSends,
		net56Sends:      defaultNet56Sends,
		net48Sends:      defaultNet48Sends,
		net24Sends:      defaultNet24Sends,
		rangeSends:      defaultRangeSends,
		voicePhoneSends: defaultVoicePhoneSends,
		voiceIPSends:    defaultVoiceIPSends,
		countryBudget:   defaultCountryBudget,
		countryBudgets:  highRiskBudgets(),
		globalBudget:    defaultGlobalBudget,
		conversionMin:   defaultConversionMin,
		conversionSends: defaultConversionSends,
		knownFor:        defaultKnownNumbers,
		storeTimeout:    defaultStoreTimeout,
		providerTimeout: defaultProviderTimeout,
		proxyHeader:     headerXForwardedFor,
		now:             time.Now,
	}
}

// WithPrefix sets the path under which Handler serves the flow. It must
// start and end with "/". Default "/2fa/".
func WithPrefix(prefix string) Option {
	return func(c *config) error {
		if len(prefix) < 2 || !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") || strings.Contains(prefix, "//") {
			return fmt.Errorf("twofactor: prefix %q must start and end with / and be more than /", prefix)
		}
		c.prefix = prefix
		return nil
	}
}

// WithSessionName sets the name of the session (the cookie name for the
// cookie store). Default "twofactor".
//
// When the cookie is Secure, has Path "/" and no Domain (the defaults), New
// puts the "__Host-" prefix in front of the name: the cookie is then
// "__Host-twofactor", and browsers refuse such a cookie from a sibling
// subdomain or over plain http, so nobody can plant one that shadows it.
// WithInsecureCookie, WithCookieDomain or a cookie path other than "/" keep
// the name as given.
func WithSessionName(name string) Option {
	return func(c *config) error {
		if name == "" || strings.ContainsAny(name, " \t\r\n;,=\"") {
			return fmt.Errorf("twofactor: invalid session name %q", name)
		}
		c.sessionName = name
		return nil
	}
}

// WithCookieDomain sets the Domain attribute of the session cookie. Default:
// none (the cookie goes to the host that set it only).
func WithCookieDomain(domain string) Option {
	return func(c *config) error {
		c.cookieDomain = domain
		return nil
	}
}

// WithCookiePath sets the Path attribute of the session cookie. Default "/".
func WithCookiePath(path string) Option {
	return func(c *config) error {
		if !strings.HasPrefix(path, "/") {
			return fmt.Errorf("twofactor: cookie path %q must start with /", path)
		}
		c.cookiePath = path
		return nil
	}
}

// WithSameSite sets the SameSite attribute of the session cookie: Lax (the
// default) or Strict. None is refused: it would send the cookie on
// cross-site requests.
func WithSameSite(mode http.SameSite) Option {
	return func(c *config) error {
		if mode != http.SameSiteLaxMode && mode != http.SameSiteStrictMode {
			return errors.New("twofactor: SameSite must be Lax or Strict")
		}
		c.sameSite = mode
		return nil
	}
}

// WithInsecureCookie drops the Secure attribute of the session cookie, so
// browsers send it over plain http. Use it only for local development on
// http://localhost; in production the cookie must be Secure (the default).
func WithInsecureCookie() Option {
	return func(c *config) error {
		c.insecureCookie = true
		return nil
	}
}

// WithMaxAge sets how long a verification lasts before the visitor must
// verify again, checked on the server whatever the cookie says. It is also
// the Max-Age of a verified session's cookie (an unverified session's lives
// an hour at most). Default 12 hours; at most 30 days.
func WithMaxAge(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Minute || d > 30*24*time.Hour {
			return errors.New("twofactor: max age must be between 1 minute and 30 days")
		}
		c.maxAge = d
		return nil
	}
}

// WithIdleTimeout sets how long a verified session may go without a gated
// request before it must verify again. Default 30 minutes.
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second {
			return errors.New("twofactor: idle timeout must be at least a second")
		}
		c.idleTimeout = d
		return nil
	}
}

// WithPhoneLookup switches the flow to known-number mode: instead of asking
// the visitor for a number, the flow sends the code to the number lookup
// returns for the request (typically the logged-in user's number on file).
// The pages show that number masked.
//
// Known-number mode needs WithSubject, and New refuses it without: the code
// proves that the visitor holds the phone of the user on file, so the
// verification must belong to that user and no other.
func WithPhoneLookup(lookup func(r *http.Request) (string, error)) Option {
	return func(c *config) error {
		if lookup == nil {
			return errors.New("twofactor: nil phone lookup")
		}
		c.phoneLookup = lookup
		return nil
	}
}

// WithSubject binds verification to the app's user: subject returns the
// logged-in user's id for a request ("" when nobody is logged in). A
// session verified for one subject does not count as verified for another,
// and failed attempts are counted per subject.
//
// With WithSubject alone (visitors type a number), a verification proves that
// the visitor, signed in as the subject, holds the phone the code went to:
// some phone, not the one on file for the subject. It still stops a stolen
// password alone, binds the verification to the subject (a different user
// in the same browser is not verified), and counts wrong codes per subject.
// To prove the subject holds the number on file, add WithPhoneLookup.
func WithSubject(subject func(r *http.Request) string) Option {
	return func(c *config) error {
		if subject == nil {
			return errors.New("twofactor: nil subject func")
		}
		c.subject = subject
		return nil
	}
}

// WithDefaultRegion sets the region (two letters, such as "NL") whose
// national numbers visitors may type without the international prefix.
// Default none: numbers must start with + and the country code. New refuses
// a region that has no phone numbers of its own (such as "XX" or "UK", which
// is "GB").
func WithDefaultRegion(region string) Option {
	return func(c *config) error {
		if err := checkRegion(region); err != nil {
			return fmt.Errorf("twofactor: WithDefaultRegion: %w", err)
		}
		c.defaultRegion = strings.ToUpper(region)
		return nil
	}
}

// WithAllowedRegions names the regions an app serves (two-letter codes such
// as "NL", "BE"): only their numbers get codes, including those of regions
// refused by default. The entry "*" stands for every region not refused by
// default, so WithAllowedRegions("*", "IL") adds Israel to the default.
//
// Default: every region but those the big SMS providers refuse on a new
// account: Twilio's high-risk destinations (DZ, AZ, BD, IL, NG, OM, PK, PS,
// LK, TJ, TN), those they do not deliver to (CU, IR, KP, SY), and Somalia
// (SO). See the README's Security section. New refuses a region that has
// no phone numbers of its own, as WithDefaultRegion does.
func WithAllowedRegions(regions ...string) Option {
	return func(c *config) error {
		if len(regions) == 0 {
			// An empty list would refuse every number: a configuration
			// mistake (an unset environment variable), not a wish.
			return errors.New("twofactor: no allowed regions given")
		}
		c.allowedRegions = make(map[string]bool, len(regions))
		c.allowOtherRegions = false
		for _, r := range regions {
			if r == "*" {
				c.allowOtherRegions = true
				continue
			}
			if err := checkRegion(r); err != nil {
				return fmt.Errorf("twofactor: WithAllowedRegions: %w", err)
			}
			c.allowedRegions[strings.ToUpper(r)] = true
		}
		return nil
	}
}

// WithState sets the server-side state backend. Default: a new MemoryState,
// which suits an app on one machine; use redisstate for several.
func WithState(s State) Option {
	return func(c *config) error {
		if s == nil {
			return errors.New("twofactor: nil state")
		}
		c.state = s
		return nil
	}
}

// minSecretLen is the shortest secret WithSecret takes.
const minSecretLen = 32

// WithSecret sets the server secret that keys what the library keeps of
// secrets and numbers: recovery codes are stored as HMACs under it, and
// phone numbers appear in State keys only as keyed hashes, so a copy of
// the State (a Redis dump) reveals no customer's number and lets nobody
// test guesses offline. secret must be at least 32 random bytes
// (such as 32 bytes from `openssl rand -hex 32`), the same on every server,
// kept like a password; changing it restarts every send window and makes
// every recovery code made under the old one fail.
//
// Without it, New makes a random secret for this process: enough with the
// default MemoryState and a MemoryRecoveryStore, which live in this
// process too. New refuses any other State or RecoveryStore without
// WithSecret: several servers or a restart would each compute other keys.
func WithSecret(secret []byte) Option {
	return func(c *config) error {
		if len(secret) < minSecretLen {
			return fmt.Errorf("twofactor: WithSecret needs at least %d bytes, got %d (try: openssl rand -hex 32)", minSecretLen, len(secret))
		}
		c.secret = append([]byte(nil), secret...)
		return nil
	}
}

// WithMaxAttempts sets how many codes may be tried against one sent code.
// Default 3, the same number the MessageBird provider asks the API for.
func WithMaxAttempts(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 10 {
			return errors.New("twofactor: max attempts must be 1 to 10")
		}
		c.maxAttempts = n
		return nil
	}
}

// WithAccountAttempts limits wrong codes per guesser (the subject, or the
// client's address when there is no subject: an IPv4 address, an IPv6
// /64), whatever code, session or browser they come from. Default 10 per
// 24 hours. Each number also has two totals, one for its strangers and one
// for its owners (those who proved it), of 25 per 24 hours, or this limit
// when higher: a stranger can lock strangers out of a number, never its
// owner, and at most 100 guesses a day reach it (README, "Bounded
// guessing").
func WithAccountAttempts(l Limit) Option {
	return func(c *config) error {
		if !l.enabled() {
			return errors.New("twofactor: account attempt limit must be positive")
		}
		c.accountAttempts = l
		return nil
	}
}

// WithResendCooldown sets the least time between two codes sent for one
// session. Default 30 seconds. Zero disables it.
func WithResendCooldown(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return errors.New("twofactor: negative resend cooldown")
		}
		c.resendCooldown = d
		return nil
	}
}

// checkLimit reports a Limit that is neither zero (disabled) nor a positive
// count per a window of at most 30 days.
func checkLimit(what string, l Limit) error {
	if l == (Limit{}) || (l.N > 0 && l.Per > 0 && l.Per <= 30*24*time.Hour) {
		return nil
	}
	return fmt.Errorf("twofactor: %s limit %+v: want N > 0 per 0 < Per <= 30 days, or a zero Limit to disable it", what, l)
}

// WithPhoneSendLimit limits codes sent to one phone number. Default 5 per
// hour. A zero Limit disables it.
//
// A refusal by this window answers the same from any client at any time
// (429 with Retry-After the whole window), so nobody learns from it when or
// how often a number was sent codes.
func WithPhoneSendLimit(l Limit) Option {
	return func(c *config) error { c.phoneSends = l; return checkLimit("phone send", l) }
}

// WithIPSendLimit limits codes requested from one client IP. Default 20 per
// hour. An IPv6 client counts per /64 network, the block one subscriber is
// usually given. A zero Limit disables it. See WithNetworkSendLimit for
// wider networks.
func WithIPSendLimit(l Limit) Option {
	return func(c *config) error { c.ipSends = l; return checkLimit("IP send", l) }
}

// WithNetworkSendLimit limits codes requested from one network of clients,
// on top of WithIPSendLimit: bits 56 or 48 for IPv6 networks, 24 for IPv4.
// Defaults: 50 per hour per IPv6 /56 (the block a household is usually
// given: it never asks for that many), 200 per hour per IPv6 /48 (a site's
// block, free from tunnel brokers: without this one such block got about
// 1.3 million codes an hour at 20 per /64) and 200 per hour per IPv4 /24
// (one /24 got 5,120 codes an hour at 20 per address; a household or an
// office is one address or a few). Behind a carrier's NAT many people
// share a /24: an app with many mobile users there raises it. A zero Limit
// disables the limit.
func WithNetworkSendLimit(bits int, l Limit) Option {
	return func(c *config) error {
		if err := checkLimit(fmt.Sprintf("/%d send", bits), l); err != nil {
			return err
		}
		switch bits {
		case 56:
			c.net56Sends = l
		case 48:
			c.net48Sends = l
		case 24:
			c.net24Sends = l
		default:
			return fmt.Errorf("twofactor: network send limit for /%d: want 56 or 48 (IPv6) or 24 (IPv4)", bits)
		}
		return nil
	}
}

// WithRangeSendLimit limits how many distinct numbers of one number range
// (the number without its last four digits: 10,000 numbers, such as
// +31 6 1234 ····) are sent codes in the window: a pump sends to many
// numbers of one operator's block, one after the other, and this slows
// that block, not the whole country. A number counts once within its own
// window (WithPhoneSendLimit; two parallel first sends may count it
// twice); with that window disabled, every send counts. Default 30 per
// hour, which an app with a million customers in one country does not
// reach at its busiest hour. A zero Limit disables it.
func WithRangeSendLimit(l Limit) Option {
	return func(c *config) error { c.rangeSends = l; return checkLimit("number range send", l) }
}

// WithVoiceLimits sets the windows of voice calls ("call me instead", see
// WithVoice) per number and per client IP (an IPv6 /64), which calls count
// against on top of the windows of every code. Defaults 3 calls per number
// and 10 per IP an hour. A zero Limit disables one.
func WithVoiceLimits(perNumber, perIP Limit) Option {
	return func(c *config) error {
		if err := checkLimit("voice per number", perNumber); err != nil {
			return err
		}
		if err := checkLimit("voice per IP", perIP); err != nil {
			return err
		}
		c.voicePhoneSends, c.voiceIPSends = perNumber, perIP
		return nil
	}
}

// WithVoiceToLandlines lets voice calls (WithVoice) reach landlines.
// Default off: a call goes to mobile numbers only (and to numbers whose
// type cannot be told from the number, such as those of the US), since
// landline ranges are where toll fraud sends calls.
func WithVoiceToLandlines() Option {
	return func(c *config) error { c.voiceLandlines = true; return nil }
}

// WithInternationalNetworks allows codes to numbers of the satellite and
// international networks (country calling codes 870, 881, 882, 883 and
// 888), which are refused by default: they cost the most and are rarely a
// person's phone.
func WithInternationalNetworks() Option {
	return func(c *config) error { c.internationalNetworks = true; return nil }
}

// WithCountryBudget sets how many codes an hour may go to first-time
// numbers of one region (a two-letter code such as "NL"), all visitors
// together; region "*" sets the budget of every region without one of its
// own. Past it, sends to first-time numbers of the region must pass a
// challenge (WithChallenge) until the hour's window turns, and past a
// second budget as large for challenged sends, stop with "try again
// later"; known numbers (WithKnownNumbers) neither count nor stop. 0 sends no codes to the
// region at all.
//
// Defaults: 500 for every region, and 50 for a short list of destinations where SMS
// pumping is common: AZ, BY, CU, KG, KZ, TJ, TM, UZ. Numbers of no region
// (international networks) count under "ZZ".
func WithCountryBudget(region string, perHour int) Option {
	return func(c *config) error {
		if perHour < 0 {
			return fmt.Errorf("twofactor: country budget %d is negative", perHour)
		}
		if region == "*" {
			c.countryBudget = perHour
			return nil
		}
		if len(region) != 2 {
			return fmt.Errorf("twofactor: region %q is not a two-letter region code", region)
		}
		c.countryBudgets[strings.ToUpper(region)] = perHour
		return nil
	}
}

// WithGlobalBudget sets how many codes an hour may go out in all to
// first-time numbers, every country together: a circuit breaker on the SMS
// bill. Past it, every send to a first-time number must pass a challenge
// (WithChallenge) until the hour's window turns, and past a second budget
// as large for challenged sends, stops with "try again later"; each with
// an EventBudgetExceeded and one error log line per window. Known numbers
// (WithKnownNumbers) still get codes.
// Default 2,000; at least 1.
func WithGlobalBudget(perHour int) Option {
	return func(c *config) error {
		if perHour < 1 {
			return fmt.Errorf("twofactor: global budget %d must be at least 1", perHour)
		}
		c.globalBudget = perHour
		return nil
	}
}

// WithConversionWatch sets the conversion watch: when fewer than minPercent
// percent of the last sends codes sent to one country were verified, an
// EventConversionLow fires and one warning is logged (once per batch of
// sends codes). Defaults 20 percent of 50. WithConversionWatch(0, 0) turns
// the watch off.
func WithConversionWatch(minPercent, sends int) Option {
	return func(c *config) error {
		if minPercent == 0 && sends == 0 {
			c.conversionMin, c.conversionSends = 0, 0
			return nil
		}
		if minPercent < 1 || minPercent > 99 || sends < 10 || sends > 10_000 {
			return fmt.Errorf("twofactor: conversion watch %d%% of %d: want 1 to 99 percent of 10 to 10000 sends", minPercent, sends)
		}
		c.conversionMin, c.conversionSends = minPercent, sends
		return nil
	}
}

// WithConversionTrickle slows a country whose conversion is low (see
// WithConversionWatch) to perHour codes an hour, for an hour from the
// warning. Default off: a burst of abandoned sign-ins must not lock a whole
// country out unless the app asks for it.
func WithConversionTrickle(perHour int) Option {
	return func(c *config) error {
		if perHour < 1 {
			return fmt.Errorf("twofactor: conversion trickle %d must be at least 1", perHour)
		}
		c.conversionTrickle = perHour
		return nil
	}
}

// defaultKnownNumbers is how long a number stays known after it completed
// a verification (WithKnownNumbers).
const defaultKnownNumbers = 90 * 24 * time.Hour

// WithChallenge sets the Challenge a first-time number's sender must pass
// once the fraud guard's country or global budget is spent (challenge.go):
// the app's CAPTCHA of choice, shown by its own templates (WithTemplates).
// The default is a proof of work (about 2^17 hashes) the flow's page
// solves in about a second with flow.js and the server checks with one
// SHA-256; without JavaScript the page says how long to wait. A nil
// Challenge turns challenges off: a spent budget then pauses sending to
// first-time numbers ("try again later", 503) until its window turns.
func WithChallenge(c Challenge) Option {
	return func(cfg *config) error {
		cfg.challenge, cfg.challengeOff = c, c == nil
		return nil
	}
}

// WithKnownNumbers sets how long a number that completed a verification
// stays known: the fraud guard's country and global budgets (and the
// conversion watch, and the number range's limit) then leave it alone, so
// a flood of first-time numbers that spends a budget challenges (or
// pauses) first-time numbers only, never a customer who verified before. The number on file
// in known-number mode (WithPhoneLookup) is known too. The per-number,
// per-address and per-account limits still apply. The mark is kept in the
// State with this expiry, renewed at each verification. Default
// 90 days; 0 remembers no number (the number on file
// still counts as known); at most a year.
func WithKnownNumbers(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > 366*24*time.Hour {
			return errors.New("twofactor: known-number memory must be between 0 and a year")
		}
		c.knownFor = d
		return nil
	}
}

// WithStoreTimeout sets the deadline of every call the library makes to
// the session store and the State, each on its own: a slow backend then
// answers 503 within about this long, however many requests are waiting.
// Default 2 seconds; at most a minute.
func WithStoreTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 || d > time.Minute {
			return errors.New("twofactor: store timeout must be positive and at most a minute")
		}
		c.storeTimeout = d
		return nil
	}
}

// WithTrustedProxies names the reverse proxies (CIDR prefixes such as
// "10.0.0.0/8") whose X-Forwarded-For header is believed when finding the
// client IP (or the Forwarded header, with WithForwardedHeader). Default
// none: the client IP is the connection's address, and the headers are
// ignored.
func WithTrustedProxies(cidrs ...string) Option {
	return func(c *config) error {
		for _, s := range cidrs {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return fmt.Errorf("twofactor: trusted proxy: %w", err)
			}
			c.trustedProxies = append(c.trustedProxies, p.Masked())
		}
		return nil
	}
}

const (
	headerXForwardedFor = "X-Forwarded-For"
	headerForwarded     = "Forwarded"
)

// WithForwardedHeader names the header the trusted proxies (see
// WithTrustedProxies) record the client address in: "X-Forwarded-For" (the
// default) or "Forwarded" (RFC 7239, its for= parameters). Only the one
// header is read: a client could write the other one freely. Entries with a
// port, brackets or quotes are understood; an entry that names no address
// ("unknown", an obfuscated "_hidden", garbage) makes the connection's
// address count instead.
func WithForwardedHeader(name string) Option {
	return func(c *config) error {
		switch {
		case strings.EqualFold(name, headerXForwardedFor):
			c.proxyHeader = headerXForwardedFor
		case strings.EqualFold(name, headerForwarded):
			c.proxyHeader = headerForwarded
		default:
			return fmt.Errorf("twofactor: forwarded header %q is not X-Forwarded-For or Forwarded", name)
		}
		return nil
	}
}

// WithProviderTimeout sets the deadline of every provider call. Default 10
// seconds.
func WithProviderTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 || d > time.Minute {
			return errors.New("twofactor: provider timeout must be positive and at most a minute")
		}
		c.providerTimeout = d
		return nil
	}
}

// WithLogger sets the logger. Default slog.Default(). The library never logs
// codes, keys or full phone numbers.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("twofactor: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithEvents sets a function that receives every security event (code sent,
// verified, failed, locked, rate-limited, reset), for audit logs and user
// notifications. It is called synchronously; keep it quick.
func WithEvents(f func(Event)) Option {
	return func(c *config) error { c.events = f; return nil }
}

// WithTemplates overrides the flow's pages, stylesheet and script with
// files of the same names at the root of fsys: layout.html, parts.html
// (pieces shared by the pages), phone.html, code.html, message.html,
// style.css, flow.js, icon.svg (the browser tab's icon). Files fsys lacks
// keep the built-in version. See the
// built-in templates (templates/ in the source) for the data each page
// receives.
//
// New refuses, naming the fix, what would otherwise be silently ignored:
// another .html, .css or .js file at the root of fsys (a misspelled name),
// an fsys with none of those files at its root (pass fs.Sub(fsys,
// "templates") for an embedded directory), and a page text that doesn't
// exist (.T.phone_titel).
func WithTemplates(fsys fs.FS) Option {
	return func(c *config) error {
		if fsys == nil {
			return errors.New("twofactor: nil template FS")
		}
		c.templates = fsys
		return nil
	}
}

// WithVoice offers "call me instead": visitors may have the code read out in
// a phone call (MessageBird type "tts"). Default off.
func WithVoice() Option {
	return func(c *config) error { c.voice = true; return nil }
}

// WithLanguage picks the language of the pages for a request ("en" or
// "nl"). Default: the best match for the Accept-Language header, English
// when nothing matches.
func WithLanguage(f func(r *http.Request) string) Option {
	return func(c *config) error { c.language = f; return nil }
}

// WithTrustedOrigins allows cross-origin POSTs to the flow from these
// origins (such as "https://app.example.com"). Default none: the flow
// refuses cross-origin POSTs (net/http.CrossOriginProtection).
func WithTrustedOrigins(origins ...string) Option {
	return func(c *config) error {
		c.trustedOrigins = append(c.trustedOrigins, origins...)
		return nil
	}
}

// WithClock sets the clock used for expiry and ageing. Default time.Now.
// Tests use it to move time without sleeping.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("twofactor: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithDenyHandler makes the gate (Require, RequireFresh) call h for every
// request it refuses, instead of answering itself. DenyReason(r) tells h
// why: ErrNotVerified, ErrStepUpRequired, or an error matching
// ErrStoreUnavailable (the failure is logged before h is called). h answers
// as the app likes (a JSON body of its own, a login page, 404 to hide the
// route); it must not serve what the gate protects. By default the gate
// redirects pages into the flow, answers scripts and JSON clients 401, and
// store failures 503.
func WithDenyHandler(h http.Handler) Option {
	return func(c *config) error {
		if h == nil {
			return errors.New("twofactor: nil deny handler")
		}
		c.denyHandler = h
		return nil
	}
}

// WithEnrolment lets users prove a number the app does not have yet, and
// change the one it has: save receives the request and the number (E.164)
// a code has just proved, and stores it as the user's number (the subject
// of WithSubject). It is called at enrolment — in known-number mode, when
// the lookup finds no number, the flow asks for one instead of stopping —
// and when a verified user changes their number (GET prefix+"change"),
// which also signs the user out of every other session and forgets their
// remembered devices. If save fails, the visitor is told the number was
// not saved and is not verified. Needs WithSubject.
func WithEnrolment(save func(r *http.Request, phone string) error) Option {
	return func(c *config) error {
		if save == nil {
			return errors.New("twofactor: nil enrolment func")
		}
		c.enrol = save
		return nil
	}
}

// WithRecoveryCodes offers recovery codes: Manager.NewRecoveryCodes makes
// a set for a user, and the flow's pages offer "use a recovery code"
// beside the SMS. store keeps their hashes: nil keeps them in the State
// (so every server sharing it knows them; they live 400 days after the
// set was made or a code of it was last used), or a table in the
// app's database. Needs WithSubject.
func WithRecoveryCodes(store RecoveryStore) Option {
	return func(c *config) error {
		c.recovery = store
		c.recoveryOn = true
		return nil
	}
}

// maxRememberDevice is the longest WithRememberDevice takes.
const maxRememberDevice = 90 * 24 * time.Hour

// WithRememberDevice offers "remember this device" on the code page
// (unticked by default): a browser that ticked it signs in without a code
// for d (at most 90 days) from then. The device's token is kept in the
// State, so every server knows it; users list and revoke their devices
// (Manager.Devices, RevokeDevice), and SignOutEverywhere and a number change
// revoke them all. A remembered device does not count as fresh for
// RequireFresh. Needs WithSubject. Default off.
func WithRememberDevice(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Hour || d > maxRememberDevice {
			return errors.New("twofactor: remember-device duration must be between an hour and 90 days")
		}
		c.rememberFor = d
		return nil
	}
}

// Branding is what the flow's pages show of the app: its name and logo
// above every page, and a link back to the app below it.
type Branding struct {
	Name    string // such as "BirdBank", up to 16 characters: ends each page's title and starts confirmation SMS
	LogoURL string // a local path ("/logo.svg") or an https:// URL; shown beside the name
	HomeURL string // where "Back to Name" goes: a local path or an https:// URL; "" for no link
}

// WithBranding puts the app's name, logo and a "back to the app" link on
// every page of the flow. Default none: the pages name no app.
func WithBranding(b Branding) Option {
	return func(c *config) error {
		if utf8.RuneCountInString(b.Name) > maxAppName || !oneLine(b.Name) {
			return fmt.Errorf("twofactor: Branding.Name %q must be one line of at most %d characters (it starts confirmation SMS)", b.Name, maxAppName)
		}
		for _, u := range []string{b.LogoURL, b.HomeURL} {
			if u == "" {
				continue
			}
			if _, local := safeReturn(u); !local && !strings.HasPrefix(u, "https://") {
				return fmt.Errorf("twofactor: Branding URL %q must be a local path or https://", u)
			}
		}
		c.branding = b
		return nil
	}
}

// WithSMSOrigin makes codes fill themselves in on this site: host (such as
// "bank.example", the host name the visitor sees, without scheme or port)
// ends every SMS whose text the provider lets the app write (MessageBird)
// with the line "@bank.example #123456". Safari (through
// autocomplete="one-time-code") and Chrome on Android (the WebOTP API, which
// the flow's small script uses) then offer the code on that site only.
// Default none.
func WithSMSOrigin(host string) Option {
	return func(c *config) error {
		if !validHost(host) {
			return fmt.Errorf("twofactor: SMS origin %q is not a host name such as bank.example", host)
		}
		c.origin = strings.ToLower(host)
		return nil
	}
}

// validHost reports whether s is a DNS host name: dot-separated labels of
// letters, digits and inner hyphens.
func validHost(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
