package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// signalWriter collects log lines and closes opened when "BirdBank is open"
// is written.
type signalWriter struct {
	mu     sync.Mutex
	buf    strings.Builder
	opened chan struct{}
	once   sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), "BirdBank is open") {
		w.once.Do(func() { close(w.opened) })
	}
	return len(p), nil
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// BirdBank says it is open only once its port is bound: the URL it logs
// answers at once. Without a provider's key, on loopback, it runs in
// development mode.
func TestOpenOnlyOnceBound(t *testing.T) {
	w := &signalWriter{opened: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, slog.New(slog.NewTextHandler(w, nil)), env("PORT", "0"), io.Discard)
	}()
	select {
	case <-w.opened:
	case err := <-done:
		t.Fatalf("run ended before it was open: %v\n%s", err, w)
	case <-time.After(time.Minute): // a wait for a failure, not a synchronisation
		t.Fatalf("not open after a minute:\n%s", w)
	}
	m := regexp.MustCompile(`url=http://localhost:(\d+)/account`).FindStringSubmatch(w.String())
	if m == nil || m[1] == "0" {
		t.Fatalf("the open line names no bound port:\n%s", w)
	}
	res, err := http.Get("http://127.0.0.1:" + m[1] + "/")
	if err != nil {
		t.Fatalf("the logged URL does not answer: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET /: %d", res.StatusCode)
	}
	if !strings.Contains(w.String(), "development mode") {
		t.Errorf("no development mode without a key on loopback:\n%s", w)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after cancel: %v", err)
	}
}

// A port in use stops BirdBank with an error that says what to do, and it
// never claims to be open.
func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	w := &signalWriter{opened: make(chan struct{})}
	err = run(t.Context(), slog.New(slog.NewTextHandler(w, nil)), env("PORT", port), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "set PORT") {
		t.Errorf("run on a port in use: %v", err)
	}
	if strings.Contains(w.String(), "is open") {
		t.Errorf("claimed to be open on a port in use:\n%s", w)
	}
}

// With a non-loopback listener, BirdBank does not use development mode.
func TestNoDevelopmentModeForOthers(t *testing.T) {
	w := &signalWriter{opened: make(chan struct{})}
	a, err := newApp(config{Log: slog.New(slog.NewTextHandler(w, nil)), Listen: "0.0.0.0:8080", CodeOut: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if strings.Contains(w.String(), "development mode") {
		t.Errorf("development mode on 0.0.0.0:\n%s", w)
	}
}

// /favicon.ico, which browsers ask for on their own, is the flow's icon,
// not a 404; BirdBank's pages name it too.
func TestFavicon(t *testing.T) {
	srv, _ := startApp(t, config{})
	b := newVisitor(t, srv.URL)
	resp, body := b.do(http.MethodGet, "/favicon.ico", nil)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/2fa/icon.svg" || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(body, "<svg") {
		t.Errorf("/favicon.ico: %d at %s, %q", resp.StatusCode, resp.Request.URL.Path, resp.Header.Get("Content-Type"))
	}
	if _, home := b.do(http.MethodGet, "/", nil); !strings.Contains(home, `<link rel="icon" href="/2fa/icon.svg"`) {
		t.Error("the home page names no icon")
	}
}
