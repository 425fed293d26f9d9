package twofactor

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/sessions"
)

// Device is a browser a user asked to remember ("remember this device"):
// it signs in without a code until it expires or is revoked.
type Device struct {
	ID       string    // stable id, for RevokeDevice; not a secret
	Name     string    // the browser, from its User-Agent, such as "Firefox on Linux"
	Created  time.Time // when it was remembered
	LastUsed time.Time // when it last signed in (or was remembered)
	Expires  time.Time // when it stops being remembered
}

// deviceRecord is a Device as the user record keeps it, in the field
// "d:"+id after the generation it was remembered under (see State). The
// token itself is not kept: only its SHA-256, so a copy of the State signs
// nobody in. When it was last used is kept apart ("u:"+id), so that a
// sign-in never writes the device back: a revoked device stays revoked.
type deviceRecord struct {
	Hash    string `json:"h"`
	Name    string `json:"n"`
	Created int64  `json:"c"`
	Expires int64  `json:"e"`
}

const lastUsedPrefix = "u:"

// maxDevices bounds the devices remembered per subject: the oldest goes.
const maxDevices = 20

// Device sign-ins are counted per device and per user: enough for a
// person on many tabs and browsers, far too few for a loop.
var (
	deviceSignIns = Limit{N: 20, Per: time.Hour}
	userSignIns   = Limit{N: 60, Per: time.Hour}
)

// deviceCookie is the name of the cookie that holds a remembered device's
// id and token. It has the __Host- prefix (no other subdomain can set or
// shadow it) whenever the session cookie is Secure and has no Domain.
func (m *Manager) deviceCookie() string {
	return m.cookieName("_device")
}

// rememberDevice remembers this browser for the user just verified in fs:
// a new token in a cookie, its hash in the user's record, of the
// generation of fs's grant. A failure is logged, not shown: the visitor is
// verified either way.
func (m *Manager) rememberDevice(w http.ResponseWriter, r *http.Request, fs flowState) {
	subject := fs.Subject
	if m.cfg.rememberFor == 0 || subject == "" {
		return
	}
	ctx := r.Context()
	now := m.cfg.now()
	key := userKey(subject, "")
	fields, err := m.cfg.state.Fields(ctx, key)
	if err != nil {
		m.log.Error("twofactor: remembering the device failed", "err", storeErr(err))
		return
	}
	gen := fields[genField]
	if g, ok := parseGrant(fields[grantPrefix+fs.Grant]); !ok || g.gen != gen {
		return // revoked since it was verified
	}
	// Forget devices of older generations and expired ones; keep at most
	// maxDevices, the one used longest ago going first.
	live := m.devicesIn(fields, now)
	for id := range fields {
		if d, ok := strings.CutPrefix(id, devPrefix); ok && !slices.ContainsFunc(live, func(x Device) bool { return x.ID == d }) {
			m.forgetDevice(ctx, key, d)
		}
	}
	for len(live) >= maxDevices {
		m.forgetDevice(ctx, key, live[len(live)-1].ID)
		live = live[:len(live)-1]
	}
	id, token := randomID(), randomID()
	b, _ := json.Marshal(deviceRecord{Hash: tokenHash(token), Name: browserName(r.UserAgent()),
		Created: now.Unix(), Expires: now.Add(m.cfg.rememberFor).Unix()})
	if err := m.cfg.state.SetField(ctx, key, devPrefix+id, gen+" "+string(b), m.userTTL()); err != nil {
		m.log.Error("twofactor: remembering the device failed", "err", storeErr(err))
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: m.deviceCookie(), Value: id + "." + token, Path: "/",
		MaxAge: int(m.cfg.rememberFor / time.Second), Secure: !m.cfg.insecureCookie,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	m.emit(r, Event{Type: EventDeviceRemembered, Subject: subject, Device: id})
}

// forgetDevice removes a device's fields from the user record at key.
func (m *Manager) forgetDevice(ctx context.Context, key, id string) {
	if _, err := m.cfg.state.DeleteField(ctx, key, devPrefix+id); err != nil {
		m.log.Error("twofactor: state backend failed", "err", err)
	}
	_, _ = m.cfg.state.DeleteField(ctx, key, lastUsedPrefix+id)
}

// signInByDevice verifies the session if the browser is a remembered
// device of the request's subject, and answers the request (back where the
// visitor was going, or a failure page). It reports whether it answered.
// The session it opens carries the device: revoking the device ends it.
func (m *Manager) signInByDevice(w http.ResponseWriter, r *http.Request, sess *sessions.Session, fs flowState) bool {
	subject := m.subject(r)
	if m.cfg.rememberFor == 0 || subject == "" {
		return false
	}
	ck, err := r.Cookie(m.deviceCookie())
	if err != nil {
		return false
	}
	id, token, ok := strings.Cut(ck.Value, ".")
	if !ok || !validID(id) || !validID(token) {
		return false
	}
	ctx := r.Context()
	key := userKey(subject, "")
	fields, err := m.cfg.state.Fields(ctx, key)
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return true
	}
	now := m.cfg.now()
	v, ok := fields[devPrefix+id]
	gen, raw, _ := strings.Cut(v, " ")
	var rec deviceRecord
	if !ok || gen != fields[genField] || json.Unmarshal([]byte(raw), &rec) != nil ||
		subtle.ConstantTimeCompare([]byte(rec.Hash), []byte(tokenHash(token))) != 1 ||
		!now.Before(time.Unix(rec.Expires, 0)) {
		return false // another user's device, a revoked or expired one, or a forged cookie
	}
	// Counted per device and per user: a stolen cookie in a loop stops
	// here and asks for a code; a person never meets these limits.
	for _, c := range []struct {
		key string
		l   Limit
	}{{deviceSignInsKey(id), deviceSignIns}, {deviceSignInsKey("u:" + subject), userSignIns}} {
		n, _, err := m.cfg.state.Incr(ctx, c.key, 1, c.l.Per)
		if err != nil {
			m.storeFailed(w, r, fs, err)
			return true
		}
		if n > int64(c.l.N) {
			m.refused(r, "device sign-ins", c.key, now.Add(c.l.Per), "", m.clientIP(r))
			return false
		}
	}
	if err := m.cfg.state.SetField(ctx, key, lastUsedPrefix+id, strconv.FormatInt(now.Unix(), 10), m.userTTL()); err != nil {
		m.storeFailed(w, r, fs, err)
		return true
	}
	m.verifyAndRedirect(w, r, sess, fs, MethodDevice, "", origin{gen: gen, device: id}, false)
	return true
}

// ThisDevice returns the ID of the remembered device r comes from (as in
// Device.ID), or "" when its browser is not one. It reads the device's
// cookie only, to mark "this device" in a list of Devices: it proves
// nothing (the gate checks the device's token when it signs in).
func (m *Manager) ThisDevice(r *http.Request) string {
	ck, err := r.Cookie(m.deviceCookie())
	if err != nil {
		return ""
	}
	id, token, ok := strings.Cut(ck.Value, ".")
	if !ok || !validID(id) || !validID(token) {
		return ""
	}
	return id
}

// Devices lists subject's remembered devices, most recently used first.
func (m *Manager) Devices(ctx context.Context, subject string) ([]Device, error) {
	if subject == "" {
		return nil, errors.New("twofactor: Devices needs a subject")
	}
	ctx, end := m.withBudget(ctx)
	defer end()
	fields, err := m.cfg.state.Fields(ctx, userKey(subject, ""))
	if err != nil {
		return nil, storeErr(err)
	}
	return m.devicesIn(fields, m.cfg.now()), nil
}

// devicesIn lists the live devices of a user record's fields, most
// recently used first.
func (m *Manager) devicesIn(fields map[string]string, now time.Time) []Device {
	var out []Device
	for f, v := range fields {
		id, ok := strings.CutPrefix(f, devPrefix)
		if !ok {
			continue
		}
		gen, raw, _ := strings.Cut(v, " ")
		var rec deviceRecord
		if gen != fields[genField] || json.Unmarshal([]byte(raw), &rec) != nil || !now.Before(time.Unix(rec.Expires, 0)) {
			continue
		}
		used := rec.Created
		if u, err := strconv.ParseInt(fields[lastUsedPrefix+id], 10, 64); err == nil && u > used {
			used = u
		}
		out = append(out, Device{
			ID: id, Name: rec.Name, Created: time.Unix(rec.Created, 0),
			LastUsed: time.Unix(used, 0), Expires: time.Unix(rec.Expires, 0),
		})
	}
	slices.SortFunc(out, func(a, b Device) int {
		if c := b.LastUsed.Compare(a.LastUsed); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// RevokeDevice forgets one of subject's remembered devices: from the next
// request on, that browser needs a code again, and every session it opened
// ends. Revoking an unknown id is not an error.
func (m *Manager) RevokeDevice(ctx context.Context, subject, id string) error {
	if subject == "" {
		return errors.New("twofactor: RevokeDevice needs a subject")
	}
	ctx, end := m.withBudget(ctx)
	defer end()
	key := userKey(subject, "")
	had, err := m.cfg.state.DeleteField(ctx, key, devPrefix+id)
	if err != nil {
		return storeErr(err)
	}
	_, _ = m.cfg.state.DeleteField(ctx, key, lastUsedPrefix+id)
	if had {
		m.emitCtx(Event{Type: EventDeviceRevoked, Subject: subject, Device: id})
	}
	return nil
}

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// browserName names a browser for a list of devices, such as "Firefox on
// Linux", from its User-Agent. It only labels a list the user reads; no
// decision depends on it, so a few well-known names do.
func browserName(ua string) string {
	pick := func(pairs ...string) string {
		for i := 0; i+1 < len(pairs); i += 2 {
			if strings.Contains(ua, pairs[i]) {
				return pairs[i+1]
			}
		}
		return ""
	}
	// Order matters: Edge and Opera say "Chrome", Chrome says "Safari".
	browser := pick("Edg/", "Edge", "OPR/", "Opera", "Firefox/", "Firefox", "HeadlessChrome", "Chrome", "Chromium", "Chromium", "Chrome/", "Chrome", "CriOS", "Chrome", "Safari/", "Safari")
	os := pick("iPhone", "iPhone", "iPad", "iPad", "Android", "Android", "Windows", "Windows", "Mac OS X", "macOS", "CrOS", "ChromeOS", "Linux", "Linux")
	switch {
	case browser != "" && os != "":
		return browser + " on " + os
	case browser != "":
		return browser
	case os != "":
		return "A browser on " + os
	}
	return "Unknown browser"
}
