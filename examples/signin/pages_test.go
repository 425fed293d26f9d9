package main

// The flow's pages as this app changes them (flowpages/), and the app's
// own pages around them: what a user sees at each step.

import (
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/go-twofactor/twofactor"
)

// getLang is a GET with an Accept-Language header.
func (v *visitor) getLang(path, lang string) (*http.Response, string) {
	v.t.Helper()
	req, err := http.NewRequest(http.MethodGet, v.ta.srv.URL+path, nil)
	if err != nil {
		v.t.Fatal(err)
	}
	req.Header.Set("Accept-Language", lang)
	resp, err := v.client.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		v.t.Fatal(err)
	}
	return resp, string(page)
}

func TestFlowPagesNameTheAppAndSignOut(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	body := v.login("alice", "alice-password")
	for _, want := range []string{
		`<span class="tf-app">BirdBank</span>`, `· BirdBank</title>`,
		`<a href="/">Back to BirdBank</a>`,
		`<form method="post" action="/logout"`, `id="logout">Sign out</button>`,
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("the flow's page lacks %q:\n%s", want, body)
		}
	}
	_, nl := v.getLang("/2fa/", "nl")
	if !strings.Contains(nl, `id="logout">Afmelden</button>`) {
		t.Errorf("the Dutch page's sign-out is not in Dutch:\n%s", nl)
	}
	// Signing out from the flow's page ends the login.
	resp, body := v.post("/logout")
	expect(t, resp, body, http.StatusOK, "/login")
	resp, body = v.get("/2fa/")
	expect(t, resp, body, http.StatusOK, "/login")
	ta.noCodeSent()
}

func TestRememberIsOfferedOnce(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	// The number on file, before a code is sent: the recovery form's box.
	body := v.login("alice", "alice-password")
	if n := strings.Count(body, `name="remember"`); n != 1 || !strings.Contains(body, `name="recovery_code"`) {
		t.Fatalf("%d remember boxes on the send page, want 1 beside a recovery form:\n%s", n, body)
	}
	// The code page: the code form's box only, the recovery form still.
	resp, body := v.post("/2fa/send")
	expect(t, resp, body, http.StatusOK, "/2fa/", `name="code"`, `name="recovery_code"`)
	if n := strings.Count(body, `name="remember"`); n != 1 || !regexp.MustCompile(`(?s)action="/2fa/check".*name="remember".*</form>.*action="/2fa/recover"`).MatchString(body) {
		t.Fatalf("%d remember boxes on the code page, want the code form's only:\n%s", n, body)
	}
	ta.nextCode()
}

func TestEnrollingUserIsOfferedNoRecoveryCode(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	body := v.login("bob", "bob-password")
	if !strings.Contains(body, `name="phone"`) {
		t.Fatalf("bob is not asked for a number:\n%s", body)
	}
	for _, unwanted := range []string{`name="recovery_code"`, `name="remember"`} {
		if strings.Contains(body, unwanted) {
			t.Errorf("an enrolling user is offered %s:\n%s", unwanted, body)
		}
	}
}

// pageExamples are the mobile examples the phone page's country options
// carry (data-tf-example), by region: the placeholder a choice shows.
func pageExamples(t *testing.T, body string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, e := range regexp.MustCompile(`<option value="([A-Z]{2})" data-tf-example="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		m[e[1]] = html.UnescapeString(e[2])
	}
	if len(m) < 150 {
		t.Fatalf("found %d examples on the phone page:\n%s", len(m), body)
	}
	return m
}

func TestPlaceholdersAreMobilesOfTheirCountry(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	v.login("bob", "bob-password")
	_, body := v.getLang("/2fa/", "en")
	for region, example := range pageExamples(t, body) {
		n, err := phonenumbers.Parse(example, region)
		if err != nil || !phonenumbers.IsValidNumberForRegion(n, region) {
			t.Errorf("%s placeholder %q is no valid number there (%v)", region, example, err)
			continue
		}
		if typ := phonenumbers.GetNumberType(n); typ != phonenumbers.MOBILE && typ != phonenumbers.FIXED_LINE_OR_MOBILE {
			t.Errorf("%s placeholder %q is no mobile number (type %v)", region, example, typ)
		}
	}
}

func TestPlaceholderMatchesTheSelectedCountry(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	v.login("bob", "bob-password")
	for lang, region := range map[string]string{"en-GB": "GB", "nl-NL,nl;q=1": "NL", "de-DE": "DE"} {
		_, body := v.getLang("/2fa/", lang)
		example := pageExamples(t, body)[region]
		want := `<option value="` + region + `" data-tf-example="` + example + `" selected>`
		if example == "" || !strings.Contains(body, want) || !strings.Contains(body, `data-tf-follow placeholder="`+example+`"`) {
			t.Errorf("%s: want %s preselected with placeholder %q:\n%s", lang, region, example, body)
		}
	}
	// No country preselected: no placeholder rather than another
	// country's (the script sets one when a country is chosen).
	for _, lang := range []string{"", "en", "pt-BR"} {
		_, body := v.getLang("/2fa/", lang)
		if strings.Contains(body, " selected>") && !strings.Contains(body, `<option value="" selected>`) {
			continue // the browser's language named a country
		}
		if strings.Contains(body, `data-tf-follow placeholder=`) {
			t.Errorf("%q: a placeholder with no country chosen:\n%s", lang, body)
		}
	}
}

func TestNumberChangeHasCancelAndConfirmation(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	v.signedIn("alice")
	// From the settings' link: Cancel leads back to the settings, and the
	// change ends on the home page, which confirms it.
	resp, body := v.get("/settings")
	expect(t, resp, body, http.StatusOK, "/settings", `href="/2fa/change"`)
	resp, body = v.get("/2fa/change")
	expect(t, resp, body, http.StatusOK, "/2fa/change", `name="phone"`, `<a href="/settings" id="cancel">Cancel</a>`)
	if strings.Contains(body, `name="recovery_code"`) {
		t.Error("the change page offers a recovery code")
	}
	resp, body = v.post("/2fa/send", "phone", "+31 6 55566677", "purpose", "change")
	expect(t, resp, body, http.StatusOK, "", `name="code"`)
	resp, body = v.post("/2fa/check", "code", ta.nextCode().code)
	expect(t, resp, body, http.StatusOK, "/", `role="status"`, "Your number is changed",
		onFlowPage("+31655566677")) // html/template writes the + as &#43;
	// Said once.
	resp, body = v.get("/settings")
	expect(t, resp, body, http.StatusOK, "/settings", twofactor.MaskPhone("+31655566677"))
	if strings.Contains(body, "Your number is changed") {
		t.Error("the confirmation shows again")
	}

	// With a return target: Cancel and the change lead back there.
	resp, body = v.get("/2fa/change?next=/account")
	expect(t, resp, body, http.StatusOK, "/2fa/change", `<a href="/account" id="cancel">Cancel</a>`)
	v.post("/2fa/send", "phone", "+31 6 55566688", "purpose", "change", "next", "/account")
	resp, body = v.post("/2fa/check", "code", ta.nextCode().code, "next", "/account")
	expect(t, resp, body, http.StatusOK, "/account", "Your number is changed", onFlowPage("+31655566688"))
}

func TestEnrolmentIsNoNumberChange(t *testing.T) {
	ta := startApp(t)
	v := ta.visitor()
	v.login("bob", "bob-password")
	v.post("/2fa/send", "phone", "+31 6 87654321")
	resp, body := v.post("/2fa/check", "code", ta.nextCode().code)
	expect(t, resp, body, http.StatusOK, "/account")
	resp, body = v.get("/settings")
	expect(t, resp, body, http.StatusOK, "/settings")
	if strings.Contains(body, "Your number is changed") {
		t.Error("a first number is called a change")
	}
}

func TestDevicesListMarksThisDevice(t *testing.T) {
	ta := startApp(t)
	remember := func(v *visitor) {
		v.login("alice", "alice-password")
		v.post("/2fa/send")
		resp, body := v.post("/2fa/check", "code", ta.nextCode().code, "remember", "1")
		expect(t, resp, body, http.StatusOK, "/account")
	}
	laptop, phone := ta.visitor(), ta.visitor()
	remember(laptop)
	remember(phone)
	resp, body := laptop.get("/settings")
	expect(t, resp, body, http.StatusOK, "/settings")
	if n := strings.Count(body, `class="device"`); n != 2 {
		t.Fatalf("%d devices listed, want 2:\n%s", n, body)
	}
	if strings.Count(body, "(this device)") != 2 || strings.Count(body, `id="this-device"`) != 1 { // the text and the revoke button's name
		t.Fatalf("this device is not marked once:\n%s", body)
	}
	// The mark is the laptop's own device: revoking it forgets the laptop.
	m := regexp.MustCompile(`(?s)id="this-device">.*?name="id" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no id for this device:\n%s", body)
	}
	laptop.post("/settings/devices/revoke", "id", m[1])
	laptop.post("/logout")
	resp, body = laptop.post("/login", "username", "alice", "password", "alice-password")
	expect(t, resp, body, http.StatusOK, "/2fa/") // a code again
	phone.post("/logout")
	resp, body = phone.post("/login", "username", "alice", "password", "alice-password")
	expect(t, resp, body, http.StatusOK, "/account") // still remembered
	ta.noCodeSent()
}
