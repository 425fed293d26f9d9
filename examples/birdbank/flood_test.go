package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/testkit"
)

// floodBank is BirdBank in process behind a trusted proxy on loopback (so
// X-Forwarded-For names the client, as BirdBank allows with
// WithTrustedProxies), with small budgets and a mock that records codes.
type floodBank struct {
	srv   *httptest.Server
	state *twofactor.MemoryState

	mu    sync.Mutex
	codes map[string]string // the last code per number
	sends map[string]int    // codes per number
}

func newFloodBank(t *testing.T, country, global int) *floodBank {
	t.Helper()
	clock := testkit.NewClock(time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC))
	b := &floodBank{state: &twofactor.MemoryState{Now: clock.Now}, codes: map[string]string{}, sends: map[string]int{}}
	mock := &twofactor.Mock{Now: clock.Now, OnSend: func(req twofactor.Request, _ twofactor.Verification, code string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.codes[req.Phone] = code
		b.sends[req.Phone]++
	}}
	a, err := newApp(config{Provider: mock, Log: slog.New(slog.DiscardHandler), Options: []twofactor.Option{
		twofactor.WithClock(clock.Now),
		twofactor.WithState(b.state),
		twofactor.WithTrustedProxies("127.0.0.0/8"),
		twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) {
			g.CountryBudgets["NL"], g.GlobalBudget = country, global
		}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	b.srv = httptest.NewServer(a)
	t.Cleanup(func() {
		b.srv.Close()
		if err := a.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// post sends form to path as a browser at the address ip would, with the
// cookies of jar (nil: none), and returns the status, the final path and
// the page.
func (b *floodBank) post(t *testing.T, jar http.CookieJar, ip, path string, form url.Values) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.srv.URL)
	req.Header.Set("X-Forwarded-For", ip)
	c := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		r.Header.Set("X-Forwarded-For", ip)
		return nil
	}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL.Path, string(page)
}

func (b *floodBank) code(phone string) (string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.codes[phone], b.sends[phone]
}

// signIn goes through BirdBank's flow for phone from ip in a fresh browser
// and reports whether it ends on the account page with the balance.
func (b *floodBank) signIn(t *testing.T, ip, phone string) error {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	_, before := b.code(phone)
	status, _, page := b.post(t, jar, ip, "/2fa/send", url.Values{"phone": {phone}})
	code, after := b.code(phone)
	if status != http.StatusOK || after != before+1 || !strings.Contains(page, `name="code"`) {
		return fmt.Errorf("send to %s: %d, %d codes sent", phone, status, after-before)
	}
	status, path, page := b.post(t, jar, ip, "/2fa/check", url.Values{"code": {code}, "next": {"/account"}})
	if status != http.StatusOK || path != "/account" || !strings.Contains(page, "1,234.56") {
		return fmt.Errorf("check for %s: %d at %s", phone, status, path)
	}
	return nil
}

// floodPhone is the i-th first-time number of the flood: Dutch ones for
// the country budget, and every third one Belgian, for the global one;
// spread over many number ranges.
func floodPhone(i int) string {
	if i%3 == 2 {
		return fmt.Sprintf("+32470%03d%03d", i%1000, i/1000)
	}
	return fmt.Sprintf("+3162%03d%04d", i%1000, i/1000)
}

// The Measure of issue 17: a flood of thousands of first-time numbers from
// many addresses spends the country and global budgets of BirdBank; every
// customer verified before it still gets a code and signs in, the SMS spent
// on first-time numbers stay within the budgets, and the refused requests
// leave no record in the State.
func TestFloodSparesCustomers(t *testing.T) {
	const country, global = 30, 50
	const customers, flood = 20, 2000
	b := newFloodBank(t, country, global)
	var phones []string
	for i := range customers {
		p := fmt.Sprintf("+3165%07d", 1000+i)
		phones = append(phones, p)
		if err := b.signIn(t, fmt.Sprintf("192.0.2.%d", i+1), p); err != nil {
			t.Fatalf("customer %d before the flood: %v", i, err)
		}
	}
	// The flood, from 500 addresses over 50 /24 networks, 4 numbers each.
	answer := func(i int) int {
		ip := fmt.Sprintf("203.0.%d.%d", i/40, i/4%10+1)
		status, _, page := b.post(t, nil, ip, "/2fa/send", url.Values{"phone": {floodPhone(i)}})
		switch {
		case status == http.StatusOK:
		case status == http.StatusServiceUnavailable && strings.Contains(page, "try again later"),
			status == http.StatusTooManyRequests && strings.Contains(page, "challenge"):
		default:
			t.Errorf("flood send %d: %d", i, status)
		}
		return status
	}
	// First until the budgets are spent, one after the other…
	i, refused := 0, 0
	for ; refused < 50 && i < flood; i++ {
		if answer(i) != http.StatusOK {
			refused++
		}
	}
	keys := b.state.Len()
	// … then the rest in parallel: refusals all.
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Go(func() {
			for j := range next {
				if s := answer(j); s == http.StatusOK {
					t.Errorf("flood send %d got a code past the budgets", j)
				}
			}
		})
	}
	for j := i; j < flood; j++ {
		next <- j
	}
	close(next)
	wg.Wait()
	if got := b.state.Len(); got != keys {
		t.Errorf("%d refused sends left %d records in the State", flood-i, got-keys)
	}
	var firstTime, nl int
	for j := range flood {
		if _, n := b.code(floodPhone(j)); n > 0 {
			firstTime += n
			if strings.HasPrefix(floodPhone(j), "+31") {
				nl += n
			}
		}
	}
	if firstTime+customers > global || nl+customers > country {
		t.Errorf("first-time numbers got %d SMS (%d Dutch) besides the customers' first %d; budgets: %d global, %d NL", firstTime, nl, customers, global, country)
	}
	if firstTime == 0 {
		t.Error("the flood got no code at all: the budgets were not what stopped it")
	}
	// Every customer, from another address and browser, signs in.
	for k, p := range phones {
		if err := b.signIn(t, fmt.Sprintf("198.51.100.%d", k+1), p); err != nil {
			t.Errorf("customer %d after the flood: %v", k, err)
		}
	}
}
