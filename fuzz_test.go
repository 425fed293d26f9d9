package twofactor

// Fuzz targets for the parsers that see attacker input. Their seed corpora
// run in every `go test`; explore further with, for example,
//
//	go test -run '^$' -fuzz '^FuzzSafeReturn$' -fuzztime 1m .

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/sessions"
)

// FuzzSafeReturn: whatever safeReturn accepts is a local path under every
// reading: after any number of percent-decodings (path or query style) and
// after a browser drops tabs and newlines and reads \ as /, it starts with
// one "/" and has no scheme or host.
func FuzzSafeReturn(f *testing.F) {
	for _, s := range []string{
		"/", "/account", "/account?x=1", "/a/b#c", "/search?q=%2F%2Fevil", "/a%20b", "/%E2%82%AC",
		"//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example", "https://evil.example",
		"javascript:alert(1)", "%2F%2Fevil.example", "/%2F/evil.example", "/%5Cevil.example",
		"/%252F%252Fevil.example", "/%25252F%25252Fevil.example", "/%2525252F%2525252Fevil.example",
		"/\t/evil.example", "/%09/evil.example", "/\n/evil", "/%0d%0a/evil", "/\x00", "/%zz", "/\xff",
		"/.//evil", "/..//evil", "/+/evil", "/%2B/evil", "/?next=//evil", "/#//evil", "/" + strings.Repeat("a", 2100),
	} {
		f.Add(s)
	}
	unescapers := []func(string) (string, error){url.PathUnescape, url.QueryUnescape}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := safeReturn(s)
		if !ok {
			if got != "" {
				t.Fatalf("safeReturn(%q) refused but returned %q", s, got)
			}
			return
		}
		if got != s {
			t.Fatalf("safeReturn(%q) = %q, want the input back", s, got)
		}
		// Every reading reachable by up to five decodings of either kind.
		seen := map[string]bool{s: true}
		layer := []string{s}
		for range 5 {
			var next []string
			for _, l := range layer {
				for _, unescape := range unescapers {
					if d, err := unescape(l); err == nil && !seen[d] {
						seen[d] = true
						next = append(next, d)
					}
				}
			}
			layer = next
		}
		for l := range seen {
			browser := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(l)
			for _, v := range []string{l, browser} {
				if !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") {
					t.Fatalf("safeReturn accepted %q, which reads as %q", s, v)
				}
				if u, err := url.Parse(v); err == nil && (u.Scheme != "" || u.Host != "" || u.Opaque != "") {
					t.Fatalf("safeReturn accepted %q, which reads as %q: scheme %q host %q", s, v, u.Scheme, u.Host)
				}
			}
		}
	})
}

var fuzzE164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// FuzzParsePhone: ParsePhone never panics; what it accepts is E.164, parses
// to itself again, and masks to something without the full number.
func FuzzParsePhone(f *testing.F) {
	for _, s := range [][2]string{
		{"+31612345678", ""}, {"+31 6 1234 5678", ""}, {"0031612345678", ""}, {"06 12345678", "NL"}, {"06-12345678", "nl"},
		{"+44 7400 123456", "GB"}, {"+1 (202) 555-0143", "US"}, {"+44 909 879 0000", ""}, {"+31 900 1234567", ""},
		{"", ""}, {"+", ""}, {"++31612345678", ""}, {"+31612345678;ext=1", ""}, {"+31612345678 x123", ""},
		{"tel:+31612345678", ""}, {"+٣١٦١٢٣٤٥٦٧٨", ""}, {"+３１６１２３４５６７８", ""}, {"\xff\xfe", ""},
		{strings.Repeat("9", 41), ""}, {"+31612345678", "ZZ"}, {"612345678", "XX"}, {"612345678", "ÄÖ"}, {"1", "001"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, input, region string) {
		got, err := ParsePhone(input, region)
		if err != nil {
			if !errors.Is(err, ErrInvalidPhone) {
				t.Fatalf("ParsePhone(%q, %q): error %v does not wrap ErrInvalidPhone", input, region, err)
			}
			return
		}
		if !fuzzE164.MatchString(got) {
			t.Fatalf("ParsePhone(%q, %q) = %q, not E.164", input, region, got)
		}
		if again, err := ParsePhone(got, ""); err != nil || again != got {
			t.Fatalf("ParsePhone(%q) = %q, %v; want it back", got, again, err)
		}
		masked := MaskPhone(got)
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, masked)
		if strings.Contains(masked, got[1:]) || len(digits) >= len(got)-1 || !strings.Contains(masked, "•") {
			t.Fatalf("MaskPhone(%q) = %q shows too much", got, masked)
		}
	})
}

var (
	fuzzDigits = regexp.MustCompile(`^[0-9]*$`)
	fuzzID     = regexp.MustCompile(`^[0-9A-Za-z_-]{1,128}$`)
)

// FuzzValidCode: validCode accepts exactly n ASCII digits, validID 1 to 128
// ASCII letters, digits, "_" and "-"; both are then safe to paste into a URL.
func FuzzValidCode(f *testing.F) {
	for _, s := range []string{
		"123456", "1234567890", "12345", "12345678901", "123456&token=1", "../x", "%2F", "١٢٣٤٥٦", "１２３４５６",
		"12345\x00", "123456\n", " 123456", "+12345", "abcdef", "", "4e213b01155d1e35a9d9571v00162985",
		"abc/../def", "abc?token=1", strings.Repeat("a", 128), strings.Repeat("a", 129), "vrf_01-ab",
	} {
		f.Add(s, 6)
	}
	f.Add("1234567890", 10)
	f.Add("", 0)
	f.Add("123", -1)
	f.Fuzz(func(t *testing.T, s string, n int) {
		want := len(s) == n && fuzzDigits.MatchString(s)
		if got := validCode(s, n); got != want {
			t.Fatalf("validCode(%q, %d) = %v, want %v", s, n, got, want)
		}
		if validCode(s, n) && url.QueryEscape(s) != s {
			t.Fatalf("valid code %q changes a URL", s)
		}
		if got, want := validID(s), fuzzID.MatchString(s); got != want {
			t.Fatalf("validID(%q) = %v, want %v", s, got, want)
		}
		if validID(s) && url.PathEscape(s) != s {
			t.Fatalf("valid id %q changes a URL", s)
		}
	})
}

// fuzzBodies are seed bodies for the flow's POST endpoints.
var fuzzBodies = []struct{ ct, body string }{
	{"application/x-www-form-urlencoded", "phone=%2B31612345678"},
	{"application/x-www-form-urlencoded", "code=123456"},
	{"application/x-www-form-urlencoded", "phone=%2B31612345678&channel=voice"},
	{"application/x-www-form-urlencoded", "code=%zz"},
	{"application/x-www-form-urlencoded", "phone=%FF%FE"},
	{"application/x-www-form-urlencoded; charset=utf-8", "code=12+34+56"},
	{"application/json", `{"phone":"+31612345678"}`},
	{"application/json", `{"code":"123456","channel":"sms"}`},
	{"application/json", `{"code":123456}`},
	{"application/json", `{"code":"\ud800"}`},
	{"application/json", `{"phone":"+31612345678"} {}`},
	{"application/json", `[`},
	{"application/json; charset=utf-8", `null`},
	{"multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"phone\"\r\n\r\n+31612345678\r\n--x--\r\n"},
	{"multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nAAAA\r\n--x--\r\n"},
	{"multipart/form-data", "garbage"},
	{"", "phone=%2B31612345678"},
	{"text/plain", "hello"},
	{"application/json; ;;=", "{}"},
	{"application/x-www-form-urlencoded", strings.Repeat("a=b&", DefaultMaxBody/4+1)},
	{"application/json", `{"code":"` + strings.Repeat("1", DefaultMaxBody) + `"}`},
}

// FuzzReadInput: readInput never panics, refuses with a 4xx, and what it
// accepts is valid UTF-8.
func FuzzReadInput(f *testing.F) {
	for _, b := range fuzzBodies {
		f.Add(b.ct, []byte(b.body), false)
		f.Add(b.ct, []byte(b.body), true)
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte, chunked bool) {
		var r io.Reader = bytes.NewReader(body)
		if chunked {
			r = io.MultiReader(r) // hides the length: no Content-Length
		}
		req := httptest.NewRequest(http.MethodPost, "/2fa/check", r)
		req.Header.Set("Content-Type", ct)
		in, fe := readInput(httptest.NewRecorder(), req)
		if fe != nil {
			if fe.status < 400 || fe.status > 499 {
				t.Fatalf("readInput refused with %d", fe.status)
			}
			return
		}
		if !utf8.ValidString(in.Phone) || !utf8.ValidString(in.Code) || !utf8.ValidString(string(in.Channel)) {
			t.Fatalf("readInput accepted invalid UTF-8: %+v", in)
		}
		if len(in.Phone)+len(in.Code) > DefaultMaxBody {
			t.Fatalf("readInput accepted more than the body limit")
		}
	})
}

// fuzzClock moves a little with every reading, so codes, windows and
// grants expire now and then while fuzzing.
type fuzzClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fuzzClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(3 * time.Second)
	return c.now
}

// FuzzFlowPOST: any method, body, content type, Accept header and cookie
// sent to the flow's endpoints and the gate gets an answer below 500, and
// never a panic.
func FuzzFlowPOST(f *testing.F) {
	clock := &fuzzClock{now: time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)}
	state := new(MemoryState)
	state.Now = clock.Now
	mock := &Mock{Now: clock.Now}
	var codeMu sync.Mutex
	var lastCode string
	mock.OnCode = func(_ Verification, code string) {
		codeMu.Lock()
		lastCode = code
		codeMu.Unlock()
	}
	store := sessions.NewCookieStore(bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32))
	m, err := New(mock, store,
		WithClock(clock.Now), WithState(state), WithVoice(), WithSubject(func(r *http.Request) string { return r.Header.Get("X-User") }),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	)
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/2fa/", m.Handler())
	mux.Handle("/account/", m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !GatePassed(r) {
			panic("gated handler reached unverified")
		}
	})))
	paths := []string{"/2fa/send", "/2fa/resend", "/2fa/check", "/2fa/restart", "/2fa/", "/2fa/status", "/account/x", "/2fa/style.css"}
	methods := []string{http.MethodPost, http.MethodGet, http.MethodHead, http.MethodPut, http.MethodOptions}
	serve := func(method, path, ct, accept, cookie string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "https://example.com"+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Accept", accept)
		req.Header.Set("Cookie", cookie)
		req.Header.Set("X-User", "u")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	// A live session with a code on its way, to seed with real cookies.
	rec := serve(http.MethodPost, "/2fa/send", "application/x-www-form-urlencoded", "", "", []byte("phone=%2B31612345678"))
	var live string
	for _, c := range rec.Result().Cookies() {
		live = c.Name + "=" + c.Value
	}
	if rec.Code != http.StatusSeeOther || live == "" {
		f.Fatalf("seed send: %d", rec.Code)
	}
	codeMu.Lock()
	code := lastCode
	codeMu.Unlock()
	for i, b := range fuzzBodies {
		cookie := ""
		if i%2 == 0 {
			cookie = live
		}
		f.Add(uint8(i), uint8(0), b.ct, "", cookie, []byte(b.body))
		f.Add(uint8(i), uint8(0), b.ct, "application/json", "twofactor=garbage", []byte(b.body))
	}
	f.Add(uint8(2), uint8(0), "application/x-www-form-urlencoded", "text/html", live, []byte("code="+code))
	f.Add(uint8(2), uint8(0), "application/json", "application/json", live, []byte(`{"code":"`+code+`"}`))
	f.Add(uint8(6), uint8(1), "", "", live, []byte(nil))
	f.Add(uint8(4), uint8(1), "", "", live+"; twofactor=x", []byte(nil))
	f.Fuzz(func(t *testing.T, p, meth uint8, ct, accept, cookie string, body []byte) {
		method, path := methods[int(meth)%len(methods)], paths[int(p)%len(paths)]
		if rec := serve(method, path, ct, accept, cookie, body); rec.Code >= 500 {
			t.Fatalf("%s %s (Content-Type %q, Accept %q): %d %s", method, path, ct, accept, rec.Code, rec.Body)
		}
	})
}
