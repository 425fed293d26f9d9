package twofactor_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/testkit"
)

func TestDevelopmentRefusesOtherMachines(t *testing.T) {
	for _, addr := range []string{":8080", "0.0.0.0:8080", "[::]:8080", "192.168.1.5:8080", "bank.example:443"} {
		_, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithDevelopment(addr))
		if err == nil || !strings.Contains(err.Error(), "listen on 127.0.0.1:") || !strings.Contains(err.Error(), "leave development mode out") {
			t.Errorf("WithDevelopment(%q): New error %v; want one that says to listen on 127.0.0.1", addr, err)
		}
	}
	if _, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithDevelopment("localhost")); err == nil || !strings.Contains(err.Error(), "127.0.0.1:8080") {
		t.Errorf("WithDevelopment without a port: %v", err)
	}
	for _, addr := range []string{"127.0.0.1:8080", "localhost:0", "[::1]:8080", "127.0.0.2:80"} {
		if _, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithDevelopment(addr), twofactor.WithLogger(slog.New(slog.DiscardHandler))); err != nil {
			t.Errorf("WithDevelopment(%q): %v", addr, err)
		}
		if err := twofactor.CheckLoopback(addr); err != nil {
			t.Errorf("CheckLoopback(%q): %v", addr, err)
		}
	}

	// The flow refuses a request from another machine, whatever address
	// the app said it listens on.
	m, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithDevelopment("127.0.0.1:8080"), twofactor.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	for remote, want := range map[string]int{"203.0.113.5:4000": http.StatusForbidden, "[2001:db8::1]:4000": http.StatusForbidden, "127.0.0.1:4000": http.StatusOK, "[::1]:4000": http.StatusOK} {
		req := httptest.NewRequest(http.MethodGet, "/2fa/", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("GET /2fa/ from %s: %d, want %d", remote, rec.Code, want)
		}
	}
}

// devApp is an app in development mode on plain http, as on a laptop.
type devApp struct {
	t      *testing.T
	srv    *httptest.Server
	client *http.Client
	clock  *testkit.Clock
	out    *testkit.Buffer
	logs   *testkit.Buffer
}

func newDevApp(t *testing.T, mock *twofactor.Mock, opts ...twofactor.Option) *devApp {
	t.Helper()
	a := &devApp{t: t, clock: testkit.NewClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)), out: &testkit.Buffer{}, logs: &testkit.Buffer{}}
	t.Cleanup(twofactor.SetDevOut(a.out))
	mock.Now = a.clock.Now
	state := new(twofactor.MemoryState)
	state.Now = a.clock.Now
	opts = append([]twofactor.Option{
		twofactor.WithDevelopment("127.0.0.1:8080"),
		twofactor.WithClock(a.clock.Now), twofactor.WithState(state),
		twofactor.WithLogger(slog.New(slog.NewTextHandler(a.logs, nil))),
	}, opts...)
	m, err := twofactor.New(mock, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/2fa/", m.Handler())
	mux.Handle("/account", m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, testBalance) })))
	a.srv = httptest.NewServer(mux) // plain http
	t.Cleanup(a.srv.Close)
	jar, _ := cookiejar.New(nil)
	a.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return a
}

func (a *devApp) post(path string, form url.Values) *http.Response {
	a.t.Helper()
	res, err := a.client.PostForm(a.srv.URL+path, form)
	if err != nil {
		a.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

var printedCode = regexp.MustCompile(`sign-in code for \+31 6 •••••678: (\d{6})\n`)

// Development mode on plain http: the cookie works without TLS, signing in
// ten times in a row is not refused, and the codes are printed with what
// they are for.
func TestDevelopmentMode(t *testing.T) {
	a := newDevApp(t, &twofactor.Mock{})
	if !strings.Contains(a.logs.String(), "development mode") || !strings.Contains(a.logs.String(), "level=WARN") {
		t.Errorf("no warning that development mode is on: %s", a.logs)
	}
	for i := range 10 { // the default allows 5 codes an hour to one number
		a.clock.Advance(6 * time.Second) // the development cooldown is 5 s
		res := a.post("/2fa/send", url.Values{"phone": {testPhone}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("send %d: %d", i+1, res.StatusCode)
		}
		for _, c := range res.Cookies() {
			if c.Secure || strings.HasPrefix(c.Name, "__Host-") {
				t.Fatalf("cookie %s is Secure or __Host-: it would not work on http://localhost", c.Name)
			}
		}
	}
	codes := printedCode.FindAllStringSubmatch(a.out.String(), -1)
	if len(codes) != 10 {
		t.Fatalf("printed %d codes, want 10:\n%s", len(codes), a.out)
	}
	if !strings.Contains(a.out.String(), "nothing sent") {
		t.Errorf("the printed line does not say nothing was sent: %q", a.out)
	}
	if res := a.post("/2fa/check", url.Values{"code": {codes[9][1]}}); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("check the printed code: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	res, err := a.client.Get(a.srv.URL + "/account")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("account after verifying on plain http: %v %v", res, err)
	}
	res.Body.Close()
}

// Development mode relaxes only the defaults, and prints only when the app
// has no hook of its own.
func TestDevelopmentKeepsTheAppsSettings(t *testing.T) {
	codes := &testkit.Codes{}
	a := newDevApp(t, &twofactor.Mock{OnCode: codes.Record}, twofactor.WithLimits(func(l *twofactor.Limits) { l.Phone = twofactor.Limit{N: 2, Per: time.Hour} }))
	for i, want := range []int{http.StatusSeeOther, http.StatusSeeOther, http.StatusTooManyRequests} {
		a.clock.Advance(6 * time.Second)
		if res := a.post("/2fa/send", url.Values{"phone": {testPhone}}); res.StatusCode != want {
			t.Fatalf("send %d: %d, want %d (the app's own limit of 2)", i+1, res.StatusCode, want)
		}
	}
	if a.out.String() != "" {
		t.Errorf("printed codes although the Mock has an OnCode: %q", a.out)
	}
}

// A transfer's code says what it confirms.
func TestDevelopmentPrintsWhatACodeIsFor(t *testing.T) {
	mock := &twofactor.Mock{}
	a := newDevApp(t, mock)
	if _, err := mock.Send(t.Context(), twofactor.Request{Phone: testPhone, Amount: "EUR 500.00", Payee: "NL91…4300"}); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`code to confirm EUR 500\.00 to NL91…4300 for \+31 6 •••••678: \d{6}\n`).MatchString(a.out.String()) {
		t.Errorf("printed %q", a.out)
	}
}
