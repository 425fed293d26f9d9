package redisstate_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/go-twofactor/twofactor/redisstate"
)

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	l := redisstate.Logger(slog.New(slog.NewTextHandler(&buf, nil)))
	l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v\n", 5, "refused")
	got := buf.String()
	for _, want := range []string{"level=WARN", `msg="redis: connection pool: failed to dial after 5 attempts: refused"`, "component=go-redis"} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q lacks %q", got, want)
		}
	}
	redisstate.Logger(nil).Printf(context.Background(), "dropped %d", 1) // no panic, nothing written
	// It is what redis.SetLogger takes (the tests silence go-redis anyway:
	// internal/redistest).
	redis.SetLogger(redisstate.Logger(nil))
}
