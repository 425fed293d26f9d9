// Command twofactor-load measures the twofactor gate under load.
//
// It starts, in this process, an app set up like the BirdBank example (a
// cookie store with a signing and an encryption key, the Mock provider,
// /account behind Manager.Require) on a 127.0.0.1 port. It verifies each
// client through the real flow over HTTP (send a code, read it from the
// Mock, check it), then has all the verified clients request GET /account
// at once, each as fast as it can, for the given duration. It prints
// requests per second, the median and 99th-percentile latency, and the
// errors, then stops.
//
//	go run ./cmd/twofactor-load -clients 16 -duration 10s
//
// Everything runs over loopback on this machine: the clients and the server
// share its CPUs, so the numbers are a lower bound on what the server alone
// could do. Flags:
//
//	-clients N     verified clients requesting at once (1 to 1000, default 16)
//	-duration D    how long to send requests (up to 5m, default 10s)
//	-phone NUMBER  the number the clients verify with (default +31612345678;
//	               the Mock sends nothing)
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"math/bits"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"time"

	"github.com/gorilla/sessions"

	"github.com/go-twofactor/twofactor"
)

// Bounds of the flags: a load run always ends by itself.
const (
	maxClients  = 1000
	maxDuration = 5 * time.Minute
)

type options struct {
	clients  int
	duration time.Duration
	phone    string
}

// result is what a load run measured.
type result struct {
	Clients  int
	Verify   time.Duration // verifying all clients through the flow
	Elapsed  time.Duration // the load phase
	Requests int64         // answered 200
	Errors   int64         // failed or answered otherwise
	FirstErr error
	P50, P99 time.Duration
	Max      time.Duration
}

func (r result) rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := run(ctx, opts, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "twofactor-load:", err)
		os.Exit(1)
	}
	if res.Errors > 0 {
		os.Exit(1)
	}
}

func parseFlags(args []string, errOut io.Writer) (options, error) {
	fs := flag.NewFlagSet("twofactor-load", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var o options
	fs.IntVar(&o.clients, "clients", 16, fmt.Sprintf("verified clients requesting at once (1 to %d)", maxClients))
	fs.DurationVar(&o.duration, "duration", 10*time.Second, fmt.Sprintf("how long to send requests (at most %v)", maxDuration))
	fs.StringVar(&o.phone, "phone", "+31612345678", "phone number the clients verify with (the Mock sends nothing)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.clients < 1 || o.clients > maxClients:
		err = fmt.Errorf("-clients %d: want 1 to %d", o.clients, maxClients)
	case o.duration <= 0 || o.duration > maxDuration:
		err = fmt.Errorf("-duration %v: want more than 0 and at most %v", o.duration, maxDuration)
	}
	if err == nil {
		_, err = twofactor.ParsePhone(o.phone, "")
	}
	if err != nil {
		fmt.Fprintln(errOut, "twofactor-load:", err)
		fs.Usage()
	}
	return o, err
}

// run starts the app, verifies the clients, drives the load and prints
// the result to out.
func run(ctx context.Context, o options, out io.Writer) (result, error) {
	res := result{Clients: o.clients}
	a, err := newLoadApp()
	if err != nil {
		return res, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-served
	}()
	base := "http://" + l.Addr().String()

	tr := &http.Transport{
		MaxIdleConns:        o.clients,
		MaxIdleConnsPerHost: o.clients,
		MaxConnsPerHost:     o.clients,
		IdleConnTimeout:     30 * time.Second,
	}
	defer tr.CloseIdleConnections()
	clients := make([]*http.Client, o.clients)
	start := time.Now()
	for i := range clients {
		jar, err := cookiejar.New(nil)
		if err != nil {
			return res, err
		}
		clients[i] = &http.Client{
			Transport:     tr,
			Jar:           jar,
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		if err := a.verify(ctx, clients[i], base, o.phone); err != nil {
			return res, fmt.Errorf("verifying client %d: %w", i+1, err)
		}
	}
	res.Verify = time.Since(start)

	var (
		mu    sync.Mutex
		total histogram
		wg    sync.WaitGroup
	)
	start = time.Now()
	deadline := start.Add(o.duration)
	for _, c := range clients {
		wg.Go(func() {
			var h histogram
			var n, errs int64
			var firstErr error
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t0 := time.Now()
				err := getAccount(c, base)
				d := time.Since(t0)
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				n++
				h.add(d)
			}
			mu.Lock()
			defer mu.Unlock()
			total.merge(&h)
			res.Requests += n
			res.Errors += errs
			if res.FirstErr == nil {
				res.FirstErr = firstErr
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.P50, res.P99, res.Max = total.quantile(0.50), total.quantile(0.99), total.max

	fmt.Fprintf(out, "twofactor-load: %d clients verified through the flow in %v, then GET /account over loopback for %v\n",
		res.Clients, res.Verify.Round(time.Millisecond), res.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(out, "  machine:  %d CPUs (GOMAXPROCS %d), shared by the clients and the server; %s\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Fprintf(out, "  requests: %d (%.0f/s), errors: %d\n", res.Requests, res.rate(), res.Errors)
	fmt.Fprintf(out, "  latency:  p50 %v, p99 %v, max %v\n", roundLatency(res.P50), roundLatency(res.P99), roundLatency(res.Max))
	if res.FirstErr != nil {
		fmt.Fprintf(out, "  first error: %v\n", res.FirstErr)
	}
	return res, nil
}

func roundLatency(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(10 * time.Microsecond)
}

// getAccount requests the gated page and reads it in full.
func getAccount(c *http.Client, base string) error {
	res, err := c.Get(base + "/account")
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /account: status %d", res.StatusCode)
	}
	return nil
}

// loadApp is the app under load: BirdBank's set-up without its home page.
type loadApp struct {
	http.Handler
	mu   sync.Mutex
	code string // the Mock's last code
}

var accountPage = template.Must(template.New("account").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>BirdBank</title></head>
<body><header><h1>BirdBank</h1><form method="post" action="/logout"><button type="submit">Log out</button></form></header>
<main><h2>Your account</h2><p>Current balance</p><p class="balance">{{.}} EUR</p></main></body></html>
`))

func newLoadApp() (*loadApp, error) {
	a := &loadApp{}
	hashKey, blockKey := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(hashKey)
	_, _ = rand.Read(blockKey)
	store := sessions.NewCookieStore(hashKey, blockKey)
	store.MaxAge(int(twofactor.DefaultMaxAge.Seconds()))
	mock := &twofactor.Mock{OnCode: func(_ twofactor.Verification, code string) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.code = code
	}}
	tf, err := twofactor.New(mock, store,
		twofactor.WithLogger(slog.New(slog.DiscardHandler)),
		twofactor.WithCookie(twofactor.Cookie{Insecure: true}), // plain http on loopback
		// Every client verifies from 127.0.0.1 with the same number: lift
		// the per-number and per-address send windows, and the fraud
		// guard's budgets of codes per hour.
		twofactor.WithLimits(func(l *twofactor.Limits) {
			l.Phone, l.IP = twofactor.Limit{}, twofactor.Limit{}
		}),
		twofactor.WithFraudGuard(func(g *twofactor.FraudGuard) {
			g.CountryBudgets["*"], g.GlobalBudget = 1<<30, 1<<30
		}),
	)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/2fa/", tf.Handler())
	mux.Handle("GET /account", tf.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = accountPage.Execute(w, "1,234.56")
	})))
	a.Handler = mux
	return a, nil
}

func (a *loadApp) lastCode() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.code
}

// verify runs the flow for one client through the JSON API. Clients are
// verified one at a time, so the Mock's last code is this client's.
func (a *loadApp) verify(ctx context.Context, c *http.Client, base, phone string) error {
	if err := postJSON(ctx, c, base+"/2fa/send", map[string]string{"phone": phone}, "code_sent"); err != nil {
		return err
	}
	if err := postJSON(ctx, c, base+"/2fa/check", map[string]string{"code": a.lastCode()}, "verified"); err != nil {
		return err
	}
	return getAccount(c, base)
}

func postJSON(ctx context.Context, c *http.Client, url string, body any, wantStatus string) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var got struct {
		Status string
		Error  struct{ Code string }
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&got); err != nil {
		return fmt.Errorf("POST %s: status %d: %w", url, res.StatusCode, err)
	}
	if res.StatusCode != http.StatusOK || got.Status != wantStatus {
		return fmt.Errorf("POST %s: status %d %q, error %q; want 200 %q", url, res.StatusCode, got.Status, got.Error.Code, wantStatus)
	}
	return nil
}

// histogram counts latencies in log-linear buckets: exact below 64ns, then
// 32 buckets per power of two, so a quantile is off by at most 1/32
// (about 3 %). Its size is fixed, however long the run.
type histogram struct {
	counts [64 * 32]int64
	n      int64
	max    time.Duration
}

const subBits = 5 // 32 sub-buckets

func bucketOf(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < 2<<subBits {
		return int(v)
	}
	shift := bits.Len64(v) - (subBits + 1)
	return (shift+1)<<subBits + int(v>>shift) - 1<<subBits
}

// bucketTop is the largest duration in bucket i.
func bucketTop(i int) time.Duration {
	if i < 2<<subBits {
		return time.Duration(i)
	}
	shift := i>>subBits - 1
	mant := uint64(i&(1<<subBits-1)) + 1<<subBits
	return time.Duration((mant+1)<<shift - 1)
}

func (h *histogram) add(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the latency q of the requests took at most (to within
// its bucket), or 0 for an empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(q*float64(h.n-1)) + 1
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(bucketTop(i), h.max)
		}
	}
	return h.max
}
