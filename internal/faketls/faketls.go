// Package faketls helps tests talk to a fake provider API over real TLS on
// loopback: a server with a certificate for the provider's real host name, a
// client that reaches it whatever host it dials, and an HTTP CONNECT proxy
// for tests of HTTPS_PROXY and SSL_CERT_FILE.
package faketls

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request is what the server saw of one request.
type Request struct {
	Method, Host, Path, RawQuery string
	Header                       http.Header
	Body                         []byte
}

// Server is a TLS server on loopback with a self-signed certificate for the
// given host names. It records every request and passes it to its handler.
// It is safe for concurrent use.
type Server struct {
	*httptest.Server
	// CertPEM is the server's certificate, for an SSL_CERT_FILE.
	CertPEM []byte
	pool    *x509.CertPool

	mu       sync.Mutex
	reqs     []Request
	handler  http.Handler
	now      time.Time
	down     bool
	hang     bool
	lastCode string
	release  chan struct{}
	override http.Handler
	hangDial bool
	held     chan struct{}
	trs      []*http.Transport
}

// NewServer starts a Server for hosts that answers with h; it is closed when
// the test ends.
func NewServer(t testing.TB, h http.Handler, hosts ...string) *Server {
	t.Helper()
	cert, certPEM := selfSigned(t, hosts)
	s := &Server{CertPEM: certPEM, pool: x509.NewCertPool(), handler: h,
		now: time.Date(2026, 5, 3, 14, 0, 0, 0, time.UTC), release: make(chan struct{}), held: make(chan struct{}, 64)}
	s.pool.AppendCertsFromPEM(certPEM)
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		s.reqs = append(s.reqs, Request{r.Method, r.Host, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		h, down, hang := s.handler, s.down, s.hang
		if s.override != nil {
			h = s.override
		}
		s.mu.Unlock()
		switch {
		case hang:
			s.signalHeld()
			select {
			case <-r.Context().Done():
			case <-s.release:
			}
			panic(http.ErrAbortHandler) // no answer at all, not an empty 200
		case down:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "<html><body>503 Service Temporarily Unavailable</body></html>")
		default:
			h.ServeHTTP(w, r)
		}
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.StartTLS()
	t.Cleanup(func() {
		close(s.release) // let hanging handlers end, or Close waits for them
		s.Close()
	})
	return s
}

// SetOverride makes h answer every request instead of the handler, such as
// a fault in the vendor's words; nil goes back to the handler. SetDown and
// SetHang still come first.
func (s *Server) SetOverride(h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.override = h
}

// SetHangBeforeSend makes every connection that a client of Transport
// dials wait until the request's context is done or the test ends, and
// closes idle connections, so that no request is written at all: a hang
// before the request is sent.
func (s *Server) SetHangBeforeSend(hang bool) {
	s.mu.Lock()
	s.hangDial = hang
	trs := append([]*http.Transport(nil), s.trs...)
	s.mu.Unlock()
	if hang {
		for _, tr := range trs {
			tr.CloseIdleConnections()
		}
	}
}

// Markers for SetFault's answers: hang before the request is sent (the
// dial waits), or after it is read (no answer).
var (
	HangBeforeSend http.Handler = hangMarker("before")
	HangAfterSend  http.Handler = hangMarker("after")
)

type hangMarker string

func (hangMarker) ServeHTTP(http.ResponseWriter, *http.Request) {}

// SetFault ends any fault (SetOverride, SetHang, SetHangBeforeSend) and,
// unless name is "", puts on answers[name]: HangBeforeSend, HangAfterSend,
// or a handler that answers every request. It reports false, putting on
// nothing, when answers has no such name. The names are those of
// providertest.Fault.
func (s *Server) SetFault(name string, answers map[string]http.Handler) bool {
	s.SetOverride(nil)
	s.SetHang(false)
	s.SetHangBeforeSend(false)
	h, ok := answers[name]
	switch {
	case name == "":
		return true
	case !ok:
		return false
	case h == HangBeforeSend:
		s.SetHangBeforeSend(true)
	case h == HangAfterSend:
		s.SetHang(true)
	default:
		s.SetOverride(h)
	}
	return true
}

// Answer returns a handler that answers with status, body and the header
// pairs given (name, value, …).
func Answer(status int, body string, header ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

// Held receives once for each request that SetHang holds (after reading it)
// and each dial that SetHangBeforeSend holds.
func (s *Server) Held() <-chan struct{} { return s.held }

func (s *Server) signalHeld() {
	select {
	case s.held <- struct{}{}:
	default:
	}
}

// Now returns the fake's clock, which starts at 2026-05-03 14:00 UTC and
// moves only with Advance and Expire.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Advance moves the fake's clock d forward.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = s.now.Add(d)
}

// Expire moves the fake's clock an hour forward, past any code's validity.
func (s *Server) Expire() { s.Advance(time.Hour) }

// SetDown starts or ends an outage: while down, every request gets a 503
// with an HTML body, as from a load balancer.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// SetHang makes every request wait until its context is done or the test
// ends.
func (s *Server) SetHang(hang bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = hang
}

// Calls returns how many requests reached the server.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// SetLastCode records the code the fake API just sent.
func (s *Server) SetLastCode(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastCode = code
}

// LastCode returns the code recorded last with SetLastCode.
func (s *Server) LastCode() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastCode
}

// RandomDigits returns n random digits.
func RandomDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		v, _ := rand.Int(rand.Reader, big.NewInt(10))
		b[i] = byte('0' + v.Int64())
	}
	return string(b)
}

// RandomHex returns n random hexadecimal digits.
func RandomHex(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// JSON writes v as a JSON answer with status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// SetHandler replaces the handler.
func (s *Server) SetHandler(h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handler = h
}

// Requests returns the requests seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Transport returns a transport that trusts the server's certificate and
// dials the server whatever address it is asked for, so a client can use the
// provider's real URL.
func (s *Server) Transport() *http.Transport {
	addr := s.Listener.Addr().String()
	var d net.Dialer
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			s.mu.Lock()
			hang := s.hangDial
			s.mu.Unlock()
			if hang {
				s.signalHeld()
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-s.release:
					return nil, errors.New("faketls: test ended")
				}
			}
			return d.DialContext(ctx, network, addr)
		},
	}
	s.mu.Lock()
	s.trs = append(s.trs, tr)
	s.mu.Unlock()
	return tr
}

// HTTPClient returns a client on Transport.
func (s *Server) HTTPClient() *http.Client { return &http.Client{Transport: s.Transport()} }

func selfSigned(t testing.TB, hosts []string) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: hosts[0]},
		DNSNames:              hosts,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM
}

// ConnectProxy starts an HTTP CONNECT proxy on loopback that reports each
// CONNECT target on connects and tunnels every connection to target. It
// returns the proxy's address and stops when the test ends.
func ConnectProxy(t testing.TB, target string, connects chan<- string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				req, err := http.ReadRequest(br)
				if err != nil || req.Method != http.MethodConnect {
					io.WriteString(conn, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
					return
				}
				select {
				case connects <- req.Host:
				default:
				}
				up, err := net.Dial("tcp", target)
				if err != nil {
					io.WriteString(conn, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
					return
				}
				defer up.Close()
				io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
				done := make(chan struct{})
				go func() { io.Copy(up, br); up.(*net.TCPConn).CloseWrite(); close(done) }()
				io.Copy(conn, up)
				conn.(*net.TCPConn).CloseWrite()
				<-done
			})
		}
	})
	return ln.Addr().String()
}

// RunHelperThroughProxy runs the test named helper of the current test
// binary in a child process whose HTTPS_PROXY is a CONNECT proxy to s and
// whose SSL_CERT_FILE holds s's certificate (and nothing else is trusted),
// with env added. It fails t unless the helper passed, and returns the
// CONNECT targets the proxy saw.
func (s *Server) RunHelperThroughProxy(t testing.TB, helper string, env ...string) []string {
	t.Helper()
	dir := t.TempDir()
	certFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(certFile, s.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	connects := make(chan string, 10)
	proxy := ConnectProxy(t, s.Listener.Addr().String(), connects)
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.v", "-test.count=1")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.Contains(strings.ToLower(k), "proxy") && !strings.HasPrefix(k, "SSL_CERT") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HTTPS_PROXY=http://"+proxy, "SSL_CERT_FILE="+certFile, "SSL_CERT_DIR="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+helper) {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var seen []string
	for {
		select {
		case host := <-connects:
			seen = append(seen, host)
		default:
			return seen
		}
	}
}
