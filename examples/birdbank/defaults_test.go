package main

import "time"

// twofactor's defaults that these tests rely on, as its options' doc
// comments state them (the package does not export them).
const (
	tfDefaultSessionName    = "twofactor"      // the session's name
	tfDefaultResendCooldown = 30 * time.Second // between two codes of one session
	tfDefaultMaxAttempts    = 3                // tries per code
	tfDefaultValidity       = 5 * time.Minute  // how long a code works
)
