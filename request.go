package twofactor

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// clientIP is the connection's address, or with trusted proxies the
// right-most address of the proxy header (X-Forwarded-For, or Forwarded with
// WithForwardedHeader) that is not one of them. Entries may carry a port
// ("203.0.113.7:5423", "[2001:db8::1]:443"), brackets or quotes; an entry
// that names no address (RFC 7239's "unknown" and "_hidden" obfuscated
// identifiers, garbage) stops the walk, and the connection's address counts.
func (m *Manager) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if !m.trusted(addr) {
		return addr.String()
	}
	conn := addr
	hops := forwardedHops(r.Header, m.cfg.proxyHeader)
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			return conn.String()
		}
		if !m.trusted(a) {
			return a.String()
		}
		addr = a
	}
	return addr.String()
}

// forwardedHops returns the client entries of the proxy header, left to
// right: the comma-separated X-Forwarded-For entries, or the for= values
// of the Forwarded header's elements (RFC 7239). An element without for=
// is an entry that names no address.
func forwardedHops(h http.Header, name string) []string {
	joined := strings.Join(h.Values(name), ",")
	if strings.TrimSpace(joined) == "" {
		return nil
	}
	hops := strings.Split(joined, ",")
	if name != headerForwarded {
		return hops
	}
	for i, elem := range hops {
		hops[i] = ""
		for _, pair := range strings.Split(elem, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
				hops[i] = v
				break
			}
		}
	}
	return hops
}

// parseHop reads one proxy header entry: an IPv4 or IPv6 address, with or
// without a port, brackets around IPv6, and RFC 7239 quotes around it all.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if len(s) > 64 { // longer than any address with a port: not one
		return netip.Addr{}, false
	}
	var a netip.Addr
	var err error
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		if rest := s[end+1:]; rest != "" && (!strings.HasPrefix(rest, ":") || !validPort(rest[1:])) {
			return netip.Addr{}, false
		}
		a, err = netip.ParseAddr(s[1:end])
		if err == nil && !a.Is6() {
			return netip.Addr{}, false
		}
	case strings.Count(s, ":") == 1: // IPv4 with a port
		host, port, _ := strings.Cut(s, ":")
		if !validPort(port) {
			return netip.Addr{}, false
		}
		a, err = netip.ParseAddr(host)
		if err == nil && !a.Is4() {
			return netip.Addr{}, false
		}
	default:
		a, err = netip.ParseAddr(s)
	}
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535 && p[0] != '+' && p[0] != '-'
}

// ipBucket is what the per-IP send window counts: the address itself for
// IPv4, its /64 for IPv6, since one subscriber is usually given a whole
// /64 and could otherwise rotate through its addresses to reset the window.
func ipBucket(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() {
		return ip
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

func (m *Manager) trusted(a netip.Addr) bool {
	for _, p := range m.cfg.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// input is what a flow POST carries, from a form or a JSON body.
type input struct {
	Phone        string  `json:"phone"`
	Code         string  `json:"code"`
	Channel      Channel `json:"channel"`
	Purpose      string  `json:"purpose"`       // "change" for a number change
	RecoveryCode string  `json:"recovery_code"` // for POST prefix+"recover"
	Remember     bool    `json:"remember"`      // remember this device after the code
	Country      string  `json:"country"`       // region of a national number ("NL"); a + number wins
	Next         string  `json:"next"`          // local path to return to, carried by the forms
	// A Challenge's token and its answer (challenge.go).
	ChallengeToken  string `json:"challenge_token"`
	ChallengeAnswer string `json:"challenge_answer"`

	// noCountry: the form's country list was left at "Country…", so a
	// national number has no region, not even the default one.
	noCountry bool
}

// returnTarget is where the visitor is going after the flow: the target
// the request carries (query or form), else the one in the session. The
// caller validates it with safeReturn.
func (m *Manager) returnTarget(r *http.Request, fs flowState) string {
	if n := r.URL.Query().Get("next"); n != "" {
		return n
	}
	if r.PostForm != nil {
		if n := r.PostForm.Get("next"); n != "" {
			return n
		}
	}
	if fs.Return != "" {
		return fs.Return
	}
	return m.returnCookie(r)
}

// returnCookieName names the cookie that holds a new visitor's return
// target until their session is written.
func (m *Manager) returnCookieName() string {
	return m.cookieName("_next")
}

// setReturnCookie keeps ret, a validated local path, for a visitor with no
// session: in their browser, not on the server.
func (m *Manager) setReturnCookie(w http.ResponseWriter, ret string) {
	http.SetCookie(w, &http.Cookie{
		Name: m.returnCookieName(), Value: url.QueryEscape(ret), Path: "/",
		MaxAge: int(unverifiedMaxAge / time.Second), Secure: !m.cfg.insecureCookie,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// returnCookie returns the return target of setReturnCookie, validated
// again (a cookie is input like any other), or "".
func (m *Manager) returnCookie(r *http.Request) string {
	ck, err := r.Cookie(m.returnCookieName())
	if err != nil {
		return ""
	}
	ret, err := url.QueryUnescape(ck.Value)
	if err != nil {
		return ""
	}
	if ret, ok := safeReturn(ret); ok {
		return ret
	}
	return ""
}

// readInput reads a flow POST body of at most defaultMaxBody bytes.
func readInput(w http.ResponseWriter, r *http.Request) (input, *flowError) {
	var in input
	if r.ContentLength > defaultMaxBody {
		return in, errTooLarge // even where the body would go unread
	}
	r.Body = http.MaxBytesReader(w, r.Body, defaultMaxBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	switch ct {
	case "application/json":
		// Read it all, so an oversized body is refused whatever its
		// first bytes are, and a body of more than one value is refused.
		var b []byte
		if b, err = io.ReadAll(r.Body); err == nil {
			err = json.Unmarshal(b, &in)
		}
	case "application/x-www-form-urlencoded", "multipart/form-data", "":
		if ct == "multipart/form-data" {
			err = r.ParseMultipartForm(defaultMaxBody) // ParseForm leaves multipart bodies unread
		} else {
			err = r.ParseForm()
		}
		if err == nil {
			f := r.PostForm
			in = input{
				Phone: f.Get("phone"), Code: f.Get("code"), Channel: Channel(f.Get("channel")),
				Purpose: f.Get("purpose"), RecoveryCode: f.Get("recovery_code"),
				Remember: f.Get("remember") != "" && f.Get("remember") != "0",
				Country:  f.Get("country"), Next: f.Get("next"),
				ChallengeToken: f.Get("challenge_token"), ChallengeAnswer: f.Get("challenge_answer"),
			}
			in.noCountry = f.Has("country") && in.Country == ""
		}
	default:
		return in, errUnsupported
	}
	if fe := readErr(err); fe != nil {
		return in, fe
	}
	if !utf8.ValidString(in.Phone) || !utf8.ValidString(in.Code) || !utf8.ValidString(string(in.Channel)) ||
		!utf8.ValidString(in.RecoveryCode) || (in.Purpose != "" && in.Purpose != purposeChange) ||
		(in.Country != "" && !supportedRegion(in.Country)) {
		return in, errBadInput
	}
	if in.Channel == "tts" { // MessageBird's name, accepted as before
		in.Channel = Voice
	}
	return in, nil
}

// readErr is the answer to a body whose reading failed with err: too
// large, or bad; nil when err is nil.
func readErr(err error) *flowError {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return errTooLarge
	case err != nil:
		return errBadInput
	}
	return nil
}

// wantsJSON reports whether the client asked for JSON rather than pages.
func wantsJSON(r *http.Request) bool {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/json" {
		return true
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part)); mt == "application/json" {
			return true
		}
	}
	return false
}

// safeReturn reports whether s is a local path to send a visitor back to,
// and returns it. Anything that a browser could read as another origin
// (//host, /\host, scheme:, encoded forms of these) is refused.
func safeReturn(s string) (string, bool) {
	if s == "" || len(s) > 2048 || !strings.HasPrefix(s, "/") {
		return "", false
	}
	// Look through up to three layers of percent-encoding for tricks;
	// a target still encoded after those is refused, not let through.
	cur := s
	for layer := 0; ; layer++ {
		if !utf8.ValidString(cur) || strings.HasPrefix(cur, "//") || strings.ContainsAny(cur, "\\") {
			return "", false
		}
		for _, c := range cur {
			if c < 0x20 || c == 0x7f {
				return "", false
			}
		}
		next, err := url.PathUnescape(cur)
		if err != nil {
			return "", false
		}
		if next == cur {
			break
		}
		if layer == 3 {
			return "", false
		}
		cur = next
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	return s, true
}
