package twofactor

// The default limits, for the external tests. They are unexported in the
// package (no mutable package variables in the API); the option docs and
// the README state their values.
var (
	DefaultAccountAttempts = defaultAccountAttempts
	DefaultPhoneSends      = defaultPhoneSends
	DefaultIPSends         = defaultIPSends
	DefaultNet56Sends      = defaultNet56Sends
	DefaultNet48Sends      = defaultNet48Sends
	DefaultNet24Sends      = defaultNet24Sends
	DefaultRangeSends      = defaultRangeSends
	DefaultVoicePhoneSends = defaultVoicePhoneSends
	DefaultVoiceIPSends    = defaultVoiceIPSends
)
