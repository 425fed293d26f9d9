package twofactor_test

// The gate's cookie cache (gatecache.go) must be exactly as safe as decoding
// the cookie on every request. These tests go through real HTTP with a
// cookie jar (newFlowApp) and check, with the cache's hit counters, that
// the requests they make were indeed answered from the cache.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/go-twofactor/twofactor"
)

func cacheStats(a *flowApp) twofactor.GateCacheStats {
	return twofactor.GateCacheStatsOf(a.m)
}

// wantCacheHit runs get and checks the cache answered it.
func wantCacheHit(t *testing.T, a *flowApp, get func() flowResp) flowResp {
	t.Helper()
	before := cacheStats(a).Hits
	res := get()
	if after := cacheStats(a).Hits; after != before+1 {
		t.Fatalf("cache hits %d → %d, want one hit", before, after)
	}
	return res
}

// wantNoCacheHit runs get and checks the cache did not answer it.
func wantNoCacheHit(t *testing.T, a *flowApp, get func() flowResp) flowResp {
	t.Helper()
	before := cacheStats(a).Hits
	res := get()
	if after := cacheStats(a).Hits; after != before {
		t.Fatalf("cache hits %d → %d, want none", before, after)
	}
	return res
}

func (a *flowApp) account() flowResp {
	a.t.Helper()
	return a.get("/account")
}

// verifiedCached verifies the visitor and checks that the next gated
// request is answered from the cache.
func verifiedCached(t *testing.T, a *flowApp) {
	t.Helper()
	if st := cacheStats(a); !st.Enabled || st.Cap != twofactor.DefaultGateCacheSize/32*32 {
		t.Fatalf("cache %+v, want it on with the default capacity", st)
	}
	a.verify() // its last request puts the cookie in the cache
	if st := cacheStats(a); st.Len != 1 {
		t.Fatalf("after verification: cache %+v, want one entry", st)
	}
	wantBody(t, wantCacheHit(t, a, a.account), http.StatusOK, testBalance)
}

func TestGateCacheReset(t *testing.T) {
	a := newFlowApp(t)
	verifiedCached(t, a)
	kept := a.sessionCookie().Value
	wantRedirect(t, a.post("/logout", nil), "/")
	a.setSessionCookie(kept) // a copy of the cached cookie, kept from before the logout
	// Served from the cache, and still refused: the grant is gone.
	wantRedirect(t, wantCacheHit(t, a, a.account), "/2fa/?next=%2Faccount")
	if st := cacheStats(a); st.Len != 0 {
		t.Fatalf("cache %+v: the revoked cookie stayed", st)
	}
	// Decoded afresh, refused again, and not cached again.
	wantRedirect(t, wantNoCacheHit(t, a, a.account), "/2fa/?next=%2Faccount")
	wantBody(t, a.get("/peek"), http.StatusOK, "verified=false")
	if st := cacheStats(a); st.Len != 0 {
		t.Fatalf("cache %+v: a revoked cookie was cached", st)
	}
}

func TestGateCacheIdleTimeout(t *testing.T) {
	a := newFlowApp(t)
	verifiedCached(t, a)
	a.clock.Advance(twofactor.DefaultIdleTimeout - time.Second)
	wantStatus(t, wantCacheHit(t, a, a.account), http.StatusOK) // and this resets the idle timer
	a.clock.Advance(twofactor.DefaultIdleTimeout - time.Second)
	wantStatus(t, wantCacheHit(t, a, a.account), http.StatusOK)
	a.clock.Advance(twofactor.DefaultIdleTimeout + time.Second)
	wantRedirect(t, wantCacheHit(t, a, a.account), "/2fa/?next=%2Faccount")
	wantRedirect(t, wantNoCacheHit(t, a, a.account), "/2fa/?next=%2Faccount")
}

func TestGateCacheMaxAge(t *testing.T) {
	a := newFlowApp(t, twofactor.WithCookie(twofactor.Cookie{MaxAge: time.Hour}))
	verifiedCached(t, a)
	for range 2 {
		a.clock.Advance(25 * time.Minute)
		wantStatus(t, wantCacheHit(t, a, a.account), http.StatusOK)
	}
	a.clock.Advance(11 * time.Minute) // 61 minutes, never idle for long
	// The entry itself has aged out: the cookie is decoded and refused.
	wantRedirect(t, a.account(), "/2fa/?next=%2Faccount")
	wantBody(t, a.get("/peek"), http.StatusOK, "verified=false")
	if st := cacheStats(a); st.Len != 0 {
		t.Fatalf("cache %+v: an aged-out verification stayed", st)
	}
}

func TestGateCacheSubject(t *testing.T) {
	a := newFlowApp(t, twofactor.WithSubject(func(r *http.Request) string { return r.Header.Get("X-User") }))
	as := func(user string) func() flowResp {
		return func() flowResp { return a.get("/account", "X-User", user) }
	}
	wantRedirect(t, as("alice")(), "/2fa/?next=%2Faccount")
	wantRedirect(t, a.post("/2fa/send", url.Values{"phone": {testPhone}}, "X-User", "alice"), "/2fa/")
	code := a.codes.Last(t).Code
	wantRedirect(t, a.post("/2fa/check", url.Values{"code": {code}}, "X-User", "alice"), "/")
	wantStatus(t, wantNoCacheHit(t, a, as("alice")), http.StatusOK)
	wantStatus(t, wantCacheHit(t, a, as("alice")), http.StatusOK)

	// Same browser, same cached cookie, another user: refused.
	wantRedirect(t, as("bob")(), "/2fa/?next=%2Faccount")
	wantRedirect(t, as("")(), "/2fa/?next=%2Faccount")
	wantBody(t, a.get("/peek", "X-User", "bob"), http.StatusOK, "verified=false")
	// Alice is still verified.
	wantStatus(t, as("alice")(), http.StatusOK)
	wantStatus(t, wantCacheHit(t, a, as("alice")), http.StatusOK)
}

func TestGateCacheTamperedCookie(t *testing.T) {
	a := newFlowApp(t)
	verifiedCached(t, a)
	good := a.sessionCookie().Value
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	// Not the last few characters: a change there may touch only the
	// base64 padding bits and decode to the very same bytes.
	for _, i := range []int{0, 1, len(good) / 4, len(good) / 2, 3 * len(good) / 4, len(good) - 8} {
		b := []byte(good)
		for _, c := range []byte(alphabet) {
			if c != b[i] {
				b[i] = c
				break
			}
		}
		t.Run(fmt.Sprint("byte ", i), func(t *testing.T) {
			a.setSessionCookie(string(b))
			wantRedirect(t, wantNoCacheHit(t, a, a.account), "/2fa/?next=%2Faccount")
		})
	}
	t.Run("oversized", func(t *testing.T) {
		a.setSessionCookie(good + strings.Repeat("A", 4096))
		wantRedirect(t, wantNoCacheHit(t, a, a.account), "/2fa/?next=%2Faccount")
	})
	if st := cacheStats(a); st.Len != 1 {
		t.Fatalf("cache %+v: want only the good cookie", st)
	}
	a.setSessionCookie(good)
	wantStatus(t, wantCacheHit(t, a, a.account), http.StatusOK)
}

func TestGateCacheUnverified(t *testing.T) {
	a := newFlowApp(t)
	wantRedirect(t, a.account(), "/2fa/?next=%2Faccount") // no cookie yet
	code := a.sendCode(testPhone)                         // a session with a code on its way
	for range 3 {
		wantRedirect(t, a.account(), "/2fa/?next=%2Faccount")
	}
	wantStatus(t, a.post("/2fa/check", url.Values{"code": {wrongCode(code)}}), http.StatusBadRequest)
	wantRedirect(t, a.account(), "/2fa/?next=%2Faccount")
	wantBody(t, a.get("/peek"), http.StatusOK, "verified=false")
	if st := cacheStats(a); st.Len != 0 || st.Hits != 0 {
		t.Fatalf("cache %+v: an unverified session was cached", st)
	}
	wantRedirect(t, a.post("/2fa/check", url.Values{"code": {code}}), "/account")
	wantStatus(t, wantNoCacheHit(t, a, a.account), http.StatusOK)
	wantStatus(t, wantCacheHit(t, a, a.account), http.StatusOK)
}

// mintCookies returns n distinct cookies of one verified session: each
// visit to the flow page with another ?next= makes the cookie store write
// a new cookie (same grant, another return path).
func mintCookies(t *testing.T, a *flowApp, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		next := fmt.Sprintf("/account?n=%d", i)
		wantRedirect(t, a.get("/2fa/?next="+url.QueryEscape(next)), next)
		out = append(out, a.sessionCookie().Value)
	}
	return out
}

func TestGateCacheBounded(t *testing.T) {
	const capacity = 4
	a := newFlowApp(t)
	twofactor.SetGateCacheCapacity(a.m, capacity)
	a.verify()
	cookies := mintCookies(t, a, 10*capacity)
	for i, c := range cookies {
		a.setSessionCookie(c)
		wantStatus(t, a.account(), http.StatusOK)
		if st := cacheStats(a); st.Len > capacity || st.Cap > capacity {
			t.Fatalf("after %d cookies: cache %+v, want at most %d entries", i+1, st, capacity)
		}
	}
	st := cacheStats(a)
	if st.Evictions == 0 || st.Len == 0 {
		t.Fatalf("cache %+v: want evictions and some entries", st)
	}
	// Evicted cookies are decoded afresh and still work.
	for _, c := range cookies[:capacity] {
		a.setSessionCookie(c)
		wantStatus(t, a.account(), http.StatusOK)
	}
	if st := cacheStats(a); st.Len > capacity {
		t.Fatalf("cache %+v, want at most %d entries", st, capacity)
	}
}

func TestGateCacheOnlyCookieStore(t *testing.T) {
	keys := [][]byte{[]byte("test hash key, 32 bytes long...."), []byte("test block key, 32 bytes long...")}
	a := newFlowAppWith(t, appSetup{store: sessions.NewFilesystemStore(t.TempDir(), keys...)})
	if st := cacheStats(a); st.Enabled {
		t.Fatalf("cache %+v for a FilesystemStore: its cookie is only an id, want no cache", st)
	}
	a.verify()
	wantStatus(t, a.account(), http.StatusOK)
}

// TestGateCacheConcurrent serves many cookies of one session from
// parallel clients through a cache too small for them, so entries are
// added, hit and evicted at once (run it with -race).
func TestGateCacheConcurrent(t *testing.T) {
	a := newFlowApp(t)
	twofactor.SetGateCacheCapacity(a.m, 2)
	a.verify()
	cookies := mintCookies(t, a, 6)
	tr := a.srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 8
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, a.srv.URL+"/account", nil)
				if err != nil {
					errs <- err
					return
				}
				req.AddCookie(&http.Cookie{Name: hostCookie, Value: cookies[(g+i)%len(cookies)]})
				res, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, res.Body) // so the connection is reused
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("status %d, want 200", res.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := cacheStats(a); st.Len > 2 || st.Hits == 0 {
		t.Errorf("cache %+v, want hits and at most 2 entries", st)
	}
}
