package twofactor

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// country is one choice of the phone page's country list.
type country struct {
	Region string // two letters, such as "NL"; "" for "none: type the + and code"
	Code   int    // calling code, such as 31
	Name   string // in the page's language
	// Example is a mobile number of the region as typed after choosing
	// it, without the country code ("6 12345678" for NL); "" when the
	// phone number library has none.
	Example string
}

var (
	countriesOnce sync.Once
	countryLists  map[string][]country // page language → sorted list
)

// countries returns the country choices in the page language lang, sorted
// by name: every region the phone number library knows.
func countries(lang string) []country {
	countriesOnce.Do(func() {
		countryLists = make(map[string][]country)
		for _, l := range []string{"en", "nl"} {
			tag := language.Make(l)
			namer := display.Regions(tag)
			var list []country
			for region := range phonenumbers.GetSupportedRegions() {
				r, err := language.ParseRegion(region)
				name := ""
				if err == nil {
					name = namer.Name(r)
				}
				if name == "" {
					name = region
				}
				list = append(list, country{Region: region, Code: phonenumbers.GetCountryCodeForRegion(region), Name: name, Example: mobileExample(region)})
			}
			c := collate.New(tag)
			slices.SortFunc(list, func(a, b country) int { return c.CompareString(a.Name, b.Name) })
			countryLists[l] = list
		}
	})
	return countryLists[lang]
}

// mobileExample returns a mobile number of region written as it is typed
// after choosing the region: the international form less the "+" and
// country code ("6 12345678" for NL, "7400 123456" for GB), or "".
func mobileExample(region string) string {
	n := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE)
	if n == nil {
		return ""
	}
	intl := phonenumbers.Format(n, phonenumbers.INTERNATIONAL)
	_, national, ok := strings.Cut(intl, " ")
	if !ok {
		return ""
	}
	return national
}

// exampleOf returns the mobile example of region in list, or "".
func exampleOf(list []country, region string) string {
	for _, c := range list {
		if c.Region == region {
			return c.Example
		}
	}
	return ""
}

// supportedRegion reports whether region is a two-letter region the phone
// number library knows.
func supportedRegion(region string) bool {
	return len(region) == 2 && phonenumbers.GetSupportedRegions()[strings.ToUpper(region)]
}

// guessRegion picks the country the phone page preselects: the app's
// default region, else the region of the visitor's Accept-Language ("nl-NL",
// or "nl" read as the Netherlands), else none.
func guessRegion(defaultRegion, acceptLanguage string) string {
	if defaultRegion != "" {
		return defaultRegion
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return ""
	}
	r, conf := tags[0].Region()
	if conf == language.No || !supportedRegion(r.String()) {
		return ""
	}
	return r.String()
}

// checkRegion explains a region code that no phone number belongs to.
func checkRegion(region string) error {
	if supportedRegion(region) {
		return nil
	}
	if strings.EqualFold(region, "UK") {
		return errors.New(`region "UK" is not a region code: the United Kingdom's is "GB"`)
	}
	return fmt.Errorf("region %q is not a region code with phone numbers: use ISO 3166-1 alpha-2 letters such as \"NL\", \"BE\" or \"GB\"", region)
}

// countries is the phone form's country list in lang without the regions
// the Manager refuses (FraudGuard.Regions and the refused destinations):
// nobody picks a country only to be told it gets no codes.
func (m *Manager) countries(lang string) []country {
	m.countriesOnce.Do(func() {
		m.countryLists = make(map[string][]country)
		for _, l := range []string{"en", "nl"} {
			for _, c := range countries(l) {
				if m.regionAllowed(c.Region) {
					m.countryLists[l] = append(m.countryLists[l], c)
				}
			}
		}
	})
	if l, ok := m.countryLists[lang]; ok {
		return l
	}
	return m.countryLists["en"]
}
