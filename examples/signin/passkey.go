package main

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/go-twofactor/twofactor"
)

// passkeyOptions turns the app's public origin (PASSKEY_ORIGIN, default
// http://localhost:PORT) into the library's passkey settings: passkeys
// are bound to the origin's host name (the RP ID), so they keep working
// when the port changes but not under another name. Browsers allow
// passkeys on https:// origins and on http://localhost only.
func passkeyOptions(origin string) (twofactor.Option, error) {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Path != "" && u.Path != "/" {
		return nil, errors.New("PASSKEY_ORIGIN must be an origin such as https://bank.example or http://localhost:8090")
	}
	return twofactor.WithPasskeys(twofactor.PasskeyConfig{
		RPID:          u.Hostname(),
		RPDisplayName: "BirdBank",
		Origins:       []string{u.Scheme + "://" + u.Host},
		// Store nil: in the library's State (Redis with REDIS_URL).
	}), nil
}

// passkeyRow is a passkey as the settings page lists it.
type passkeyRow struct {
	ID, Name          string
	Created, LastUsed time.Time
}

// passkeys lists the user's passkeys for the settings page.
func (a *app) passkeys(r *http.Request) ([]passkeyRow, error) {
	fs, err := a.tf.Factors(r)
	if err != nil {
		return nil, err
	}
	var out []passkeyRow
	for _, f := range fs {
		if f.Method == twofactor.MethodPasskey {
			out = append(out, passkeyRow{ID: f.ID, Name: f.Name, Created: f.Created, LastUsed: f.LastUsed})
		}
	}
	return out, nil
}

// serveRemovePasskey removes one of the user's passkeys (behind step-up).
// The library refuses to remove the last second factor.
func (a *app) serveRemovePasskey(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "error") {
		return
	}
	id := r.PostForm.Get("id")
	if id == "" || len(id) > 1400 {
		a.render(w, r, http.StatusBadRequest, "error", pageData{Message: "Which passkey? The form had none.", Link: "/settings"})
		return
	}
	a.removeFactor(w, r, twofactor.Factor{Method: twofactor.MethodPasskey, ID: id}, removal{ // totp.go
		done: "Passkey removed. Your other devices need to verify again.",
		last: "You can't remove this passkey: it's your only way to verify. Add a phone number or another passkey first.",
		gone: "That passkey isn't on your account any more.",
	})
}
