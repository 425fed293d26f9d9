package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	var out strings.Builder
	res, err := run(t.Context(), options{clients: 2, duration: 200 * time.Millisecond, phone: "+31612345678"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if res.Requests == 0 || res.Errors != 0 || res.FirstErr != nil {
		t.Fatalf("result %+v, want requests and no errors", res)
	}
	if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
		t.Errorf("latencies p50 %v, p99 %v, max %v: want 0 < p50 <= p99 <= max", res.P50, res.P99, res.Max)
	}
	for _, want := range []string{"2 clients verified", "requests: ", "/s), errors: 0", "p50 ", "p99 "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o.clients != 16 || o.duration != 10*time.Second || o.phone != "+31612345678" {
		t.Fatalf("defaults %+v, %v", o, err)
	}
	o, err = parseFlags([]string{"-clients", "3", "-duration", "1m", "-phone", "+3161234567 8"}, io.Discard)
	if err != nil || o.clients != 3 || o.duration != time.Minute {
		t.Fatalf("parsed %+v, %v", o, err)
	}
	for _, args := range [][]string{
		{"-clients", "0"},
		{"-clients", "1001"},
		{"-duration", "0s"},
		{"-duration", "-1s"},
		{"-duration", "5m1s"},
		{"-phone", "not a number"},
		{"extra"},
		{"-url", "http://example.com"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, 1000 * time.Microsecond}} {
		got := h.quantile(c.q)
		if got < c.want || float64(got) > float64(c.want)*(1+1.0/32) {
			t.Errorf("quantile(%v) = %v, want %v to 1/32 above", c.q, got, c.want)
		}
	}
	for d := time.Duration(0); d < 1<<20; d = d*5/4 + 1 {
		if i := bucketOf(d); bucketTop(i) < d || (i > 0 && bucketTop(i-1) >= d) {
			t.Fatalf("%v: bucket %d tops at %v, bucket below at %v", d, i, bucketTop(i), bucketTop(i-1))
		}
	}
	if (&histogram{}).quantile(0.5) != 0 {
		t.Error("empty histogram: want 0")
	}
}
