package demo

import (
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisClient returns a client for redisURL (redis://[:password@]host:port/db)
// whose every call is bounded, so a slow or dead Redis cannot hang a
// request: for an app's own data in the Redis that Stores uses. It does not
// connect yet.
func RedisClient(redisURL string) (*redis.Client, error) {
	ropts, err := redis.ParseURL(redisURL)
	if err != nil {
		// go-redis repeats the URL, password included, in its error.
		return nil, errors.New("REDIS_URL is not a valid Redis URL (want redis://[:password@]host:port/db)")
	}
	ropts.DialTimeout, ropts.ReadTimeout, ropts.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	ropts.ContextTimeoutEnabled = true
	return redis.NewClient(ropts), nil
}
