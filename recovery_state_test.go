package twofactor_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/go-twofactor/twofactor"
)

// WithRecoveryCodes(nil) keeps the codes in the State: every server that
// shares it (and the secret) knows them, a code works once across
// servers, and RecoveryCodesLeft counts what is left.
func TestRecoveryCodesInTheState(t *testing.T) {
	a := newLCApp(t, twofactor.WithRecoveryCodes(nil), twofactor.WithSecret(testSecret))
	other, err := twofactor.New(&twofactor.Mock{}, nil,
		twofactor.WithState(a.state), twofactor.WithSecret(testSecret), twofactor.WithClock(a.clock.Now),
		twofactor.WithSubject(secSubject), twofactor.WithRecoveryCodes(nil))
	if err != nil {
		t.Fatal(err)
	}
	codes, err := other.NewRecoveryCodes(t.Context(), "alice") // made on the other server
	if err != nil {
		t.Fatal(err)
	}
	if n, err := a.m.RecoveryCodesLeft(t.Context(), "alice"); err != nil || n != twofactor.RecoveryCodeCount {
		t.Fatalf("RecoveryCodesLeft on this server = %d, %v; want %d", n, err, twofactor.RecoveryCodeCount)
	}
	if hashes, _ := a.recovery.RecoveryHashes(t.Context(), "alice"); len(hashes) != 0 {
		t.Fatalf("the app's own store got %d hashes, want none: they live in the State", len(hashes))
	}
	c := a.as("alice")
	if r := c.post("/2fa/recover", url.Values{"recovery_code": {codes[3]}}); r.status != http.StatusOK {
		t.Fatalf("a code made on the other server: %v", r)
	}
	if n, _ := other.RecoveryCodesLeft(t.Context(), "alice"); n != twofactor.RecoveryCodeCount-1 {
		t.Fatalf("codes left on the other server = %d, want %d", n, twofactor.RecoveryCodeCount-1)
	}
	if r := a.as("alice").post("/2fa/recover", url.Values{"recovery_code": {codes[3]}}); r.status != http.StatusBadRequest {
		t.Fatalf("a used code again: %v", r)
	}
	if _, err := a.m.RecoveryCodesLeft(t.Context(), ""); err == nil {
		t.Error("RecoveryCodesLeft without a subject: no error")
	}
}
