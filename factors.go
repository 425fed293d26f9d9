package twofactor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Factor is one second factor a user has enrolled: the number on file
// (MethodSMS), an authenticator app (MethodTOTP) or a passkey
// (MethodPasskey).
type Factor struct {
	Method   Method    // which kind
	ID       string    // which one of its kind, for RemoveFactor; not a secret
	Name     string    // for the user, such as "iPhone passkey" or a masked number
	Created  time.Time // when it was enrolled; zero when unknown (the number on file)
	LastUsed time.Time // when it last verified a session; zero when never or unknown
}

// ErrLastFactor is returned by RemoveFactor when the factor is the user's
// last: removing it would leave nothing to verify with.
var ErrLastFactor = errors.New("twofactor: cannot remove the last second factor")

// errNoFactor is RemoveFactor's answer for a factor the user does not have.
var errNoFactor = fmt.Errorf("twofactor: no such factor: %w", ErrNotFound)

// factorKind is what the flow, Factors and RemoveFactor know of one kind
// of factor beside SMS. Each kind (totp.go, passkey.go) adds itself to
// Manager.kinds in New when its option is given, strongest first.
type factorKind struct {
	method Method
	// rank orders kinds, strongest first: the flow offers the strongest
	// enrolled kind first (passkey 0, authenticator app 1; SMS comes last).
	rank int
	// page is the flow path (under the prefix) of the kind's sign-in page.
	page string
	// list returns subject's factors of this kind.
	list func(ctx context.Context, subject string) ([]Factor, error)
	// remove removes the factor id of subject; false when there was none.
	remove func(ctx context.Context, subject, id string) (bool, error)
}

// kind returns the enabled kind of factor with method, if any.
func (m *Manager) kind(method Method) (factorKind, bool) {
	for _, k := range m.kinds {
		if k.method == method {
			return k, true
		}
	}
	return factorKind{}, false
}

// Factors returns the second factors of the user r is for (WithSubject),
// strongest first: passkeys, the authenticator app, then the number on
// file (known-number mode, WithPhoneLookup) as MethodSMS.
func (m *Manager) Factors(r *http.Request) ([]Factor, error) {
	subject := m.subject(r)
	if subject == "" {
		return nil, errors.New("twofactor: Factors needs WithSubject and a signed-in user")
	}
	ctx, end := m.withBudget(r.Context())
	defer end()
	var all []Factor
	for _, k := range m.kinds {
		fs, err := k.list(ctx, subject)
		if err != nil {
			return nil, storeErr(err)
		}
		all = append(all, fs...)
	}
	if phone := m.numberOnFile(r); phone != "" {
		all = append(all, Factor{Method: MethodSMS, ID: "phone", Name: MaskPhone(phone)})
	}
	return all, nil
}

// numberOnFile returns the number known-number mode has for r, or "".
func (m *Manager) numberOnFile(r *http.Request) string {
	if m.cfg.phoneLookup == nil {
		return ""
	}
	phone, err := m.cfg.phoneLookup(r)
	if err != nil {
		return ""
	}
	return phone
}

// RemoveFactor removes f (as listed by Factors) from the user r is for. r
// must have passed RequireFresh within the last ten minutes (else the
// error matches ErrStepUpRequired; unverified: ErrNotVerified). It refuses
// with ErrLastFactor to remove the user's last factor, and cannot remove
// the number on file, which is the app's to change (WithEnrolment).
//
// A removal moves the user's generation on: every other session and
// remembered device of the user ends (whoever could use the removed factor
// may have signed in with it); r's session stays verified.
func (m *Manager) RemoveFactor(r *http.Request, f Factor) error {
	rec, ok := RecordFrom(r)
	switch {
	case !ok || rec.Subject == "" || rec.Subject != m.subject(r):
		return ErrNotVerified
	case !rec.fresh(m.cfg.now(), changeFreshness):
		return ErrStepUpRequired
	}
	k, ok := m.kind(f.Method)
	if !ok {
		return errors.New("twofactor: RemoveFactor: no such kind of factor: " + string(f.Method))
	}
	all, err := m.Factors(r)
	if err != nil {
		return err
	}
	found := false
	for _, g := range all {
		found = found || (g.Method == f.Method && g.ID == f.ID)
	}
	switch {
	case !found:
		return errNoFactor
	case len(all) == 1:
		return ErrLastFactor
	}
	ctx, end := m.withBudget(r.Context())
	defer end()
	removed, err := k.remove(ctx, rec.Subject, f.ID)
	if err != nil {
		return storeErr(err)
	}
	if !removed {
		return errNoFactor
	}
	if _, err := m.newGeneration(ctx, rec.Subject, grantFrom(r.Context())); err != nil {
		return err
	}
	m.emit(r, Event{Type: EventFactorRemoved, Subject: rec.Subject, Method: f.Method, Device: f.ID})
	return nil
}
