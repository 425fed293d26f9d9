package twofactor

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// One budget per request.
//
// Every request the library serves gets one store budget (WithStoreTimeout,
// default 2 s) for all of its session store and State calls together, not
// one per call: with a backend answering after 1.9 s, a request that makes
// eight calls still gives up after about 2 s, not 15. The budget is the
// request context's deadline, so it reaches the backends' clients (go-redis
// sets its socket deadlines from it) and costs one timer per request, none
// per call. Its clock stops while the provider is asked (which has its own
// deadline, WithProviderTimeout): a slow SMS does not eat the time of the
// session save that follows it.
//
// In-process backends (a cookie store and a MemoryState) need no budget and
// get none.

// budget is a context whose deadline can be paused. It closes Done when
// its time runs out (context.DeadlineExceeded) or its parent ends; children
// made with the context package register through AfterFunc, so they cost
// no goroutine.
type budget struct {
	context.Context // the parent: values, and its end ends the budget

	mu      sync.Mutex
	done    chan struct{}
	err     error
	end     time.Time     // when it runs out, while running
	left    time.Duration // what is left, while paused
	paused  bool
	timer   *time.Timer
	unwatch func() bool // stops watching the parent
	after   map[*afterFunc]struct{}
}

type afterFunc struct{ f func() }

func newBudget(parent context.Context, d time.Duration) *budget {
	b := &budget{Context: parent, done: make(chan struct{}), end: time.Now().Add(d), after: map[*afterFunc]struct{}{}}
	b.timer = time.AfterFunc(d, func() { b.fire(context.DeadlineExceeded) })
	b.unwatch = context.AfterFunc(parent, func() { b.fire(parent.Err()) })
	return b
}

func (b *budget) fire(err error) {
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		return
	}
	b.err = err
	close(b.done)
	fs := b.after
	b.after = nil
	b.mu.Unlock()
	for a := range fs {
		go a.f()
	}
}

// Deadline implements context.Context; a paused budget has none.
func (b *budget) Deadline() (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.paused {
		return b.Context.Deadline()
	}
	if d, ok := b.Context.Deadline(); ok && d.Before(b.end) {
		return d, true
	}
	return b.end, true
}

// Value implements context.Context: the budget itself under budgetKey.
func (b *budget) Value(key any) any {
	if key == (budgetKey{}) {
		return b
	}
	return b.Context.Value(key)
}

// Done implements context.Context.
func (b *budget) Done() <-chan struct{} { return b.done }

// Err implements context.Context.
func (b *budget) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// AfterFunc lets the context package register children without a
// goroutine each (see context.AfterFunc).
func (b *budget) AfterFunc(f func()) func() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := &afterFunc{f: f}
	if b.err != nil {
		go f()
		return func() bool { return false }
	}
	b.after[a] = struct{}{}
	return func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.after[a]; !ok {
			return false
		}
		delete(b.after, a)
		return true
	}
}

// pause stops the budget's clock; resume starts it again with what was left.
func (b *budget) pause() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil || b.paused || !b.timer.Stop() {
		return
	}
	b.paused, b.left = true, time.Until(b.end)
}

func (b *budget) resume() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.paused {
		return
	}
	b.paused = false
	b.end = time.Now().Add(b.left)
	b.timer.Reset(b.left)
}

// release ends the budget and frees its timer.
func (b *budget) release() {
	b.timer.Stop()
	b.unwatch()
	b.fire(context.Canceled)
}

type budgetKey struct{}

// inProcess reports whether the session store and the State both live in
// this process: no budget needed.
func (m *Manager) inProcess() bool {
	_, mem := m.cfg.state.(*MemoryState)
	return mem && m.inProcessStore()
}

// withBudget returns ctx with the request's store budget, and the function
// that ends it. A context that has one already keeps it.
func (m *Manager) withBudget(ctx context.Context) (context.Context, func()) {
	if m.inProcess() {
		return ctx, func() {}
	}
	if _, ok := ctx.Value(budgetKey{}).(*budget); ok {
		return ctx, func() {}
	}
	b := newBudget(ctx, m.cfg.storeTimeout)
	return b, b.release
}

// budgeted is withBudget for a request.
func (m *Manager) budgeted(r *http.Request) (*http.Request, func()) {
	ctx, end := m.withBudget(r.Context())
	if ctx == r.Context() {
		return r, end
	}
	return r.WithContext(ctx), end
}

// providerContext returns the context of a provider call made under ctx:
// the provider's own deadline, with ctx's store budget paused until done
// is called (call it as soon as the provider has answered).
func (m *Manager) providerContext(ctx context.Context) (pctx context.Context, done func()) {
	b, _ := ctx.Value(budgetKey{}).(*budget)
	if b != nil {
		b.pause()
	}
	pctx, cancel := context.WithTimeout(ctx, m.cfg.providerTimeout)
	return pctx, func() {
		cancel()
		if b != nil {
			b.resume()
		}
	}
}
