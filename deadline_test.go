package twofactor_test

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rbcervilla/redisstore/v9"
	"github.com/redis/go-redis/v9"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/redistest"
	"github.com/go-twofactor/twofactor/redisstate"
)

// slowProxy is a TCP proxy on loopback in front of a redis-server that
// holds every answer back for delay: a Redis that has become slow.
type slowProxy struct {
	l     net.Listener
	to    string
	delay atomic.Int64 // nanoseconds

	done chan struct{} // closed by close: held answers are dropped

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newSlowProxy(t *testing.T, to string) *slowProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &slowProxy{l: l, to: to, done: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *slowProxy) addr() string { return p.l.Addr().String() }

func (p *slowProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.to)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); _, _ = io.Copy(up, c) }()
		go func() { // answers: held back by the delay
			defer p.wg.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := up.Read(buf)
				if n > 0 {
					select { // the slow backend, not test sync
					case <-time.After(time.Duration(p.delay.Load())):
					case <-p.done:
						return
					}
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					c.Close()
					return
				}
			}
		}()
	}
}

func (p *slowProxy) close() {
	close(p.done)
	p.l.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// With Redis answering 30 s late, far more clients than the Redis pool all
// get their 503 within the store timeout (plus slack), however many wait:
// every session store and State call has a deadline of its own. The Redis
// client here is configured badly on purpose (long socket timeouts,
// context deadlines ignored, retries), so only the library's own deadline
// can bound the wait.
func TestSecurity_SlowBackendAnswers503InBoundedTime(t *testing.T) {
	srv := redistest.Start(t)
	proxy := newSlowProxy(t, srv.Addr())
	rdb := redis.NewClient(&redis.Options{
		Addr: proxy.addr(), PoolSize: 4, PoolTimeout: 30 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, MaxRetries: 3,
	})
	t.Cleanup(func() { _ = rdb.Close() })
	store, err := redisstore.NewRedisStore(t.Context(), rdb)
	if err != nil {
		t.Fatal(err)
	}
	state, err := redisstate.New(rdb, redisstate.WithTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	m, err := twofactor.New(&twofactor.Mock{}, store, twofactor.WithState(state), twofactor.WithSecret(testSecret), twofactor.WithStoreTimeout(timeout),
		twofactor.WithLogger(slog.New(slog.DiscardHandler)), twofactor.WithCookie(twofactor.Cookie{Insecure: true})) // plain http: less CPU per request on a busy machine
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/2fa/", m.Handler())
	mux.Handle("/account", m.Require(benchAccount))
	// The bound is on the server's own time per request (handler start to
	// end), so TLS handshakes and client scheduling on a busy machine do
	// not count.
	var worst atomic.Int64
	timed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		mux.ServeHTTP(w, r)
		took := int64(time.Since(start))
		for {
			w := worst.Load()
			if took <= w || worst.CompareAndSwap(w, took) {
				break
			}
		}
	})
	app := httptest.NewServer(timed)
	t.Cleanup(app.Close)
	jar, _ := cookiejar.New(nil)
	hc := app.Client()
	hc.Jar = jar
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	post := func(path string, form url.Values) *http.Response {
		res, err := hc.PostForm(app.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := post("/2fa/send", url.Values{"phone": {benchPhone}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("send with a healthy Redis: %d", res.StatusCode)
	}
	u, _ := url.Parse(app.URL)
	cookies := jar.Cookies(u)
	if len(cookies) == 0 {
		t.Fatal("no session cookie")
	}

	worst.Store(0)
	proxy.delay.Store(int64(30 * time.Second))
	const clients = 64 // 16 times the pool
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var req *http.Request
			if i%2 == 0 {
				req, _ = http.NewRequest(http.MethodGet, app.URL+"/account", nil) // the gate
			} else {
				req, _ = http.NewRequest(http.MethodPost, app.URL+"/2fa/resend", nil) // the flow
			}
			req.Header.Set("Accept", "application/json")
			for _, c := range cookies {
				req.AddCookie(c)
			}
			res, err := app.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("%s %s with a slow Redis: %d %s", req.Method, req.URL.Path, res.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	// Each request makes one backend call before it fails (the session
	// read): one deadline, plus scheduling on a busy machine (the race
	// detector on two shared cores), far below the 30 s Redis takes.
	if w := time.Duration(worst.Load()); w > timeout+4*time.Second {
		t.Errorf("slowest 503 took %v with a %v store timeout and %d clients", w, timeout, clients)
	} else {
		t.Logf("slowest of %d: %v (store timeout %v, Redis 30 s late)", clients, w, timeout)
	}
	if _, err := twofactor.New(&twofactor.Mock{}, nil, twofactor.WithStoreTimeout(0)); err == nil {
		t.Error("New accepted a zero store timeout")
	}
	if !errors.Is(twofactor.ErrStateFull, twofactor.ErrStoreUnavailable) {
		t.Error("ErrStateFull does not wrap ErrStoreUnavailable")
	}
}
