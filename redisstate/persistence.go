package redisstate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// ErrNotPersistent is the error of CheckPersistence when a Redis server
// keeps nothing on disk: neither the append-only file (appendonly yes) nor
// snapshots (save) are on, so a restart empties it.
var ErrNotPersistent = errors.New("redisstate: Redis keeps no data across a restart (appendonly no, save \"\")")

// WithLogger sets where the State reports what an operator must know: that
// Redis keeps nothing across a restart (see CheckPersistence). Default
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *State) error {
		if l == nil {
			return errors.New("redisstate: nil logger")
		}
		s.log = l
		return nil
	}
}

// CheckPersistence asks Redis (every master of a cluster) whether it keeps
// its data across a restart: it returns nil when the append-only file or
// snapshots are on, an error wrapping ErrNotPersistent naming the servers
// where neither is, or the error of CONFIG GET, which managed services and
// restricted users often refuse.
//
// Without persistence, a restart of Redis forgets every send window,
// attempt counter, lock, budget and grant: the limits start from zero (an
// attacker who can crash Redis resets them) and every verified session must
// verify again. New runs this check once in the background and logs a
// warning when it fails.
func (s *State) CheckPersistence(ctx context.Context) error {
	var (
		mu   sync.Mutex
		none []string
	)
	check := func(ctx context.Context, c redis.Cmdable, name string) error {
		ok, err := persistent(ctx, c)
		if err == nil && !ok {
			mu.Lock()
			none = append(none, name)
			mu.Unlock()
		}
		return err
	}
	err := s.do(ctx, func(ctx context.Context) error {
		if c, ok := s.client.(*redis.ClusterClient); ok {
			return c.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
				return check(ctx, c, c.Options().Addr)
			})
		}
		return check(ctx, s.client, "the server")
	})
	if err != nil {
		return fmt.Errorf("redisstate: CONFIG GET appendonly/save: %w", err)
	}
	if len(none) > 0 {
		return fmt.Errorf("%w: %s", ErrNotPersistent, strings.Join(none, ", "))
	}
	return nil
}

// persistent reports whether the server c keeps its data on disk.
func persistent(ctx context.Context, c redis.Cmdable) (bool, error) {
	aof, err := c.ConfigGet(ctx, "appendonly").Result()
	if err != nil {
		return false, err
	}
	save, err := c.ConfigGet(ctx, "save").Result()
	if err != nil {
		return false, err
	}
	return aof["appendonly"] == "yes" || strings.TrimSpace(save["save"]) != "", nil
}

// reportPersistence runs CheckPersistence and logs what it found: a warning
// when Redis keeps nothing across a restart, one line when it could not
// tell.
func (s *State) reportPersistence() {
	err := s.CheckPersistence(context.Background())
	switch {
	case err == nil:
	case errors.Is(err, ErrNotPersistent):
		s.log.Warn("redisstate: Redis has neither appendonly nor save on: a restart of Redis forgets every send window, attempt counter, lock and budget (the limits start from zero) and every verification; turn on appendonly yes (or save) unless that is what you want",
			"err", err)
	default:
		s.log.Warn("redisstate: could not tell whether Redis keeps its data across a restart (CONFIG GET refused or failed); without appendonly or save, a restart resets every limit",
			"err", err)
	}
}
