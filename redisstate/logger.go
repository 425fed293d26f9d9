package redisstate

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Logger adapts l to go-redis's logger, so that go-redis's own messages
// (a connection pool that cannot dial, a dropped connection) go where the
// app's and twofactor's logs go, as warnings with the attribute
// "component"="go-redis", instead of to the standard log package. go-redis
// has one logger per process; set it once at start:
//
//	redis.SetLogger(redisstate.Logger(log))
//
// A nil l discards them.
func Logger(l *slog.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return redisLogger{l}
}

type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if r.l == nil {
		return
	}
	if ctx == nil {
		ctx = context.Background()
	}
	r.l.WarnContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)), "component", "go-redis")
}
