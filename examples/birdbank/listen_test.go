package main

import (
	"net"
	"strings"
	"testing"
)

// BirdBank prints codes and uses a non-Secure cookie: by default it must not
// be reachable from other machines, and it must say where it listens.
func TestListensOnLoopbackUnlessHOST(t *testing.T) {
	h := listenHost("")
	if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
		t.Fatalf("default listen host %q is not loopback", h)
	}
	if r := reach(h); !strings.Contains(r, "this machine only") {
		t.Errorf("start message for the default: %q", r)
	}
	if h := listenHost("0.0.0.0"); h != "0.0.0.0" {
		t.Errorf("HOST=0.0.0.0 gave %q", h)
	}
	if r := reach("0.0.0.0"); !strings.Contains(r, "other machines") {
		t.Errorf("start message for HOST=0.0.0.0: %q", r)
	}
	// The default really binds loopback only: a listener on it has a loopback address.
	l, err := net.Listen("tcp", net.JoinHostPort(h, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if a := l.Addr().(*net.TCPAddr); !a.IP.IsLoopback() {
		t.Errorf("listening on %v", a)
	}
}
