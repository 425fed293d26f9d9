package twofactor

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// maxPhoneInput bounds what is handed to the phone number parser.
const maxPhoneInput = 40

// ParsePhone parses a phone number as a person would type it and returns it
// in E.164 form ("+31612345678"). Numbers without a leading + (or 00) are
// read as national numbers of defaultRegion, a two-letter region code such
// as "NL"; with an empty defaultRegion they must be international.
// It returns an error wrapping ErrInvalidPhone for anything that is not a
// valid, dialable number.
func ParsePhone(input, defaultRegion string) (string, error) {
	n, err := parsePhone(input, defaultRegion)
	if err != nil {
		return "", err
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

func parsePhone(input, defaultRegion string) (*phonenumbers.PhoneNumber, error) {
	input = strings.TrimSpace(input)
	if input == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidPhone)
	}
	if len(input) > maxPhoneInput || !utf8.ValidString(input) {
		return nil, fmt.Errorf("%w: not a phone number", ErrInvalidPhone)
	}
	region := strings.ToUpper(defaultRegion)
	if region == "" {
		region = "ZZ" // unknown region: only international numbers parse
		if rest, ok := strings.CutPrefix(input, "00"); ok {
			// ZZ has no international prefix of its own; take the
			// common 00 (as the doc comment promises) for +.
			input = "+" + rest
		} else if c := input[0]; c >= '1' && c <= '9' {
			// Without a home region a number can only be international:
			// read "31 6 12345678" as "+31 6 12345678". This also rescues
			// a "+" that hand-made form encoding (curl -d phone=+31...)
			// turned into a space.
			input = "+" + input
		}
	}
	n, err := phonenumbers.Parse(input, region)
	if (err != nil || !phonenumbers.IsValidNumber(n)) && region != "ZZ" {
		if c := input[0]; c >= '1' && c <= '9' {
			// Not a national number of region: it may be an international
			// one whose "+" was lost ("31 6 12345678", or a "+" that form
			// encoding turned into a space).
			n, err = phonenumbers.Parse("+"+input, "ZZ")
		}
	}
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return nil, fmt.Errorf("%w: not a valid number", ErrInvalidPhone)
	}
	return n, nil
}

// phoneInfo is what the flow needs to know about a number before it pays for
// an SMS to it.
type phoneInfo struct {
	e164   string
	region string // two-letter region, "" when it cannot be told
	kind   phonenumbers.PhoneNumberType
	masked string
	// onFile: the app vouches for the number (known-number mode's number
	// on file, or one this visitor verified): it passes the fraud guard's
	// budgets like a number verified lately (fraud.go).
	onFile bool
	// challenge and answer: a Challenge's token and its answer, sent with
	// the request (challenge.go); challenged: the answer was accepted.
	challenge, answer string
	challenged        bool
}

func inspectPhone(input, defaultRegion string) (phoneInfo, error) {
	n, err := parsePhone(input, defaultRegion)
	if err != nil {
		return phoneInfo{}, err
	}
	return phoneInfo{
		e164:   phonenumbers.Format(n, phonenumbers.E164),
		region: phonenumbers.GetRegionCodeForNumber(n),
		kind:   phonenumbers.GetNumberType(n),
		masked: maskParsed(n),
	}, nil
}

// smsCapable reports whether a number of this type can sensibly receive a
// code. Premium-rate, shared-cost, pager and similar numbers are where SMS
// pumping fraud sends its traffic.
func smsCapable(t phonenumbers.PhoneNumberType, voice bool) bool {
	switch t {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
		return true
	case phonenumbers.FIXED_LINE:
		return voice // a landline can take a call, not a text
	}
	return false
}

// MaskPhone returns a number fit for a page or a log line: the country code,
// the first digit and the last three stay, the rest becomes dots, as in
// "+31 6 •••••678". Input that does not parse as an international number is
// masked entirely.
func MaskPhone(e164 string) string {
	n, err := parsePhone(e164, "")
	if err != nil {
		return "•••"
	}
	return maskParsed(n)
}

func maskParsed(n *phonenumbers.PhoneNumber) string {
	s := phonenumbers.Format(n, phonenumbers.INTERNATIONAL) // "+31 6 12345678"
	cc := fmt.Sprintf("+%d", n.GetCountryCode())
	rest := strings.TrimPrefix(s, cc)
	total := 0
	for _, r := range rest {
		if r >= '0' && r <= '9' {
			total++
		}
	}
	var b strings.Builder
	b.WriteString(cc)
	seen := 0
	for _, r := range rest {
		if r >= '0' && r <= '9' {
			seen++
			if seen > 1 && seen <= total-3 {
				b.WriteRune('•')
				continue
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

// phoneError tells why a typed number was refused: not a number at all, a
// national number with no country to read it in, or not a valid number.
func phoneError(input, region string) *flowError {
	s := strings.TrimSpace(input)
	if strings.IndexFunc(s, func(c rune) bool { return !strings.ContainsRune("0123456789 +-().", c) }) >= 0 {
		return errPhoneJunk
	}
	if region == "" && strings.HasPrefix(s, "0") && !strings.HasPrefix(s, "00") {
		return errPhoneCC
	}
	return errPhone
}
