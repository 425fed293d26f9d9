package twofactor

import (
	"errors"
	"net/http"
	"time"
)

// How the flow answers a provider's failure, by its class (see
// ErrConfiguration in verify.go). send.go, check.go and confirm.go call
// these; they are kept here, apart, so the flow's files change little.

// A provider's failures, by class (providerFailure).
var (
	errProviderDown    = &flowError{status: http.StatusServiceUnavailable, code: "provider_unavailable", msg: "err_provider_down"}
	errProviderLimited = &flowError{status: http.StatusTooManyRequests, code: "provider_rate_limited", msg: "err_provider_slow"}
	errUncertain       = &flowError{status: http.StatusServiceUnavailable, code: "send_outcome_unknown", msg: "err_uncertain", retryAfter: time.Minute}
	errCheckDown       = &flowError{status: http.StatusServiceUnavailable, code: "provider_unavailable", msg: "err_check_down"}
	errDestination     = &flowError{status: http.StatusBadRequest, code: "unsupported_number", msg: "err_destination", field: "phone"}
)

// providerFailure is the flow's answer to a provider's failure to send
// (check false) or to check a code (check true), by the failure's class
// (see ErrConfiguration): a refused number 400 on the phone field; a rate
// limit 429 with the provider's Retry-After; an unknown outcome 503 asking
// to wait for the code (a send) or to try again; an outage, a configuration
// error or no balance 503 asking to try again (later, for the latter two,
// which a moment will not mend).
func providerFailure(err error, check bool) *flowError {
	var rl *RateLimitError
	switch {
	case errors.Is(err, ErrInvalidPhone):
		return errPhone
	case errors.Is(err, ErrNumberRefused):
		return errDestination
	case errors.As(err, &rl):
		fe := *errProviderLimited
		fe.retryAfter = rl.RetryAfter
		return &fe
	case errors.Is(err, ErrRateLimited):
		return errProviderLimited
	case check && (errors.Is(err, ErrUnavailable)):
		return errCheckDown // both outage and unknown outcome: the try was given back
	case errors.Is(err, ErrUnknownOutcome):
		return errUncertain
	case errors.Is(err, ErrConfiguration), errors.Is(err, ErrNoBalance):
		return errProviderDown
	}
	return errProvider
}

// checkNotJudged reports whether a check's error says nothing about the
// code (an outage, an unknown outcome, a provider's limit or set-up), so
// the try it was counted as is given back.
func checkNotJudged(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRateLimited) ||
		errors.Is(err, ErrConfiguration) || errors.Is(err, ErrNoBalance)
}
