package twofactor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-twofactor/twofactor/internal/batch"
)

// State is the server-side memory of the flow: attempt counters, send
// windows, one-use marks and live verification grants. Keeping these on the
// server means a client cannot roll them back by replaying an old cookie or
// dropping its cookies.
//
// Every method must be atomic with respect to the others on the same key and
// safe for concurrent use. Every key carries a time to live, so a backend
// never grows without bound. A State may also have an IncrBatch method of
// MemoryState's signature: the send limits then read and count all their
// counters in one round trip. MemoryState and redisstate's State go
// further with Batch, which runs every call of one step of a send or a
// check in one round trip (a pipeline on Redis). And a State that bounds
// every call by a timeout of its own may say so with a method
// CallTimeout() time.Duration: when that timeout is no longer than
// WithStoreTimeout's, the Manager calls it without a deadline of its own.
// MemoryState is the in-process default; the redisstate sub-package shares
// state between several app servers.
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

	// Generation returns the generation of the user record at key (see
	// below); a record without one takes gen. The record lives ttl from
	// now.
	Generation(ctx context.Context, key, gen string, ttl time.Duration) (string, error)
	// NewGeneration moves the user record at key to generation gen in one
	// step: every grant and device of an older generation stops being live
	// at once, however many there are. If keep names a grant of the
	// record, it is moved to gen (and no longer tied to a device), so the
	// session that asked stays verified. The record lives ttl from now.
	NewGeneration(ctx context.Context, key, gen, keep string, ttl time.Duration) error
	// AddGrant adds grant to the user record at key at time now, of
	// generation gen, opened by device (or "" when no remembered device
	// opened it), live until idle (extended by CheckGrant) and never after
	// end. It changes
	// nothing and reports false when the record's generation is set and is
	// not gen, or when device is not "" and is not a device of the
	// record's generation; a record without a generation takes gen. Grants
	// no longer live are dropped; if max live grants remain, the one with
	// the earliest idle time goes. The record lives ttl from now.
	AddGrant(ctx context.Context, key, grant, gen, device string, now, idle, end time.Time, max int, ttl time.Duration) (bool, error)
	// CheckGrant reports whether grant is live in the user record at key
	// at now: it is there, of the record's generation, now is before its
	// idle and end times, and the device that opened it (if any) is still
	// a device of the record's generation. A live grant whose idle time is
	// before idle gets idle (never past its end); a zero idle changes
	// nothing. A grant found dead is dropped.
	CheckGrant(ctx context.Context, key, grant string, now, idle time.Time) (bool, error)
}

// A user record is the map (see SetField) that holds a user's second
// factor: its generation, its grants (verified sessions) and its devices.
// Its fields, which a State of your own must keep as they are:
//
//	"g"           the generation: a random string; a new one revokes
//	              everything made under the old
//	"s:" + grant  a grant: "<generation> <device or -> <idle> <end>",
//	              times in Unix milliseconds
//	"d:" + device a remembered device: "<generation> <anything>"
//
// Other fields are the library's and opaque to the State. The statetest
// package checks all of this.

// MemoryState is a State held in this process's memory. It suits apps that
// run on one machine. Expired keys are swept as new ones are written, and a
// counter that comes back to zero (a send given back, see sendlimit.go) is
// dropped at once, as if it had never been counted.
//
// Memory has a ceiling: at most MaxKeys keys (default 262,144, about
// 40 MB: some 150 bytes a key). When it is full, expired keys are swept,
// and if none are, a write that needs a new key fails with an error
// matching ErrStoreUnavailable: the flow answers 503 "try again later" to
// new sends and verifications. Live keys are never evicted, so a full
// MemoryState never forgets a limit; counters and marks that exist keep
// working (a refused send, a wrong code, a gated request all still count).
//
// The zero value is ready to use. A MemoryState is safe for concurrent use.
type MemoryState struct {
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// MaxKeys is the most keys held at once. Zero means 262,144 (1<<18).
	// Set it before first use.
	MaxKeys int

	mu        sync.Mutex
	items     map[string]memItem
	lastSweep time.Time
	fullSweep time.Time // last sweep forced by a full state
}

// defaultMemoryStateMaxKeys is the default ceiling of a MemoryState's keys.
// A healthy app holds a few per code sent and per verified session in the
// last hour; the fraud guard's global budget (2,000 codes an hour by
// default) keeps an attacker far below it.
const defaultMemoryStateMaxKeys = 1 << 18

// errStateFull is the error of a MemoryState write that needs a new key when
// the state holds MaxKeys live keys. It wraps ErrStoreUnavailable; the flow
// answers it with 503 and "try again later".
var errStateFull = fmt.Errorf("%w: state full", ErrStoreUnavailable)

type memItem struct {
	n       int64
	fields  map[string]string // for SetField; nil for counters and marks
	expires time.Time
}

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
// s.mu. A new key in a full state fails with errStateFull.
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
			return errStateFull
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
	return defaultMemoryStateMaxKeys
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
// one lock. Each counter changes as Incr would change it, or, on an error
// (a full state), none does. (The library itself runs its counters in a
// Batch.)
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

// Batch runs ops (twofactor's internal batch of Incr, SetNX, Touch,
// Delete, Generation and DeleteField calls) under one lock: the send limits and the
// life of a code make their calls of one step in one. Each op changes the
// State as its method would; on an error (a full state) the ops before it
// took effect and none after it.
func (s *MemoryState) Batch(_ context.Context, ops []batch.Op) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for i := range ops {
		op := &ops[i]
		var err error
		switch op.Kind {
		case batch.Incr:
			op.N, op.Left, err = s.incr(op.Key, op.Delta, op.TTL, now)
		case batch.SetNX:
			op.OK, err = s.setNX(op.Key, op.TTL, now)
		case batch.Touch:
			op.OK = s.touch(op.Key, op.TTL, now)
		case batch.Delete:
			delete(s.items, op.Key)
		case batch.Generation:
			op.Gen, err = s.generation(op.Key, op.Gen, op.TTL, now)
		case batch.DeleteField:
			op.OK = s.deleteField(op.Key, op.Field, now)
		default:
			err = fmt.Errorf("twofactor: Batch: unknown op kind %d", op.Kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// SetNX implements State.
func (s *MemoryState) SetNX(_ context.Context, key string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setNX(key, ttl, s.now())
}

// setNX is SetNX; the caller holds s.mu.
func (s *MemoryState) setNX(key string, ttl time.Duration, now time.Time) (bool, error) {
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
	return s.touch(key, ttl, s.now()), nil
}

// touch is Touch; the caller holds s.mu.
func (s *MemoryState) touch(key string, ttl time.Duration, now time.Time) bool {
	it, ok := s.get(key, now)
	if !ok {
		return false
	}
	it.expires = now.Add(ttl)
	s.items[key] = it
	return true
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
	return s.deleteField(key, field, s.now()), nil
}

// deleteField is DeleteField; the caller holds s.mu.
func (s *MemoryState) deleteField(key, field string, now time.Time) bool {
	it, ok := s.get(key, now)
	if !ok {
		return false
	}
	_, had := it.fields[field]
	delete(it.fields, field)
	if len(it.fields) == 0 {
		delete(s.items, key)
	}
	return had
}

// Len returns the number of keys held, live or not yet swept.
func (s *MemoryState) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// State keys. The state backend namespaces them further.
func attemptsKey(id string) string       { return "attempts:" + id }
func usedKey(id string) string           { return "used:" + id }
func accountKey(acct string) string      { return "account:" + acct }
func cooldownKey(flow string) string     { return "cooldown:" + flow }
func phoneSendsKey(number string) string { return "phone:" + number } // number: numberID's keyed hash
func ipSendsKey(ip string) string        { return "ip:" + ip }

// Counters of a user's recovery codes and device sign-ins.
func recoveryTriesKey(subject string) string { return "recovery:" + subject }
func deviceSignInsKey(id string) string      { return "devsignin:" + id }

// knownKey is the mark of a number that completed a verification lately
// (fraud.go), by numberID's keyed hash of the number.
func knownKey(number string) string { return "known:" + number }
