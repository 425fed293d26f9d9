package main

import (
	"context"
	"errors"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-twofactor/twofactor"
)

func (a *app) serveHome(w http.ResponseWriter, r *http.Request) {
	// A number change without a return target ends here.
	a.render(w, r, http.StatusOK, "home", pageData{Notice: a.notice(r)})
}

func (a *app) serveAccount(w http.ResponseWriter, r *http.Request) {
	rec, _ := twofactor.RecordFrom(r)
	a.render(w, r, http.StatusOK, "account", pageData{Balance: "1,234.56", Method: string(rec.Method), Notice: a.notice(r)})
}

// notice returns (once) the message left for this browser's login session,
// such as the confirmation of a number change; "" for none.
func (a *app) notice(r *http.Request) string {
	token := a.loginToken(r)
	if token == "" {
		return ""
	}
	n, err := a.st.takeNotice(r.Context(), token)
	if err != nil {
		a.log.Error("reading the notice failed", "err", err)
	}
	return n
}

func (a *app) serveSignupForm(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "signup", pageData{})
}

func (a *app) serveSignup(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "signup") {
		return
	}
	name, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	d := pageData{Username: name}
	if msg := checkSignup(name, password); msg != "" {
		d.Error, d.Field = msg, "password"
		if !validName.MatchString(name) {
			d.Field = "username"
		}
		a.render(w, r, http.StatusBadRequest, "signup", d)
		return
	}
	wait, err := take(r.Context(), a.limits.signupKeys(r)...)
	if err != nil {
		a.failed(w, r, "counting a sign-up", err)
		return
	}
	if wait > 0 {
		a.tooMany(w, r, "signup", wait, "Too many new accounts from your network. Please try again later.")
		return
	}
	switch err := a.users.create(r.Context(), name, password, ""); {
	case errors.Is(err, errTaken):
		d.Error, d.Field = "That username is taken. Choose another, or sign in.", "username"
		a.render(w, r, http.StatusConflict, "signup", d)
		return
	case err != nil:
		a.failed(w, r, "signing up", err)
		return
	}
	a.log.Info("signed up", "user", key(name))
	u, _, err := a.st.user(r.Context(), key(name))
	if err != nil {
		a.failed(w, r, "signing up", err)
		return
	}
	a.signedIn(w, r, u, "/account")
}

func (a *app) serveLoginForm(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "login", pageData{Next: localPath(r.URL.Query().Get("next"))})
}

func (a *app) serveLogin(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "login") {
		return
	}
	next := localPath(r.PostForm.Get("next"))
	name := r.PostForm.Get("username")
	// Count the try before checking the password, known name or not: a
	// refusal costs no bcrypt and answers the same for every name, and
	// tries racing each other cannot pass the limit.
	wait, err := take(r.Context(), a.limits.loginKeys(r, name)...)
	if err != nil {
		a.failed(w, r, "counting a sign-in", err)
		return
	}
	if wait > 0 {
		a.log.Warn("sign-in refused: too many tries", "network", clientNetwork(r))
		a.tooMany(w, r, "login", wait, "Too many sign-in attempts. Please wait a while and try again.", next)
		return
	}
	u, ok, err := a.users.authenticate(r.Context(), name, r.PostForm.Get("password"))
	if err != nil {
		a.failed(w, r, "signing in", err)
		return
	}
	if !ok {
		// One answer for a wrong password and an unknown name, and no SMS.
		a.render(w, r, http.StatusUnauthorized, "login", pageData{
			Error: "That username and password don't match an account.", Field: "both", Next: next,
		})
		return
	}
	if err := a.limits.passwordRight(r.Context(), name); err != nil {
		a.log.Error("clearing the account's sign-in count failed", "err", err)
	}
	if next == "" {
		next = "/account"
	}
	a.signedIn(w, r, u, next)
}

// tooMany answers a refused try with page name, 429 and Retry-After.
func (a *app) tooMany(w http.ResponseWriter, r *http.Request, page string, wait time.Duration, msg string, next ...string) {
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	d := pageData{Error: msg}
	if len(next) > 0 {
		d.Next = next[0]
	}
	a.render(w, r, http.StatusTooManyRequests, page, d)
}

// signedIn signs u in and sends the browser on to next, through the
// verification the gate there asks for.
func (a *app) signedIn(w http.ResponseWriter, r *http.Request, u user, next string) {
	if err := a.signIn(w, r, u); err != nil {
		a.failed(w, r, "signing in", err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (a *app) serveLogout(w http.ResponseWriter, r *http.Request) {
	if err := a.tf.Reset(w, r); err != nil {
		a.failed(w, r, "logging out", err)
		return
	}
	if err := a.signOut(w, r); err != nil {
		a.failed(w, r, "logging out", err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (a *app) serveSettings(w http.ResponseWriter, r *http.Request) {
	a.settings(w, r, http.StatusOK, pageData{Notice: a.notice(r)})
}

// settings renders the settings page with d's notice or error.
func (a *app) settings(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	ctx := r.Context()
	user := a.currentUser(r)
	devices, err := a.tf.Devices(ctx, user)
	if err != nil {
		a.failed(w, r, "listing devices", err)
		return
	}
	phone, err := a.users.phone(ctx, user)
	if err != nil {
		a.failed(w, r, "finding the number", err)
		return
	}
	left, err := a.tf.RecoveryCodesLeft(ctx, user)
	if err != nil {
		a.failed(w, r, "counting recovery codes", err)
		return
	}
	factors, err := a.tf.Factors(r)
	if err != nil {
		a.failed(w, r, "listing the second factors", err)
		return
	}
	d.Devices, d.ThisDevice, d.CodesLeft, d.Factors = devices, a.tf.ThisDevice(r), left, factors
	if d.Passkeys, err = a.passkeys(r); err != nil { // passkey.go
		a.failed(w, r, "listing passkeys", err)
		return
	}
	if phone != "" {
		// Escaped here rather than by the template, which would write the
		// + as &#43;: the same text to a browser, but not to a grep.
		d.Phone = template.HTML(html.EscapeString(twofactor.MaskPhone(phone)))
	}
	a.render(w, r, status, "settings", d)
}

func (a *app) serveRevokeDevice(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "error") {
		return
	}
	id := r.PostForm.Get("id")
	if id == "" || len(id) > 64 {
		a.render(w, r, http.StatusBadRequest, "error", pageData{Message: "Which device? The form had none.", Link: "/settings"})
		return
	}
	if err := a.tf.RevokeDevice(r.Context(), a.currentUser(r), id); err != nil {
		a.failed(w, r, "revoking a device", err)
		return
	}
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
}

func (a *app) serveRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	codes, err := a.tf.NewRecoveryCodes(r.Context(), a.currentUser(r))
	if err != nil {
		a.failed(w, r, "making recovery codes", err)
		return
	}
	// Shown once, never stored: the library keeps only their hashes.
	a.render(w, r, http.StatusOK, "codes", pageData{Codes: codes})
}

func (a *app) serveSignOutEverywhere(w http.ResponseWriter, r *http.Request) {
	user := a.currentUser(r)
	// Every verification and remembered device of the user, on every
	// server, this browser's included ...
	if err := a.tf.SignOutEverywhere(r.Context(), user); err != nil {
		a.failed(w, r, "signing out everywhere", err)
		return
	}
	// ... and every login session of the app, on every server: each was
	// made under an older login generation.
	if err := a.st.endLogins(r.Context(), user); err != nil {
		a.failed(w, r, "signing out everywhere", err)
		return
	}
	if err := a.tf.Reset(w, r); err != nil {
		a.log.Error("clearing the verification cookie failed", "err", err)
	}
	if err := a.signOut(w, r); err != nil {
		a.log.Error("clearing the login cookie failed", "err", err)
	}
	// Nobody is signed in on this page any more.
	r = r.WithContext(context.WithValue(r.Context(), userCtx{}, ""))
	a.render(w, r, http.StatusOK, "signedout", pageData{})
}

// readForm reads a POSTed form of at most maxForm bytes, answering a bad
// one itself with page name.
func (a *app) readForm(w http.ResponseWriter, r *http.Request, name string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		a.render(w, r, http.StatusBadRequest, name, pageData{Error: "We couldn't read that form.", Message: "We couldn't read that form."})
		return false
	}
	return true
}

// failed answers a failure of the library's store or state backend (or
// anything else unexpected) with a page, and logs it.
func (a *app) failed(w http.ResponseWriter, r *http.Request, doing string, err error) {
	a.log.Error(doing+" failed", "err", err)
	a.render(w, r, http.StatusServiceUnavailable, "error", pageData{Message: "Something went wrong on our side. Please try again in a moment."})
}

// localPath returns p if it is a path on this site, else "".
func localPath(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") {
		return ""
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return p
}

type pageData struct {
	User       string // the signed-in user, "" for none
	Balance    string
	Method     string
	Phone      template.HTML // masked, escaped
	Devices    []twofactor.Device
	ThisDevice string // the id of the remembered device this browser is
	Codes      []string
	Factors    []twofactor.Factor // the user's second factors (Manager.Factors)
	TOTPQR     template.URL       // the QR code of an authenticator app being added: a data: URL
	TOTPSecret string             // its secret, for typing in
	Passkeys   []passkeyRow
	CodesLeft  int    // unused recovery codes
	Username   string // the name typed, to show it again
	Next       string
	Error      string
	Field      string // the field Error is about: "username", "password", "both", or "" (the form)
	Notice     string
	Message    string
	Link       string
}

func (a *app) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	d.User = a.currentUser(r)
	render(w, status, name, d)
}

func setHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	// Scripts from this site only (the library's passkey.js, which also
	// talks to the flow with fetch), no inline script.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
}

func render(w http.ResponseWriter, status int, name string, d pageData) {
	setHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, name, d)
}

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"date": func(t time.Time) string { return t.Format("2 Jan 2006 15:04") },
	// field says whether a page's error is about the named field.
	"field": func(d pageData, name string) bool {
		return d.Error != "" && (d.Field == name || d.Field == "both")
	},
}).Parse(`
{{define "top"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>BirdBank</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1f1f1f}
header{display:flex;justify-content:space-between;align-items:center;gap:1rem;flex-wrap:wrap}a{color:#0b57d0}
.balance{font-size:2rem;font-weight:700}button{padding:.5rem 1rem;font-size:1rem}
label{display:block;margin-top:.75rem}input{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}
.error{color:#b3261e;font-weight:600}.codes{font:1.2rem/1.8 ui-monospace,monospace}
section{border-top:1px solid #ddd;margin-top:1.5rem}form.inline{display:inline}</style>
</head><body><header><h1>🐦 BirdBank</h1>{{if .User}}<span id="user">Signed in as {{.User}}</span>
<form method="post" action="/logout"><button type="submit" id="logout">Sign out</button></form>{{end}}</header><main>{{end}}
{{define "bottom"}}</main></body></html>{{end}}

{{define "home"}}{{template "top" .}}
{{if .Notice}}<p role="status">{{.Notice}}</p>{{end}}
<p>Welcome to BirdBank, the bank that keeps your nest egg safe.</p>
{{if .User}}<p><a href="/account">Go to your account</a> · <a href="/settings">Security settings</a></p>
{{else}}<p><a href="/login">Sign in</a> or <a href="/signup">open an account</a>.</p>{{end}}
{{template "bottom" .}}{{end}}

{{define "login"}}{{template "top" .}}
<h2>Sign in</h2>
{{if .Error}}<p class="error" role="alert" id="error">{{.Error}}</p>{{end}}
<form method="post" action="/login">
{{if .Next}}<input type="hidden" name="next" value="{{.Next}}">{{end}}
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required value="{{.Username}}" autofocus{{template "invalid" field . "username"}}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required{{template "invalid" field . "password"}}>
<p><button type="submit" id="login">Sign in</button></p>
</form>
<p>No account yet? <a href="/signup">Open one</a>.</p>
{{template "bottom" .}}{{end}}

{{define "signup"}}{{template "top" .}}
<h2>Open an account</h2>
{{if .Error}}<p class="error" role="alert" id="error">{{.Error}}</p>{{end}}
<form method="post" action="/signup">
<label for="username">Username (3 to 32 letters, digits, - or _)</label>
<input id="username" name="username" autocomplete="username" required pattern="[A-Za-z0-9_\-]{3,32}" value="{{.Username}}" autofocus{{template "invalid" field . "username"}}>
<label for="password">Password (at least 8 characters)</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="8"{{template "invalid" field . "password"}}>
<p><button type="submit" id="signup">Open account</button></p>
</form>
<p>Have an account? <a href="/login">Sign in</a>.</p>
{{template "bottom" .}}{{end}}

{{/* invalid marks a field the error is about, and ties the error to it. */}}
{{define "invalid"}}{{if .}} aria-invalid="true" aria-describedby="error"{{end}}{{end}}

{{define "account"}}{{template "top" .}}
<h2>Your account</h2>
{{if .Notice}}<p role="status">{{.Notice}}</p>{{end}}
<p>Current balance</p>
<p class="balance" id="balance">{{.Balance}} EUR</p>
<p><a href="/transfer" id="new-transfer">New transfer</a> · <a href="/settings" id="settings">Security settings</a></p>
{{template "bottom" .}}{{end}}

{{define "settings"}}{{template "top" .}}
<h2>Security settings</h2>
{{if .Notice}}<p role="status">{{.Notice}}</p>{{end}}
<section><h3>Phone number</h3>
<p>{{if .Phone}}Codes go to <strong id="phone">{{.Phone}}</strong>.{{else}}No number on file.{{end}}
<a href="/2fa/change" id="change-number">Change number</a></p></section>
<section><h3>Two-step verification</h3>
{{if .Error}}<p class="error" role="alert" id="error">{{.Error}}</p>{{end}}
<ul id="factors">{{range .Factors}}{{if ne .Method "passkey"}}
<li class="factor">{{if eq .Method "sms"}}Codes by text message to {{.Name}}{{else}}{{if eq .Method "totp"}}Authenticator app{{else}}{{.Name}}{{end}} — added {{date .Created}}{{if not .LastUsed.IsZero}}, last used {{date .LastUsed}}{{end}}
<form method="post" action="/settings/factors/remove" class="inline"><input type="hidden" name="method" value="{{.Method}}"><input type="hidden" name="id" value="{{.ID}}"><button type="submit" id="remove-{{.Method}}" aria-label="Remove {{if eq .Method "totp"}}authenticator app{{else}}{{.Name}}{{end}}, added {{date .Created}}">Remove</button></form>{{end}}</li>{{end}}{{end}}
</ul>
<p><a href="/settings/totp" id="add-totp">Add an authenticator app</a>{{range .Factors}}{{if eq .Method "totp"}} (it replaces the one you have){{end}}{{end}}</p></section>
<section><h3>Passkeys</h3>
<p>A passkey signs you in with your fingerprint, face or screen lock instead of a text message, and can't be phished.</p>
{{if .Passkeys}}<ul id="passkeys">{{range .Passkeys}}
<li class="passkey">{{.Name}} — added {{date .Created}}, {{if .LastUsed.IsZero}}never used{{else}}last used {{date .LastUsed}}{{end}}
<form method="post" action="/settings/passkeys/remove" class="inline"><input type="hidden" name="id" value="{{.ID}}"><button type="submit" aria-label="Remove passkey {{.Name}}, added {{date .Created}}">Remove</button></form></li>{{end}}
</ul>{{else}}<p id="no-passkeys">No passkeys yet.</p>{{end}}
<label for="passkey-name">Name of the new passkey (optional)</label>
<input id="passkey-name" maxlength="64" placeholder="such as: My phone" autocomplete="off">
<p id="passkey-status" role="status"></p>
<p><button type="button" id="add-passkey" hidden data-tf-passkey-register data-tf-prefix="/2fa/" data-tf-name="passkey-name" data-tf-status="passkey-status" data-tf-nojs="passkey-nojs" data-tf-cancelled="No passkey was added.">Add a passkey</button></p>
<p id="passkey-nojs">Adding a passkey needs JavaScript.</p>
<script src="/2fa/passkey.js" defer></script></section>
<section><h3>Remembered devices</h3>
{{if .Devices}}<ul id="devices">{{range .Devices}}
<li class="device"{{if eq .ID $.ThisDevice}} id="this-device"{{end}}>{{.Name}}{{if eq .ID $.ThisDevice}} <strong>(this device)</strong>{{end}} — remembered {{date .Created}}, last used {{date .LastUsed}}
<form method="post" action="/settings/devices/revoke" class="inline"><input type="hidden" name="id" value="{{.ID}}"><button type="submit" aria-label="Revoke {{.Name}}{{if eq .ID $.ThisDevice}} (this device){{end}}, remembered {{date .Created}}">Revoke</button></form></li>{{end}}
</ul>{{else}}<p id="no-devices">No remembered devices.</p>{{end}}</section>
<section><h3>Recovery codes</h3>
<p>If you lose your phone, a recovery code signs you in instead of a text message. Making new ones ends the old ones.</p>
<p id="codes-left">{{if eq .CodesLeft 1}}You have 1 recovery code left.{{else}}You have {{.CodesLeft}} recovery codes left.{{end}}</p>
<form method="post" action="/settings/recovery-codes"><button type="submit" id="new-codes">New recovery codes</button></form></section>
<section><h3>Sign out everywhere</h3>
<p>Signs you out on every device, this one included, and forgets every remembered device.</p>
<form method="post" action="/settings/sign-out-everywhere"><button type="submit" id="sign-out-everywhere">Sign out everywhere</button></form></section>
<p><a href="/account">Back to your account</a></p>
{{template "bottom" .}}{{end}}

{{define "totp"}}{{template "top" .}}
<h2>Add an authenticator app</h2>
{{if .Error}}<p class="error" role="alert" id="error">{{.Error}}</p>{{end}}
<p>Scan this QR code with your authenticator app (such as Google Authenticator, Microsoft Authenticator or 1Password).</p>
<p><img src="{{.TOTPQR}}" width="256" height="256" alt="QR code of your authenticator app's secret" id="totp-qr"></p>
<p>Can't scan it? Type this key into the app instead:</p>
<p><code id="totp-secret" class="codes">{{.TOTPSecret}}</code></p>
<form method="post" action="/settings/totp">
<label for="code">Then enter the 6-digit code the app shows</label>
<input id="code" name="code" autocomplete="one-time-code" inputmode="numeric" required autofocus{{template "invalid" field . "code"}}>
<p><button type="submit" id="add-totp">Add authenticator app</button></p>
</form>
<p><a href="/settings">Cancel</a></p>
{{template "bottom" .}}{{end}}

{{define "codes"}}{{template "top" .}}
<h2>Your new recovery codes</h2>
<p>Write these down and keep them somewhere safe. Each works once. We show them only now; your old codes no longer work.</p>
<ol class="codes" id="codes">{{range .Codes}}<li>{{.}}</li>{{end}}</ol>
<p><a href="/settings">Back to settings</a></p>
{{template "bottom" .}}{{end}}

{{define "signedout"}}{{template "top" .}}
<h2>Signed out everywhere</h2>
<p role="status">You're signed out on every device, and no device is remembered any more.</p>
<p><a href="/login">Sign in again</a></p>
{{template "bottom" .}}{{end}}

{{define "error"}}{{template "top" .}}
<p role="alert" class="error">{{.Message}}</p>
<p><a href="{{if .Link}}{{.Link}}{{else}}/{{end}}">{{if .Link}}Continue{{else}}Back to BirdBank{{end}}</a></p>
{{template "bottom" .}}{{end}}
`))
