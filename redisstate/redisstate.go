// Package redisstate keeps twofactor's server-side state in Redis, so that
// several app servers share attempt counters, send windows, one-use marks,
// verification grants and, with SessionStore, sessions.
//
// It is a separate package so that apps without Redis never compile
// go-redis. It works with any redis.UniversalClient: a single server,
// Sentinel, or Redis Cluster.
//
// # Keys
//
// A State key k is stored under the Redis key prefix + "{" + k + "}"; the
// default prefix is "twofactor:". The braces are a Redis Cluster hash tag:
// Cluster hashes only the part between the first "{" and the next "}", so
// all Redis keys derived from one State key land in the same slot and an
// operation on several of them stays a single-slot operation. Every key is
// written with a time to live; none is ever left without one. Redis counts
// time to live in whole milliseconds, so shorter ones are rounded up.
//
// # Sessions
//
// NewSessionStore returns a gorilla sessions.Store that keeps sessions
// beside the State, under the State key "session:"+id. Given to
// twofactor.New with the same State, it lets the gate load a session and
// check its verification in one Redis command (one Lua script) on a single
// server or Sentinel; on a Cluster or Ring, in two.
//
// # Failures
//
// Every call is bounded by the timeout set with WithTimeout (default 2
// seconds), and every error wraps twofactor.ErrStoreUnavailable, so the flow
// fails closed with 503 Service Unavailable when Redis is down or slow.
//
// # Persistence
//
// Without appendonly or save, a restart of Redis empties it: every limit
// starts from zero and every verification ends. New checks once, in the
// background, and logs a warning when Redis keeps nothing across a restart
// (see CheckPersistence and WithLogger).
package redisstate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-twofactor/twofactor"
)

// Defaults for the options.
const (
	DefaultPrefix  = "twofactor:"
	DefaultTimeout = 2 * time.Second
)

// State is a twofactor.State stored in Redis. Create one with New. A State
// is safe for concurrent use; it keeps nothing in memory, so any number of
// processes may share the same Redis keys.
type State struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
	direct  bool // the client honours context deadlines (ContextTimeoutEnabled)
	log     *slog.Logger
}

var _ twofactor.State = (*State)(nil)

// Option configures a State.
type Option func(*State) error

// WithPrefix sets the string put in front of every Redis key. It lets
// several apps share one Redis database. The default is DefaultPrefix. The
// prefix must not contain "{" or "}", which would break the hash tag.
func WithPrefix(prefix string) Option {
	return func(s *State) error {
		if strings.ContainsAny(prefix, "{}") {
			return fmt.Errorf("redisstate: prefix %q contains a brace", prefix)
		}
		s.prefix = prefix
		return nil
	}
}

// WithTimeout sets how long one call may take before it gives up with an
// error. The default is DefaultTimeout; d must be positive.
//
// The bound holds whatever the client's options. A client created without
// ContextTimeoutEnabled ignores context deadlines on its sockets; the State
// then stops waiting for it at the timeout, and the abandoned command ends
// in the background within the client's own ReadTimeout. Creating the client
// with ContextTimeoutEnabled: true is recommended, so that such commands
// also give their connection back promptly.
func WithTimeout(d time.Duration) Option {
	return func(s *State) error {
		if d <= 0 {
			return fmt.Errorf("redisstate: timeout %v is not positive", d)
		}
		s.timeout = d
		return nil
	}
}

// New returns a State that stores its keys through client. It returns an
// error if client is nil or an option is invalid. New does not wait for
// Redis: an unreachable server shows up as errors from the State's methods.
// In the background it checks once whether Redis keeps its data across a
// restart (CheckPersistence) and logs a warning (WithLogger) if not, or if
// it cannot tell.
func New(client redis.UniversalClient, opts ...Option) (*State, error) {
	if client == nil {
		return nil, errors.New("redisstate: nil client")
	}
	s := &State{client: client, prefix: DefaultPrefix, timeout: DefaultTimeout, direct: honoursContext(client)}
	for _, opt := range opts {
		if err := opt(s); err != nil {
			return nil, err
		}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	go s.reportPersistence()
	return s, nil
}

// CallTimeout returns the timeout every call is bounded by (WithTimeout).
// twofactor.New finds this method: a Manager whose store timeout is at
// least this long calls the State directly.
func (s *State) CallTimeout() time.Duration { return s.timeout }

// key returns the Redis key that holds the State key k.
func (s *State) key(k string) string { return s.prefix + "{" + k + "}" }

// incrScript adds to a counter and gives it a time to live if it has none:
// a new counter, or one someone left without expiry. A counter in its last
// millisecond (PTTL 0) belongs to a window that is over: it starts afresh.
// Zero counts nothing and takes no memory: adding 0 to a missing counter
// (a read) creates none, and a counter brought back to 0 (twofactor gives
// back the counts of a refused send) is deleted, so refused requests leave
// no keys behind for an LRU policy to weigh against live ones.
// It returns the new value and the time to live in milliseconds.
var incrScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl == 0 then
	redis.call('DEL', KEYS[1])
	ttl = -2
end
if ttl == -2 and tonumber(ARGV[1]) == 0 then
	return {0, tonumber(ARGV[2])}
end
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n == 0 then
	redis.call('DEL', KEYS[1])
	if ttl <= 0 then
		ttl = tonumber(ARGV[2])
	end
	return {0, ttl}
end
if ttl <= 0 then
	redis.call('PEXPIRE', KEYS[1], ARGV[2])
	ttl = tonumber(ARGV[2])
end
return {n, ttl}
`)

// Incr implements twofactor.State with a Lua script, so the addition and
// the expiry are one atomic step.
func (s *State) Incr(ctx context.Context, key string, delta int64, window time.Duration) (int64, time.Duration, error) {
	ms, err := millis(window)
	if err != nil {
		return 0, 0, fail("incr", err)
	}
	var n, ttl int64
	err = s.do(ctx, func(ctx context.Context) error {
		res, err := incrScript.Run(ctx, s.client, []string{s.key(key)}, delta, ms).Int64Slice()
		if err != nil {
			return err
		}
		if len(res) != 2 {
			return fmt.Errorf("unexpected script reply %v", res)
		}
		n, ttl = res[0], res[1]
		return nil
	})
	if err != nil {
		return 0, 0, fail("incr", err)
	}
	return n, time.Duration(ttl) * time.Millisecond, nil
}

// SetNX implements twofactor.State with SET NX PX, one command, so the key
// never exists without its time to live.
func (s *State) SetNX(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ms, err := millis(ttl)
	if err != nil {
		return false, fail("setnx", err)
	}
	var created bool
	err = s.do(ctx, func(ctx context.Context) error {
		var err error
		created, err = s.client.SetNX(ctx, s.key(key), 1, time.Duration(ms)*time.Millisecond).Result()
		return err
	})
	if err != nil {
		return false, fail("setnx", err)
	}
	return created, nil
}

// Touch implements twofactor.State with PEXPIRE.
func (s *State) Touch(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ms, err := millis(ttl)
	if err != nil {
		return false, fail("touch", err)
	}
	var ok bool
	err = s.do(ctx, func(ctx context.Context) error {
		var err error
		ok, err = s.client.PExpire(ctx, s.key(key), time.Duration(ms)*time.Millisecond).Result()
		return err
	})
	if err != nil {
		return false, fail("touch", err)
	}
	return ok, nil
}

// Exists implements twofactor.State with EXISTS.
func (s *State) Exists(ctx context.Context, key string) (bool, error) {
	var n int64
	err := s.do(ctx, func(ctx context.Context) error {
		var err error
		n, err = s.client.Exists(ctx, s.key(key)).Result()
		return err
	})
	if err != nil {
		return false, fail("exists", err)
	}
	return n > 0, nil
}

// Delete implements twofactor.State with DEL.
func (s *State) Delete(ctx context.Context, key string) error {
	err := s.do(ctx, func(ctx context.Context) error {
		return s.client.Del(ctx, s.key(key)).Err()
	})
	if err != nil {
		return fail("delete", err)
	}
	return nil
}

// setFieldScript sets one field of a hash and the hash's time to live in
// one atomic step, so the hash never exists without one.
var setFieldScript = redis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// SetField implements twofactor.State with HSET and PEXPIRE in a Lua
// script.
func (s *State) SetField(ctx context.Context, key, field, value string, ttl time.Duration) error {
	ms, err := millis(ttl)
	if err != nil {
		return fail("setfield", err)
	}
	err = s.do(ctx, func(ctx context.Context) error {
		return setFieldScript.Run(ctx, s.client, []string{s.key(key)}, field, value, ms).Err()
	})
	if err != nil {
		return fail("setfield", err)
	}
	return nil
}

// Fields implements twofactor.State with HGETALL.
func (s *State) Fields(ctx context.Context, key string) (map[string]string, error) {
	var m map[string]string
	err := s.do(ctx, func(ctx context.Context) error {
		var err error
		m, err = s.client.HGetAll(ctx, s.key(key)).Result()
		return err
	})
	if err != nil {
		return nil, fail("fields", err)
	}
	if m == nil {
		m = map[string]string{}
	}
	return m, nil
}

// DeleteField implements twofactor.State with HDEL.
func (s *State) DeleteField(ctx context.Context, key, field string) (bool, error) {
	var n int64
	err := s.do(ctx, func(ctx context.Context) error {
		var err error
		n, err = s.client.HDel(ctx, s.key(key), field).Result()
		return err
	})
	if err != nil {
		return false, fail("deletefield", err)
	}
	return n > 0, nil
}

// honoursContext reports whether client was made with
// ContextTimeoutEnabled, so that it stops at a context's deadline itself.
func honoursContext(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// do runs fn under the State's timeout (or ctx's own deadline, if sooner)
// and returns when fn does or the timeout passes, whichever comes first.
// A client that honours context deadlines (ContextTimeoutEnabled) is
// called directly: under a twofactor request's budget, which is a deadline
// already, that costs no goroutine, channel or timer. Any other client runs
// fn on a goroutine of its own, since it does not stop at the deadline.
func (s *State) do(ctx context.Context, fn func(context.Context) error) error {
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > s.timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	if s.direct {
		return fn(ctx)
	}
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// fail wraps err so that it matches twofactor.ErrStoreUnavailable.
func fail(op string, err error) error {
	return fmt.Errorf("%w: redisstate: %s: %w", twofactor.ErrStoreUnavailable, op, err)
}

// millis converts a positive time to live to whole milliseconds, rounding
// up so that a sub-millisecond one does not become zero, which Redis
// rejects.
func millis(d time.Duration) (int64, error) {
	if d <= 0 {
		return 0, fmt.Errorf("time to live %v is not positive", d)
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond), nil
}

// IncrBatch is Incr(ctx, keys[i], delta, windows[i]) for every i in one
// round trip: a pipeline of the same script (on a cluster, one pipeline per
// node, sent together). Each counter changes atomically on its own; the
// batch is not a transaction. twofactor's send limits use it to read and
// count all their counters at once.
func (s *State) IncrBatch(ctx context.Context, keys []string, delta int64, windows []time.Duration) ([]int64, []time.Duration, error) {
	if len(windows) != len(keys) {
		return nil, nil, fail("incrbatch", fmt.Errorf("%d keys, %d windows", len(keys), len(windows)))
	}
	ms := make([]int64, len(keys))
	for i, w := range windows {
		var err error
		if ms[i], err = millis(w); err != nil {
			return nil, nil, fail("incrbatch", err)
		}
	}
	ns, ttls := make([]int64, len(keys)), make([]time.Duration, len(keys))
	err := s.do(ctx, func(ctx context.Context) error {
		// By hash first; the commands of a server that does not know the
		// script yet (NOSCRIPT: it ran nothing) go again with its source.
		todo := make([]int, len(keys))
		for i := range todo {
			todo[i] = i
		}
		for _, bySHA := range []bool{true, false} {
			cmds := make([]*redis.Cmd, len(todo))
			_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for j, i := range todo {
					k := []string{s.key(keys[i])}
					if bySHA {
						cmds[j] = incrScript.EvalSha(ctx, p, k, delta, ms[i])
					} else {
						cmds[j] = incrScript.Eval(ctx, p, k, delta, ms[i])
					}
				}
				return nil
			})
			var again []int
			for j, i := range todo {
				res, err := cmds[j].Int64Slice()
				switch {
				case err != nil && bySHA && redis.HasErrorPrefix(err, "NOSCRIPT"):
					again = append(again, i)
					continue
				case err != nil:
					return err
				case len(res) != 2:
					return fmt.Errorf("unexpected script reply %v", res)
				}
				ns[i], ttls[i] = res[0], time.Duration(res[1])*time.Millisecond
			}
			if todo = again; len(todo) == 0 {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fail("incrbatch", err)
	}
	return ns, ttls, nil
}
