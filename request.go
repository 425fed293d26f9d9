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
	"strings"
	"time"
	"unicode/utf8"
)

// clientIP is the connection's address, or with trusted proxies the
// right-most X-Forwarded-For address that is not one of them.
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
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !m.trusted(a) {
			return a.String()
		}
		addr = a
	}
	return addr.String()
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
	name := m.cfg.sessionName + "_next"
	if !m.cfg.insecureCookie && m.cfg.cookieDomain == "" {
		name = "__Host-" + name
	}
	return name
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

// readInput reads a flow POST body of at most DefaultMaxBody bytes.
func readInput(w http.ResponseWriter, r *http.Request) (input, *flowError) {
	var in input
	if r.ContentLength > DefaultMaxBody {
		return in, errTooLarge // even where the body would go unread
	}
	r.Body = http.MaxBytesReader(w, r.Body, DefaultMaxBody)
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
			err = r.ParseMultipartForm(DefaultMaxBody) // ParseForm leaves multipart bodies unread
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
			}
			in.noCountry = f.Has("country") && in.Country == ""
		}
	default:
		return in, errUnsupported
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return in, errTooLarge
	case err != nil:
		return in, errBadInput
	case !utf8.ValidString(in.Phone) || !utf8.ValidString(in.Code) || !utf8.ValidString(string(in.Channel)) ||
		!utf8.ValidString(in.RecoveryCode) || (in.Purpose != "" && in.Purpose != purposeChange) ||
		(in.Country != "" && !supportedRegion(in.Country)):
		return in, errBadInput
	}
	if in.Channel == "tts" { // MessageBird's name, accepted as before
		in.Channel = Voice
	}
	return in, nil
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
