package twofactor_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/go-twofactor/twofactor"
)

// A code read out in a phone call verifies with the method MethodVoice, and
// one sent by SMS with MethodSMS: the Record tells the app which.
func TestRecordMethodOfTheChannel(t *testing.T) {
	for _, tt := range []struct {
		channel string
		want    twofactor.Method
	}{{"sms", twofactor.MethodSMS}, {"voice", twofactor.MethodVoice}} {
		t.Run(tt.channel, func(t *testing.T) {
			a := newLCApp(t, twofactor.WithVoice())
			c := a.as("alice")
			if r := c.post("/2fa/send", url.Values{"channel": {tt.channel}}); r.status != http.StatusOK && r.status != http.StatusSeeOther {
				t.Fatalf("send by %s: %v", tt.channel, r)
			}
			if r := c.check(a.code(secPhone)); r.status != http.StatusOK && r.status != http.StatusSeeOther {
				t.Fatalf("check: %v", r)
			}
			rec, r, ok := c.record("/record")
			if !ok || rec.Method != tt.want {
				t.Fatalf("record after a %s code = %+v (%v), want method %q", tt.channel, rec, r, tt.want)
			}
		})
	}
}
