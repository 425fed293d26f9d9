package redisstate

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-twofactor/twofactor/internal/batch"
)

// Batch runs ops (twofactor's internal batch of Incr, SetNX, Touch,
// Delete, Generation and DeleteField calls) in one round trip: a pipeline
// of the commands and scripts their methods use (on a cluster, one
// pipeline per node, sent together). Each op is atomic on its own; the batch is not a transaction.
// twofactor's send limits and the life of a code make the calls of one
// step in one batch.
func (s *State) Batch(ctx context.Context, ops []batch.Op) error {
	ms := make([]int64, len(ops))
	for i, op := range ops {
		if op.Kind == batch.Delete || op.Kind == batch.DeleteField {
			continue
		}
		var err error
		if ms[i], err = millis(op.TTL); err != nil {
			return fail("batch", err)
		}
	}
	err := s.do(ctx, func(ctx context.Context) error {
		// Scripts by hash first; those of a server that does not know a
		// script yet (NOSCRIPT: it ran nothing) go again with its source.
		todo := make([]int, len(ops))
		for i := range todo {
			todo[i] = i
		}
		for _, bySHA := range []bool{true, false} {
			cmds := make([]redis.Cmder, len(todo))
			_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
				for j, i := range todo {
					cmds[j] = s.queue(ctx, p, ops[i], ms[i], bySHA)
				}
				return nil
			})
			var again []int
			for j, i := range todo {
				err := answer(cmds[j], &ops[i])
				switch {
				case err != nil && bySHA && redis.HasErrorPrefix(err, "NOSCRIPT"):
					again = append(again, i)
				case err != nil:
					return err
				}
			}
			if todo = again; len(todo) == 0 {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return fail("batch", err)
	}
	return nil
}

// queue adds op's command to the pipeline p: its script by hash (bySHA)
// or by source.
func (s *State) queue(ctx context.Context, p redis.Pipeliner, op batch.Op, ms int64, bySHA bool) redis.Cmder {
	key := s.key(op.Key)
	script := func(sc *redis.Script, args ...any) redis.Cmder {
		if bySHA {
			return sc.EvalSha(ctx, p, []string{key}, args...)
		}
		return sc.Eval(ctx, p, []string{key}, args...)
	}
	switch op.Kind {
	case batch.Incr:
		return script(incrScript, op.Delta, ms)
	case batch.SetNX:
		return p.SetNX(ctx, key, 1, time.Duration(ms)*time.Millisecond)
	case batch.Touch:
		return p.PExpire(ctx, key, time.Duration(ms)*time.Millisecond)
	case batch.Delete:
		return p.Del(ctx, key)
	case batch.Generation:
		return script(generationScript, op.Gen, ms)
	case batch.DeleteField:
		return p.HDel(ctx, key, op.Field)
	}
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(fmt.Errorf("unknown op kind %d", op.Kind))
	return cmd
}

// answer records the reply of cmd in op.
func answer(cmd redis.Cmder, op *batch.Op) error {
	switch c := cmd.(type) {
	case *redis.BoolCmd: // SetNX, Touch
		ok, err := c.Result()
		op.OK = ok
		return err
	case *redis.IntCmd: // Delete, DeleteField
		n, err := c.Result()
		op.OK = op.Kind == batch.DeleteField && n > 0
		return err
	case *redis.Cmd:
		if op.Kind == batch.Generation {
			g, err := c.Text()
			if err == nil {
				op.Gen = g // not before: a NOSCRIPT retry sends op.Gen again
			}
			return err
		}
		res, err := c.Int64Slice()
		if err == nil && len(res) != 2 {
			err = fmt.Errorf("unexpected script reply %v", res)
		}
		if err != nil {
			return err
		}
		op.N, op.Left = res[0], time.Duration(res[1])*time.Millisecond
		return nil
	}
	return cmd.Err()
}
