package twofactor

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/sessions"

	"github.com/go-twofactor/twofactor/internal/batch"
)

// Deadlines on the backends.
//
// Every call the library makes to the session store and the State runs
// under the request's store budget (budget.go: WithStoreTimeout, default
// 2 s, for all of a request's calls together), or under a deadline of its
// own when it is made without one, so a slow backend answers 503 in
// bounded time however many requests are waiting. The deadline reaches the
// backend through the context (r.WithContext for the session store), and
// for backends that are not known to honour it the library also stops
// waiting when it passes; such a call finishes in the background and its
// result is dropped.
//
// In-process backends (a *sessions.CookieStore, a *MemoryState) are never
// slow and are called directly.

// withDeadline runs f under a context that ends d from now, and returns
// its results when f does, or an error wrapping ErrStoreUnavailable when the
// deadline passes first.
func withDeadline[T any](ctx context.Context, d time.Duration, f func(ctx context.Context) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	cancel := func() {}
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > d {
		ctx, cancel = context.WithTimeout(ctx, d)
	}
	done := make(chan result, 1)
	go func() {
		defer cancel()
		v, err := f(ctx)
		done <- result{v, err}
	}()
	select {
	case res := <-done:
		return res.v, res.err
	case <-ctx.Done():
		// f's own return cancels ctx too, after sending its result: take
		// the result if it is there.
		select {
		case res := <-done:
			return res.v, res.err
		default:
		}
		var zero T
		return zero, fmt.Errorf("%w: no answer within %v: %w", ErrStoreUnavailable, d, ctx.Err())
	}
}

// inProcessStore reports whether the session store keeps everything in
// this process (the cookie store): no deadline needed.
func (m *Manager) inProcessStore() bool {
	_, ok := m.store.(*sessions.CookieStore)
	return ok
}

// storeNew is m.store.New under the store deadline.
func (m *Manager) storeNew(r *http.Request, name string) (*sessions.Session, error) {
	if m.inProcessStore() {
		return m.store.New(r, name)
	}
	type newResult struct {
		sess *sessions.Session
		err  error
	}
	res, err := withDeadline(r.Context(), m.cfg.storeTimeout, func(ctx context.Context) (newResult, error) {
		s, err := m.store.New(r.WithContext(ctx), name)
		return newResult{s, err}, nil // New returns a session with some errors: keep both
	})
	if err != nil {
		return nil, err
	}
	return res.sess, res.err
}

// storeSave is m.store.Save under the store deadline. The store writes its
// headers (Set-Cookie) into a copy, which reaches w only if it answered in
// time: a late Save never touches the response.
func (m *Manager) storeSave(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if m.inProcessStore() {
		return m.store.Save(r, w, sess)
	}
	hw := &headerWriter{h: http.Header{}}
	_, err := withDeadline(r.Context(), m.cfg.storeTimeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, m.store.Save(r.WithContext(ctx), hw, sess)
	})
	if err != nil {
		return err
	}
	for k, vs := range hw.h {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	return nil
}

// headerWriter keeps the headers a store sets and discards the rest.
type headerWriter struct{ h http.Header }

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *headerWriter) WriteHeader(int)             {}

// timedState is a State whose every call runs under its own deadline.
type timedState struct {
	s State
	d time.Duration
}

// callTimeouter is implemented by a State that bounds every call by a
// timeout of its own (redisstate does). When that timeout is no longer than
// WithStoreTimeout's, the Manager calls the State directly instead of
// adding a deadline of its own, which saves a goroutine on every call, the
// gate's included.
type callTimeouter interface {
	CallTimeout() time.Duration
}

// withStateDeadline wraps s for New; in-process states, and states that
// bound their calls as tightly themselves, stay as they are.
func withStateDeadline(s State, d time.Duration) State {
	if _, ok := s.(*MemoryState); ok {
		return s
	}
	if ct, ok := s.(callTimeouter); ok && ct.CallTimeout() > 0 && ct.CallTimeout() <= d {
		return s
	}
	if batch.Can(s) {
		return timedBatchState{timedState{s: s, d: d}}
	}
	return timedState{s: s, d: d}
}

// timedBatchState is a timedState whose State runs batches (Batch, or
// IncrBatch): a batch is one call, under one deadline.
type timedBatchState struct{ timedState }

// Batch implements batch.Batcher. The calls run on a copy of ops, which a
// call that outlives its deadline may still write to.
func (t timedBatchState) Batch(ctx context.Context, ops []batch.Op) error {
	done, err := withDeadline(ctx, t.d, func(ctx context.Context) ([]batch.Op, error) {
		own := slices.Clone(ops)
		return own, batch.Run(ctx, t.s, own)
	})
	if err == nil {
		copy(ops, done)
	}
	return err
}

type incrResult struct {
	n   int64
	ttl time.Duration
}

func (t timedState) Incr(ctx context.Context, key string, delta int64, window time.Duration) (int64, time.Duration, error) {
	res, err := withDeadline(ctx, t.d, func(ctx context.Context) (incrResult, error) {
		n, ttl, err := t.s.Incr(ctx, key, delta, window)
		return incrResult{n, ttl}, err
	})
	return res.n, res.ttl, err
}

func (t timedState) SetNX(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return withDeadline(ctx, t.d, func(ctx context.Context) (bool, error) { return t.s.SetNX(ctx, key, ttl) })
}

func (t timedState) Touch(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return withDeadline(ctx, t.d, func(ctx context.Context) (bool, error) { return t.s.Touch(ctx, key, ttl) })
}

func (t timedState) Delete(ctx context.Context, key string) error {
	_, err := withDeadline(ctx, t.d, func(ctx context.Context) (struct{}, error) { return struct{}{}, t.s.Delete(ctx, key) })
	return err
}

func (t timedState) Exists(ctx context.Context, key string) (bool, error) {
	return withDeadline(ctx, t.d, func(ctx context.Context) (bool, error) { return t.s.Exists(ctx, key) })
}

func (t timedState) SetField(ctx context.Context, key, field, value string, ttl time.Duration) error {
	_, err := withDeadline(ctx, t.d, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, t.s.SetField(ctx, key, field, value, ttl)
	})
	return err
}

func (t timedState) Fields(ctx context.Context, key string) (map[string]string, error) {
	return withDeadline(ctx, t.d, func(ctx context.Context) (map[string]string, error) { return t.s.Fields(ctx, key) })
}

func (t timedState) DeleteField(ctx context.Context, key, field string) (bool, error) {
	return withDeadline(ctx, t.d, func(ctx context.Context) (bool, error) { return t.s.DeleteField(ctx, key, field) })
}

func (t timedState) Generation(ctx context.Context, key, gen string, ttl time.Duration) (string, error) {
	return withDeadline(ctx, t.d, func(ctx context.Context) (string, error) { return t.s.Generation(ctx, key, gen, ttl) })
}

func (t timedState) NewGeneration(ctx context.Context, key, gen, keep string, ttl time.Duration) error {
	_, err := withDeadline(ctx, t.d, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, t.s.NewGeneration(ctx, key, gen, keep, ttl)
	})
	return err
}

func (t timedState) AddGrant(ctx context.Context, key, grant, gen, device string, now, idle, end time.Time, max int, ttl time.Duration) (bool, error) {
	return withDeadline(ctx, t.d, func(ctx context.Context) (bool, error) {
		return t.s.AddGrant(ctx, key, grant, gen, device, now, idle, end, max, ttl)
	})
}

func (t timedState) CheckGrant(ctx context.Context, key, grant string, now, idle time.Time) (bool, error) {
	return withDeadline(ctx, t.d, func(ctx context.Context) (bool, error) { return t.s.CheckGrant(ctx, key, grant, now, idle) })
}
