// Package wire holds what the providers share on the HTTP wire: a
// transport that gives each call its context, bounds what is read of an
// answer and records what happened (was the request written? which status
// and headers came back?), the parsing of Retry-After, and the checks made
// before any call: of phone numbers, codes, language tags and API keys.
//
// It knows nothing of the twofactor package's errors: each provider maps
// the facts recorded here to them.
package wire

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxBody bounds what is read of any answer.
const MaxBody = 1 << 20

// Call is the RoundTripper of one provider call (which may make several
// requests): each request carries Ctx, each answer's body is read up to
// MaxBody, and Call records whether a request was written in full and the
// status and headers of the last answer. Create one per call; it is safe
// for concurrent use.
type Call struct {
	Ctx  context.Context
	Base http.RoundTripper // nil: http.DefaultTransport

	mu     sync.Mutex
	wrote  bool
	status int
	header http.Header
	bodies []io.Closer
}

// RoundTrip sends req with the call's context.
func (c *Call) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := c.Ctx
	if ctx == nil {
		ctx = req.Context()
	}
	// The request counts as written once its headers are: its small body
	// follows in the same flush, so the service may see it from then on.
	// (WroteRequest alone could come after the service has answered.) A
	// write that fails takes it back: an incomplete request is not acted on.
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() {
			c.mu.Lock()
			c.wrote = true
			c.mu.Unlock()
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err != nil {
				c.mu.Lock()
				c.wrote = false
				c.mu.Unlock()
			}
		},
	})
	base := c.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.status, c.header = resp.StatusCode, resp.Header
	c.bodies = append(c.bodies, resp.Body)
	c.mu.Unlock()
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, MaxBody), resp.Body}
	return resp, nil
}

// Wrote reports whether a request of the call was written (its headers,
// and no write failed): from then on the service may have acted on it,
// answer or not.
func (c *Call) Wrote() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wrote
}

// Status returns the status of the last answer, 0 if none came.
func (c *Call) Status() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Header returns the header of the last answer, nil if none came.
func (c *Call) Header() http.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.header
}

// Close closes every answer's body (SDKs leave error answers open).
func (c *Call) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.bodies {
		b.Close()
	}
	c.bodies = nil
}

// Client returns a copy of hc (nil: a zero client) whose transport is c on
// top of hc's, and which does not follow redirects.
func (c *Call) Client(hc *http.Client) *http.Client {
	var out http.Client
	if hc != nil {
		out = *hc
	}
	c.Base = out.Transport
	out.Transport = c
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}

// NetErr returns the error under a *url.Error (whose URL may be long or,
// for some APIs, hold a code), else err.
func NetErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// RetryAfter parses a Retry-After header, seconds or an HTTP date, capped
// at 24 hours; zero when absent or malformed.
func RetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(min(s, 86400)) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour).Round(time.Second)
	}
	return 0
}

// Character sets for Only.
const (
	Digits = "0123456789"
	Lower  = "abcdefghijklmnopqrstuvwxyz"
	Upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	Alnum  = Digits + Lower + Upper
)

// Only reports whether s has lo to hi bytes, all from set.
func Only(s, set string, lo, hi int) bool {
	return len(s) >= lo && len(s) <= hi && strings.Trim(s, set) == ""
}

// ValidPhone reports whether s is "+" and 8 to 15 digits, the first not 0.
func ValidPhone(s string) bool {
	return len(s) >= 9 && len(s) <= 16 && s[0] == '+' && s[1] != '0' && Only(s[1:], Digits, 8, 15)
}

// ValidCode reports whether code is exactly n ASCII digits.
func ValidCode(code string, n int) bool { return Only(code, Digits, n, n) }

// The defaults every provider and the flow share.
const (
	MinCodeLength      = 6                // digits of a code, at least
	MaxCodeLength      = 10               // and at most
	DefaultCodeLength  = 6                // digits of a code unless configured
	DefaultValidity    = 5 * time.Minute  // how long a code works unless configured
	MaxValidity        = 10 * time.Minute // the longest a code is believed to work
	DefaultMaxAttempts = 3                // checks of one code unless configured
)

// ValidID reports whether id looks like a verification id: 1 to 128 ASCII
// letters, digits, "_" or "-". Anything else could change the meaning of a
// URL a provider builds from it.
func ValidID(id string) bool { return Only(id, Alnum+"_-", 1, 128) }

// Printable reports whether s is non-empty printable ASCII without spaces,
// as keys and ids are.
func Printable(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' })
}

// Quoted reports whether s starts or ends with a quote, as a value copied
// with its quotes from a .env file or a shell does.
func Quoted(s string) bool {
	return strings.HasPrefix(s, `"`) || strings.HasPrefix(s, "'") || strings.HasSuffix(s, `"`) || strings.HasSuffix(s, "'")
}

// KeyProblem says what is wrong with an API key that any provider would
// refuse, without repeating it: "is empty", "is in quotes: remove them",
// "has spaces or characters other than printable ASCII"; "" when none of
// these. Each provider checks its own key's form after it.
func KeyProblem(key string) string {
	switch {
	case key == "":
		return "is empty"
	case Quoted(key):
		return "is in quotes: remove them"
	case !Printable(key):
		return "has spaces or characters other than printable ASCII"
	}
	return ""
}

// LanguageTag splits a lower-case language tag such as "en" or "en-gb":
// a language of 2 or 3 letters and an optional region of 2 to 4 letters
// or digits. ok is false for anything else.
func LanguageTag(s string) (lang, region string, ok bool) {
	lang, region, hasRegion := strings.Cut(s, "-")
	if !Only(lang, Lower, 2, 3) || hasRegion && !Only(region, Lower+Digits, 2, 4) {
		return "", "", false
	}
	return lang, region, true
}
