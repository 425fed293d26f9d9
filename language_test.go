package twofactor_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-twofactor/twofactor"
)

// WithLanguage picks the pages' language over the Accept-Language header;
// when it answers "", the header decides.
func TestWithLanguage(t *testing.T) {
	e := secNew(t, secSetup{opts: []twofactor.Option{twofactor.WithLanguage(func(r *http.Request) string {
		return r.URL.Query().Get("lang") // the app's own choice, such as a profile setting
	})}})
	c := e.browser()
	c.hdr.Set("Accept-Language", "en")
	for path, want := range map[string]string{
		"/2fa/?lang=nl": "Bevestig uw telefoonnummer",
		"/2fa/?lang=en": "Verify your phone",
		"/2fa/":         "Verify your phone", // the header's
	} {
		if r := c.get(path); r.status != http.StatusOK || !strings.Contains(r.body, want) {
			t.Errorf("GET %s: %d, want a page that says %q", path, r.status, want)
		}
	}
	c.hdr.Set("Accept-Language", "nl")
	if r := c.get("/2fa/?lang=en"); !strings.Contains(r.body, "Verify your phone") {
		t.Errorf("the app's English lost to the header's Dutch")
	}
	if r := c.get("/2fa/"); !strings.Contains(r.body, "Bevestig uw telefoonnummer") {
		t.Errorf("with no choice of the app's, the header's Dutch was not used")
	}
}
