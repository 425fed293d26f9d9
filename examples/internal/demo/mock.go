package demo

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/go-twofactor/twofactor"
)

// PrintingMock is the provider of an example run without any provider's
// key: a Mock that writes each code to out (the terminal; nil discards),
// with what it is for (a sign-in, or a transfer and its amount and payee),
// so the whole flow works with no account. Local development only: a real
// provider never shows codes.
func PrintingMock(out io.Writer, log *slog.Logger) *twofactor.Mock {
	if out == nil {
		out = io.Discard
	}
	log.Warn("no MESSAGEBIRD_API_KEY: codes are printed to this terminal instead of sent")
	return &twofactor.Mock{OnSend: func(req twofactor.Request, v twofactor.Verification, code string) {
		fmt.Fprintf(out, "\n  %s (no MESSAGEBIRD_API_KEY, nothing sent): the code for %s is %s\n\n", purpose(req), twofactor.MaskPhone(v.Phone), code)
	}}
}

// purpose says what a code is for: "Sign-in", or "Transfer of EUR 500.00
// to NL91…4300".
func purpose(req twofactor.Request) string {
	if req.Amount == "" && req.Payee == "" {
		return "Sign-in"
	}
	return fmt.Sprintf("Transfer of %s to %s", req.Amount, req.Payee)
}
