package twofactor

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// The fraud guard: the defences against SMS pumping (toll fraud), where
// bots request codes to numbers whose operators share the fee with them.
//
//   - Numbers of the international networks (country calling codes 870
//     Inmarsat, 881 satellite, 882 and 883 international networks, 888
//     OCHA) are refused unless FraudGuard.InternationalNetworks is set: they are
//     costly and almost never a person's phone.
//   - Destinations the big providers refuse by default (refusedRegions)
//     get no codes unless the app names them in FraudGuard.Regions.
//   - SMS and voice go to mobile numbers only (phone.go's smsCapable, and
//     guardNumber for voice: landlines only with FraudGuard.VoiceToLandlines);
//     calls have their own, lower windows per number and per address
//     (Limits.VoicePhone and VoiceIP), on top of the windows every code counts against.
//   - Every country has a budget of codes per hour (defaultCountryBudget;
//     the regions of highRiskRegions start at defaultHighRiskBudget), and
//     all countries together a global one (defaultGlobalBudget): past a
//     budget, sends stop with "try again later", an EventBudgetExceeded and
//     one error log line per window, until the window turns.
//   - Many distinct numbers of one number range in an hour slow that range
//     (Limits.Range, limits.go).
//   - The budgets, the range limit and the conversion watch apply to
//     first-time numbers only: a number that completed a verification in
//     the last defaultKnownNumbers (its knownKey mark), or the number on
//     file in known-number mode, passes them, so a flood never pauses a
//     customer.
//   - A conversion watch per country: when fewer than 20 % of the last 50
//     codes sent to a country were verified, an EventConversionLow and one
//     warning; with FraudGuard.ConversionTrickle, that country's budget then drops
//     to a trickle for an hour.
//
// Every counter lives in the State, so the guard holds across servers.

// Fraud guard defaults. A healthy app with a few thousand users never
// reaches the budgets; a pumping bot does within minutes.
const (
	defaultCountryBudget   = 500  // codes per country per hour
	defaultHighRiskBudget  = 50   // codes per hour to each region of the high-risk list
	defaultGlobalBudget    = 2000 // codes per hour, all countries together
	defaultConversionMin   = 20   // percent of recent codes per country that should be verified
	defaultConversionSends = 50   // how many recent codes the conversion watch looks at
)

// Default voice limits: calls cost more than texts and may reach landlines.
var (
	defaultVoicePhoneSends = Limit{N: 3, Per: time.Hour}  // calls to one number
	defaultVoiceIPSends    = Limit{N: 10, Per: time.Hour} // calls requested from one client IP (IPv6: /64)
)

// budgetWindow is the window of the country and global budgets.
const budgetWindow = time.Hour

// conversionWindow is how long the conversion watch's counters wait for
// their batch of sends to fill up.
const conversionWindow = 24 * time.Hour

// highRiskRegions are destinations where SMS pumping traffic is common and
// termination fees are high: they start at defaultHighRiskBudget codes an
// hour instead of defaultCountryBudget. The list is short on purpose, a
// starting point; FraudGuard.CountryBudgets sets any region's budget, these
// included (0 turns a region off).
var highRiskRegions = []string{"AZ", "BY", "CU", "KG", "KZ", "TJ", "TM", "UZ"}

func highRiskBudgets() map[string]int {
	b := make(map[string]int, len(highRiskRegions))
	for _, r := range highRiskRegions {
		b[r] = defaultHighRiskBudget
	}
	return b
}

// refusedRegions are the destinations that get no codes unless the app
// names them in FraudGuard.Regions: the big providers refuse them on a new
// account too, and a pump that finds them open sends there first.
//
//   - Twilio's "high risk" messaging destinations, which every Twilio
//     account starts with turned off and which only its Console (not its
//     API) can turn on (Twilio error 30649): Algeria, Azerbaijan,
//     Bangladesh, Israel, Nigeria, Oman, Pakistan, the Palestinian
//     Territories, Sri Lanka, Tajikistan, Tunisia.
//   - Destinations the big providers do not deliver to at all: Cuba, Iran,
//     North Korea, Syria (Twilio stopped in 2025).
//   - Somalia: costly to reach, and a frequent destination of toll fraud;
//     the pump of issue 17 was still served there.
//
// Twilio's own default is narrower still (the account's home country
// only); an app that serves a few countries does best to name them.
var refusedRegions = []string{
	"DZ", "AZ", "BD", "IL", "NG", "OM", "PK", "PS", "LK", "TJ", "TN",
	"CU", "IR", "KP", "SY",
	"SO",
}

// regionAllowed reports whether numbers of region (two letters; "001" for
// the international networks, which guardNumber judges) may get codes:
// those FraudGuard.Regions names, else, if it named none or named "*",
// every region but refusedRegions.
func (m *Manager) regionAllowed(region string) bool {
	c := &m.cfg
	if c.allowedRegions[region] {
		return true
	}
	if c.allowedRegions != nil && !c.allowOtherRegions {
		return false
	}
	return !slices.Contains(refusedRegions, region)
}

// internationalNetworks are the country calling codes of satellite and
// international networks, refused unless FraudGuard.InternationalNetworks is set.
var internationalNetworks = []string{"+870", "+881", "+882", "+883", "+888"}

// guardNumber refuses numbers the fraud guard does not send to.
func (m *Manager) guardNumber(info phoneInfo, ch Channel) *flowError {
	if !m.regionAllowed(info.region) {
		return errRegion
	}
	if ch == Voice && info.kind == phonenumbers.FIXED_LINE && !m.cfg.voiceLandlines {
		return errNumberType // a call to a landline: only when the app asks for it
	}
	if !m.cfg.internationalNetworks {
		for _, cc := range internationalNetworks {
			if strings.HasPrefix(info.e164, cc) {
				return errNumberType
			}
		}
	}
	return nil
}

func regionOrZZ(region string) string {
	if region == "" || region == "001" {
		return "ZZ" // international networks, or a number no region claims
	}
	return region
}

// countryRules returns the budgets of codes per hour to region: its
// country budget and the trickle, which applies only while the conversion
// watch has slowed the region down (its slowKey mark, which reserve reads
// with the counters).
func (m *Manager) countryRules(region string) []rule {
	region = regionOrZZ(region)
	n, ok := m.cfg.countryBudgets[region]
	if !ok {
		n = m.cfg.countryBudget
	}
	rules := []rule{{name: "country budget", key: countryKey(region), limit: Limit{N: n, Per: budgetWindow}, budget: true, region: region}}
	if t := m.cfg.conversionTrickle; t > 0 && n > 0 {
		rules = append(rules, rule{name: "conversion trickle", key: trickleKey(region), limit: Limit{N: t, Per: budgetWindow}, budget: true, region: region, onlyIf: slowKey(region)})
	}
	return rules
}

func slowKey(region string) string     { return "slow:" + region }
func trickleKey(region string) string  { return "trickle:" + region }
func convSentKey(region string) string { return "conv:sent:" + region }
func convOKKey(region string) string   { return "conv:ok:" + region }
func alertKey(key string) string       { return "alert:" + key }

// budgetExceeded reports a budget refusal: an event and one error log line
// per budget and window, across all servers sharing the State.
func (m *Manager) budgetExceeded(r *http.Request, ru rule, ttl time.Duration) {
	first, err := m.cfg.state.SetNX(r.Context(), alertKey(ru.key), max(ttl, time.Second))
	if err != nil || !first {
		return
	}
	// Past the budget, first-time numbers get a challenge (challenge.go);
	// past the challenged budget, or without challenges, they are paused.
	then := "first-time numbers get a challenge until the window turns"
	if m.challenger() == nil || strings.HasSuffix(ru.key, ":challenged") {
		then = "sends to first-time numbers are paused until the window turns"
	}
	if ru.region == "" {
		m.log.Error("twofactor: global SMS budget reached; "+then,
			"budget", ru.limit.N, "per", ru.limit.Per.String(), "resumes_in", ttl.Round(time.Second).String())
	} else {
		m.log.Error("twofactor: country SMS budget reached; "+then,
			"region", ru.region, "budget", ru.limit.N, "per", ru.limit.Per.String(), "resumes_in", ttl.Round(time.Second).String())
	}
	m.emit(r, Event{Type: EventBudgetExceeded, Subject: m.subject(r), Region: ru.region})
}

// judgeConversion judges the conversion watch's batch of codes sent to
// region when the send that counted n (reserve counts each code to a
// first-time number) fills it: too few verified, and the watch warns (and,
// if set, slows the region down).
func (m *Manager) judgeConversion(ctx context.Context, r *http.Request, region string, n int64) {
	if n != int64(m.cfg.conversionSends) {
		return // only the send that fills the batch judges it
	}
	region = regionOrZZ(region)
	ok, _, err := m.cfg.state.Incr(ctx, convOKKey(region), 0, conversionWindow)
	if err != nil {
		return
	}
	_ = m.cfg.state.Delete(ctx, convSentKey(region))
	_ = m.cfg.state.Delete(ctx, convOKKey(region))
	if ok*100 >= int64(m.cfg.conversionMin)*n {
		return
	}
	slowed := false
	if m.cfg.conversionTrickle > 0 {
		if _, _, err := m.cfg.state.Incr(ctx, slowKey(region), 1, budgetWindow); err == nil {
			slowed = true
		}
	}
	m.log.Warn("twofactor: few codes sent to this country are verified: possible SMS pumping",
		"region", region, "verified", ok, "of", n, "slowed_to_trickle", slowed)
	m.emit(r, Event{Type: EventConversionLow, Subject: m.subject(r), Region: region})
}
