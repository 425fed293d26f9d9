package twofactor

// Unit tests of the gate cache's expiry and bound that the HTTP tests in
// gatecache_test.go cannot reach without waiting for the real clock: the
// cookie store's own timestamp limit runs on time.Now, as securecookie's
// check does.

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

func newCacheTestManager(t *testing.T, storeMaxAge int, opts ...Option) (*Manager, *sessions.CookieStore) {
	t.Helper()
	cs := sessions.NewCookieStore([]byte("test hash key, 32 bytes long...."), []byte("test block key, 32 bytes long..."))
	cs.MaxAge(storeMaxAge)
	m, err := New(&Mock{}, cs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if m.gateCache == nil {
		t.Fatal("no gate cache for a cookie store")
	}
	return m, cs
}

// encodedCookie is a cookie value as the store writes it, made now.
func encodedCookie(t *testing.T, cs *sessions.CookieStore, fs flowState) string {
	t.Helper()
	values := map[any]any{}
	fs.write(values)
	v, err := securecookie.EncodeMulti(DefaultSessionName, values, cs.Codecs...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestGateCacheCookieLimit(t *testing.T) {
	now := time.Now()
	verified := flowState{FlowID: randomID(), VerifiedAt: now.Unix(), Grant: randomID(), Return: "/account"}
	for _, c := range []struct {
		name        string
		storeMaxAge int           // CookieStore.MaxAge
		limit       time.Duration // how long the entry may live from the cookie's timestamp
	}{
		{"store max age below the manager's", 600, 600 * time.Second},
		{"store max age above the manager's", 86400 * 30, DefaultMaxAge},
		{"store max age 0 (no timestamp limit)", 0, DefaultMaxAge},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, cs := newCacheTestManager(t, c.storeMaxAge)
			value := encodedCookie(t, cs, verified)
			ts, ok := cookieTimestamp(value)
			if !ok || ts < now.Unix()-1 || ts > time.Now().Unix() {
				t.Fatalf("cookieTimestamp = %d, %t; want about %d", ts, ok, now.Unix())
			}
			key := cookieKey(value)
			m.cacheVerified(key, value, verified)
			end := time.Unix(ts, 0).Add(c.limit)
			if fs, ok := m.gateCache.get(key, end.Add(-time.Second), now); !ok || fs.Grant != verified.Grant || fs.Return != "" {
				t.Fatalf("get before the limit = %+v, %t; want the entry without its return path", fs, ok)
			}
			if _, ok := m.gateCache.get(key, end, now); ok {
				t.Fatal("entry served at the cookie's limit")
			}
			if st := m.gateCache.stats(); st.Len != 0 {
				t.Fatalf("stats %+v: expired entry kept", st)
			}
		})
	}
	t.Run("manager's max age from the verification", func(t *testing.T) {
		m, cs := newCacheTestManager(t, 86400*30, WithCookie(Cookie{MaxAge: time.Hour}))
		old := verified
		old.VerifiedAt = now.Add(-50 * time.Minute).Unix() // the cookie is newer than the verification
		value := encodedCookie(t, cs, old)
		key := cookieKey(value)
		m.cacheVerified(key, value, old)
		if _, ok := m.gateCache.get(key, now, now.Add(9*time.Minute)); !ok {
			t.Fatal("entry refused before verified-at + max age")
		}
		if _, ok := m.gateCache.get(key, now, now.Add(10*time.Minute)); ok {
			t.Fatal("entry served at verified-at + max age")
		}
	})
	t.Run("unverified or unreadable", func(t *testing.T) {
		m, cs := newCacheTestManager(t, 86400*30)
		for _, fs := range []flowState{{FlowID: randomID()}, {FlowID: randomID(), VerifiedAt: now.Unix()}, {FlowID: randomID(), Grant: randomID()}} {
			value := encodedCookie(t, cs, fs)
			m.cacheVerified(cookieKey(value), value, fs)
		}
		for _, value := range []string{"", "!!!", base64.URLEncoding.EncodeToString([]byte("x|y|z")), base64.URLEncoding.EncodeToString([]byte("|y|z"))} {
			m.cacheVerified(cookieKey(value), value, verified)
		}
		if st := m.gateCache.stats(); st.Len != 0 {
			t.Fatalf("stats %+v, want nothing cached", st)
		}
	})
}

func TestGateCacheDefaultBound(t *testing.T) {
	m, cs := newCacheTestManager(t, 86400*30)
	if st := m.gateCache.stats(); st.Cap > gateCacheSize || st.Cap < gateCacheSize*99/100 {
		t.Fatalf("stats %+v, want a capacity of about %d", st, gateCacheSize)
	}
	value := encodedCookie(t, cs, flowState{VerifiedAt: time.Now().Unix(), Grant: randomID()})
	fs := flowState{VerifiedAt: time.Now().Unix(), Grant: randomID()}
	for i := range 3 * gateCacheSize {
		// Distinct keys, one real value for the timestamp.
		m.cacheVerified(gateKey(sha256.Sum256(fmt.Appendf(nil, "%d", i))), value, fs)
	}
	st := m.gateCache.stats()
	if st.Len > gateCacheSize || st.Len < st.Cap*9/10 || st.Evictions < 2*gateCacheSize {
		t.Fatalf("stats %+v after %d adds, want at most %d entries and the rest evicted", st, 3*gateCacheSize, gateCacheSize)
	}
}

func TestGateCacheOnlyForCookieStores(t *testing.T) {
	cs := sessions.NewCookieStore([]byte("test hash key, 32 bytes long...."))
	for _, c := range []struct {
		name  string
		store sessions.Store
		want  bool
	}{
		{"cookie store", cs, true},
		{"filesystem store", sessions.NewFilesystemStore(t.TempDir(), []byte("test hash key, 32 bytes long....")), false},
	} {
		m, err := New(&Mock{}, c.store)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.gateCache != nil; got != c.want {
			t.Errorf("%s: cache made = %t, want %t", c.name, got, c.want)
		}
	}
	if c := newGateCache(0); c != nil {
		t.Errorf("capacity 0: %+v, want no cache", c)
	}
	if c := newGateCache(3); c == nil || c.stats().Cap != 3 {
		t.Errorf("capacity 3: %+v", c)
	}
}

// A codec whose max age is shorter than the store's options (set on the
// codec alone) bounds the cached entry; a codec the gate cannot read is not
// cached at all.
func TestGateCacheCodecMaxAge(t *testing.T) {
	m, cs := newCacheTestManager(t, 86400*30)
	for _, c := range cs.Codecs {
		c.(*securecookie.SecureCookie).MaxAge(300)
	}
	verified := flowState{FlowID: randomID(), VerifiedAt: time.Now().Unix(), Grant: randomID()}
	value := encodedCookie(t, cs, verified)
	ts, _ := cookieTimestamp(value)
	key := cookieKey(value)
	m.cacheVerified(key, value, verified)
	end := time.Unix(ts, 0).Add(300 * time.Second)
	if _, ok := m.gateCache.get(key, end.Add(-time.Second), time.Now()); !ok {
		t.Fatal("entry refused before the codec's max age")
	}
	if _, ok := m.gateCache.get(key, end, time.Now()); ok {
		t.Fatal("entry served at the codec's max age, which the store would refuse")
	}

	cs.Codecs = append(cs.Codecs, opaqueCodec{})
	m.cacheVerified(key, value, verified)
	if st := m.gateCache.stats(); st.Len != 0 {
		t.Fatalf("stats %+v: cached a cookie whose codec's max age is unknown", st)
	}
}

type opaqueCodec struct{}

func (opaqueCodec) Encode(string, any) (string, error) { return "", nil }
func (opaqueCodec) Decode(string, string, any) error   { return nil }
