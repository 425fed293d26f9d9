package twofactor

import (
	"net/http"
	"time"
)

// Event is a security-relevant moment, passed to the function set with
// WithEvents.
type Event struct {
	Type    EventType
	Time    time.Time
	Subject string // the app's user, if WithSubject is set
	Phone   string // full E.164 number: the app decides what to keep; the library's logs mask it
	IP      string // client IP as found by the trusted-proxy rules; "" for calls without a request
	Method  Method // for EventVerified: how; for EventFactorAdded and EventFactorRemoved: which kind; MethodTOTP and MethodPasskey on a refused authenticator-app code or passkey sign-in (EventCheckFailed), MethodPasskey on a passkey confirmation's EventConfirmed, EventConfirmationFailed and EventConfirmationExpired
	Device  string // for EventDeviceRemembered and EventDeviceRevoked: the device's ID; for EventFactorAdded and EventFactorRemoved: the factor's ID
	Err     error  // for EventCheckFailed and EventConfirmationFailed: the reason, matching a sentinel error
	Region  string // for EventBudgetExceeded and EventConversionLow: the two-letter region ("" for the global budget)
}

// EventType says what happened.
type EventType string

// Event types.
const (
	EventCodeSent            EventType = "code_sent"
	EventVerified            EventType = "verified" // by any method: see Event.Method
	EventCheckFailed         EventType = "check_failed"
	EventLocked              EventType = "locked"
	EventRateLimited         EventType = "rate_limited"
	EventReset               EventType = "reset"
	EventEnrolled            EventType = "enrolled"              // a first number proved and handed to WithEnrolment
	EventNumberChanged       EventType = "number_changed"        // a new number proved; other sessions signed out
	EventRecoveryCodeUsed    EventType = "recovery_code_used"    // a recovery code verified a session
	EventRecoveryCodesNew    EventType = "recovery_codes_new"    // a new set replaced the old one
	EventDeviceRemembered    EventType = "device_remembered"     // "remember this device" was ticked
	EventDeviceRevoked       EventType = "device_revoked"        // one remembered device forgotten
	EventSignedOutEverywhere EventType = "signed_out_everywhere" // every session and device of a subject revoked
	EventUnlocked            EventType = "unlocked"              // lockout and send windows cleared
	EventFactorAdded         EventType = "factor_added"          // an authenticator app or passkey enrolled; see Event.Method and Event.Device
	EventFactorRemoved       EventType = "factor_removed"        // a factor removed (RemoveFactor); other sessions signed out
	EventConfirmationSent    EventType = "confirmation_sent"     // a code for one action went out (StartConfirmation)
	EventConfirmed           EventType = "confirmed"             // an action's code was right: the action is confirmed, once
	EventConfirmationFailed  EventType = "confirmation_failed"   // a wrong, used-up or replayed confirmation code; see Event.Err
	EventConfirmationExpired EventType = "confirmation_expired"  // a confirmation code came back too late
	// EventBudgetExceeded: a country's or the global budget of codes per
	// hour to first-time numbers is spent: they get a challenge until the
	// window turns (FraudGuard.Challenge), or, for the budget of challenged sends
	// or with challenges off, sends to them stop. Once per budget and
	// window.
	EventBudgetExceeded EventType = "budget_exceeded"
	// EventConversionLow: few of the codes recently sent to a country were
	// verified, a sign of SMS pumping. Once per batch of sends watched.
	EventConversionLow EventType = "conversion_low"
)

// emit passes e, stamped with the time and r's client IP, to the app.
func (m *Manager) emit(r *http.Request, e Event) {
	if m.cfg.events == nil {
		return
	}
	e.IP = m.clientIP(r)
	m.emitCtx(e)
}

// emitCtx passes e, stamped with the time, to the app: for calls made
// outside a visitor's request.
func (m *Manager) emitCtx(e Event) {
	if m.cfg.events == nil {
		return
	}
	e.Time = m.cfg.now()
	m.cfg.events(e)
}
