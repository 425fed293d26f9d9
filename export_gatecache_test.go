package twofactor

// Hooks for the external tests and benchmarks of the gate's cookie cache
// (gatecache_test.go, bench_test.go). Test builds only.

// SetGateCacheCapacity replaces m's gate cache by an empty one of capacity
// entries; 0 turns the cache off. Call it before m serves requests.
func SetGateCacheCapacity(m *Manager, capacity int) {
	m.gateCache = nil
	if m.cookieStore != nil {
		m.gateCache = newGateCache(capacity)
	}
}

// GateCacheStats describes m's gate cache.
type GateCacheStats struct {
	Enabled                           bool
	Len, Cap, Hits, Misses, Evictions int
}

// GateCacheStatsOf returns the state of m's gate cache.
func GateCacheStatsOf(m *Manager) GateCacheStats {
	if m.gateCache == nil {
		return GateCacheStats{}
	}
	st := m.gateCache.stats()
	return GateCacheStats{Enabled: true, Len: st.Len, Cap: st.Cap, Hits: st.Hits, Misses: st.Misses, Evictions: st.Evictions}
}

// DefaultGateCacheSize is the cache's capacity in a Manager made by New.
const DefaultGateCacheSize = gateCacheSize
