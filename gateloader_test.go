package twofactor_test

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/gorilla/sessions"

	"github.com/go-twofactor/twofactor"
)

// gateStore is a GateLoader written against the public API alone: a cookie
// store whose LoadGate is New plus State.CheckGrant on GrantOf's grant. It
// counts what the gate calls.
type gateStore struct {
	*sessions.CookieStore
	state     twofactor.State
	news      atomic.Int64 // New calls
	gateLoads atomic.Int64 // LoadGate calls
}

func newGateStore() *gateStore {
	return &gateStore{CookieStore: sessions.NewCookieStore([]byte("gate store tests: hash key 32 B."), []byte("gate store tests: block key 32B."))}
}

func (s *gateStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

func (s *gateStore) New(r *http.Request, name string) (*sessions.Session, error) {
	s.news.Add(1)
	return s.CookieStore.New(r, name)
}

func (s *gateStore) GateState() twofactor.State { return s.state }

func (s *gateStore) LoadGate(r *http.Request, name string, c twofactor.GateCheck) (*sessions.Session, bool, error) {
	s.gateLoads.Add(1)
	sess, err := s.CookieStore.New(r, name)
	if err != nil || sess.IsNew {
		return sess, false, err
	}
	user, grant := twofactor.GrantOf(sess.Values)
	if user == "" || (c.User != "" && c.User != user) {
		return sess, false, nil
	}
	live, err := s.state.CheckGrant(r.Context(), user, grant, c.Now, c.Idle)
	return sess, live, err
}

// The gate loads through a GateLoader whose State is the Manager's, and
// only then; revocation, another user and a signed-out visitor are refused
// on that path as on the other.
func TestGateLoader(t *testing.T) {
	t.Run("its State", func(t *testing.T) {
		store := newGateStore()
		e := secNew(t, secSetup{subject: true, store: store, state: func(ms *twofactor.MemoryState) twofactor.State {
			store.state = ms
			return ms
		}})
		c := e.client()
		c.user = "alice"
		if r := c.signIn(secPhone, nil); r.status != http.StatusOK {
			t.Fatalf("sign in: %v", r)
		}
		news, loads := store.news.Load(), store.gateLoads.Load()
		if r := c.get("/account"); r.status != http.StatusOK {
			t.Fatalf("verified session refused: %v", r)
		}
		if n, l := store.news.Load()-news, store.gateLoads.Load()-loads; n != 0 || l != 1 {
			t.Fatalf("gated request: %d New, %d LoadGate; want 0 and 1", n, l)
		}
		c.user = "mallory"
		if r := c.get("/account"); r.status == http.StatusOK {
			t.Fatal("alice's session let mallory in")
		}
		c.user = ""
		loads = store.gateLoads.Load()
		if r := c.get("/account"); r.status == http.StatusOK {
			t.Fatal("alice's session let a signed-out visitor in")
		}
		if l := store.gateLoads.Load() - loads; l != 0 {
			t.Errorf("no subject: %d LoadGate, want the gate to load and check apart", l)
		}
		c.user = "alice"
		if err := e.m.SignOutEverywhere(t.Context(), "alice"); err != nil {
			t.Fatal(err)
		}
		if r := c.get("/account"); r.status == http.StatusOK {
			t.Fatal("session passed after SignOutEverywhere")
		}
	})
	t.Run("another State", func(t *testing.T) {
		store := newGateStore()
		store.state = new(twofactor.MemoryState) // not the Manager's
		e := secNew(t, secSetup{subject: true, store: store})
		c := e.client()
		c.user = "alice"
		if r := c.signIn(secPhone, nil); r.status != http.StatusOK {
			t.Fatalf("sign in: %v", r)
		}
		if r := c.get("/account"); r.status != http.StatusOK {
			t.Fatalf("verified session refused: %v", r)
		}
		if l := store.gateLoads.Load(); l != 0 {
			t.Fatalf("LoadGate called %d times on a store checking another State", l)
		}
	})
}
