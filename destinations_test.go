package twofactor_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/go-twofactor/twofactor"
)

// exampleNumber returns the phone number library's example number of the
// given type for region, in E.164.
func exampleNumber(t *testing.T, region string, kind phonenumbers.PhoneNumberType) string {
	t.Helper()
	n := phonenumbers.GetExampleNumberForType(region, kind)
	if n == nil {
		t.Fatalf("no example %v number for %s", kind, region)
	}
	return phonenumbers.Format(n, phonenumbers.E164)
}

// The destinations the big providers refuse on a new account get no codes
// by default, by SMS or voice; the app names the countries it serves to
// reach one of them.
func TestSecurity_RefusedDestinations(t *testing.T) {
	// The README's list: Twilio's high-risk destinations, those no big
	// provider delivers to, and Somalia.
	refused := []string{"DZ", "AZ", "BD", "IL", "NG", "OM", "PK", "PS", "LK", "TJ", "TN", "CU", "IR", "KP", "SY", "SO"}
	e := proxied(t, twofactor.WithVoice())
	n := 0
	ip := func() string { n++; return fmt.Sprintf("192.0.2.%d", n) }
	for _, region := range refused {
		kind := phonenumbers.MOBILE
		if phonenumbers.GetExampleNumberForType(region, kind) == nil {
			kind = phonenumbers.FIXED_LINE_OR_MOBILE
		}
		p := exampleNumber(t, region, kind)
		secWant(t, region+" mobile by SMS", e.from(ip()).send(p), http.StatusBadRequest, "region_not_allowed")
		secWant(t, region+" mobile by voice", e.from(ip()).call(p), http.StatusBadRequest, "region_not_allowed")
	}
	if got := e.prov.sends.Load(); got != 0 {
		t.Fatalf("%d codes went to destinations refused by default", got)
	}
	somalia := exampleNumber(t, "SO", phonenumbers.MOBILE)
	israel := exampleNumber(t, "IL", phonenumbers.MOBILE)
	secWant(t, "a Dutch mobile", e.from(ip()).send(nlPhone(1)), http.StatusOK, "")

	t.Run("an app that serves Somalia names it", func(t *testing.T) {
		e := proxied(t, twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.Regions = []string{"SO", "NL"} }))
		secWant(t, "Somalia, named", e.from("192.0.2.1").send(somalia), http.StatusOK, "")
		secWant(t, "NL, named", e.from("192.0.2.2").send(nlPhone(1)), http.StatusOK, "")
		secWant(t, "BE, not named", e.from("192.0.2.3").send("+32470123456"), http.StatusBadRequest, "region_not_allowed")
		secWant(t, "IL, not named", e.from("192.0.2.4").send(israel), http.StatusBadRequest, "region_not_allowed")
	})
	t.Run("* keeps the default and adds to it", func(t *testing.T) {
		e := proxied(t, twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.Regions = []string{"*", "il"} }))
		secWant(t, "Israel, named", e.from("192.0.2.1").send(israel), http.StatusOK, "")
		secWant(t, "BE, by *", e.from("192.0.2.2").send("+32470123456"), http.StatusOK, "")
		secWant(t, "Somalia, still refused", e.from("192.0.2.3").send(somalia), http.StatusBadRequest, "region_not_allowed")
	})
}

// Voice calls go to mobile numbers (and numbers whose type the number does
// not tell, as in the US) unless the app lets them reach landlines.
func TestSecurity_VoiceToLandlines(t *testing.T) {
	landline := exampleNumber(t, "NL", phonenumbers.FIXED_LINE)
	us := exampleNumber(t, "US", phonenumbers.FIXED_LINE_OR_MOBILE)
	e := proxied(t, twofactor.WithVoice())
	secWant(t, "a call to a landline", e.from("192.0.2.1").call(landline), http.StatusBadRequest, "unsupported_number")
	secWant(t, "an SMS to a landline", e.from("192.0.2.2").send(landline), http.StatusBadRequest, "unsupported_number")
	if got := e.prov.sends.Load(); got != 0 {
		t.Fatalf("%d codes went to a landline", got)
	}
	secWant(t, "a call to a mobile", e.from("192.0.2.3").call(nlPhone(1)), http.StatusOK, "")
	secWant(t, "a call to a US number", e.from("192.0.2.4").call(us), http.StatusOK, "")

	e = proxied(t, twofactor.WithVoice(), twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) { g.VoiceToLandlines = true }))
	secWant(t, "a call to a landline, allowed", e.from("192.0.2.1").call(landline), http.StatusOK, "")
	secWant(t, "an SMS to a landline, still refused", e.from("192.0.2.2").send(landline), http.StatusBadRequest, "unsupported_number")
}
