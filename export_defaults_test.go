package twofactor

import "net/http"

// The defaults, for the tests. They are unexported in the package (an app
// reads them in each option's doc comment); the tests assert the behaviour
// they set.
const (
	DefaultPrefix             = defaultPrefix
	DefaultSessionName        = defaultSessionName
	DefaultIdleTimeout        = defaultIdleTimeout
	DefaultResendCooldown     = defaultResendCooldown
	DefaultProviderTimeout    = defaultProviderTimeout
	DefaultMaxBody            = defaultMaxBody
	DefaultStoreTimeout       = defaultStoreTimeout
	DefaultChallengeBits      = defaultChallengeBits
	DefaultCodeLength         = defaultCodeLength
	DefaultConversionMin      = defaultConversionMin
	DefaultConversionSends    = defaultConversionSends
	DefaultCountryBudget      = defaultCountryBudget
	DefaultGlobalBudget       = defaultGlobalBudget
	DefaultHighRiskBudget     = defaultHighRiskBudget
	DefaultKnownNumbers       = defaultKnownNumbers
	DefaultMaxAttempts        = defaultMaxAttempts
	DefaultMemoryStateMaxKeys = defaultMemoryStateMaxKeys
	DefaultValidity           = defaultValidity
	MaxValidity               = maxValidity
)

// Limits and helpers the tests name; unexported in the package.
const (
	MaxActionDescription = maxActionDescription
	MaxActionDetails     = maxActionDetails
	MaxConfirmValidity   = maxConfirmValidity
	MaxConfirmAttempts   = maxConfirmAttempts
	MaxRememberDevice    = maxRememberDevice
	MinCookieKey         = minCookieKey
	MinFresh             = minFresh
	MinSecretLen         = minSecretLen
	RecoveryCodesLife    = recoveryCodesLife
	RecoveryCodeCount    = recoveryCodeCount
)

var (
	ErrStateFull   = errStateFull
	SolveChallenge = solveChallenge
)

// GatePassed reports whether Require (or RequireFresh) let r through: its
// Record is in the request (RecordFrom).
func GatePassed(r *http.Request) bool {
	_, ok := RecordFrom(r)
	return ok
}
