package redisstate

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"

	"github.com/go-twofactor/twofactor"
)

// SessionStore is a gorilla sessions.Store that keeps sessions in Redis,
// beside a State's keys, and lets twofactor's gate load a session and
// check its verification in one round trip (it implements
// twofactor.GateLoader). Create one with NewSessionStore and give the
// Manager the same State (twofactor.WithState).
//
// The cookie holds only the session's id, signed (and encrypted, with a
// block key) by securecookie; the values live in Redis, under the State key
// "session:"+id, for the session's MaxAge, signed and, with a block key,
// encrypted with the same keys: a copy of Redis then shows no phone number
// the flow keeps in a session. A cookie naming an id Redis
// does not hold gets a new session with a new id, never that one (no
// session fixation); saving a session with a negative MaxAge deletes it.
//
// On a single Redis server (or Sentinel), the gate's load and grant check
// are one Lua script: one command per gated request. On Redis Cluster (or
// a Ring) the session and the user record live in different slots, which
// one script may not touch together: there the gate makes two calls, the
// session's HMGET and the grant check.
//
// A SessionStore is safe for concurrent use.
type SessionStore struct {
	// Codecs sign (and encrypt) the cookie's id.
	Codecs []securecookie.Codec
	// Options are the default cookie attributes of a new session; the
	// twofactor Manager sets its own on every save.
	Options *sessions.Options

	state   *State
	values  []securecookie.Codec // the codecs of the values at rest: no age or length limit
	oneTrip bool                 // a single server: the gate's script may reach any key
}

var _ twofactor.GateLoader = (*SessionStore)(nil)

// DefaultSessionMaxAge is a SessionStore's default MaxAge, as gorilla's
// cookie store's: 30 days. The twofactor Manager saves its sessions with
// its own (Cookie.MaxAge).
const DefaultSessionMaxAge = 86400 * 30

// NewSessionStore returns a session store that keeps its sessions in
// state's Redis, with state's prefix and timeout. keyPairs are
// securecookie's: a hash key (32 or 64 bytes) to sign the cookie and an
// optional block key (16, 24 or 32 bytes) to encrypt it, then older pairs
// for key rotation. It returns an error if state is nil or no hash key is
// given.
func NewSessionStore(state *State, keyPairs ...[]byte) (*SessionStore, error) {
	if state == nil {
		return nil, errors.New("redisstate: NewSessionStore: nil State")
	}
	if len(keyPairs) == 0 || len(keyPairs[0]) == 0 {
		return nil, errors.New("redisstate: NewSessionStore: no hash key")
	}
	_, single := state.client.(*redis.Client)
	s := &SessionStore{
		Codecs: securecookie.CodecsFromPairs(keyPairs...),
		Options: &sessions.Options{
			Path:     "/",
			MaxAge:   DefaultSessionMaxAge,
			Secure:   true,
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		},
		state:   state,
		values:  securecookie.CodecsFromPairs(keyPairs...),
		oneTrip: single,
	}
	for _, c := range s.values {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxAge(0) // Redis's time to live ends a session
			sc.MaxLength(0)
		}
	}
	s.MaxAge(DefaultSessionMaxAge)
	return s, nil
}

// MaxAge sets the default MaxAge of new sessions and the age beyond which
// the codecs refuse a cookie, in seconds (0: no limit from the codecs).
func (s *SessionStore) MaxAge(age int) {
	s.Options.MaxAge = age
	for _, c := range s.Codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxAge(age)
		}
	}
}

// GateState implements twofactor.GateLoader.
func (s *SessionStore) GateState() twofactor.State { return s.state }

// Get implements sessions.Store: the session of r named name, loaded once
// per request (sessions.GetRegistry).
func (s *SessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New implements sessions.Store: it loads the session named name that r's
// cookie names, or returns a new one. The error is securecookie's for a
// cookie that does not decode, and one matching
// twofactor.ErrStoreUnavailable when Redis fails; a new session comes with
// either.
func (s *SessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess, id, err := s.fresh(r, name)
	if err != nil || id == "" {
		return sess, err
	}
	var rec []any
	err = s.state.do(r.Context(), func(ctx context.Context) error {
		var err error
		rec, err = s.state.client.HMGet(ctx, s.key(id), "v").Result()
		return err
	})
	if err != nil {
		return sess, fail("session", err)
	}
	s.fill(sess, id, rec[0])
	return sess, nil
}

// LoadGate implements twofactor.GateLoader: New and the grant check in one
// Lua script on a single server, in two calls on a cluster.
func (s *SessionStore) LoadGate(r *http.Request, name string, c twofactor.GateCheck) (*sessions.Session, bool, error) {
	sess, id, err := s.fresh(r, name)
	if err != nil || id == "" {
		return sess, false, err
	}
	var idle int64
	if !c.Idle.IsZero() {
		idle = c.Idle.UnixMilli()
	}
	if !s.oneTrip {
		return s.loadGateApart(r.Context(), sess, id, c, idle)
	}
	var rec, live any
	err = s.state.do(r.Context(), func(ctx context.Context) error {
		res, err := gateScript.Run(ctx, s.state.client, []string{s.key(id)},
			c.User, c.Now.UnixMilli(), idle, s.state.prefix).Slice()
		if errors.Is(err, redis.Nil) {
			return nil // no such session
		}
		if err != nil {
			return err
		}
		if len(res) != 2 {
			return fmt.Errorf("unexpected script reply %v", res)
		}
		rec, live = res[0], res[1]
		return nil
	})
	if err != nil {
		return sess, false, fail("session", err)
	}
	return sess, s.fill(sess, id, rec) && live == int64(1), nil
}

// gateScript is LoadGate's round trip: the session's encoded values and,
// when the user record (field u) is the one the gate allows (ARGV[1], or
// any when ""), check_grant on its grant (field g). The user record's key
// is built from the State's prefix (ARGV[4]); a script may reach a key it
// was not given on a single server only, which is why a cluster loads and
// checks apart. It returns nil for no session, else {values, live}.
var gateScript = redis.NewScript(checkGrantLua + `
local s = redis.call('HMGET', KEYS[1], 'v', 'u', 'g')
if not s[1] then
	return nil
end
local u, g, live = s[2], s[3], 0
if u and g and u ~= '' and g ~= '' and (ARGV[1] == '' or ARGV[1] == u) then
	live = check_grant(ARGV[4] .. '{' .. u .. '}', g, tonumber(ARGV[2]), ARGV[3])
end
return {s[1], live}
`)

// loadGateApart is LoadGate on a cluster: the session, then its grant.
func (s *SessionStore) loadGateApart(ctx context.Context, sess *sessions.Session, id string, c twofactor.GateCheck, idle int64) (*sessions.Session, bool, error) {
	var rec []any
	err := s.state.do(ctx, func(ctx context.Context) error {
		var err error
		rec, err = s.state.client.HMGet(ctx, s.key(id), "v", "u", "g").Result()
		return err
	})
	if err != nil {
		return sess, false, fail("session", err)
	}
	if !s.fill(sess, id, rec[0]) {
		return sess, false, nil
	}
	user, _ := rec[1].(string)
	grant, _ := rec[2].(string)
	if user == "" || grant == "" || (c.User != "" && c.User != user) {
		return sess, false, nil
	}
	var want time.Time
	if idle != 0 {
		want = time.UnixMilli(idle)
	}
	live, err := s.state.CheckGrant(ctx, user, grant, c.Now, want)
	return sess, live, err
}

// fresh returns a new session named name and the id r's cookie names, ""
// when it has none; the error is securecookie's for a cookie that does not
// decode.
func (s *SessionStore) fresh(r *http.Request, name string) (*sessions.Session, string, error) {
	sess := sessions.NewSession(s, name)
	opts := *s.Options
	sess.Options = &opts
	sess.IsNew = true
	ck, err := r.Cookie(name)
	if err != nil {
		return sess, "", nil
	}
	var id string
	if err := securecookie.DecodeMulti(name, ck.Value, &id, s.Codecs...); err != nil {
		return sess, "", err
	}
	return sess, id, nil
}

// fill decodes the encoded values rec (a Redis reply) into sess and gives
// it id; it reports whether there was such a session. A record that does
// not decode counts as none: sess stays new, and its id is never adopted.
func (s *SessionStore) fill(sess *sessions.Session, id string, rec any) bool {
	v, ok := rec.(string)
	if !ok {
		return false
	}
	values := map[any]any{}
	if err := securecookie.DecodeMulti(sess.Name(), v, &values, s.values...); err != nil {
		return false
	}
	sess.Values, sess.ID, sess.IsNew = values, id, false
	return true
}

// saveScript replaces a session's record: its encoded values (v) and the
// user record and grant they name (u, g; see twofactor.GrantOf), for
// ARGV[4] milliseconds.
var saveScript = redis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'u', ARGV[2], 'g', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// Save implements sessions.Store: it writes sess to Redis for its MaxAge
// (the store's MaxAge when 0), giving a session without an id a new random
// one, and sets the cookie; with a negative MaxAge it deletes the session
// and its cookie.
func (s *SessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	opts := sess.Options
	if opts == nil {
		opts = s.Options
	}
	if opts.MaxAge < 0 {
		if sess.ID != "" {
			err := s.state.do(r.Context(), func(ctx context.Context) error {
				return s.state.client.Del(ctx, s.key(sess.ID)).Err()
			})
			if err != nil {
				return fail("session", err)
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", opts))
		return nil
	}
	age := opts.MaxAge
	if age == 0 {
		age = s.Options.MaxAge
	}
	if age <= 0 {
		age = DefaultSessionMaxAge
	}
	if sess.ID == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		sess.ID = base64.RawURLEncoding.EncodeToString(b)
	}
	values, err := securecookie.EncodeMulti(sess.Name(), sess.Values, s.values...)
	if err != nil {
		return fmt.Errorf("redisstate: session values: %w", err)
	}
	user, grant := twofactor.GrantOf(sess.Values)
	encoded, err := securecookie.EncodeMulti(sess.Name(), sess.ID, s.Codecs...)
	if err != nil {
		return err
	}
	err = s.state.do(r.Context(), func(ctx context.Context) error {
		return saveScript.Run(ctx, s.state.client, []string{s.key(sess.ID)},
			values, user, grant, int64(age)*1000).Err()
	})
	if err != nil {
		return fail("session", err)
	}
	http.SetCookie(w, sessions.NewCookie(sess.Name(), encoded, opts))
	return nil
}

// key returns the Redis key of the session id.
func (s *SessionStore) key(id string) string { return s.state.key("session:" + id) }
