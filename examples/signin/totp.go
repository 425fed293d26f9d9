package main

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"

	"github.com/go-twofactor/twofactor"
)

// Authenticator apps: GET /settings/totp shows a QR code and the secret,
// POST /settings/totp adds the app with its first code, and POST
// /settings/factors/remove removes a factor. All behind step-up.

// serveTOTPSetup shows the QR code and the secret of the app being added.
func (a *app) serveTOTPSetup(w http.ResponseWriter, r *http.Request) {
	a.totpPage(w, r, http.StatusOK, "")
}

// totpPage shows the setup page with msg as its error: the setup waiting
// on the server, the same one on a reload or after a wrong code.
func (a *app) totpPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	setup, err := a.tf.StartTOTP(r)
	if err != nil {
		a.failed(w, r, "starting an authenticator app", err)
		return
	}
	d := pageData{
		User:       a.currentUser(r),
		TOTPQR:     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(setup.QR)),
		TOTPSecret: setup.Secret,
		Error:      msg,
	}
	if msg != "" {
		d.Field = "code"
	}
	setHeaders(w.Header())
	// The QR code is a data: image; nothing else is loaded.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, "totp", d)
}

// serveAddTOTP adds the app with the code typed: the settings page says
// so; a wrong code shows the form again.
func (a *app) serveAddTOTP(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "error") {
		return
	}
	err := a.tf.AddTOTP(r, r.PostForm.Get("code"))
	switch {
	case err == nil:
		a.settings(w, r, http.StatusOK, pageData{Notice: "Authenticator app added. Next time you sign in, we'll ask for its code."})
	case errors.Is(err, twofactor.ErrInvalidCode):
		a.totpPage(w, r, http.StatusBadRequest, "That code isn't right. Check that your phone's clock is right, and enter the code the app shows now.")
	case errors.Is(err, twofactor.ErrExpired):
		a.totpPage(w, r, http.StatusBadRequest, "That took too long, so here is a new QR code. Please scan it and enter the code again.")
	default:
		a.failed(w, r, "adding an authenticator app", err)
	}
}

// serveRemoveFactor removes one of the user's second factors.
func (a *app) serveRemoveFactor(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "error") {
		return
	}
	f := twofactor.Factor{Method: twofactor.Method(r.PostForm.Get("method")), ID: r.PostForm.Get("id")}
	a.removeFactor(w, r, f, removal{
		done: "Removed. Your other devices are signed out.",
		last: "You can't remove your only way to verify. Add another one first.",
		gone: "That was removed already.",
	})
}

// removal is what the settings page says after removing a factor: done,
// refused as the user's last (last), or gone already (gone).
type removal struct{ done, last, gone string }

// removeFactor removes f (RemoveFactor: behind step-up) and answers on
// the settings page.
func (a *app) removeFactor(w http.ResponseWriter, r *http.Request, f twofactor.Factor, say removal) {
	err := a.tf.RemoveFactor(r, f)
	switch {
	case err == nil:
		if err := a.st.setNotice(r.Context(), a.loginToken(r), say.done); err != nil {
			a.log.Error("keeping the removal notice failed", "err", err)
		}
		http.Redirect(w, r, "/settings", http.StatusSeeOther)
	case errors.Is(err, twofactor.ErrLastFactor):
		a.settings(w, r, http.StatusConflict, pageData{Error: say.last})
	case errors.Is(err, twofactor.ErrNotFound):
		a.settings(w, r, http.StatusNotFound, pageData{Error: say.gone})
	default:
		a.failed(w, r, "removing a factor", err)
	}
}
