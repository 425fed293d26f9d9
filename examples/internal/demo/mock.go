package demo

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/go-twofactor/twofactor"
)

// PrintingMock is the provider of an example run without any provider's
// key: a Mock that writes each code to out (the terminal; nil discards),
// so the whole flow works with no account. Local development only: a real
// provider never shows codes.
func PrintingMock(out io.Writer, log *slog.Logger) *twofactor.Mock {
	if out == nil {
		out = io.Discard
	}
	log.Warn("no MESSAGEBIRD_API_KEY: codes are printed to this terminal instead of sent")
	return &twofactor.Mock{OnCode: func(v twofactor.Verification, code string) {
		fmt.Fprintf(out, "\n  BirdBank (no MESSAGEBIRD_API_KEY, nothing sent): the code for %s is %s\n\n", twofactor.MaskPhone(v.Phone), code)
	}}
}
