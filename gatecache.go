package twofactor

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"sync"
	"time"
)

// The gate's cache of decoded cookies.
//
// With a *sessions.CookieStore, everything a session holds is in its cookie,
// so the same cookie value always decodes to the same flowState: decoding
// it (base64, HMAC-SHA256, AES, gob) is pure work that the gate would
// otherwise redo on every request. The gate remembers the decoded state of
// cookies that passed it, keyed by the SHA-256 of the exact cookie value.
// Only the decode is skipped: every request still goes through grantValid,
// so the max age is checked against the clock, the subject must match, and
// the server-side grant is touched (revocation by Reset, idle timeout).
//
// What enters the cache: only a cookie that the store decoded and whose
// state grantValid just accepted (verified, live grant). A tampered or
// garbage cookie does not decode, so it never enters, and a changed byte
// makes a different key, which misses and goes to the store.
//
// When an entry goes: when the cookie store itself would stop accepting
// the cookie (its securecookie timestamp is older than the smallest max age
// of the store's codecs, on the real clock as securecookie counts it), when
// the verification is older than the Manager's max age, when the gate
// refuses it, or when its shard is full and it is picked for eviction. A
// store with a codec that is not a *securecookie.SecureCookie, whose max age
// the gate cannot know, is not cached.
//
// Server-side stores (Redis, files) are never cached: their cookie is only
// an id, and the record it names can change.
//
// Replacing a CookieStore's Codecs while the app serves requests (a data
// race in gorilla/sessions anyway) does not drop cached entries: rotate keys
// by restarting, which empties the cache.

// gateCacheSize bounds how many cookies the gate remembers.
const gateCacheSize = 10_000

// gateShards is how many independently locked parts the cache has, so
// parallel requests rarely wait for each other.
const gateShards = 32

// gateEvictScan is how many entries an insert into a full shard looks at
// for an expired one before it evicts one of them anyway.
const gateEvictScan = 8

// gateMaxCookie is the longest cookie value the cache hashes: browsers
// keep cookies of at most 4096 bytes, and securecookie refuses longer
// values before any other work, so hashing one would be work for nothing.
const gateMaxCookie = 4096

type gateKey [sha256.Size]byte

// gateCache is a bounded map from cookie digests to decoded, verified
// sessions. It knows nothing of cookies, stores or Managers: the gate
// (middleware.go) decides what enters, for how long, and when to drop it.
type gateCache struct {
	perShard int
	shards   []gateShard
}

type gateShard struct {
	mu      sync.Mutex
	entries map[gateKey]gateEntry
	// Counters for tests, updated under mu.
	hits, misses, evictions int
}

type gateEntry struct {
	fs         flowState
	cookieEnds time.Time // real clock: the cookie store would refuse the cookie from then on
	ends       time.Time // Manager's clock: verified-at + max age
}

// newGateCache returns a cache of at most capacity entries, or nil when
// capacity is below 1.
func newGateCache(capacity int) *gateCache {
	if capacity < 1 {
		return nil
	}
	n := min(gateShards, capacity)
	c := &gateCache{perShard: capacity / n, shards: make([]gateShard, n)}
	for i := range c.shards {
		c.shards[i].entries = make(map[gateKey]gateEntry)
	}
	return c
}

func (c *gateCache) shard(k gateKey) *gateShard {
	return &c.shards[int(k[0])%len(c.shards)]
}

// get returns the live entry at k. now is the real clock, mnow the
// Manager's; an entry past either of its ends is dropped.
func (c *gateCache) get(k gateKey, now, mnow time.Time) (flowState, bool) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[k]
	if !ok {
		s.misses++
		return flowState{}, false
	}
	if !now.Before(e.cookieEnds) || !mnow.Before(e.ends) {
		delete(s.entries, k)
		s.misses++
		return flowState{}, false
	}
	s.hits++
	return e.fs, true
}

// drop forgets k.
func (c *gateCache) drop(k gateKey) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, k)
}

// put remembers e under k, evicting an entry when k's shard is full.
func (c *gateCache) put(k gateKey, e gateEntry, now, mnow time.Time) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[k]; !ok && len(s.entries) >= c.perShard {
		s.evict(now, mnow)
	}
	s.entries[k] = e
}

// cookieKey is the SHA-256 of a cookie value of at most gateMaxCookie
// bytes. The cache keeps digests, not the cookies themselves: fixed-size
// keys, and no bearer credentials lying in memory. Hashing a copy on the
// stack spares the hot path an allocation.
func cookieKey(value string) gateKey {
	var buf [gateMaxCookie]byte
	n := copy(buf[:], value)
	return sha256.Sum256(buf[:n])
}

// evict makes room for one entry: it drops the expired entries among the
// first few it meets (map order is random), else the first one of them.
func (s *gateShard) evict(now, mnow time.Time) {
	var first gateKey
	seen, freed := 0, false
	for k, e := range s.entries {
		if seen == 0 {
			first = k
		}
		if !now.Before(e.cookieEnds) || !mnow.Before(e.ends) {
			delete(s.entries, k)
			s.evictions++
			freed = true
		}
		if seen++; seen == gateEvictScan {
			break
		}
	}
	if !freed && seen > 0 {
		delete(s.entries, first)
		s.evictions++
	}
}

// cookieTimestamp returns the creation time (unix seconds) securecookie
// wrote into an encoded value: base64 of "date|value|mac". It is only read
// from values the store has just decoded, so the MAC covering it has been
// checked.
func cookieTimestamp(value string) (int64, bool) {
	b, err := base64.URLEncoding.DecodeString(value)
	if err != nil {
		return 0, false
	}
	i := bytes.IndexByte(b, '|')
	if i <= 0 {
		return 0, false
	}
	ts, err := strconv.ParseInt(string(b[:i]), 10, 64)
	if err != nil || ts <= 0 {
		return 0, false
	}
	return ts, true
}

// gateCacheStats describes the cache, for tests.
type gateCacheStats struct {
	Len, Cap, Hits, Misses, Evictions int
}

func (c *gateCache) stats() gateCacheStats {
	st := gateCacheStats{Cap: c.perShard * len(c.shards)}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		st.Len += len(s.entries)
		st.Hits += s.hits
		st.Misses += s.misses
		st.Evictions += s.evictions
		s.mu.Unlock()
	}
	return st
}
