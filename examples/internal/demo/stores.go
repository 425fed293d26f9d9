// Package demo holds what the example apps share: where their sessions and
// limits live.
package demo

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gorilla/sessions"
	"github.com/rbcervilla/redisstore/v9"
	"github.com/redis/go-redis/v9"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/redisstate"
)

// Stores returns the session store for twofactor and, with a redisURL, the
// State too (nil without: the Manager then keeps its limits in memory).
// With Redis, sessions and the State live under prefix, every Redis call
// is bounded, and close ends the client; sessions are kept by
// redisstate.SessionStore (the cookie holds an id signed and encrypted with
// hashKey and blockKey; the gate costs one Redis command) when sharedKeys
// says every server has the same keys (SESSION_KEY), else by redisstore
// under prefix+"session:" (the cookie holds the bare id, which any server
// reads; the gate costs two). Without Redis, sessions are cookies encrypted
// with hashKey and blockKey.
func Stores(redisURL, prefix string, hashKey, blockKey []byte, sharedKeys bool, log *slog.Logger) (store sessions.Store, state twofactor.State, close func() error, err error) {
	if redisURL == "" {
		cs := sessions.NewCookieStore(hashKey, blockKey)
		cs.MaxAge(int(twofactor.DefaultMaxAge.Seconds()))
		return cs, nil, func() error { return nil }, nil
	}
	ropts, err := redis.ParseURL(redisURL)
	if err != nil {
		// go-redis repeats the URL, password included, in its error.
		return nil, nil, nil, errors.New("REDIS_URL is not a valid Redis URL (want redis://[:password@]host:port/db)")
	}
	// Bound every Redis call: a slow or dead Redis must not hang requests.
	ropts.DialTimeout, ropts.ReadTimeout, ropts.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	ropts.ContextTimeoutEnabled = true
	client := redis.NewClient(ropts)
	redis.SetLogger(redisstate.Logger(log)) // go-redis's own messages go where the app's do
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, nil, nil, fmt.Errorf("connecting to Redis at REDIS_URL: %w", err)
	}
	st, err := redisstate.New(client, redisstate.WithPrefix(prefix), redisstate.WithLogger(log))
	if err != nil {
		_ = client.Close()
		return nil, nil, nil, err
	}
	if !sharedKeys {
		// Keys of this server alone: a cookie naming a bare id (redisstore)
		// lets every server read the session.
		rs, err := redisstore.NewRedisStore(ctx, client)
		if err != nil {
			_ = client.Close()
			return nil, nil, nil, fmt.Errorf("connecting to Redis at REDIS_URL: %w", err)
		}
		rs.KeyPrefix(prefix + "session:")
		log.Info("sessions and limits live in Redis", "addr", ropts.Addr)
		return rs, st, client.Close, nil
	}
	// redisstate's session store: the gate loads the session and checks
	// its verification in one Redis command.
	ss, err := redisstate.NewSessionStore(st, hashKey, blockKey)
	if err != nil {
		_ = client.Close()
		return nil, nil, nil, err
	}
	ss.MaxAge(int(twofactor.DefaultMaxAge.Seconds()))
	log.Info("sessions and limits live in Redis", "addr", ropts.Addr)
	return ss, st, client.Close, nil
}

// Secret returns the server secret of the app named app (twofactor's
// WithSecret): derived from sessionKey (SESSION_KEY), so every server
// given the same SESSION_KEY derives the same one, or random when
// sessionKey is empty, which suits one server only.
func Secret(sessionKey, app string) ([]byte, error) {
	if sessionKey == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return b, nil
	}
	return hkdf.Key(sha256.New, []byte(sessionKey), nil, app+" twofactor secret", 32)
}
