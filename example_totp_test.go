package twofactor_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/go-twofactor/twofactor"
)

// An authenticator app: a settings page (behind step-up) shows the QR code
// and the secret, and adds the app with its first code; from then on the
// flow asks for the app's code first, with "Text me a code instead"
// beside it.
func ExampleManager_StartTOTP() {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var secret string // what the user's phone learns from the QR code
	page := template.Must(template.New("").Parse(`<title>Add an authenticator app</title>
<img src="{{.QR}}" alt="QR code"> <code id="totp-secret">{{.Secret}}</code>
<form method="post"><input name="code" autocomplete="one-time-code" inputmode="numeric"></form>`))
	a := newExampleApp(func(mux *http.ServeMux, tf *twofactor.Manager) {
		fresh := tf.RequireFresh(5 * time.Minute)
		mux.Handle("GET /settings/totp", fresh(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			setup, err := tf.StartTOTP(r) // the same setup again on a reload, for ten minutes
			if err != nil {
				http.Error(w, "try again", http.StatusServiceUnavailable)
				return
			}
			secret = setup.Secret
			_ = page.Execute(w, map[string]any{
				"QR":     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(setup.QR)),
				"Secret": setup.Secret,
			})
		})))
		mux.Handle("POST /settings/totp", fresh(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch err := tf.AddTOTP(r, r.PostFormValue("code")); {
			case err == nil:
				fmt.Fprint(w, "<title>Authenticator app added</title>")
			case errors.Is(err, twofactor.ErrInvalidCode):
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, "<title>That code isn't right</title>")
			default:
				http.Error(w, "try again", http.StatusServiceUnavailable)
			}
		})))
		mux.Handle("/account", tf.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec, _ := twofactor.RecordFrom(r)
			fmt.Fprintf(w, "account of %s, verified by %s", rec.Subject, rec.Method)
		})))
	}, twofactor.WithClock(func() time.Time { return now }), twofactor.WithTOTP(nil))
	defer a.srv.Close()
	a.user = "alice"
	phoneShows := func() string { // the code the user's app shows now
		code, _ := totp.GenerateCodeCustom(secret, now, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		return code
	}

	a.do(http.MethodGet, "/account", nil)                                // into the flow: by SMS
	a.do(http.MethodPost, "/2fa/send", url.Values{})                     // code to the number on file
	a.do(http.MethodPost, "/2fa/check", url.Values{"code": {<-a.codes}}) // and back
	a.do(http.MethodGet, "/settings/totp", nil)                          // scan the QR code
	a.do(http.MethodPost, "/settings/totp", url.Values{"code": {phoneShows()}})

	now = now.Add(time.Minute)           // later, in another browser:
	a.client.Jar, _ = cookiejar.New(nil) // signed in to the app, not verified
	a.next = ""
	a.do(http.MethodGet, "/account", nil) // the app's code first
	a.do(http.MethodPost, "/2fa/totp", url.Values{"code": {phoneShows()}})
	// Output:
	// /2fa/ 200 Verify your phone
	// /2fa/ 200 Enter your code
	// /account 200 account of alice, verified by sms
	// /settings/totp 200 Add an authenticator app
	// /settings/totp 200 Authenticator app added
	// /2fa/totp 200 Enter the code from your authenticator app
	// /account 200 account of alice, verified by totp
}
