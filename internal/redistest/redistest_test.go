package redistest_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor/internal/redistest"
)

// ping sends PING to addr and returns the reply line or the error.
func ping(addr string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(conn, "PING\r\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line), err
}

func TestStartStopRestart(t *testing.T) {
	s := redistest.Start(t)
	host, port, err := net.SplitHostPort(s.Addr())
	if err != nil || host != "127.0.0.1" || port == "" {
		t.Fatalf("Addr() = %q: want 127.0.0.1:port", s.Addr())
	}
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}
	if got, err := ping(s.Addr()); err != nil || got != "+PONG" {
		t.Fatalf("PING after Start = %q, %v", got, err)
	}

	s.Stop()
	if got, err := ping(s.Addr()); err == nil {
		t.Fatalf("PING after Stop = %q, want a connection error", got)
	}
	s.Stop() // idempotent

	s.Restart()
	if got, err := ping(s.Addr()); err != nil || got != "+PONG" {
		t.Fatalf("PING after Restart = %q, %v", got, err)
	}
}

func TestServersAreSeparate(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share %s", a.Addr())
	}
	a.Stop()
	if got, err := ping(b.Addr()); err != nil || got != "+PONG" {
		t.Fatalf("PING b after stopping a = %q, %v", got, err)
	}
}

// recordTB records how Start gave up instead of ending the real test.
type recordTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordTB) Helper() {}
func (r *recordTB) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recordTB) Fatal(args ...any) {
	r.failed = fmt.Sprint(args...)
	runtime.Goexit()
}

// startWithout runs Start with redis-server absent from PATH.
func startWithout(t *testing.T, ci string) *recordTB {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("CI", ci)
	r := &recordTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		redistest.Start(r)
		t.Error("Start returned without redis-server on PATH")
	}()
	<-done
	return r
}

func TestMissingServer(t *testing.T) {
	r := startWithout(t, "")
	if r.failed != "" || !strings.Contains(r.skipped, "apt-get install -y redis-server") {
		t.Errorf("CI unset: skipped %q, failed %q; want a skip naming the install command", r.skipped, r.failed)
	}
	r = startWithout(t, "true")
	if r.skipped != "" || !strings.Contains(r.failed, "redis-server not installed") {
		t.Errorf("CI=true: skipped %q, failed %q; want a failure", r.skipped, r.failed)
	}
}
