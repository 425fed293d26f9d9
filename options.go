package twofactor

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"slices"
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

// DefaultMaxAge is how long a verification lasts by default (Cookie.MaxAge).
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
	allowOtherRegions     bool // FraudGuard.Regions named "*"
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
	challenge             Challenge // FraudGuard.Challenge; nil: the built-in proof of work
	challengeOff          bool      // FraudGuard.NoChallenge: spent budgets pause, 503
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
	factors               factorsConfig // WithTOTP, WithoutSMSFallback (factors.go)
	rememberFor           time.Duration
	branding              Branding
	origin                string
	secret                []byte
	dev                   *development   // WithDevelopment (dev.go)
	denyHandler           http.Handler   // WithDenyHandler
	passkeys              *PasskeyConfig // WithPasskeys (passkey.go)
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

// Cookie configures the session's cookie and how long the verification it
// carries lasts. WithCookie takes its non-zero fields; the zero value
// changes nothing.
type Cookie struct {
	// Name is the session's name (the cookie's, for the cookie store).
	// Default "twofactor".
	//
	// When the cookie is Secure, has Path "/" and no Domain (the defaults),
	// New puts the "__Host-" prefix in front of the name: the cookie is
	// then "__Host-twofactor", and browsers refuse such a cookie from a
	// sibling subdomain or over plain http, so nobody can plant one that
	// shadows it. Insecure, a Domain or a Path other than "/" keep the name
	// as given.
	Name string
	// Domain is the cookie's Domain attribute. Default none: the cookie
	// goes to the host that set it only.
	Domain string
	// Path is the cookie's Path attribute; it must start with "/". Default
	// "/".
	Path string
	// SameSite is the cookie's SameSite attribute: http.SameSiteLaxMode
	// (the default) or http.SameSiteStrictMode. Others are refused: None
	// would send the cookie on cross-site requests.
	SameSite http.SameSite
	// Insecure drops the cookie's Secure attribute, so browsers send it
	// over plain http. Use it only for local development on
	// http://localhost (WithDevelopment sets it); in production the cookie
	// must be Secure (the default).
	Insecure bool
	// MaxAge is how long a verification lasts before the visitor must
	// verify again, checked on the server whatever the cookie says. It is
	// also the Max-Age of a verified session's cookie (an unverified
	// session's lives an hour at most). Default DefaultMaxAge (12 hours);
	// 1 minute to 30 days.
	MaxAge time.Duration
	// IdleTimeout is how long a verified session may go without a gated
	// request before it must verify again. Default 30 minutes; at least a
	// second.
	IdleTimeout time.Duration
}

// WithCookie sets the session's cookie and the life of its verification:
// each non-zero field of c replaces the default (or what an earlier
// WithCookie set). For plain http://localhost during development:
// WithCookie(Cookie{Insecure: true}), or WithDevelopment.
func WithCookie(ck Cookie) Option {
	return func(c *config) error {
		if ck.Name != "" {
			if strings.ContainsAny(ck.Name, " \t\r\n;,=\"") {
				return fmt.Errorf("twofactor: invalid Cookie.Name %q", ck.Name)
			}
			c.sessionName = ck.Name
		}
		if ck.Domain != "" {
			c.cookieDomain = ck.Domain
		}
		if ck.Path != "" {
			if !strings.HasPrefix(ck.Path, "/") {
				return fmt.Errorf("twofactor: Cookie.Path %q must start with /", ck.Path)
			}
			c.cookiePath = ck.Path
		}
		if ck.SameSite != 0 {
			if ck.SameSite != http.SameSiteLaxMode && ck.SameSite != http.SameSiteStrictMode {
				return errors.New("twofactor: Cookie.SameSite must be Lax or Strict")
			}
			c.sameSite = ck.SameSite
		}
		if ck.Insecure {
			c.insecureCookie = true
		}
		if ck.MaxAge != 0 {
			if ck.MaxAge < time.Minute || ck.MaxAge > 30*24*time.Hour {
				return errors.New("twofactor: Cookie.MaxAge must be between 1 minute and 30 days")
			}
			c.maxAge = ck.MaxAge
		}
		if ck.IdleTimeout != 0 {
			if ck.IdleTimeout < time.Second {
				return errors.New("twofactor: Cookie.IdleTimeout must be at least a second")
			}
			c.idleTimeout = ck.IdleTimeout
		}
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

// Limits are the windows that bound guessing and sending, all kept in the
// State. WithLimits hands them to a function to change: a field left alone
// keeps its default, and a zero Limit turns that window off. Every send
// passes all its windows or counts in none of them.
type Limits struct {
	// MaxAttempts is how many codes may be tried against one sent code, 1
	// to 10. Default 3, the same number the messagebird provider asks its
	// API for.
	MaxAttempts int
	// Account limits wrong codes per guesser (the subject, or the client's
	// address when there is no subject: an IPv4 address, an IPv6 /64),
	// whatever code, session or browser they come from. Default 10 per 24
	// hours; it cannot be turned off. Each number also has two totals, one
	// for its strangers and one for its owners (those who proved it), of
	// 25 per 24 hours, or this limit when higher: a stranger can lock
	// strangers out of a number, never its owner, and at most 100 guesses
	// a day reach it (README, "Bounded guessing").
	Account Limit
	// ResendCooldown is the least time between two codes sent for one
	// session. Default 30 seconds; zero turns it off.
	ResendCooldown time.Duration
	// Phone limits codes sent to one phone number. Default 5 per hour. A
	// refusal by this window answers the same from any client at any time
	// (429 with Retry-After the whole window), so nobody learns from it
	// when or how often a number was sent codes.
	Phone Limit
	// IP limits codes requested from one client IP; an IPv6 client counts
	// per /64 network, the block one subscriber is usually given. Default
	// 20 per hour.
	IP Limit
	// Net56, Net48 and Net24 limit codes requested from one network of
	// clients, on top of IP: an IPv6 /56 (the block a household is usually
	// given: it never asks for that many; default 50 per hour), an IPv6
	// /48 (a site's block, free from tunnel brokers: without this one such
	// block got about 1.3 million codes an hour at 20 per /64; default 200
	// per hour) and an IPv4 /24 (one /24 got 5,120 codes an hour at 20 per
	// address; a household or an office is one address or a few; default
	// 200 per hour). Behind a carrier's NAT many people share a /24: an
	// app with many mobile users there raises Net24.
	Net56, Net48, Net24 Limit
	// Range limits how many distinct numbers of one number range (the
	// number without its last four digits: 10,000 numbers, such as +31 6
	// 1234 ····) are sent codes in the window: a pump sends to many numbers
	// of one operator's block, one after the other, and this slows that
	// block, not the whole country. A number counts once within its own
	// window (Phone; two parallel first sends may count it twice); with
	// that window off, every send counts. Default 30 per hour, which an
	// app with a million customers in one country does not reach at its
	// busiest hour.
	Range Limit
	// VoicePhone and VoiceIP are the windows of voice calls ("call me
	// instead", see WithVoice) per number and per client IP (an IPv6 /64),
	// which calls count against on top of the windows of every code.
	// Defaults 3 calls per number and 10 per IP an hour.
	VoicePhone, VoiceIP Limit
}

// WithLimits changes the send and guess limits: set receives the current
// Limits (the defaults, or what an earlier WithLimits set) and changes the
// ones the app wants otherwise:
//
//	twofactor.WithLimits(func(l *twofactor.Limits) {
//		// Many mobile users behind one carrier's NAT:
//		l.Net24 = twofactor.Limit{N: 1000, Per: time.Hour}
//	})
//
// New refuses a Limit with a window over 30 days or a negative count.
func WithLimits(set func(*Limits)) Option {
	return func(c *config) error {
		if set == nil {
			return errors.New("twofactor: nil WithLimits func")
		}
		l := Limits{
			MaxAttempts: c.maxAttempts, Account: c.accountAttempts, ResendCooldown: c.resendCooldown,
			Phone: c.phoneSends, IP: c.ipSends, Net56: c.net56Sends, Net48: c.net48Sends, Net24: c.net24Sends,
			Range: c.rangeSends, VoicePhone: c.voicePhoneSends, VoiceIP: c.voiceIPSends,
		}
		set(&l)
		switch {
		case l.MaxAttempts < 1 || l.MaxAttempts > 10:
			return errors.New("twofactor: Limits.MaxAttempts must be 1 to 10")
		case !l.Account.enabled():
			return errors.New("twofactor: Limits.Account must be positive")
		case l.ResendCooldown < 0:
			return errors.New("twofactor: negative Limits.ResendCooldown")
		}
		for _, w := range []struct {
			what string
			l    Limit
		}{{"Phone", l.Phone}, {"IP", l.IP}, {"Net56", l.Net56}, {"Net48", l.Net48}, {"Net24", l.Net24},
			{"Range", l.Range}, {"VoicePhone", l.VoicePhone}, {"VoiceIP", l.VoiceIP}} {
			if err := checkLimit(w.what, w.l); err != nil {
				return err
			}
		}
		c.maxAttempts, c.accountAttempts, c.resendCooldown = l.MaxAttempts, l.Account, l.ResendCooldown
		c.phoneSends, c.ipSends, c.net56Sends, c.net48Sends, c.net24Sends = l.Phone, l.IP, l.Net56, l.Net48, l.Net24
		c.rangeSends, c.voicePhoneSends, c.voiceIPSends = l.Range, l.VoicePhone, l.VoiceIP
		return nil
	}
}

// checkLimit reports a Limit that is neither zero (disabled) nor a positive
// count per a window of at most 30 days.
func checkLimit(what string, l Limit) error {
	if l == (Limit{}) || (l.N > 0 && l.Per > 0 && l.Per <= 30*24*time.Hour) {
		return nil
	}
	return fmt.Errorf("twofactor: Limits.%s %+v: want N > 0 per 0 < Per <= 30 days, or a zero Limit to turn it off", what, l)
}

// FraudGuard is the guard against SMS pumping (toll fraud): which numbers
// may get codes at all, and how many codes an hour may go to numbers that
// never completed a verification (first-time numbers). WithFraudGuard hands
// it to a function to change; a field left alone keeps its default.
type FraudGuard struct {
	// Regions names the regions an app serves (two-letter codes such as
	// "NL", "BE"): only their numbers get codes, including those of
	// regions refused by default. The entry "*" stands for every region
	// not refused by default, so []string{"*", "IL"} adds Israel to the
	// default. New refuses an empty non-nil list and a region that has no
	// phone numbers of its own, as WithDefaultRegion does.
	//
	// Default nil: every region but those the big SMS providers refuse on
	// a new account: Twilio's high-risk destinations (DZ, AZ, BD, IL, NG,
	// OM, PK, PS, LK, TJ, TN), those they do not deliver to (CU, IR, KP,
	// SY), and Somalia (SO). See the README's Security section.
	Regions []string
	// InternationalNetworks allows codes to numbers of the satellite and
	// international networks (country calling codes 870, 881, 882, 883 and
	// 888). Default false: they cost the most and are rarely a person's
	// phone.
	InternationalNetworks bool
	// VoiceToLandlines lets voice calls (WithVoice) reach landlines.
	// Default false: a call goes to mobile numbers only (and to numbers
	// whose type cannot be told from the number, such as those of the US),
	// since landline ranges are where toll fraud sends calls.
	VoiceToLandlines bool
	// CountryBudgets is how many codes an hour may go to first-time
	// numbers of one region (a two-letter code such as "NL"), all visitors
	// together; the entry "*" is the budget of every region without one of
	// its own. Past it, sends to first-time numbers of the region must
	// pass a challenge (Challenge) until the hour's window turns, and past
	// a second budget as large for challenged sends, stop with "try again
	// later"; known numbers (KnownNumbers) neither count nor stop. 0 sends
	// no codes to the region at all. Defaults: 500 for "*", and 50 for a
	// short list of destinations where SMS pumping is common: AZ, BY, CU,
	// KG, KZ, TJ, TM, UZ. Numbers of no region (international networks)
	// count under "ZZ".
	CountryBudgets map[string]int
	// GlobalBudget is how many codes an hour may go out in all to
	// first-time numbers, every country together: a circuit breaker on the
	// SMS bill. Past it, every send to a first-time number must pass a
	// challenge until the hour's window turns, and past a second budget as
	// large for challenged sends, stops with "try again later"; each with
	// an EventBudgetExceeded and one error log line per window. Known
	// numbers still get codes. Default 2,000; at least 1.
	GlobalBudget int
	// ConversionMin and ConversionSends are the conversion watch: when
	// fewer than ConversionMin percent of the last ConversionSends codes
	// sent to one country were verified, an EventConversionLow fires and
	// one warning is logged (once per batch of ConversionSends codes).
	// Defaults 20 percent of 50; both 0 turn the watch off; otherwise 1 to
	// 99 percent of 10 to 10,000 sends.
	ConversionMin, ConversionSends int
	// ConversionTrickle, when not 0, slows a country whose conversion is
	// low to this many codes an hour, for an hour from the warning.
	// Default 0 (off): a burst of abandoned sign-ins must not lock a whole
	// country out unless the app asks for it.
	ConversionTrickle int
	// KnownNumbers is how long a number that completed a verification
	// stays known: the country and global budgets (and the conversion
	// watch, and the number range's limit) then leave it alone, so a flood
	// of first-time numbers that spends a budget challenges (or pauses)
	// first-time numbers only, never a customer who verified before. The
	// number on file in known-number mode (WithPhoneLookup) is known too.
	// The per-number, per-address and per-account limits still apply. The
	// mark is kept in the State with this expiry, renewed at each
	// verification. Default 90 days; 0 remembers no number (the number on
	// file still counts as known); at most a year.
	KnownNumbers time.Duration
	// Challenge is what a first-time number's sender must pass once a
	// country or the global budget is spent (see the Challenge type): the
	// app's CAPTCHA of choice, shown by its own templates (WithTemplates).
	// Nil, the default, is a proof of work (about 2^17 hashes) the flow's
	// page solves in about a second with flow.js and the server checks
	// with one SHA-256; without JavaScript the page says how long to wait.
	Challenge Challenge
	// NoChallenge turns challenges off: a spent budget then pauses sending
	// to first-time numbers ("try again later", 503) until its window
	// turns.
	NoChallenge bool
}

// defaultKnownNumbers is how long a number stays known after it completed
// a verification (FraudGuard.KnownNumbers).
const defaultKnownNumbers = 90 * 24 * time.Hour

// WithFraudGuard changes the fraud guard: set receives the current
// FraudGuard (the defaults, or what an earlier WithFraudGuard set) and
// changes what the app wants otherwise:
//
//	twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) {
//		g.Regions = []string{"NL", "BE"}
//		g.CountryBudgets["NL"] = 5000
//	})
func WithFraudGuard(set func(*FraudGuard)) Option {
	return func(c *config) error {
		if set == nil {
			return errors.New("twofactor: nil WithFraudGuard func")
		}
		g := c.fraudGuard()
		set(&g)
		return c.setFraudGuard(g)
	}
}

// fraudGuard returns c's fraud guard settings as a FraudGuard.
func (c *config) fraudGuard() FraudGuard {
	g := FraudGuard{
		InternationalNetworks: c.internationalNetworks, VoiceToLandlines: c.voiceLandlines,
		CountryBudgets: map[string]int{"*": c.countryBudget}, GlobalBudget: c.globalBudget,
		ConversionMin: c.conversionMin, ConversionSends: c.conversionSends, ConversionTrickle: c.conversionTrickle,
		KnownNumbers: c.knownFor, Challenge: c.challenge, NoChallenge: c.challengeOff,
	}
	for r, n := range c.countryBudgets {
		g.CountryBudgets[r] = n
	}
	if c.allowedRegions != nil {
		g.Regions = []string{}
		if c.allowOtherRegions {
			g.Regions = append(g.Regions, "*")
		}
		g.Regions = append(g.Regions, slices.Sorted(maps.Keys(c.allowedRegions))...)
	}
	return g
}

// regionSet reads FraudGuard.Regions: the regions named (nil for nil) and
// whether "*" stands for every region not refused by default.
func regionSet(regions []string) (named map[string]bool, others bool, err error) {
	if regions == nil {
		return nil, false, nil
	}
	named = make(map[string]bool, len(regions))
	for _, r := range regions {
		if r == "*" {
			others = true
			continue
		}
		if err := checkRegion(r); err != nil {
			return nil, false, err
		}
		named[strings.ToUpper(r)] = true
	}
	return named, others, nil
}

// setFraudGuard checks g and puts it in c.
func (c *config) setFraudGuard(g FraudGuard) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("twofactor: FraudGuard."+format, args...)
	}
	switch {
	case g.GlobalBudget < 1:
		return bad("GlobalBudget %d must be at least 1", g.GlobalBudget)
	case (g.ConversionMin != 0 || g.ConversionSends != 0) &&
		(g.ConversionMin < 1 || g.ConversionMin > 99 || g.ConversionSends < 10 || g.ConversionSends > 10_000):
		return bad("ConversionMin and ConversionSends %d%% of %d: want 1 to 99 percent of 10 to 10000 sends, or both 0", g.ConversionMin, g.ConversionSends)
	case g.ConversionTrickle < 0:
		return bad("ConversionTrickle %d is negative", g.ConversionTrickle)
	case g.KnownNumbers < 0 || g.KnownNumbers > 366*24*time.Hour:
		return bad("KnownNumbers must be between 0 and a year")
	case g.Regions != nil && len(g.Regions) == 0:
		// An empty list would refuse every number: a configuration
		// mistake (an unset environment variable), not a wish.
		return bad("Regions is empty")
	}
	budgets := make(map[string]int, len(g.CountryBudgets))
	countryBudget := c.countryBudget
	for r, n := range g.CountryBudgets {
		switch {
		case n < 0:
			return bad("CountryBudgets[%q] %d is negative", r, n)
		case r == "*":
			countryBudget = n
		case len(r) != 2:
			return bad("CountryBudgets: %q is not a two-letter region code", r)
		default:
			budgets[strings.ToUpper(r)] = n
		}
	}
	allowed, other, err := regionSet(g.Regions)
	if err != nil {
		return bad("Regions: %w", err)
	}
	c.allowedRegions, c.allowOtherRegions = allowed, other
	c.internationalNetworks, c.voiceLandlines = g.InternationalNetworks, g.VoiceToLandlines
	c.countryBudget, c.countryBudgets, c.globalBudget = countryBudget, budgets, g.GlobalBudget
	c.conversionMin, c.conversionSends, c.conversionTrickle = g.ConversionMin, g.ConversionSends, g.ConversionTrickle
	c.knownFor = g.KnownNumbers
	c.challenge, c.challengeOff = g.Challenge, g.NoChallenge
	return nil
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
