package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/go-twofactor/twofactor"
)

const (
	transferPhone = "+31612345678"
	testIBAN      = "NL91ABNA0417164300"
)

// smsOut records what the provider was asked to send: the number and the
// SMS text with the code in it, as a provider that takes the text sends it.
type smsOut struct {
	mock *twofactor.Mock
	mu   sync.Mutex
	sent []sms
}

type sms struct {
	phone, text, code string
}

func (p *smsOut) CodeLength() int { return p.mock.CodeLength() }

func (p *smsOut) Send(ctx context.Context, req twofactor.Request) (twofactor.Verification, error) {
	var code string
	p.mock.OnCode = func(_ twofactor.Verification, c string) { code = c } // Send calls it synchronously
	p.mu.Lock()
	defer p.mu.Unlock()
	v, err := p.mock.Send(ctx, req)
	if err == nil {
		p.sent = append(p.sent, sms{phone: req.Phone, text: strings.ReplaceAll(req.Message, twofactor.CodePlaceholder, code), code: code})
	}
	return v, err
}

func (p *smsOut) Check(ctx context.Context, id, code string) error {
	return p.mock.Check(ctx, id, code)
}

func (p *smsOut) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sent)
}

func (p *smsOut) last(t *testing.T) sms {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.sent) == 0 {
		t.Fatal("no SMS sent")
	}
	return p.sent[len(p.sent)-1]
}

func startTransferApp(t *testing.T) (*httptest.Server, *smsOut) {
	t.Helper()
	out := &smsOut{mock: &twofactor.Mock{}}
	srv, _ := startApp(t, config{Provider: out})
	return srv, out
}

// signIn verifies the visitor's phone through the flow.
func (b *visitor) signIn(out *smsOut, phone string) {
	b.t.Helper()
	b.do("GET", "/account", nil) // into the flow, and back here afterwards
	b.do("POST", "/2fa/send", url.Values{"phone": {phone}})
	resp, page := b.do("POST", "/2fa/check", url.Values{"code": {out.last(b.t).code}})
	if resp.StatusCode != 200 || !strings.Contains(page, accountBalance) {
		b.t.Fatalf("sign-in ended at %s %d", resp.Request.URL, resp.StatusCode)
	}
}

var confirmID = regexp.MustCompile(`name="id" value="([0-9a-f]{32})"`)

// startTransfer posts the transfer form and returns the page's
// confirmation id and the code sent.
func (b *visitor) startTransfer(out *smsOut, amount, iban string) (id, code string, page string) {
	b.t.Helper()
	before := out.count()
	resp, page := b.do("POST", "/transfer", url.Values{"amount": {amount}, "iban": {iban}})
	m := confirmID.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil || out.count() != before+1 {
		b.t.Fatalf("POST /transfer %s to %s: %d, %d SMS\n%s", amount, iban, resp.StatusCode, out.count()-before, page)
	}
	return m[1], out.last(b.t).code, page
}

func (b *visitor) confirmTransfer(id, code string) (*http.Response, string) {
	b.t.Helper()
	return b.do("POST", "/transfer/confirm", url.Values{"id": {id}, "code": {code}})
}

func TestTransfer(t *testing.T) {
	srv, out := startTransferApp(t)
	b := newVisitor(t, srv.URL)
	b.signIn(out, transferPhone)

	if _, page := b.do("GET", "/account", nil); !strings.Contains(page, `href="/transfer"`) {
		t.Error("the account page does not link to /transfer")
	}
	resp, page := b.do("GET", "/transfer", nil)
	for _, want := range []string{`name="amount"`, `name="iban"`, `type="submit"`, `action="/transfer"`} {
		if resp.StatusCode != 200 || !strings.Contains(page, want) {
			t.Errorf("GET /transfer: %d, no %s", resp.StatusCode, want)
		}
	}

	// Spaces and lower case in the IBAN are fine.
	id, code, page := b.startTransfer(out, "500", "nl91 abna 0417 1643 00")
	for _, want := range []string{"500.00", testIBAN, "NL91 ABNA 0417 1643 00", `name="code"`, `autocomplete="one-time-code"`, "6 •••••678"} {
		if !strings.Contains(page, want) {
			t.Errorf("confirmation page lacks %q", want)
		}
	}
	if strings.Contains(page, transferPhone[3:]) {
		t.Error("confirmation page shows the full number")
	}
	s := out.last(t)
	if s.phone != transferPhone || !strings.Contains(s.text, "500.00") || !strings.Contains(s.text, "4300") || !strings.Contains(s.text, s.code) {
		t.Errorf("SMS to %s: %q", s.phone, s.text)
	}
	if want := "BirdBank: confirm EUR 500.00 to NL91…4300. Code: " + s.code; s.text != want {
		t.Errorf("SMS %q, want %q", s.text, want)
	}

	// A reload of the code page shows the same transfer and sends nothing.
	if resp, page := b.do("GET", "/transfer/confirm?id="+id, nil); resp.StatusCode != 200 || !strings.Contains(page, "500.00") || out.count() != 2 {
		t.Errorf("GET /transfer/confirm: %d, %d SMS", resp.StatusCode, out.count())
	}

	resp, page = b.confirmTransfer(id, code)
	if resp.StatusCode != 200 || !strings.Contains(page, "Transfer confirmed") || !strings.Contains(page, "500.00") || !strings.Contains(page, testIBAN) {
		t.Fatalf("right code: %d\n%s", resp.StatusCode, page)
	}
	// The same confirmation again: never a second transfer.
	for range 2 {
		resp, page = b.confirmTransfer(id, code)
		if resp.StatusCode == 200 || strings.Contains(strings.ToLower(page), "transfer confirmed") || !strings.Contains(page, "Already done") {
			t.Errorf("replay: %d\n%s", resp.StatusCode, page)
		}
	}
	if _, page := b.do("GET", "/transfer/confirm?id="+id, nil); !strings.Contains(page, "Already done") {
		t.Errorf("code page after the transfer:\n%s", page)
	}
}

func TestTransferReplayInParallel(t *testing.T) {
	srv, out := startTransferApp(t)
	b := newVisitor(t, srv.URL)
	b.signIn(out, transferPhone)
	id, code, _ := b.startTransfer(out, "500", testIBAN)
	var mu sync.Mutex
	done := 0
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, page := b.confirmTransfer(id, code)
			if strings.Contains(page, "Transfer confirmed") {
				mu.Lock()
				done++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if done != 1 {
		t.Fatalf("%d of 20 parallel submissions said Transfer confirmed, want 1", done)
	}
}

func TestTransferBadInput(t *testing.T) {
	srv, out := startTransferApp(t)
	b := newVisitor(t, srv.URL)
	b.signIn(out, transferPhone)
	sent := out.count()
	for _, tc := range []struct{ amount, iban, want string }{
		{"abc", testIBAN, "must be a number"},
		{"", testIBAN, "enter an amount"},
		{"1e3", testIBAN, "must be a number"},
		{"500.001", testIBAN, "must be a number"},
		{"1,000", testIBAN, "must be a number"},
		{"0", testIBAN, "more than 0"},
		{"0.00", testIBAN, "more than 0"},
		{"-5", testIBAN, "more than 0"},
		{"10000.01", testIBAN, "at most 10000.00"},
		{"99999999999999999999", testIBAN, "must be a number"},
		{"500", "NL92ABNA0417164300", "check digits"},
		{"500", "NL91ABNA0417164301", "check digits"},
		{"500", "NL91", "not an IBAN"},
		{"500", "hello world, not an iban", "not an IBAN"},
		{"500", "", "enter the payee"},
		{"500", "NL91ABNA04171643\xff", "not an IBAN"},
	} {
		resp, page := b.do("POST", "/transfer", url.Values{"amount": {tc.amount}, "iban": {tc.iban}})
		if resp.StatusCode != 400 || !strings.Contains(strings.ToLower(page), strings.ToLower(tc.want)) || !strings.Contains(page, `role="alert"`) {
			t.Errorf("amount %q iban %q: %d, want 400 saying %q\n%s", tc.amount, tc.iban, resp.StatusCode, tc.want, page)
		}
	}
	if out.count() != sent {
		t.Errorf("bad input sent %d SMS", out.count()-sent)
	}
	// A large body is refused with a page, not a crash.
	resp, _ := b.do("POST", "/transfer", url.Values{"amount": {strings.Repeat("9", 20000)}, "iban": {testIBAN}})
	if resp.StatusCode != 400 || out.count() != sent {
		t.Errorf("oversized form: %d", resp.StatusCode)
	}
	// The limit itself is fine.
	b.startTransfer(out, "10000.00", testIBAN)
}

func TestTransferWrongCodes(t *testing.T) {
	srv, out := startTransferApp(t)
	b := newVisitor(t, srv.URL)
	b.signIn(out, transferPhone)
	id, code, _ := b.startTransfer(out, "500", testIBAN)
	wrong := wrongCode(code)
	for _, left := range []string{"2 tries left", "1 try left"} {
		resp, page := b.confirmTransfer(id, wrong)
		if resp.StatusCode != 400 || !strings.Contains(page, "not right") || !strings.Contains(page, left) || !strings.Contains(page, `name="code"`) || !strings.Contains(page, "500.00") {
			t.Errorf("wrong code: %d, want the code page with %q\n%s", resp.StatusCode, left, page)
		}
	}
	resp, page := b.confirmTransfer(id, wrong)
	if resp.StatusCode != 400 || !strings.Contains(page, "start it again") || strings.Contains(page, `name="code"`) {
		t.Errorf("third wrong code: %d\n%s", resp.StatusCode, page)
	}
	// Now even the right code makes no transfer.
	if _, page := b.confirmTransfer(id, code); strings.Contains(page, "Transfer confirmed") || !strings.Contains(page, "start it again") {
		t.Errorf("right code after three wrong ones:\n%s", page)
	}
	if _, page := b.do("GET", "/transfer/confirm?id="+id, nil); strings.Contains(page, `name="code"`) {
		t.Error("the code page is shown again after three wrong codes")
	}
	// Started again, it works.
	id, code, _ = b.startTransfer(out, "500", testIBAN)
	if _, page := b.confirmTransfer(id, code); !strings.Contains(page, "Transfer confirmed") {
		t.Errorf("new transfer after three wrong codes:\n%s", page)
	}
	// A code that is not digits gets the page again, with a clear error.
	id, code, _ = b.startTransfer(out, "1", testIBAN)
	if resp, page := b.confirmTransfer(id, "abc"); resp.StatusCode != 400 || !strings.Contains(page, "digits") || !strings.Contains(page, `name="code"`) {
		t.Errorf("malformed code: %d\n%s", resp.StatusCode, page)
	}
	if _, page := b.confirmTransfer(id, code); !strings.Contains(page, "Transfer confirmed") {
		t.Error("a malformed code cost the transfer")
	}
}

// Without a verified session nothing is sent, and the answer is the gate's.
func TestTransferGated(t *testing.T) {
	srv, out := startTransferApp(t)
	b := newVisitor(t, srv.URL)
	resp, page := b.do("POST", "/transfer", url.Values{"amount": {"500"}, "iban": {testIBAN}})
	if resp.StatusCode != http.StatusUnauthorized || out.count() != 0 {
		t.Fatalf("unverified POST /transfer: %d, %d SMS", resp.StatusCode, out.count())
	}
	// The gate's answer to a request that cannot be redirected: the flow's
	// page that links into the verification.
	if !strings.Contains(page, `href="/2fa/"`) {
		t.Errorf("unverified POST /transfer is not the gate's page:\n%s", page)
	}
	if resp, _ := b.do("POST", "/transfer/confirm", url.Values{"id": {strings.Repeat("a", 32)}, "code": {"123456"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unverified POST /transfer/confirm: %d", resp.StatusCode)
	}
	// GET goes through the flow and back to the form.
	resp, _ = b.do("GET", "/transfer", nil)
	if resp.Request.URL.Path != "/2fa/" || resp.Request.URL.Query().Get("next") != "/transfer" {
		t.Fatalf("unverified GET /transfer ended at %s", resp.Request.URL)
	}
	b.do("POST", "/2fa/send", url.Values{"phone": {transferPhone}})
	resp, page = b.do("POST", "/2fa/check", url.Values{"code": {out.last(t).code}})
	if resp.Request.URL.Path != "/transfer" || !strings.Contains(page, `name="iban"`) {
		t.Errorf("after verifying: %s\n%s", resp.Request.URL, page)
	}
}

func TestTransferCrossOrigin(t *testing.T) {
	srv, out := startTransferApp(t)
	b := newVisitor(t, srv.URL)
	b.signIn(out, transferPhone)
	id, code, _ := b.startTransfer(out, "500", testIBAN)
	sent := out.count()
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/transfer", url.Values{"amount": {"500"}, "iban": {testIBAN}}},
		{"/transfer/confirm", url.Values{"id": {id}, "code": {code}}},
	} {
		req, _ := http.NewRequest("POST", srv.URL+tc.path, strings.NewReader(tc.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "https://evil.example")
		resp, err := b.client.Do(req) // with the visitor's cookies
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %d, want 403", tc.path, resp.StatusCode)
		}
	}
	if out.count() != sent {
		t.Error("a cross-site POST sent an SMS")
	}
	// The cross-site confirmation made no transfer: the visitor still can.
	if _, page := b.confirmTransfer(id, code); !strings.Contains(page, "Transfer confirmed") {
		t.Errorf("after the cross-site tries:\n%s", page)
	}
}

// Another visitor, verified with another number, cannot confirm this one's
// transfer, even with its code.
func TestTransferOtherVisitor(t *testing.T) {
	srv, out := startTransferApp(t)
	alice := newVisitor(t, srv.URL)
	alice.signIn(out, transferPhone)
	id, code, _ := alice.startTransfer(out, "500", testIBAN)
	mallory := newVisitor(t, srv.URL)
	mallory.signIn(out, "+31687654321")
	resp, page := mallory.confirmTransfer(id, code)
	if resp.StatusCode != http.StatusNotFound || strings.Contains(page, "Transfer confirmed") || strings.Contains(page, "500.00") {
		t.Errorf("another visitor's confirmation: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := mallory.do("GET", "/transfer/confirm?id="+id, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another visitor sees the transfer: %d", resp.StatusCode)
	}
	if _, page := alice.confirmTransfer(id, code); !strings.Contains(page, "Transfer confirmed") {
		t.Error("alice could not confirm after mallory tried")
	}
}

func TestTransferMethods(t *testing.T) {
	srv, _ := startTransferApp(t)
	b := newVisitor(t, srv.URL)
	for _, p := range []string{"/transfer", "/transfer/confirm"} {
		if resp, _ := b.do("PUT", p, nil); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("PUT %s: %d", p, resp.StatusCode)
		}
	}
}

func TestParseAmount(t *testing.T) {
	for in, want := range map[string]int64{
		"500": 50000, "500.00": 50000, "500.5": 50050, "500,50": 50050, " 0.01 ": 1, "10000": 1000000, "10000.00": 1000000, "007": 700,
	} {
		if got, msg := parseAmount(in); got != want || msg != "" {
			t.Errorf("parseAmount(%q) = %d %q, want %d", in, got, msg, want)
		}
	}
	for _, in := range []string{"", "x", ".5", "5.", "+5", "-0", "5.555", "1 000", "€5", "NaN", "Inf", "0x10"} {
		if _, msg := parseAmount(in); msg == "" {
			t.Errorf("parseAmount(%q) accepted", in)
		}
	}
}

func TestParseIBAN(t *testing.T) {
	for _, in := range []string{testIBAN, "DE89370400440532013000", "GB82 WEST 1234 5698 7654 32", "be68539007547034", "NO9386011117947"} {
		if got, msg := parseIBAN(in); msg != "" || strings.ContainsAny(got, " abcdefghijklmnopqrstuvwxyz") {
			t.Errorf("parseIBAN(%q) = %q %q", in, got, msg)
		}
	}
	for _, in := range []string{"NL91ABNA0417164301", "DE89370400440532013001", "NL9IABNA0417164300", "1291ABNA0417164300", "NL91ABNA-417164300", strings.Repeat("NL91", 10)} {
		if _, msg := parseIBAN(in); msg == "" {
			t.Errorf("parseIBAN(%q) accepted", in)
		}
	}
	if got := maskIBAN(testIBAN); got != "NL91…4300" {
		t.Errorf("maskIBAN = %q", got)
	}
	if got := groupIBAN(testIBAN); got != "NL91 ABNA 0417 1643 00" {
		t.Errorf("groupIBAN = %q", got)
	}
}
