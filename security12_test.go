package twofactor_test

// security12_test.go attacks the rules of issue 12 (limits that cannot be
// turned against users, bounded memory, the fraud guard, forwarded headers,
// the __Host- cookie, deadlines on the backends), through real HTTP in the
// style of security_test.go.

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-twofactor/twofactor"
)

// Known-number mode without a subject verified "someone holds the number
// on file" for whoever signed in next: New refuses it, and with a subject
// the verification belongs to the user whose number it is.
func TestSecurity_KnownNumberNeedsSubject(t *testing.T) {
	onFile := map[string]string{"alice": secPhone, "bob": "+31687654321"}
	lookup := twofactor.WithPhoneLookup(func(r *http.Request) (string, error) { return onFile[secSubject(r)], nil })
	if m, err := twofactor.New(&twofactor.Mock{}, nil, lookup); err == nil || m != nil || !strings.Contains(err.Error(), "WithSubject") {
		t.Fatalf("New(WithPhoneLookup) without WithSubject = %v, %v; want an error naming WithSubject", m, err)
	}
	e := secNew(t, secSetup{subject: true, opts: []twofactor.Option{lookup}})
	c := e.client()
	c.user = "alice"
	c.mustVerify(secPhone)
	c.user = "bob" // alice signs in as bob in the same browser
	if c.verified() {
		t.Fatal("bob is verified by alice's phone")
	}
	before := e.mock.Sends()
	secWant(t, "send as bob", c.send(secPhone), http.StatusOK, "")
	if e.mock.Sends() != before+1 || e.code("+31687654321") == "" || e.lastEvent().Phone != "+31687654321" {
		t.Errorf("bob's code did not go to bob's number on file: %+v", e.lastEvent())
	}
	if c.verified() {
		t.Error("bob verified before typing his code")
	}
}
