package twofactor

import (
	"maps"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"
)

// apply runs opts on the defaults, as New does.
func apply(t *testing.T, opts ...Option) config {
	t.Helper()
	c := defaultConfig()
	c.countryBudgets = maps.Clone(c.countryBudgets)
	for _, o := range opts {
		if err := o(&c); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// WithLimits, WithFraudGuard and WithCookie change only what they name: a
// function that changes nothing keeps every default, and a second call
// starts from what the first one set.
func TestGroupedOptionsKeepWhatTheyDoNotName(t *testing.T) {
	def := apply(t)
	c := apply(t, WithLimits(func(*Limits) {}), WithFraudGuard(func(*FraudGuard) {}), WithCookie(Cookie{}))
	see := func(c config) optionsView {
		return optionsView{
			[12]any{c.maxAttempts, c.accountAttempts, c.resendCooldown, c.phoneSends, c.ipSends, c.net56Sends, c.net48Sends, c.net24Sends, c.rangeSends, c.voicePhoneSends, c.voiceIPSends, len(c.countryBudgets)},
			[11]any{c.internationalNetworks, c.voiceLandlines, c.countryBudget, c.globalBudget, c.conversionMin, c.conversionSends, c.conversionTrickle, c.knownFor, c.challenge, c.challengeOff, c.allowOtherRegions},
			[7]any{c.sessionName, c.cookieDomain, c.cookiePath, c.sameSite, c.insecureCookie, c.maxAge, c.idleTimeout},
			slices.Sorted(maps.Keys(c.allowedRegions)),
		}
	}
	if got, want := see(c), see(def); !reflect.DeepEqual(got, want) || !maps.Equal(c.countryBudgets, def.countryBudgets) || c.allowedRegions != nil {
		t.Fatalf("options that name nothing changed the config:\n got %+v\nwant %+v", got, want)
	}

	hour := time.Hour
	c = apply(t,
		WithLimits(func(l *Limits) { l.Phone = Limit{N: 2, Per: hour} }),
		WithLimits(func(l *Limits) {
			if l.Phone != (Limit{N: 2, Per: hour}) {
				t.Errorf("the second WithLimits sees Phone %+v, not what the first set", l.Phone)
			}
			l.Net24 = Limit{} // off
		}),
		WithFraudGuard(func(g *FraudGuard) { g.Regions = []string{"*", "il"}; g.CountryBudgets["NL"] = 5000 }),
		WithFraudGuard(func(g *FraudGuard) {
			if !slices.Equal(g.Regions, []string{"*", "IL"}) || g.CountryBudgets["NL"] != 5000 || g.CountryBudgets["AZ"] != defaultHighRiskBudget || g.CountryBudgets["*"] != defaultCountryBudget {
				t.Errorf("the second WithFraudGuard sees %v and %v", g.Regions, g.CountryBudgets)
			}
			g.NoChallenge = true
		}),
		WithCookie(Cookie{Name: "bank", SameSite: http.SameSiteStrictMode}),
		WithCookie(Cookie{MaxAge: hour}),
	)
	switch {
	case c.phoneSends != (Limit{N: 2, Per: hour}) || c.net24Sends != (Limit{}) || c.ipSends != defaultIPSends:
		t.Errorf("limits: phone %+v, /24 %+v, IP %+v", c.phoneSends, c.net24Sends, c.ipSends)
	case !c.allowOtherRegions || !c.allowedRegions["IL"] || len(c.allowedRegions) != 1 || c.countryBudgets["NL"] != 5000 || !c.challengeOff:
		t.Errorf("fraud guard: regions %v (others %t), budgets %v, challenges off %t", c.allowedRegions, c.allowOtherRegions, c.countryBudgets, c.challengeOff)
	case c.sessionName != "bank" || c.sameSite != http.SameSiteStrictMode || c.maxAge != hour || c.idleTimeout != defaultIdleTimeout:
		t.Errorf("cookie: %q %v %v %v", c.sessionName, c.sameSite, c.maxAge, c.idleTimeout)
	}
	if def.countryBudgets["NL"] != 0 {
		t.Error("WithFraudGuard changed the defaults' map")
	}
}

// optionsView is what the grouped options set, for comparing.
type optionsView struct {
	limits  [12]any
	fraud   [11]any
	cookie  [7]any
	regions []string
}
