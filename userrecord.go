package twofactor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Field names and values of a user record (see State).
const (
	genField    = "g"
	grantPrefix = "s:"
	devPrefix   = "d:"
	noDevice    = "-"
)

// grantValue is a grant as a user record keeps it.
type grantValue struct {
	gen, device string // device is "" when none opened it
	idle, end   int64  // Unix milliseconds
}

func (g grantValue) String() string {
	dev := g.device
	if dev == "" {
		dev = noDevice
	}
	var buf [128]byte
	b := append(buf[:0], g.gen...)
	b = append(b, ' ')
	b = append(b, dev...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, g.idle, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, g.end, 10)
	return string(b)
}

// parseGrant reads a grant's value; it allocates nothing, as the gate
// reads one on every request.
func parseGrant(s string) (grantValue, bool) {
	gen, rest, ok1 := strings.Cut(s, " ")
	dev, rest, ok2 := strings.Cut(rest, " ")
	idleS, endS, ok3 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !ok3 || gen == "" || dev == "" {
		return grantValue{}, false
	}
	idle, err1 := strconv.ParseInt(idleS, 10, 64)
	end, err2 := strconv.ParseInt(endS, 10, 64)
	if err1 != nil || err2 != nil {
		return grantValue{}, false
	}
	g := grantValue{gen: gen, device: dev, idle: idle, end: end}
	if g.device == noDevice {
		g.device = ""
	}
	return g, true
}

// deviceGen returns the generation of a device field's value.
func deviceGen(v string) string {
	gen, _, _ := strings.Cut(v, " ")
	return gen
}

// liveIn reports whether g is live in the record fields at now (Unix ms).
func (g grantValue) liveIn(fields map[string]string, now int64) bool {
	if g.gen == "" || g.gen != fields[genField] || now >= g.idle || now >= g.end {
		return false
	}
	if g.device != "" {
		d, ok := fields[devPrefix+g.device]
		if !ok || deviceGen(d) != g.gen {
			return false
		}
	}
	return true
}

// record returns the live user record at key, created empty if there is
// none; the caller holds s.mu.
func (s *MemoryState) record(key string, now time.Time) memItem {
	it, ok := s.get(key, now)
	if !ok || it.fields == nil {
		it = memItem{fields: make(map[string]string)}
	}
	return it
}

// Generation implements State.
func (s *MemoryState) Generation(_ context.Context, key, gen string, ttl time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.generation(key, gen, ttl, s.now())
}

// generation is Generation; the caller holds s.mu.
func (s *MemoryState) generation(key, gen string, ttl time.Duration, now time.Time) (string, error) {
	it := s.record(key, now)
	if it.fields[genField] == "" {
		it.fields[genField] = gen
	}
	it.expires = now.Add(ttl)
	if err := s.put(key, it, now); err != nil {
		return "", err
	}
	return it.fields[genField], nil
}

// NewGeneration implements State.
func (s *MemoryState) NewGeneration(_ context.Context, key, gen, keep string, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	it := s.record(key, now)
	old := it.fields[genField]
	it.fields[genField] = gen
	if keep != "" {
		if g, ok := parseGrant(it.fields[grantPrefix+keep]); ok && g.gen == old {
			g.gen, g.device = gen, ""
			it.fields[grantPrefix+keep] = g.String()
		}
	}
	it.expires = now.Add(ttl)
	return s.put(key, it, now)
}

// AddGrant implements State.
func (s *MemoryState) AddGrant(_ context.Context, key, grant, gen, device string, at, idle, end time.Time, max int, ttl time.Duration) (bool, error) {
	if gen == "" || strings.ContainsAny(gen+device, " ") {
		return false, fmt.Errorf("twofactor: bad generation %q or device %q", gen, device)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	it := s.record(key, now)
	if cur := it.fields[genField]; cur != "" && cur != gen {
		return false, nil
	}
	if device != "" {
		if d, ok := it.fields[devPrefix+device]; !ok || deviceGen(d) != gen {
			return false, nil
		}
	}
	it.fields[genField] = gen
	ms := at.UnixMilli()
	live, oldest, oldestIdle := 0, "", int64(0)
	for f, v := range it.fields {
		if !strings.HasPrefix(f, grantPrefix) {
			continue
		}
		g, ok := parseGrant(v)
		if !ok || !g.liveIn(it.fields, ms) {
			delete(it.fields, f)
			continue
		}
		live++
		if oldest == "" || g.idle < oldestIdle {
			oldest, oldestIdle = f, g.idle
		}
	}
	if max > 0 && live >= max {
		delete(it.fields, oldest)
	}
	it.fields[grantPrefix+grant] = grantValue{gen: gen, device: device, idle: idle.UnixMilli(), end: end.UnixMilli()}.String()
	it.expires = now.Add(ttl)
	if err := s.put(key, it, now); err != nil {
		return false, err
	}
	return true, nil
}

// CheckGrant implements State.
func (s *MemoryState) CheckGrant(_ context.Context, key, grant string, now, idle time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.get(key, s.now())
	if !ok || it.fields == nil {
		return false, nil
	}
	f := grantPrefix + grant
	v, ok := it.fields[f]
	if !ok {
		return false, nil
	}
	g, ok := parseGrant(v)
	if !ok || !g.liveIn(it.fields, now.UnixMilli()) {
		delete(it.fields, f)
		return false, nil
	}
	if !idle.IsZero() && idle.UnixMilli() > g.idle {
		g.idle = min(idle.UnixMilli(), g.end)
		it.fields[f] = g.String()
	}
	return true, nil
}
