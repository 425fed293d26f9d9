package redisstate_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-twofactor/twofactor/internal/redistest"
	"github.com/go-twofactor/twofactor/redisstate"
)

// recordHandler hands every log record to a channel.
type recordHandler struct{ ch chan slog.Record }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.ch <- r
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

// nextRecord waits for New's background check to log. The wait is ample:
// nothing here depends on it being quick.
func nextRecord(t *testing.T, ch chan slog.Record) slog.Record {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(time.Minute):
		t.Fatal("New logged nothing about persistence")
		return slog.Record{}
	}
}

func recordText(r slog.Record) string {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	return b.String()
}

// redistest's server runs with --save "" --appendonly no: a restart loses
// everything. New says so once, naming the settings; with appendonly on,
// the check passes.
func TestPersistenceWarning(t *testing.T) {
	srv := redistest.Start(t)
	c := client(t, srv, false)
	ch := make(chan slog.Record, 4)
	s := newState(t, c, redisstate.WithLogger(slog.New(recordHandler{ch})))
	r := nextRecord(t, ch)
	text := recordText(r)
	if r.Level != slog.LevelWarn || !strings.Contains(text, "appendonly") || !strings.Contains(text, "save") || !strings.Contains(text, "restart") {
		t.Errorf("logged %v %q; want a warning naming appendonly and save", r.Level, text)
	}
	if err := s.CheckPersistence(t.Context()); !errors.Is(err, redisstate.ErrNotPersistent) {
		t.Errorf("CheckPersistence = %v, want ErrNotPersistent", err)
	}
	select {
	case r := <-ch:
		t.Errorf("a second log line: %q", recordText(r))
	default:
	}

	if err := c.ConfigSet(t.Context(), "save", "3600 1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckPersistence(t.Context()); err != nil {
		t.Errorf("with snapshots on: CheckPersistence = %v, want nil", err)
	}
	if err := c.ConfigSet(t.Context(), "save", "").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigSet(t.Context(), "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckPersistence(t.Context()); err != nil {
		t.Errorf("with appendonly on: CheckPersistence = %v, want nil", err)
	}
	if _, err := redisstate.New(c, redisstate.WithLogger(nil)); err == nil {
		t.Error("New accepted a nil logger")
	}
}

// A user that may not run CONFIG (as on many managed services) gets one
// line saying the check could not be made, and the State works on.
func TestPersistenceCheckRefused(t *testing.T) {
	srv := redistest.Start(t)
	admin := client(t, srv, false)
	if err := admin.Do(t.Context(), "ACL", "SETUSER", "app", "on", ">secret-pw", "~*", "+@all", "-config").Err(); err != nil {
		t.Fatal(err)
	}
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	opt.Username, opt.Password = "app", "secret-pw"
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	ch := make(chan slog.Record, 4)
	s := newState(t, c, redisstate.WithLogger(slog.New(recordHandler{ch})))
	r := nextRecord(t, ch)
	if text := recordText(r); r.Level != slog.LevelWarn || !strings.Contains(text, "could not tell") || !strings.Contains(text, "NOPERM") {
		t.Errorf("logged %v %q; want one warning that the check was refused", r.Level, text)
	}
	if err := s.CheckPersistence(t.Context()); err == nil || errors.Is(err, redisstate.ErrNotPersistent) {
		t.Errorf("CheckPersistence = %v, want CONFIG's refusal", err)
	}
	if n, _, err := s.Incr(t.Context(), "k", 1, time.Minute); err != nil || n != 1 {
		t.Errorf("Incr after a refused check = %d, %v", n, err)
	}
}
