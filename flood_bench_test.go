package twofactor_test

import (
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-twofactor/twofactor"
)

var floodRequests = flag.Int("flood.requests", 1_000_000, "requests BenchmarkFlood sends")

// BenchmarkFlood floods the default app (cookie sessions, in-memory State,
// default limits) with one million sends from 65,536 distinct IPv6 /64s, each
// in its own /48, to one million distinct numbers: after the first few
// hundred codes every request is refused (the country budget, then the
// address windows), and a refused request must leave nothing behind.
//
//	go test -run '^$' -bench Flood -benchtime 1x .
//
// It takes about a minute on two free cores; -flood.requests=100000 makes
// it shorter.
//
// It reports the bytes a refused request leaves in the live heap
// (retained-B/refused), the live heap after the flood (live-heap-MB), the
// State's keys (state-keys), the State calls per refused request
// (state-calls/refused, each one round trip on Redis; the calls of the
// codes sent are in it too) and how many requests were refused. It runs
// only with -bench.
func BenchmarkFlood(b *testing.B) {
	requests := *floodRequests
	const nets = 65_536
	for b.Loop() {
		b.StopTimer()
		state := new(twofactor.MemoryState)
		calls := &countingState{State: state, calls: map[string]int{}}
		a := newBenchApp(b, newBenchCookieStore(), twofactor.WithState(calls), twofactor.WithSecret(testSecret))
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		// JSON clients (a bot does not need the page), on every core.
		var refused atomic.Int64
		workers := runtime.GOMAXPROCS(0)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < requests; i += workers {
					n := i % nets
					req := httptest.NewRequest(http.MethodPost, "/2fa/send", strings.NewReader(`{"phone":"+3161`+fmt.Sprintf("%07d", i)+`"}`))
					req.Header.Set("Content-Type", "application/json")
					req.RemoteAddr = fmt.Sprintf("[2001:db8:%x:%x::%x]:4242", n, i%7, i%5+1)
					rec := httptest.NewRecorder()
					a.mux.ServeHTTP(rec, req)
					switch rec.Code {
					case http.StatusOK:
					case http.StatusTooManyRequests, http.StatusServiceUnavailable:
						refused.Add(1)
					default:
						b.Errorf("request %d: %d %s", i, rec.Code, rec.Body)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		retained := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(refused.Load())
		b.ReportMetric(retained, "retained-B/refused")
		b.ReportMetric(float64(after.HeapAlloc)/(1<<20), "live-heap-MB")
		b.ReportMetric(float64(state.Len()), "state-keys")
		trips, _ := calls.take() // the codes sent count too: an upper bound
		b.ReportMetric(float64(trips)/float64(refused.Load()), "state-calls/refused")
		b.ReportMetric(float64(refused.Load()), "refused")
		runtime.KeepAlive(a)
		b.StartTimer()
	}
}
