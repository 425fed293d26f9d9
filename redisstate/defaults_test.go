package redisstate_test

import "time"

// twofactor's defaults that these tests rely on, as its options' doc
// comments state them (the package does not export them).
const (
	tfDefaultSessionName  = "twofactor"         // the session's name
	tfDefaultStoreTimeout = 2 * time.Second     // the store budget of a request
	tfDefaultMaxAttempts  = 3                   // tries per code
	tfDefaultIdleTimeout  = 30 * time.Minute    // a verified session's idle time
	tfDefaultKnownNumbers = 90 * 24 * time.Hour // how long a verified number stays known
)
