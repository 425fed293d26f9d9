package twofactor

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// State is the server-side memory of the flow: attempt counters, send
// windows, one-use marks and live verification grants. Keeping these on the
// server means a client cannot roll them back by replaying an old cookie or
// dropping its cookies.
//
// Every method must be atomic with respect to the others on the same key and
// safe for concurrent use. Every key carries a time to live, so a backend
// never grows without bound. A State may also have an IncrBatch method of
// MemoryState's signature (redisstate's State has): the send limits then
// read and count all their counters in one round trip. MemoryState is the in-process default; the
// redisstate sub-package shares state between several app servers.
type State interface {
	// Incr adds delta to the counter at key and returns the new value and the
	// time left before the counter resets. A missing or expired counter
	// starts at zero and lives for window from this call on.
	Incr(ctx context.Context, key string, delta int64, window time.Duration) (n int64, ttl time.Duration, err error)
	// SetNX creates key with the given time to live if it does not exist, and
	// reports whether this call created it.
	SetNX(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Touch reports whether key exists and, if it does, sets its time to live
	// to ttl from now.
	Touch(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Exists reports whether key exists, changing nothing.
	Exists(ctx context.Context, key string) (bool, error)
	// Delete removes key, whether it holds a counter or a map. Removing a
	// missing key is not an error.
	Delete(ctx context.Context, key string) error

	// SetField sets field of the map at key to value and gives the whole
	// map the time to live ttl from now. A missing map is created. The
	// library keeps small records this way (remembered devices, the grants
	// of a subject): a few fields of at most a few hundred bytes each.
	SetField(ctx context.Context, key, field, value string, ttl time.Duration) error
	// Fields returns every field of the map at key; an empty map when there
	// is none.
	Fields(ctx context.Context, key string) (map[string]string, error)
	// DeleteField removes field from the map at key and reports whether it
	// was there. The last field gone, the map is gone.
	DeleteField(ctx context.Context, key, field string) (bool, error)
}

// MemoryState is a State held in this process's memory. It suits apps that
// run on one machine. Expired keys are swept as new ones are written, and a
// counter that comes back to zero (a send given back, see limits.go) is
// dropped at once, as if it had never been counted.
//
// Memory has a ceiling: at most MaxKeys keys (default
// DefaultMemoryStateMaxKeys, about 40 MB: some 150 bytes a key). When
// it is full, expired keys are swept, and if none are, a write that needs a
// new key fails with ErrStateFull: the flow answers 503 "try again later"
// to new sends and verifications. Live keys are never evicted, so a full
// MemoryState never forgets a limit; counters and marks that exist keep
// working (a refused send, a wrong code, a gated request all still count).
//
// The zero value is ready to use. A MemoryState is safe for concurrent use.
type MemoryState struct {
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// MaxKeys is the most keys held at once. Zero means
	// DefaultMemoryStateMaxKeys. Set it before first use.
	MaxKeys int

	mu        sync.Mutex
	items     map[string]memItem
	lastSweep time.Time
	fullSweep time.Time // last sweep forced by a full state
}

// DefaultMemoryStateMaxKeys is the default ceiling of a MemoryState's keys.
// A healthy app holds a few per code sent and per verified session in the
// last hour; the fraud guard's global budget (2,000 codes an hour by
// default) keeps an attacker far below it.
const DefaultMemoryStateMaxKeys = 1 << 18

// ErrStateFull is the error of a MemoryState write that needs a new key when
// the state holds MaxKeys live keys. It wraps ErrStoreUnavailable; the flow
// answers it with 503 and "try again later".
var ErrStateFull = fmt.Errorf("%w: state full", ErrStoreUnavailable)

type memItem struct {
	n       int64
	fields  map[string]string // for SetField; nil for counters and marks
	expires time.Time
}

// NewMemoryState returns an empty MemoryState.
func NewMemoryState() *MemoryState { return &MemoryState{} }

func (s *MemoryState) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// get returns the live item at key; the caller holds s.mu.
func (s *MemoryState) get(key string, now time.Time) (memItem, bool) {
	it, ok := s.items[key]
	if !ok || !now.Before(it.expires) {
		return memItem{}, false
	}
	return it, true
}

// put stores an item and now and then sweeps expired ones; the caller holds
// s.mu. A new key in a full state fails with ErrStateFull.
func (s *MemoryState) put(key string, it memItem, now time.Time) error {
	if s.items == nil {
		s.items = make(map[string]memItem)
	}
	if now.Sub(s.lastSweep) > time.Minute {
		s.sweep(now)
	}
	if _, ok := s.items[key]; !ok && len(s.items) >= s.maxKeys() {
		// Full: sweep now, but at most once a second, so a flood against
		// a full state costs a map lookup per write, not a scan.
		if now.Sub(s.fullSweep) >= time.Second || now.Before(s.fullSweep) {
			s.sweep(now)
			s.fullSweep = now
		}
		if len(s.items) >= s.maxKeys() {
			return ErrStateFull
		}
	}
	s.items[key] = it
	return nil
}

func (s *MemoryState) sweep(now time.Time) {
	for k, v := range s.items {
		if !now.Before(v.expires) {
			delete(s.items, k)
		}
	}
	s.lastSweep = now
}

func (s *MemoryState) maxKeys() int {
	if s.MaxKeys > 0 {
		return s.MaxKeys
	}
	return DefaultMemoryStateMaxKeys
}

// Incr implements State.
func (s *MemoryState) Incr(_ context.Context, key string, delta int64, window time.Duration) (int64, time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.incr(key, delta, window, s.now())
}

// incr is Incr; the caller holds s.mu.
func (s *MemoryState) incr(key string, delta int64, window time.Duration, now time.Time) (int64, time.Duration, error) {
	it, ok := s.get(key, now)
	if !ok {
		it = memItem{expires: now.Add(window)}
	}
	it.n += delta
	if it.n == 0 && it.fields == nil {
		// Zero counts nothing: drop it (a read of a missing counter, a
		// count given back), so refused requests leave nothing behind.
		delete(s.items, key)
		return 0, it.expires.Sub(now), nil
	}
	if err := s.put(key, it, now); err != nil {
		return 0, 0, err
	}
	return it.n, it.expires.Sub(now), nil
}

// IncrBatch is Incr(ctx, keys[i], delta, windows[i]) for every i, under
// one lock: the send limits read and count all their counters in one call.
// Each counter changes as Incr would change it, or, on an error (a full
// state), none does.
func (s *MemoryState) IncrBatch(_ context.Context, keys []string, delta int64, windows []time.Duration) ([]int64, []time.Duration, error) {
	if len(windows) != len(keys) {
		return nil, nil, fmt.Errorf("twofactor: IncrBatch: %d keys, %d windows", len(keys), len(windows))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	ns, ttls := make([]int64, len(keys)), make([]time.Duration, len(keys))
	for i, key := range keys {
		n, ttl, err := s.incr(key, delta, windows[i], now)
		if err != nil {
			for j := i - 1; j >= 0; j-- {
				_, _, _ = s.incr(keys[j], -delta, windows[j], now) // nothing new: no error
			}
			return nil, nil, err
		}
		ns[i], ttls[i] = n, ttl
	}
	return ns, ttls, nil
}

// SetNX implements State.
func (s *MemoryState) SetNX(_ context.Context, key string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if _, ok := s.get(key, now); ok {
		return false, nil
	}
	if err := s.put(key, memItem{n: 1, expires: now.Add(ttl)}, now); err != nil {
		return false, err
	}
	return true, nil
}

// Touch implements State.
func (s *MemoryState) Touch(_ context.Context, key string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	it, ok := s.get(key, now)
	if !ok {
		return false, nil
	}
	it.expires = now.Add(ttl)
	s.items[key] = it
	return true, nil
}

// Exists implements State.
func (s *MemoryState) Exists(_ context.Context, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.get(key, s.now())
	return ok, nil
}

// Delete implements State.
func (s *MemoryState) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.items, key)
	return nil
}

// SetField implements State.
func (s *MemoryState) SetField(_ context.Context, key, field, value string, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	it, ok := s.get(key, now)
	if !ok || it.fields == nil {
		it = memItem{fields: make(map[string]string)}
	}
	it.fields[field] = value
	it.expires = now.Add(ttl)
	return s.put(key, it, now)
}

// Fields implements State.
func (s *MemoryState) Fields(_ context.Context, key string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, _ := s.get(key, s.now())
	out := make(map[string]string, len(it.fields))
	for f, v := range it.fields {
		out[f] = v
	}
	return out, nil
}

// DeleteField implements State.
func (s *MemoryState) DeleteField(_ context.Context, key, field string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.get(key, s.now())
	if !ok {
		return false, nil
	}
	_, had := it.fields[field]
	delete(it.fields, field)
	if len(it.fields) == 0 {
		delete(s.items, key)
	}
	return had, nil
}

// Len returns the number of keys held, live or not yet swept.
func (s *MemoryState) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// State keys. The state backend namespaces them further.
func grantKey(g string) string         { return "grant:" + g }
func attemptsKey(id string) string     { return "attempts:" + id }
func usedKey(id string) string         { return "used:" + id }
func accountKey(acct string) string    { return "account:" + acct }
func cooldownKey(flow string) string   { return "cooldown:" + flow }
func phoneSendsKey(e164 string) string { return "phone:" + e164 }
func ipSendsKey(ip string) string      { return "ip:" + ip }

// knownKey is the mark of a number that completed a verification lately
// (fraud.go). Every read and write of the mark goes through it, so the
// number can be kept as a keyed hash here alone.
func knownKey(e164 string) string { return "known:" + e164 }

// Maps (SetField) of a subject: its live grants (for signing out
// everywhere) and its remembered devices.
func subjectGrantsKey(subject string) string { return "grants:" + subject }
func devicesKey(subject string) string       { return "devices:" + subject }
