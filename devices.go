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

// deviceRecord is a Device as the State keeps it. The token itself is not
// kept: only its SHA-256, so a copy of the State signs nobody in.
type deviceRecord struct {
	Hash     string `json:"h"`
	Name     string `json:"n"`
	Created  int64  `json:"c"`
	LastUsed int64  `json:"u"`
	Expires  int64  `json:"e"`
}

// maxDevices bounds the devices remembered per subject: the oldest goes.
const maxDevices = 20

// deviceCookie is the name of the cookie that holds a remembered device's
// id and token. It has the __Host- prefix (no other subdomain can set or
// shadow it) whenever the session cookie is Secure and has no Domain.
func (m *Manager) deviceCookie() string {
	return m.cookieName("_device")
}

// rememberDevice remembers this browser for subject: a new token in a
// cookie, its hash in the State. A failure is logged, not shown: the
// visitor is verified either way.
func (m *Manager) rememberDevice(w http.ResponseWriter, r *http.Request, subject string) {
	if m.cfg.rememberFor == 0 || subject == "" {
		return
	}
	ctx := r.Context()
	now := m.cfg.now()
	id, token := randomID(), randomID()
	rec := deviceRecord{
		Hash: tokenHash(token), Name: browserName(r.UserAgent()),
		Created: now.Unix(), LastUsed: now.Unix(), Expires: now.Add(m.cfg.rememberFor).Unix(),
	}
	devices, err := m.Devices(ctx, subject)
	if err == nil && len(devices) >= maxDevices {
		oldest := slices.MinFunc(devices, func(a, b Device) int { return a.LastUsed.Compare(b.LastUsed) })
		_, err = m.cfg.state.DeleteField(ctx, devicesKey(subject), oldest.ID)
	}
	if err == nil {
		b, _ := json.Marshal(rec)
		err = m.cfg.state.SetField(ctx, devicesKey(subject), id, string(b), m.cfg.rememberFor)
	}
	if err != nil {
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

// signInByDevice verifies the session if the browser is a remembered
// device of the request's subject, and answers the request (back where the
// visitor was going, or a failure page). It reports whether it answered.
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
	all, err := m.cfg.state.Fields(ctx, devicesKey(subject))
	if err != nil {
		m.storeFailed(w, r, fs, err)
		return true
	}
	var rec deviceRecord
	if json.Unmarshal([]byte(all[id]), &rec) != nil || subtle.ConstantTimeCompare([]byte(rec.Hash), []byte(tokenHash(token))) != 1 {
		return false // another user's device, a revoked one, or a forged cookie
	}
	now := m.cfg.now()
	if !now.Before(time.Unix(rec.Expires, 0)) {
		_, _ = m.cfg.state.DeleteField(ctx, devicesKey(subject), id)
		return false
	}
	rec.LastUsed = now.Unix()
	b, _ := json.Marshal(rec)
	if err := m.cfg.state.SetField(ctx, devicesKey(subject), id, string(b), time.Unix(rec.Expires, 0).Sub(now)); err != nil {
		m.storeFailed(w, r, fs, err)
		return true
	}
	m.verifyAndRedirect(w, r, sess, fs, MethodDevice, "", false)
	return true
}

// Devices lists subject's remembered devices, most recently used first.
func (m *Manager) Devices(ctx context.Context, subject string) ([]Device, error) {
	if subject == "" {
		return nil, errors.New("twofactor: Devices needs a subject")
	}
	all, err := m.cfg.state.Fields(ctx, devicesKey(subject))
	if err != nil {
		return nil, storeErr(err)
	}
	now := m.cfg.now()
	var out []Device
	for id, v := range all {
		var rec deviceRecord
		if json.Unmarshal([]byte(v), &rec) != nil || !now.Before(time.Unix(rec.Expires, 0)) {
			continue
		}
		out = append(out, Device{
			ID: id, Name: rec.Name, Created: time.Unix(rec.Created, 0),
			LastUsed: time.Unix(rec.LastUsed, 0), Expires: time.Unix(rec.Expires, 0),
		})
	}
	slices.SortFunc(out, func(a, b Device) int {
		if c := b.LastUsed.Compare(a.LastUsed); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RevokeDevice forgets one of subject's remembered devices: from the next
// sign-in on, that browser needs a code again. Revoking an unknown id is
// not an error.
func (m *Manager) RevokeDevice(ctx context.Context, subject, id string) error {
	if subject == "" {
		return errors.New("twofactor: RevokeDevice needs a subject")
	}
	had, err := m.cfg.state.DeleteField(ctx, devicesKey(subject), id)
	if err != nil {
		return storeErr(err)
	}
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
