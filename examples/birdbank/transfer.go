package main

// Transfers: a verified visitor sends money to an IBAN, and confirms the
// transfer with a code made for its amount and payee (PSD2 dynamic
// linking). The library keeps the transfer server-side and confirms it
// exactly once; BirdBank checks the input and shows the pages.

import (
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-twofactor/twofactor"
)

// maxTransferCents is the largest transfer BirdBank confirms by SMS code.
const maxTransferCents = 10000_00

// transferBody bounds a transfer POST body.
const transferBody = 8 << 10

// registerTransfer serves the transfer pages on mux: GET and POST
// /transfer (the form, then the code page), GET and POST /transfer/confirm
// (the code page again, then the result). All are behind the gate; the
// POSTs also refuse cross-origin requests.
func registerTransfer(mux *http.ServeMux, tf *twofactor.Manager, csrf *http.CrossOriginProtection, log *slog.Logger) {
	t := &transfers{tf: tf, log: log}
	mux.Handle("GET /transfer", tf.Require(http.HandlerFunc(t.form)))
	mux.Handle("POST /transfer", csrf.Handler(tf.Require(http.HandlerFunc(t.start))))
	mux.Handle("GET /transfer/confirm", tf.Require(http.HandlerFunc(t.pending)))
	mux.Handle("POST /transfer/confirm", csrf.Handler(tf.Require(http.HandlerFunc(t.confirm))))
	mux.HandleFunc("/transfer", methodNotAllowed("GET, HEAD, POST"))
	mux.HandleFunc("/transfer/confirm", methodNotAllowed("GET, HEAD, POST"))
}

type transfers struct {
	tf  *twofactor.Manager
	log *slog.Logger
}

// transferData is what the transfer pages show.
type transferData struct {
	Verified bool   // for the page header's log-out button
	Amount   string // the form's amount, to show again after an error
	IBAN     string // the form's IBAN, likewise
	Error    string // what went wrong, for the alert
	Field    string // "amount", "iban" or "code": the input the error is about

	// The confirmation page.
	ID      string // the confirmation's id, for the hidden field
	Sum     string // "EUR 500.00"
	Payee   string // the IBAN, compact: NL91ABNA0417164300
	Grouped string // the IBAN in groups of four, for reading
	Phone   string // masked number the code went to

	// The message pages.
	Title    string
	Message  string
	Link     string
	LinkText string
}

func (t *transfers) form(w http.ResponseWriter, r *http.Request) {
	renderTransfer(w, http.StatusOK, "transfer", transferData{Verified: true})
}

// start checks the form and sends the code for this transfer.
func (t *transfers) start(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, transferBody)
	if err := r.ParseForm(); err != nil {
		renderTransfer(w, http.StatusBadRequest, "transfer", transferData{Verified: true, Error: "We couldn't read that form. Please try again."})
		return
	}
	d := transferData{Verified: true, Amount: shorten(r.PostForm.Get("amount")), IBAN: shorten(r.PostForm.Get("iban"))}
	cents, msg := parseAmount(r.PostForm.Get("amount"))
	if msg != "" {
		d.Error, d.Field = msg, "amount"
		renderTransfer(w, http.StatusBadRequest, "transfer", d)
		return
	}
	iban, msg := parseIBAN(r.PostForm.Get("iban"))
	if msg != "" {
		d.Error, d.Field = msg, "iban"
		renderTransfer(w, http.StatusBadRequest, "transfer", d)
		return
	}
	amount := formatCents(cents)
	c, err := t.tf.StartConfirmation(r, twofactor.Action{
		Description: "EUR " + amount + " to " + maskIBAN(iban),
		Details:     map[string]string{"cents": strconv.FormatInt(cents, 10), "currency": "EUR", "iban": iban},
		Amount:      "EUR " + amount,
		Payee:       maskIBAN(iban),
	})
	if err != nil {
		t.failed(w, r, err, "")
		return
	}
	renderTransfer(w, http.StatusOK, "transfer-confirm", confirmData(c, ""))
}

// pending shows the code page of a transfer again (after a reload).
func (t *transfers) pending(w http.ResponseWriter, r *http.Request) {
	c, err := t.tf.PendingConfirmation(r, r.URL.Query().Get("id"))
	if err != nil {
		t.failed(w, r, err, "")
		return
	}
	renderTransfer(w, http.StatusOK, "transfer-confirm", confirmData(c, ""))
}

// confirm checks the code: the transfer is made once, from the details the
// library kept, never from this form.
func (t *transfers) confirm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, transferBody)
	if err := r.ParseForm(); err != nil {
		renderTransfer(w, http.StatusBadRequest, "transfer-message", transferData{Verified: true, Title: "Something went wrong", Message: "We couldn't read that form. Please try again.", Link: "/transfer", LinkText: "New transfer"})
		return
	}
	id := r.PostForm.Get("id")
	a, err := t.tf.Confirm(r, id, r.PostForm.Get("code"))
	if err != nil {
		t.failed(w, r, err, id)
		return
	}
	cents, _ := strconv.ParseInt(a.Details["cents"], 10, 64)
	iban := a.Details["iban"]
	t.log.Info("transfer made", "cents", cents, "to", maskIBAN(iban))
	renderTransfer(w, http.StatusOK, "transfer-done", transferData{
		Verified: true,
		Sum:      a.Details["currency"] + " " + formatCents(cents),
		Payee:    iban,
		Grouped:  groupIBAN(iban),
	})
}

func confirmData(c twofactor.Confirmation, msg string) transferData {
	cents, _ := strconv.ParseInt(c.Action.Details["cents"], 10, 64)
	iban := c.Action.Details["iban"]
	d := transferData{
		Verified: true,
		ID:       c.ID,
		Sum:      c.Action.Details["currency"] + " " + formatCents(cents),
		Payee:    iban,
		Grouped:  groupIBAN(iban),
		Phone:    c.Phone,
		Error:    msg,
	}
	if msg != "" {
		d.Field = "code"
	}
	return d
}

// failed answers a confirmation error with a page that says what happened
// and what to do. id, when set, is the confirmation whose code was just
// tried: its page is shown again, with the error, while it can still be
// confirmed.
func (t *transfers) failed(w http.ResponseWriter, r *http.Request, err error, id string) {
	var ce *twofactor.ConfirmError
	if !errors.As(err, &ce) {
		ce = &twofactor.ConfirmError{Code: "store_unavailable", Status: http.StatusServiceUnavailable, Err: err}
	}
	if ce.Status >= 500 {
		t.log.Error("transfer failed", "code", ce.Code, "err", err)
	}
	if id != "" {
		var msg string
		switch ce.Code {
		case "invalid_code":
			msg = fmt.Sprintf("That code is not right. %d %s left.", ce.TriesLeft, plural(ce.TriesLeft, "try", "tries"))
		case "malformed_code":
			msg = "Please type the code from the SMS: its digits only."
		case "provider_unavailable", "store_unavailable":
			msg = "We couldn't check the code just now. Please try again in a moment."
		}
		if msg != "" {
			if c, perr := t.tf.PendingConfirmation(r, id); perr == nil {
				renderTransfer(w, ce.Status, "transfer-confirm", confirmData(c, msg))
				return
			}
		}
	}
	d := transferData{Verified: true, Title: "Transfer not made", Link: "/transfer", LinkText: "Start a new transfer"}
	switch ce.Code {
	case "already_confirmed":
		d.Title = "Already done"
		d.Message = "This transfer went through earlier. It has not been made a second time."
		d.Link, d.LinkText = "/account", "Back to your account"
	case "too_many_attempts", "invalid_code":
		d.Message = "Too many wrong codes. This transfer was not made: please start it again."
	case "expired":
		d.Message = "The code has expired. This transfer was not made: please start it again."
	case "unknown_confirmation", "malformed_code":
		d.Message = "We can't find that transfer. Please start it again."
	case "rate_limited":
		d.Message = "We've sent too many codes to your phone. Please wait " + minutes(ce) + " and try again."
	case "locked":
		d.Message = "Too many wrong codes were typed for your account. Please wait " + minutes(ce) + " and try again."
	case "verification_required":
		d.Message = "Please verify your phone first."
		d.Link, d.LinkText = "/2fa/", "Verify your phone"
	case "no_phone_number", "invalid_phone":
		d.Message = "We can't send a code to the phone number of this session. Please log out and verify your mobile number."
		d.Link, d.LinkText = "/account", "Back to your account"
	default: // provider_unavailable, store_unavailable, invalid_action
		d.Message = "We couldn't handle your transfer just now. Nothing was sent. Please try again in a moment."
	}
	if ce.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((ce.RetryAfter+time.Second-1)/time.Second)))
	}
	status := ce.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	renderTransfer(w, status, "transfer-message", d)
}

// minutes says how long a ConfirmError asks to wait, in minutes.
func minutes(ce *twofactor.ConfirmError) string {
	m := int((ce.RetryAfter + time.Minute - 1) / time.Minute)
	if m < 1 {
		m = 1
	}
	return fmt.Sprintf("%d %s", m, plural(m, "minute", "minutes"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// shorten keeps what a form echoes back small and valid UTF-8.
func shorten(s string) string {
	s = strings.ToValidUTF8(s, "")
	if utf8.RuneCountInString(s) > 64 {
		s = string([]rune(s)[:64])
	}
	return s
}

var amountPattern = regexp.MustCompile(`^([0-9]{1,12})(?:[.,]([0-9]{1,2}))?$`)

// parseAmount reads an amount of euros with up to two decimals ("500",
// "500.00", or "500,00" as Europeans write it) into cents. msg, when not
// empty, says what is wrong.
func parseAmount(s string) (cents int64, msg string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, "Please enter an amount, such as 500 or 500.00."
	}
	negative := strings.HasPrefix(s, "-")
	m := amountPattern.FindStringSubmatch(strings.TrimPrefix(s, "-"))
	if m == nil {
		return 0, "The amount must be a number of euros with at most two decimals, such as 500 or 500.00."
	}
	euros, _ := strconv.ParseInt(m[1], 10, 64) // at most 12 digits: no overflow
	frac := m[2]
	for len(frac) < 2 {
		frac += "0"
	}
	c, _ := strconv.ParseInt(frac, 10, 64)
	cents = euros*100 + c
	switch {
	case negative || cents == 0:
		return 0, "The amount must be more than 0.00 euros."
	case cents > maxTransferCents:
		return 0, "The amount can be at most 10000.00 euros."
	}
	return cents, ""
}

// formatCents writes cents as euros with two decimals: 50000 is "500.00".
func formatCents(cents int64) string {
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}

// parseIBAN normalises an IBAN (no spaces, capitals) and checks its ISO
// 13616 check digits (mod 97). msg, when not empty, says what is wrong.
func parseIBAN(s string) (iban, msg string) {
	iban = strings.ToUpper(strings.Join(strings.Fields(s), ""))
	if iban == "" {
		return "", "Please enter the payee's IBAN, such as NL91 ABNA 0417 1643 00."
	}
	if len(iban) < 15 || len(iban) > 34 || !isLetters(iban[:2]) || !isDigits(iban[2:4]) || !isAlnum(iban[4:]) {
		return "", "That is not an IBAN: it starts with two letters and two digits, such as NL91 ABNA 0417 1643 00, and has 15 to 34 letters and digits."
	}
	if !ibanChecks(iban) {
		return "", "That IBAN's check digits don't match: please check it for a typo."
	}
	return iban, ""
}

// ibanChecks computes the ISO 13616 check: the first four characters moved
// to the end, letters as numbers (A=10 … Z=35), the number mod 97 is 1.
func ibanChecks(iban string) bool {
	rearranged := iban[4:] + iban[:4]
	rem := 0
	for i := 0; i < len(rearranged); i++ {
		c := rearranged[i]
		if c >= 'A' && c <= 'Z' {
			v := int(c-'A') + 10
			rem = (rem*100 + v) % 97
		} else {
			rem = (rem*10 + int(c-'0')) % 97
		}
	}
	return rem == 1
}

func isLetters(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 'A' || r > 'Z' })
}

func isDigits(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' })
}

func isAlnum(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return (r < 'A' || r > 'Z') && (r < '0' || r > '9') })
}

// maskIBAN shortens an IBAN for the SMS: NL91…4300.
func maskIBAN(iban string) string {
	return iban[:4] + "…" + iban[len(iban)-4:]
}

// groupIBAN writes an IBAN in groups of four, as printed on cards.
func groupIBAN(iban string) string {
	var b strings.Builder
	for i := 0; i < len(iban); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(iban[i:min(i+4, len(iban))])
	}
	return b.String()
}

// transferPages are BirdBank's pages plus the transfer pages.
var transferPages = template.Must(template.Must(pages.Clone()).Parse(`
{{define "transfer-style"}}<style>label{display:block;margin-top:1rem;font-weight:600}
input{display:block;width:100%;box-sizing:border-box;padding:.5rem;font-size:1.1rem;margin:.25rem 0}
form button{margin-top:1rem}.error,[role=alert]{color:#b3261e;font-weight:600}
dl.transfer{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem}dt{color:#5f5f5f}dd{margin:0;font-weight:600;overflow-wrap:anywhere}dd small{font-weight:400;color:#5f5f5f}#intro strong{white-space:nowrap}</style>{{end}}
{{define "alert"}}{{if .Error}}<p role="alert" id="error" class="error">{{.Error}}</p>{{end}}{{end}}
{{define "transfer"}}{{template "top" .}}{{template "transfer-style"}}
<h2>New transfer</h2>
{{template "alert" .}}
<form method="post" action="/transfer" class="transfer">
<label for="amount">Amount (EUR)</label>
<input id="amount" name="amount" inputmode="decimal" autocomplete="off" required value="{{.Amount}}" placeholder="500.00"{{if eq .Field "amount"}} aria-invalid="true" aria-describedby="error" autofocus{{end}}>
<label for="iban">Payee IBAN</label>
<input id="iban" name="iban" autocomplete="off" autocapitalize="characters" spellcheck="false" required value="{{.IBAN}}" placeholder="NL91 ABNA 0417 1643 00"{{if eq .Field "iban"}} aria-invalid="true" aria-describedby="error" autofocus{{end}}>
<button type="submit">Continue</button>
</form>
<p>We'll text a code that confirms this transfer only.</p>
<p><a href="/account">Back to your account</a></p>
{{template "bottom" .}}{{end}}
{{define "transfer-confirm"}}{{template "top" .}}{{template "transfer-style"}}
<h2>Confirm your transfer</h2>
<dl class="transfer">
<dt>Amount</dt><dd class="amount">{{.Sum}}</dd>
<dt>To IBAN</dt><dd class="payee">{{.Grouped}}<br><small>{{.Payee}}</small></dd>
</dl>
<p id="intro">We sent a code by SMS to <strong>{{.Phone}}</strong>. It confirms this transfer only.</p>
{{template "alert" .}}
<form method="post" action="/transfer/confirm">
<input type="hidden" name="id" value="{{.ID}}">
<label for="code">Code</label>
<input id="code" name="code" autocomplete="one-time-code" inputmode="numeric" required autofocus spellcheck="false" aria-describedby="{{if .Error}}error {{end}}intro"{{if .Error}} aria-invalid="true"{{end}}>
<button type="submit">Confirm transfer</button>
</form>
<p><a href="/account">Cancel</a></p>
{{template "bottom" .}}{{end}}
{{define "transfer-done"}}{{template "top" .}}{{template "transfer-style"}}
<h2>Transfer confirmed</h2>
<p class="done"><strong>{{.Sum}}</strong> to <strong>{{.Payee}}</strong> is on its way.</p>
<dl class="transfer"><dt>Amount</dt><dd class="amount">{{.Sum}}</dd><dt>To IBAN</dt><dd class="payee">{{.Grouped}}</dd></dl>
<p><a href="/account">Back to your account</a></p>
{{template "bottom" .}}{{end}}
{{define "transfer-message"}}{{template "top" .}}{{template "transfer-style"}}
<h2>{{.Title}}</h2>
<p role="alert">{{.Message}}</p>
<p><a href="{{.Link}}">{{.LinkText}}</a></p>
{{template "bottom" .}}{{end}}
`))

func renderTransfer(w http.ResponseWriter, status int, name string, d transferData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = transferPages.ExecuteTemplate(w, name, d)
}
