package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// store is where the app keeps its users and their login sessions: in
// memory for one server (memStore), in Redis for several behind one
// address (redisStore), so that a sign-up, a number change, a logout or
// "sign out everywhere" on one server holds on every other at once. A real
// app keeps the same in its own database.
//
// Login sessions are looked up by a keyed token's hash, never the token: a
// copy of the store signs nobody in. Implementations are safe for
// concurrent use.
type store interface {
	// createUser files a new user under name (already in its key form);
	// errTaken if the name is in use.
	createUser(ctx context.Context, u user) error
	// user returns the user filed under name; false if there is none.
	user(ctx context.Context, name string) (user, bool, error)
	// setPhone sets the user's number on file; errNoSuchUser if there is no
	// such user.
	setPhone(ctx context.Context, name, phone string) error
	// endLogins moves the user's login generation on: every login session
	// made before ends, on every server.
	endLogins(ctx context.Context, name string) error

	// newLogin keeps a login session under token for ttl.
	newLogin(ctx context.Context, token string, l login, ttl time.Duration) error
	// login returns the login session of token; false if there is none
	// (never made, logged out or expired).
	login(ctx context.Context, token string) (login, bool, error)
	// endLogin ends the login session of token.
	endLogin(ctx context.Context, token string) error
	// setNotice keeps a one-time message for the login session of token
	// (no session: nothing is kept); takeNotice returns and removes it.
	setNotice(ctx context.Context, token, notice string) error
	takeNotice(ctx context.Context, token string) (string, error)
}

// user is one account. Only the password's bcrypt hash is kept.
type user struct {
	Name  string // key form: lower case
	Hash  []byte // bcrypt
	Phone string // E.164, "" until the user enrols
	Gen   int64  // login generation: "sign out everywhere" moves it on
}

// login is one browser's login session.
type login struct {
	User string // the user's name
	Gen  int64  // the user's login generation when it was made
}

// tokenKey is what a login token is filed under: its SHA-256.
func tokenKey(token string) string {
	sum := sha256.Sum256([]byte("signin login\x00" + token))
	return hex.EncodeToString(sum[:])
}

// memStore is a store in this process's memory: for one server.
type memStore struct {
	now func() time.Time

	mu      sync.Mutex
	users   map[string]user
	logins  map[string]*memLogin
	created int // logins made since the last sweep
}

type memLogin struct {
	login
	notice  string
	expires time.Time
}

func newMemStore(now func() time.Time) *memStore {
	return &memStore{now: now, users: make(map[string]user), logins: make(map[string]*memLogin)}
}

func (s *memStore) createUser(_ context.Context, u user) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.Name]; ok {
		return errTaken
	}
	s.users[u.Name] = u
	return nil
}

func (s *memStore) user(_ context.Context, name string) (user, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[name]
	return u, ok, nil
}

func (s *memStore) setPhone(_ context.Context, name, phone string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[name]
	if !ok {
		return errNoSuchUser
	}
	u.Phone = phone
	s.users[name] = u
	return nil
}

func (s *memStore) endLogins(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[name]; ok {
		u.Gen++
		s.users[name] = u
	}
	return nil
}

func (s *memStore) newLogin(_ context.Context, token string, l login, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	// Logins are limited (see limits.go), so the map grows slowly: sweep
	// the expired ones now and then rather than on every call.
	if s.created++; s.created >= 1024 {
		s.created = 0
		for k, v := range s.logins {
			if !now.Before(v.expires) {
				delete(s.logins, k)
			}
		}
	}
	s.logins[tokenKey(token)] = &memLogin{login: l, expires: now.Add(ttl)}
	return nil
}

// live returns the unexpired login of token; s.mu must be held.
func (s *memStore) live(token string) *memLogin {
	k := tokenKey(token)
	l, ok := s.logins[k]
	if !ok {
		return nil
	}
	if !s.now().Before(l.expires) {
		delete(s.logins, k)
		return nil
	}
	return l
}

func (s *memStore) login(_ context.Context, token string) (login, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.live(token); l != nil {
		return l.login, true, nil
	}
	return login{}, false, nil
}

func (s *memStore) endLogin(_ context.Context, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.logins, tokenKey(token))
	return nil
}

func (s *memStore) setNotice(_ context.Context, token, notice string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.live(token); l != nil {
		l.notice = notice
	}
	return nil
}

func (s *memStore) takeNotice(_ context.Context, token string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.live(token)
	if l == nil {
		return "", nil
	}
	n := l.notice
	l.notice = ""
	return n, nil
}

// redisStore is a store in Redis, shared by every server of the app. A
// user is a hash at prefix+"user:"+name; a login session a hash at
// prefix+"login:"+tokenKey(token) that expires with the session.
type redisStore struct {
	client redis.UniversalClient
	prefix string
}

func (s *redisStore) userKey(name string) string   { return s.prefix + "user:" + name }
func (s *redisStore) loginKey(token string) string { return s.prefix + "login:" + tokenKey(token) }

// Scripts that change a user only if the user exists (and create one only
// if it does not), in one atomic step.
var (
	createScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 1 then return 0 end
redis.call("HSET", KEYS[1], "name", ARGV[1], "hash", ARGV[2], "phone", ARGV[3], "gen", 0)
return 1`)
	setIfUserScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
return 1`)
	endLoginsScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
return redis.call("HINCRBY", KEYS[1], "gen", 1)`)
	setNoticeScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
redis.call("HSET", KEYS[1], "notice", ARGV[1])
return 1`)
	takeNoticeScript = redis.NewScript(`
local n = redis.call("HGET", KEYS[1], "notice")
if n then redis.call("HDEL", KEYS[1], "notice") return n end
return ""`)
)

func (s *redisStore) createUser(ctx context.Context, u user) error {
	ok, err := createScript.Run(ctx, s.client, []string{s.userKey(u.Name)}, u.Name, u.Hash, u.Phone).Int()
	if err != nil {
		return err
	}
	if ok == 0 {
		return errTaken
	}
	return nil
}

func (s *redisStore) user(ctx context.Context, name string) (user, bool, error) {
	m, err := s.client.HGetAll(ctx, s.userKey(name)).Result()
	if err != nil || len(m) == 0 {
		return user{}, false, err
	}
	gen, err := strconv.ParseInt(m["gen"], 10, 64)
	if err != nil || m["hash"] == "" {
		return user{}, false, errors.New("signin: a malformed user record in Redis")
	}
	return user{Name: m["name"], Hash: []byte(m["hash"]), Phone: m["phone"], Gen: gen}, true, nil
}

func (s *redisStore) setPhone(ctx context.Context, name, phone string) error {
	ok, err := setIfUserScript.Run(ctx, s.client, []string{s.userKey(name)}, "phone", phone).Int()
	if err != nil {
		return err
	}
	if ok == 0 {
		return errNoSuchUser
	}
	return nil
}

func (s *redisStore) endLogins(ctx context.Context, name string) error {
	return endLoginsScript.Run(ctx, s.client, []string{s.userKey(name)}).Err()
}

func (s *redisStore) newLogin(ctx context.Context, token string, l login, ttl time.Duration) error {
	k := s.loginKey(token)
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k, "user", l.User, "gen", l.Gen)
		p.PExpire(ctx, k, ttl)
		return nil
	})
	return err
}

func (s *redisStore) login(ctx context.Context, token string) (login, bool, error) {
	m, err := s.client.HGetAll(ctx, s.loginKey(token)).Result()
	if err != nil || len(m) == 0 {
		return login{}, false, err
	}
	gen, err := strconv.ParseInt(m["gen"], 10, 64)
	if err != nil || m["user"] == "" {
		return login{}, false, errors.New("signin: a malformed login record in Redis")
	}
	return login{User: m["user"], Gen: gen}, true, nil
}

func (s *redisStore) endLogin(ctx context.Context, token string) error {
	return s.client.Del(ctx, s.loginKey(token)).Err()
}

func (s *redisStore) setNotice(ctx context.Context, token, notice string) error {
	return setNoticeScript.Run(ctx, s.client, []string{s.loginKey(token)}, notice).Err()
}

func (s *redisStore) takeNotice(ctx context.Context, token string) (string, error) {
	return takeNoticeScript.Run(ctx, s.client, []string{s.loginKey(token)}).Text()
}
