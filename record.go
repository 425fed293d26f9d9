package twofactor

import (
	"net/http"
	"time"
)

// Method says how a session was verified.
type Method string

// Methods the library writes. An app that grants verification from a
// factor of its own (Manager.Grant) may use any other short name.
const (
	MethodSMS          Method = "sms"           // a code sent by SMS
	MethodVoice        Method = "voice"         // a code read out in a phone call
	MethodRecoveryCode Method = "recovery_code" // one of the user's recovery codes
	MethodDevice       Method = "device"        // a remembered device
	MethodTOTP         Method = "totp"          // a code from an authenticator app (WithTOTP)
	MethodPasskey      Method = "passkey"       // a passkey (WithPasskeys)
)

// Record is what a verified session carries: who was verified, how, when,
// and which number, if any, was proved. The gate reads it on every request;
// the app reads it with RecordFrom or Manager.Check.
type Record struct {
	Subject    string    // the app's user (WithSubject); "" without one
	Method     Method    // how the session was verified
	VerifiedAt time.Time // when; step-up compares it with the clock
	Phone      string    // E.164 number that received the code; "" when the method proved none
}

// MaskedPhone returns Phone masked for display, such as "+31 6•• ••• 678".
func (rec Record) MaskedPhone() string {
	if rec.Phone == "" {
		return ""
	}
	return MaskPhone(rec.Phone)
}

// fresh reports whether rec counts for step-up at now: verified within d,
// by a method that proved possession just now (a remembered device did not).
func (rec Record) fresh(now time.Time, d time.Duration) bool {
	return rec.Method != MethodDevice && now.Sub(rec.VerifiedAt) < d && !rec.VerifiedAt.After(now.Add(time.Minute))
}

// record is the verification record of a session's state.
func (fs flowState) record() Record {
	return Record{
		Subject:    fs.Subject,
		Method:     Method(fs.Method),
		VerifiedAt: time.Unix(fs.VerifiedAt, 0),
		Phone:      fs.VerifiedPhone,
	}
}

// ctxKey is the context key under which the gate records what it let
// through: a *passed.
type ctxKey struct{}

// passed is what the gate knows of a request it let through: the Record,
// and the grant, so that calls made with the request's context
// (NewRecoveryCodes) can keep this session verified.
type passed struct {
	rec   Record
	grant string
}

// RecordFrom returns the verification record of a request that Require or
// RequireFresh let through. ok is false for requests that did not pass
// through either.
func RecordFrom(r *http.Request) (rec Record, ok bool) {
	p, ok := r.Context().Value(ctxKey{}).(*passed)
	if !ok {
		return Record{}, false
	}
	return p.rec, true
}
