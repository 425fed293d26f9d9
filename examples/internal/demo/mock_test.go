package demo

import (
	"bytes"
	"log/slog"
	"regexp"
	"testing"

	"github.com/go-twofactor/twofactor"
)

// The printed line says what the code is for.
func TestPrintingMockSaysWhatFor(t *testing.T) {
	var out bytes.Buffer
	m := PrintingMock(&out, slog.New(slog.DiscardHandler))
	if _, err := m.Send(t.Context(), twofactor.Request{Phone: "+31612345678"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Send(t.Context(), twofactor.Request{Phone: "+31612345678", Amount: "EUR 500.00", Payee: "NL91…4300"}); err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^\n  Sign-in \(no MESSAGEBIRD_API_KEY, nothing sent\): the code for \+31 6 •••••678 is \d{6}\n\n` +
		`\n  Transfer of EUR 500\.00 to NL91…4300 \(no MESSAGEBIRD_API_KEY, nothing sent\): the code for \+31 6 •••••678 is \d{6}\n\n$`)
	if !want.Match(out.Bytes()) {
		t.Errorf("printed %q", out.String())
	}
}
