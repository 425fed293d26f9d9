// Package testkit holds the small helpers the project's tests share.
package testkit

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
)

// Clock is a clock that moves only when told to, so tests of expiry and
// ageing need no sleeping. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock that reads t until advanced.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock d forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Buffer is a bytes.Buffer safe for concurrent writes, for log output and
// the output of servers under test.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Codes records the codes a twofactor.Mock hands to its OnCode, standing in
// for the phone that would receive them. It is safe for concurrent use.
type Codes struct {
	mu   sync.Mutex
	sent []Sent
}

// Sent is one code and the verification it belongs to.
type Sent struct {
	Verification twofactor.Verification
	Code         string
}

// Record is a twofactor.Mock OnCode function.
func (c *Codes) Record(v twofactor.Verification, code string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, Sent{v, code})
}

// Last returns the latest code sent; it fails the test if none was.
func (c *Codes) Last(t testing.TB) Sent {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sent) == 0 {
		t.Fatal("the Mock sent no code")
	}
	return c.sent[len(c.sent)-1]
}

// Len returns how many codes were sent.
func (c *Codes) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sent)
}
