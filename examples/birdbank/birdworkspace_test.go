package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/go-twofactor/twofactor/bird"
	"github.com/go-twofactor/twofactor/internal/fakebird"
)

// BirdBank, as main.go builds it from the environment, signs a visitor in
// and confirms a transfer through Bird's workspace Verify API: a fake of
// it at https://api.bird.com, reached through HTTPS_PROXY and trusted
// through SSL_CERT_FILE only, in a child process.
func TestBirdWorkspaceThroughProxy(t *testing.T) {
	f := fakebird.New(t)
	connects := f.RunHelperThroughProxy(t, "TestBirdWorkspaceHelper",
		"BIRDBANK_BIRDWS_HELPER=1",
		"BIRD_ACCESS_KEY="+fakebird.AccessKey, "BIRD_WORKSPACE_ID="+fakebird.WorkspaceID, "BIRD_NAVIGATOR_ID="+fakebird.NavigatorID,
		// Nothing else of the developer's environment may choose another provider.
		"BIRD_API_KEY=", "BIRD_CHANNEL_ID=", "MESSAGEBIRD_API_KEY=", "TWILIO_ACCOUNT_SID=", "TWILIO_AUTH_TOKEN=",
		"TWILIO_API_KEY=", "TWILIO_API_SECRET=", "TWILIO_VERIFY_SERVICE_SID=", "REDIS_URL=", "SESSION_KEY=")
	if len(connects) == 0 {
		t.Error("the proxy saw no CONNECT")
	}
	for _, c := range connects {
		if c != fakebird.Host+":443" {
			t.Errorf("proxy saw CONNECT %s", c)
		}
	}
	verify := "/workspaces/" + fakebird.WorkspaceID + "/verify"
	var creates, checks []string
	for _, r := range f.Requests() {
		if r.Host != fakebird.Host || r.Header.Get("Authorization") != "AccessKey "+fakebird.AccessKey {
			t.Errorf("request to %s with %q", r.Host, r.Header.Get("Authorization"))
		}
		switch {
		case r.Path == verify:
			creates = append(creates, string(r.Body))
		case strings.HasPrefix(r.Path, verify+"/"):
			checks = append(checks, string(r.Body))
		}
	}
	// Sign-in and transfer: one code each; a wrong and a right code each.
	if len(creates) != 2 || len(checks) != 4 {
		t.Fatalf("Bird saw %d creates and %d checks, want 2 and 4", len(creates), len(checks))
	}
	for _, body := range creates {
		if !strings.Contains(body, `"phonenumber":"+31612345678"`) || !strings.Contains(body, `"navigatorId":"`+fakebird.NavigatorID+`"`) {
			t.Errorf("create body %s", body)
		}
		// Bird writes the SMS itself: the transfer's amount and payee cannot
		// go with the code, so they are not sent (the page shows them).
		if strings.Contains(body, "500") || strings.Contains(body, "4300") {
			t.Errorf("create body carries the transfer: %s", body)
		}
	}
}

func TestBirdWorkspaceHelper(t *testing.T) {
	if os.Getenv("BIRDBANK_BIRDWS_HELPER") != "1" {
		t.Skip("run by TestBirdWorkspaceThroughProxy")
	}
	var logs, printed bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	// As main.go does.
	provider, err := chooseProvider(providerSettingsFrom(os.Getenv), log)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := provider.(*bird.Workspace); !ok || !strings.Contains(logs.String(), "sending real codes through Bird workspace") {
		t.Fatalf("provider %T; logs %s", provider, logs.String())
	}
	a, err := newApp(config{
		Provider:   provider,
		APIKey:     os.Getenv("MESSAGEBIRD_API_KEY"),
		SessionKey: os.Getenv("SESSION_KEY"),
		RedisURL:   os.Getenv("REDIS_URL"),
		CodeOut:    &printed,
		Log:        log,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a)
	defer srv.Close()
	b := newVisitor(t, srv.URL)

	// Sign in: a wrong code first, then the one Bird sent.
	b.do("GET", "/account", nil)
	if resp, page := b.do("POST", "/2fa/send", url.Values{"phone": {"06 12345678"}}); resp.StatusCode != 200 || !strings.Contains(page, `name="code"`) {
		t.Fatalf("send: %d\n%s", resp.StatusCode, page)
	}
	code := lastBirdCode(t)
	if resp, page := b.do("POST", "/2fa/check", url.Values{"code": {wrongCode(code)}}); strings.Contains(page, accountBalance) || !strings.Contains(page, "2 tries left") {
		t.Fatalf("wrong code: %d\n%s", resp.StatusCode, page)
	}
	if resp, page := b.do("POST", "/2fa/check", url.Values{"code": {code}}); resp.StatusCode != 200 || !strings.Contains(page, accountBalance) {
		t.Fatalf("sign-in ended at %s %d\n%s", resp.Request.URL, resp.StatusCode, page)
	}

	// Confirm a transfer: the page names it (Bird's SMS cannot).
	resp, page := b.do("POST", "/transfer", url.Values{"amount": {"500"}, "iban": {testIBAN}})
	m := confirmID.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil || !strings.Contains(page, "500.00") || !strings.Contains(page, "NL91 ABNA 0417 1643 00") {
		t.Fatalf("POST /transfer: %d\n%s", resp.StatusCode, page)
	}
	transferCode := lastBirdCode(t)
	if resp, page := b.confirmTransfer(m[1], wrongCode(transferCode)); resp.StatusCode != 400 || !strings.Contains(page, "2 tries left") {
		t.Errorf("wrong transfer code: %d\n%s", resp.StatusCode, page)
	}
	if resp, page := b.confirmTransfer(m[1], transferCode); resp.StatusCode != 200 || !strings.Contains(page, "Transfer confirmed") || !strings.Contains(page, testIBAN) {
		t.Fatalf("right transfer code: %d\n%s", resp.StatusCode, page)
	}
	if printed.Len() != 0 {
		t.Errorf("codes were printed, as by the mock: %q", printed.String())
	}
	if strings.Contains(logs.String(), fakebird.AccessKey) || strings.Contains(logs.String(), code) {
		t.Errorf("logs show a secret: %s", logs.String())
	}
}

// lastBirdCode asks the fake, through the proxy and the trust store of
// this process, for the last code Bird "sent".
func lastBirdCode(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "https://"+fakebird.Host+fakebird.LastCodePath, nil)
	req.Header.Set("Authorization", "AccessKey "+fakebird.AccessKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ Code string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || len(v.Code) != 6 {
		t.Fatalf("last code: %q, %v", v.Code, err)
	}
	return v.Code
}
