package twofactor

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
)

var (
	ErrStateFull   = errStateFull
	SolveChallenge = solveChallenge
)
