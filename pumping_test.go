package twofactor_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
)

// rangePhone returns the i-th number (i < 10,000) of the number range
// +31 6 1234 ····.
func rangePhone(i int) string { return fmt.Sprintf("+3161234%04d", i) }

// A pump sends codes to many numbers of one operator's block: past the
// range's limit of distinct numbers, that range is slowed, not the country;
// numbers already sent a code in their window and other ranges go on, and
// the refusals spend nothing.
func TestSecurity_NumberRangeLimit(t *testing.T) {
	e := proxied(t)
	limit := twofactor.DefaultRangeSends.N
	n := 0
	ip := func() string { n++; return fmt.Sprintf("203.0.%d.%d", n/200, n%200+1) }
	for i := range limit {
		secWant(t, "a number of the range", e.from(ip()).send(rangePhone(i)), http.StatusOK, "")
	}
	keys := e.state.Len()
	for i := range 20 {
		r := e.from(ip()).send(rangePhone(limit + i))
		secWant(t, "one number too many in the range", r, http.StatusTooManyRequests, "rate_limited")
		if i == 0 && r.header.Get("Retry-After") != "3600" {
			t.Errorf("Retry-After %q, want the whole window", r.header.Get("Retry-After"))
		}
	}
	if got := e.state.Len(); got != keys {
		t.Errorf("refused sends left %d keys behind", got-keys)
	}
	if got := e.prov.sends.Load(); got != int64(limit) {
		t.Fatalf("%d codes went to the range, want %d", got, limit)
	}
	// A number of the range that got a code this hour is no new number.
	secWant(t, "a second code to a number of the range", e.from(ip()).send(rangePhone(0)), http.StatusOK, "")
	secWant(t, "another range of the country", e.from(ip()).send("+31612350000"), http.StatusOK, "")
	// The refused numbers' own windows are whole once the range's turns.
	e.clock.Advance(time.Hour)
	for j := range twofactor.DefaultPhoneSends.N {
		secWant(t, fmt.Sprintf("code %d to a number refused before", j+1), e.from(ip()).send(rangePhone(limit)), http.StatusOK, "")
	}

	t.Run("parallel first sends never exceed it", func(t *testing.T) {
		e := proxied(t)
		parallel(100, 20, func(i int) { e.from(fmt.Sprintf("198.51.%d.%d", i/200, i%200+1)).send(rangePhone(i)) })
		if got := e.prov.sends.Load(); got > int64(limit) || got == 0 {
			t.Errorf("100 parallel sends to distinct numbers of one range: %d codes, want at most %d", got, limit)
		}
	})
	t.Run("settable", func(t *testing.T) {
		e := proxied(t, twofactor.WithLimits(func(l *twofactor.Limits) { l.Range = twofactor.Limit{N: 2, Per: time.Minute} }))
		secWant(t, "1st", e.from("192.0.2.1").send(rangePhone(1)), http.StatusOK, "")
		secWant(t, "2nd", e.from("192.0.2.2").send(rangePhone(2)), http.StatusOK, "")
		secWant(t, "3rd", e.from("192.0.2.3").send(rangePhone(3)), http.StatusTooManyRequests, "rate_limited")
		e.clock.Advance(time.Minute)
		secWant(t, "after the minute", e.from("192.0.2.4").send(rangePhone(3)), http.StatusOK, "")
		off := proxied(t, twofactor.WithLimits(func(l *twofactor.Limits) { l.Range = twofactor.Limit{} }))
		for i := range limit + 5 {
			secWant(t, "no range limit", off.from(fmt.Sprintf("192.0.2.%d", i+1)).send(rangePhone(i)), http.StatusOK, "")
		}
		if _, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithLimits(func(l *twofactor.Limits) { l.Range = twofactor.Limit{N: 1} })); err == nil {
			t.Error("New accepted an invalid range limit")
		}
	})
}

// The IPv4 /24 aggregate is on by default: one /24 gets at most its
// limit of codes an hour, however many addresses it rotates through.
func TestSecurity_IPv4NetworkDefault(t *testing.T) {
	e := proxied(t)
	limit := twofactor.DefaultNet24Sends.N
	sent := 0
	for i := 0; sent < limit; i++ {
		ip := fmt.Sprintf("192.0.2.%d", i%250+1)
		secWant(t, "a send from the /24", e.from(ip).send(nlPhone(i)), http.StatusOK, "")
		sent++
	}
	secWant(t, "one more from the /24", e.from("192.0.2.251").send(nlPhone(9999)), http.StatusTooManyRequests, "rate_limited")
	secWant(t, "another /24", e.from("192.0.3.1").send(nlPhone(9998)), http.StatusOK, "")
}
