package twofactor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gorilla/sessions"
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

// errRemovalBusy is RemoveFactor's answer while another removal of the
// user's factors is under way: the factor might be the last once it ends.
var errRemovalBusy = fmt.Errorf("twofactor: another of the user's factors is being removed; try again: %w", ErrLastFactor)

// removalTurn bounds how long one removal of a user's factors keeps the
// others out, should its server stop before it ends.
const removalTurn = time.Minute

func removalKey(subject string) string { return "factorremoval:" + subject }

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
	// post serves POST prefix+page: the kind's answer (GET prefix+page is
	// servePage, which renders page+".html").
	post postHandler
}

// factorsConfig is what the options say of the factors beside SMS.
type factorsConfig struct {
	totp          TOTPStore // WithTOTP; nil with totpOn: the State (totp_store.go)
	totpOn        bool
	noSMSFallback bool // WithoutSMSFallback
}

// WithoutSMSFallback makes SMS and voice codes unavailable to users who
// have a stronger factor (WithTOTP): the flow offers them only their
// stronger factors (and recovery codes), and refuses to send them a code
// to sign in or step up. A number change still proves the new number by
// SMS, after a fresh verification. Default off: "Text me a code instead"
// (to the number on file; known-number mode) is offered beside the
// stronger factor. Either way a user with a stronger factor never verifies
// by proving a number of their choice (a first number, or a typed one in
// phone-entry mode).
func WithoutSMSFallback() Option {
	return func(c *config) error {
		c.factors.noSMSFallback = true
		return nil
	}
}

// enableKinds adds the kinds of factor the options turned on to m.kinds,
// strongest first, and their pages to mux.
func (m *Manager) enableKinds(mux *http.ServeMux) error {
	if m.cfg.factors.totpOn {
		m.kinds = append(m.kinds, m.totpKind()) // totp_flow.go
	}
	if m.pk != nil {
		m.kinds = append(m.kinds, m.passkeyKind()) // passkey.go
	}
	if len(m.kinds) > 0 && m.cfg.subject == nil {
		return errors.New("twofactor: WithTOTP and WithPasskeys need WithSubject: a factor belongs to a user")
	}
	slices.SortStableFunc(m.kinds, func(a, b factorKind) int { return cmp.Compare(a.rank, b.rank) })
	for _, k := range m.kinds {
		mux.HandleFunc("GET "+m.cfg.prefix+k.page, m.servePage)
		if k.post != nil { // a passkey's page posts to its ceremonies instead
			mux.HandleFunc("POST "+m.cfg.prefix+k.page, m.post(k.post))
		}
	}
	return nil
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
// the number on file, which is the app's to change (WithEnrolment). The
// removals of one user's factors take turns, on every server sharing the
// State: one made while another is under way is refused with an error
// matching ErrLastFactor (it might be the last), so two parallel removals
// never leave the user with none.
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
	ctx, end := m.withBudget(r.Context())
	defer end()
	// One removal of the user's factors at a time: two parallel removals
	// would each count the other's factor and leave the user with none.
	turn, err := m.cfg.state.SetNX(ctx, removalKey(rec.Subject), removalTurn)
	switch {
	case err != nil:
		return storeErr(err)
	case !turn:
		return errRemovalBusy
	}
	defer func() {
		if err := m.cfg.state.Delete(context.WithoutCancel(ctx), removalKey(rec.Subject)); err != nil {
			m.log.Error("twofactor: state backend failed ending a factor removal", "err", err)
		}
	}()
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

// kindAt returns the kind whose page r is for, if any.
func (m *Manager) kindAt(r *http.Request) (factorKind, bool) {
	for _, k := range m.kinds {
		if r.URL.Path == m.cfg.prefix+k.page {
			return k, true
		}
	}
	return factorKind{}, false
}

// enrolledKinds returns the kinds of which subject has a factor,
// strongest first.
func (m *Manager) enrolledKinds(ctx context.Context, subject string) ([]factorKind, error) {
	var out []factorKind
	for _, k := range m.kinds {
		fs, err := k.list(ctx, subject)
		if err != nil {
			return nil, storeErr(err)
		}
		if len(fs) > 0 {
			out = append(out, k)
		}
	}
	return out, nil
}

// smsOpen reports whether r's user, who has a stronger factor, may verify
// by SMS instead: only by a code to their number on file (known-number
// mode), and not with WithoutSMSFallback. Never by proving a number of
// their choice (a first number at enrolment, or a typed one in
// phone-entry mode): whoever knows the password could do that with a
// number of their own, and the stronger factor would guard nothing.
func (m *Manager) smsOpen(r *http.Request) bool {
	return !m.cfg.factors.noSMSFallback && m.numberOnFile(r) != ""
}

// carried is the query that keeps where the visitor is going (and a
// step-up) on the way from one factor's page to another's.
func (m *Manager) carried(r *http.Request, fs flowState, stepUp bool) url.Values {
	q := url.Values{}
	if ret, ok := safeReturn(m.returnTarget(r, fs)); ok {
		q.Set("next", ret)
	}
	if stepUp {
		q.Set("stepup", "1")
	}
	return q
}

// withQuery returns path with q, if any.
func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// offerFactor is the flow's chooser. For a visitor with a subject who is
// not verified (or is stepping up), GET prefix offers the strongest kind
// of factor the user has: it redirects to that kind's page, keeping where
// the visitor is going; ?use=sms (the other pages' "Text me a code
// instead") keeps the SMS pages, as does a code on its way, unless SMS is
// not open to the user (smsOpen); ?use=<kind> picks another kind the user
// has. A kind's page for a user who has none of that kind goes back to
// prefix. It reports whether it answered.
func (m *Manager) offerFactor(w http.ResponseWriter, r *http.Request, fs flowState, stepUp bool) bool {
	if len(m.kinds) == 0 {
		return false
	}
	subject := m.subject(r)
	cur, onKind := m.kindAt(r)
	var enrolled []factorKind
	if subject != "" {
		var err error
		if enrolled, err = m.enrolledKinds(r.Context(), subject); err != nil {
			m.storeFailed(w, r, fs, err)
			return true
		}
	}
	q := m.carried(r, fs, stepUp)
	if onKind {
		if slices.ContainsFunc(enrolled, func(k factorKind) bool { return k.method == cur.method }) {
			return false
		}
		http.Redirect(w, r, withQuery(m.cfg.prefix, q), http.StatusSeeOther)
		return true
	}
	if len(enrolled) == 0 {
		return false
	}
	if m.awaiting(r, fs) && fs.Purpose == purposeChange {
		return false // a new number being proved: its code page
	}
	use := r.URL.Query().Get("use")
	if (use == string(MethodSMS) || m.awaiting(r, fs)) && m.smsOpen(r) {
		return false
	}
	to := enrolled[0]
	for _, k := range enrolled {
		if string(k.method) == use {
			to = k
		}
	}
	http.Redirect(w, r, withQuery(m.cfg.prefix+to.page, q), http.StatusSeeOther)
	return true
}

// otherFactor is a link on a flow page to another way to verify.
type otherFactor struct {
	Link string // where it goes
	Text string // what it says, in the page's language
}

// factorPage fills in what d says of the factors beside SMS: the kind
// whose page r is for, and the links to the others.
func (m *Manager) factorPage(r *http.Request, fs flowState, d *pageData) {
	if k, ok := m.kindAt(r); ok {
		d.Factor = string(k.method)
	}
	d.Others = m.otherFactors(r, fs, d)
}

// otherFactors returns the links to the other ways r's user can verify,
// strongest first, for the flow's pages: the kinds they have, and SMS
// ("Text me a code instead") on a kind's page when SMS is open to them
// (smsOpen). None while a new number is being proved, and none for JSON
// clients.
func (m *Manager) otherFactors(r *http.Request, fs flowState, d *pageData) []otherFactor {
	if len(m.kinds) == 0 || wantsJSON(r) || r.URL.Path == m.cfg.prefix+"change" {
		return nil
	}
	subject := m.subject(r)
	if subject == "" || m.awaiting(r, fs) && fs.Purpose != "" {
		return nil
	}
	enrolled := m.shownKinds(r, subject)
	if len(enrolled) == 0 {
		return nil
	}
	cur, onKind := m.kindAt(r)
	q := m.carried(r, fs, fs.VerifiedAt != 0 && fs.Subject == subject)
	var out []otherFactor
	for _, k := range enrolled {
		if onKind && k.method == cur.method {
			continue
		}
		out = append(out, otherFactor{Link: withQuery(m.cfg.prefix+k.page, q), Text: cmp.Or(d.T["use_"+k.page], string(k.method))})
	}
	if onKind && m.smsOpen(r) {
		q.Set("use", string(MethodSMS))
		out = append(out, otherFactor{Link: withQuery(m.cfg.prefix, q), Text: d.T["use_sms"]})
	}
	return out
}

// errNoSMS refuses an SMS to a user it is not open to (smsOpen).
var errNoSMS = &flowError{status: http.StatusForbidden, code: "sms_unavailable", msg: "err_no_sms"}

// smsGuard refuses the SMS flow's POSTs (h) to a user who has a stronger
// factor when SMS is not open to them (smsOpen), except for a number
// change, which proves a new number after a fresh verification. fromForm
// says where the purpose is read: the form (send) or the pending code
// (resend, check).
func (m *Manager) smsGuard(h postHandler, fromForm bool) postHandler {
	return func(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState, in input) {
		if len(m.kinds) == 0 {
			h(w, r, sess, fs, in)
			return
		}
		subject := m.subject(r)
		purpose := fs.Purpose
		if fromForm {
			purpose = in.Purpose
		}
		if subject == "" || purpose == purposeChange || m.smsOpen(r) {
			h(w, r, sess, fs, in)
			return
		}
		enrolled, err := m.enrolledKinds(r.Context(), subject)
		if err != nil {
			m.storeFailed(w, r, fs, err)
			return
		}
		if len(enrolled) == 0 {
			h(w, r, sess, fs, in)
			return
		}
		m.fail(w, r, fs, errNoSMS)
	}
}

// shownKinds returns the kinds subject has enrolled, for what a page or
// status shows of them: a store failure is logged and shows none.
func (m *Manager) shownKinds(r *http.Request, subject string) []factorKind {
	enrolled, err := m.enrolledKinds(r.Context(), subject)
	if err != nil {
		m.log.Error("twofactor: listing the user's factors failed", "err", err)
		return nil
	}
	return enrolled
}

// statusFactors is the "factors" of GET prefix+"status": the ways r's
// user can verify, strongest first, such as ["totp", "sms"] ("sms" when
// it is open to them: smsOpen); nil for a
// user with no factor beside SMS, whose status stays as it was. A store
// failure is logged and leaves it out.
func (m *Manager) statusFactors(r *http.Request) []string {
	subject := m.subject(r)
	if len(m.kinds) == 0 || subject == "" {
		return nil
	}
	enrolled := m.shownKinds(r, subject)
	if len(enrolled) == 0 {
		return nil
	}
	var out []string
	for _, k := range enrolled {
		out = append(out, string(k.method))
	}
	if m.smsOpen(r) {
		out = append(out, string(MethodSMS))
	}
	return out
}
