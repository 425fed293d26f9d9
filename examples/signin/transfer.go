package main

// Transfers: a verified user sends money to an IBAN and confirms it, with
// their passkey when they have one (the challenge the passkey signs is
// derived from the amount and the payee), else with a code sent by SMS
// for that transfer only. The library keeps the transfer and confirms it
// once; the app makes it from the details the library hands back.

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strings"

	"github.com/go-twofactor/twofactor"
)

var (
	amountRE = regexp.MustCompile(`^[0-9]{1,5}(\.[0-9]{2})?$`)
	ibanRE   = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$`)
)

// transferData is what the transfer pages show.
type transferData struct {
	pageData
	Amount, IBAN string // as typed, or as confirmed
	ID           string // the confirmation
	Passkey      bool   // confirm with the passkey, not a code
	Phone        string // masked number the code went to
}

func (a *app) serveTransferForm(w http.ResponseWriter, r *http.Request) {
	a.renderTransfer(w, r, http.StatusOK, "transfer", transferData{})
}

// serveTransfer checks the form and starts the confirmation.
func (a *app) serveTransfer(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "transfer") {
		return
	}
	amount := strings.TrimSpace(r.PostForm.Get("amount"))
	iban := strings.ToUpper(strings.ReplaceAll(r.PostForm.Get("iban"), " ", ""))
	d := transferData{Amount: amount, IBAN: iban}
	switch {
	case !amountRE.MatchString(amount):
		d.Error, d.Field = "Enter an amount in euros, such as 500 or 12.50.", "amount"
	case !ibanRE.MatchString(iban):
		d.Error, d.Field = "Enter the payee's IBAN, such as NL91 ABNA 0417 1643 00.", "iban"
	}
	if d.Error != "" {
		a.renderTransfer(w, r, http.StatusBadRequest, "transfer", d)
		return
	}
	if !strings.Contains(amount, ".") {
		amount += ".00"
	}
	c, err := a.tf.StartConfirmation(r, twofactor.Action{
		Description: "EUR " + amount + " to " + iban,
		Amount:      "EUR " + amount,
		Payee:       iban,
		Details:     map[string]string{"amount": amount, "iban": iban},
	})
	if err != nil {
		a.transferFailed(w, r, err)
		return
	}
	a.renderTransfer(w, r, http.StatusOK, "transfer-confirm", transferData{
		Amount: amount, IBAN: iban, ID: c.ID, Passkey: c.Passkey, Phone: c.Phone,
	})
}

// serveTransferConfirm checks the code (or the passkey's answer, which
// the library's script puts in the code field) and makes the transfer,
// once, from what the library kept.
func (a *app) serveTransferConfirm(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "error") {
		return
	}
	act, err := a.tf.Confirm(r, r.PostForm.Get("id"), r.PostForm.Get("code"))
	if err != nil {
		a.transferFailed(w, r, err)
		return
	}
	a.log.Info("transfer made", "amount", act.Details["amount"], "user", a.currentUser(r))
	a.renderTransfer(w, r, http.StatusOK, "transfer-done", transferData{Amount: act.Details["amount"], IBAN: act.Details["iban"]})
}

// transferFailed says why a transfer was not made.
func (a *app) transferFailed(w http.ResponseWriter, r *http.Request, err error) {
	var ce *twofactor.ConfirmError
	if !errors.As(err, &ce) || ce.Status >= 500 {
		a.failed(w, r, "confirming a transfer", err)
		return
	}
	msg := "This transfer was not made. Please start it again."
	switch ce.Code {
	case "invalid_code":
		msg = fmt.Sprintf("That wasn't right, so the transfer was not made. %d %s left: go back and try again.", ce.TriesLeft, map[bool]string{true: "try", false: "tries"}[ce.TriesLeft == 1])
	case "malformed_code":
		msg = "That wasn't a code. Go back and type the code from the SMS, or use your passkey."
	case "already_confirmed":
		msg = "This transfer went through earlier. It has not been made a second time."
	case "expired":
		msg = "The confirmation expired. This transfer was not made: please start it again."
	case "rate_limited", "locked":
		msg = "Too many tries. Please wait a while before you make a transfer."
	}
	a.render(w, r, ce.Status, "error", pageData{Message: msg, Link: "/transfer"})
}

func (a *app) renderTransfer(w http.ResponseWriter, r *http.Request, status int, name string, d transferData) {
	d.User = a.currentUser(r)
	setHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := transferPages.ExecuteTemplate(w, name, d); err != nil {
		a.log.Error("transfer page failed", "page", name, "err", err)
	}
}

// groupIBAN writes an IBAN in groups of four, for reading.
func groupIBAN(iban string) string {
	var b strings.Builder
	for i, c := range iban {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

var transferPages = template.Must(template.Must(pages.Clone()).Funcs(template.FuncMap{"group": groupIBAN}).Parse(`
{{define "transfer"}}{{template "top" .}}
<h2>New transfer</h2>
{{if .Error}}<p class="error" role="alert" id="error">{{.Error}}</p>{{end}}
<form method="post" action="/transfer">
<label for="amount">Amount in EUR</label>
<input id="amount" name="amount" inputmode="decimal" required value="{{.Amount}}" autofocus{{template "invalid" (and .Error (eq .Field "amount"))}}>
<label for="iban">Payee's IBAN</label>
<input id="iban" name="iban" autocomplete="off" spellcheck="false" required value="{{.IBAN}}"{{template "invalid" (and .Error (eq .Field "iban"))}}>
<p><button type="submit" id="transfer">Continue</button></p>
</form>
<p><a href="/account">Back to your account</a></p>
{{template "bottom" .}}{{end}}

{{define "transfer-confirm"}}{{template "top" .}}
<h2>Confirm your transfer</h2>
<dl><dt>Amount</dt><dd id="confirm-amount"><strong>EUR {{.Amount}}</strong></dd>
<dt>To</dt><dd id="confirm-payee"><strong>{{group .IBAN}}</strong></dd></dl>
{{if .Passkey}}
<p>Check the amount and the payee, then confirm with your passkey: it signs this transfer and no other.</p>
<form method="post" action="/transfer/confirm" id="confirm-form" data-tf-passkey-confirm data-tf-prefix="/2fa/" data-tf-id="{{.ID}}" data-tf-status="confirm-status" data-tf-nojs="confirm-nojs" data-tf-cancelled="The passkey wasn't used. The transfer was not made; press the button to try again.">
<input type="hidden" name="id" value="{{.ID}}">
<input type="hidden" name="code" value="">
<p id="confirm-nojs">Confirming with a passkey needs JavaScript.</p>
<p><button type="submit" id="confirm-passkey" hidden>Confirm with your passkey</button></p>
<p id="confirm-status" role="status"></p>
</form>
<script src="/2fa/passkey.js" defer></script>
{{else}}
<p>We've sent a code for this transfer by SMS to <strong>{{.Phone}}</strong>.</p>
<form method="post" action="/transfer/confirm">
<input type="hidden" name="id" value="{{.ID}}">
<label for="code">Code</label>
<input id="code" name="code" autocomplete="one-time-code" inputmode="numeric" required autofocus>
<p><button type="submit" id="confirm-code">Confirm</button></p>
</form>
{{end}}
<p><a href="/account">Cancel</a></p>
{{template "bottom" .}}{{end}}

{{define "transfer-done"}}{{template "top" .}}
<h2>Transfer made</h2>
<p role="status" id="transfer-done">EUR {{.Amount}} is on its way to {{group .IBAN}}.</p>
<p><a href="/account">Back to your account</a></p>
{{template "bottom" .}}{{end}}
`))
