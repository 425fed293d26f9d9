package twofactor

import (
	"net/http"
	"time"
)

// Event is a security-relevant moment in the flow, passed to the function
// set with WithEvents.
type Event struct {
	Type    EventType
	Time    time.Time
	Subject string // the app's user, if WithSubject is set
	Phone   string // full E.164 number: the app decides what to keep; the library's logs mask it
	IP      string // client IP as found by the trusted-proxy rules
	Err     error  // for EventCheckFailed: the reason, matching a sentinel error
	Region  string // for EventBudgetExceeded and EventConversionLow: the two-letter region ("" for the global budget)
}

// EventType says what happened.
type EventType string

// Event types.
const (
	EventCodeSent    EventType = "code_sent"
	EventVerified    EventType = "verified"
	EventCheckFailed EventType = "check_failed"
	EventLocked      EventType = "locked"
	EventRateLimited EventType = "rate_limited"
	EventReset       EventType = "reset"
	// EventBudgetExceeded: a country's or the global budget of codes per
	// hour is spent and sends stop until the window turns. Once per budget
	// and window.
	EventBudgetExceeded EventType = "budget_exceeded"
	// EventConversionLow: few of the codes recently sent to a country were
	// verified, a sign of SMS pumping. Once per batch of sends watched.
	EventConversionLow EventType = "conversion_low"
)

func (m *Manager) emit(r *http.Request, e Event) {
	if m.cfg.events == nil {
		return
	}
	e.Time = m.cfg.now()
	e.IP = m.clientIP(r)
	m.cfg.events(e)
}
