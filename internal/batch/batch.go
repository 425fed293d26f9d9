// Package batch runs several State calls in one round trip: a pipeline on
// Redis, one lock in memory. twofactor's send limits and the life of a
// code use it to count their round trips on one hand.
//
// A State that has a Batch method (twofactor.MemoryState and
// redisstate.State) runs a batch in one call; any other State runs it one
// call after the other (Run), with the same answers. Each call is atomic
// on its own key, as the State's method is; a batch is not a transaction.
package batch

import (
	"context"
	"fmt"
	"time"
)

// Kind is which State method an Op calls.
type Kind uint8

// The State methods a batch can call.
const (
	Incr        Kind = iota + 1 // Incr(Key, Delta, TTL): N, Left
	SetNX                       // SetNX(Key, TTL): OK
	Touch                       // Touch(Key, TTL): OK
	Delete                      // Delete(Key)
	Generation                  // Generation(Key, Gen, TTL): Gen
	DeleteField                 // DeleteField(Key, Field): OK
)

// Op is one State call of a batch, and its answer.
type Op struct {
	Kind  Kind
	Key   string
	Delta int64         // Incr's delta
	TTL   time.Duration // Incr's window; the time to live of SetNX, Touch and Generation
	// Gen is Generation's argument (the generation a record without one
	// takes), and then its answer.
	Gen   string
	Field string // DeleteField's field

	N    int64         // Incr's new value
	Left time.Duration // Incr's time left in the window
	OK   bool          // SetNX: created; Touch: the key existed; DeleteField: the field was there
}

// State is the part of twofactor.State a batch calls.
type State interface {
	Incr(ctx context.Context, key string, delta int64, window time.Duration) (int64, time.Duration, error)
	SetNX(ctx context.Context, key string, ttl time.Duration) (bool, error)
	Touch(ctx context.Context, key string, ttl time.Duration) (bool, error)
	Delete(ctx context.Context, key string) error
	Generation(ctx context.Context, key, gen string, ttl time.Duration) (string, error)
	DeleteField(ctx context.Context, key, field string) (bool, error)
}

// Batcher is a State that runs a batch in one round trip. Batch answers
// every op (or returns an error, and then which ops took effect is
// unknown).
type Batcher interface {
	Batch(ctx context.Context, ops []Op) error
}

// incrBatcher is the older capability: Incr on several keys, one delta.
type incrBatcher interface {
	IncrBatch(ctx context.Context, keys []string, delta int64, windows []time.Duration) ([]int64, []time.Duration, error)
}

// Can reports whether s runs a batch (or at least a batch of Incr calls
// with one delta) in one round trip.
func Can(s any) bool {
	switch s.(type) {
	case Batcher, incrBatcher:
		return true
	}
	return false
}

// Run runs ops on s: in one call when s is a Batcher (or, for Incr calls
// with one delta, has IncrBatch), else one call after the other, stopping
// at the first error.
func Run(ctx context.Context, s State, ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	if b, ok := s.(Batcher); ok {
		return b.Batch(ctx, ops)
	}
	if b, ok := s.(incrBatcher); ok && sameIncr(ops) {
		return incrBatch(ctx, b, ops)
	}
	for i := range ops {
		if err := Do(ctx, s, &ops[i]); err != nil {
			return err
		}
	}
	return nil
}

// sameIncr reports whether every op is an Incr by the same delta.
func sameIncr(ops []Op) bool {
	for _, op := range ops {
		if op.Kind != Incr || op.Delta != ops[0].Delta {
			return false
		}
	}
	return true
}

func incrBatch(ctx context.Context, b incrBatcher, ops []Op) error {
	keys, windows := make([]string, len(ops)), make([]time.Duration, len(ops))
	for i, op := range ops {
		keys[i], windows[i] = op.Key, op.TTL
	}
	ns, ttls, err := b.IncrBatch(ctx, keys, ops[0].Delta, windows)
	if err != nil {
		return err
	}
	if len(ns) != len(ops) || len(ttls) != len(ops) {
		return fmt.Errorf("IncrBatch returned %d values for %d keys", len(ns), len(ops))
	}
	for i := range ops {
		ops[i].N, ops[i].Left = ns[i], ttls[i]
	}
	return nil
}

// Do runs one op on s and records its answer.
func Do(ctx context.Context, s State, op *Op) error {
	var err error
	switch op.Kind {
	case Incr:
		op.N, op.Left, err = s.Incr(ctx, op.Key, op.Delta, op.TTL)
	case SetNX:
		op.OK, err = s.SetNX(ctx, op.Key, op.TTL)
	case Touch:
		op.OK, err = s.Touch(ctx, op.Key, op.TTL)
	case Delete:
		err = s.Delete(ctx, op.Key)
	case Generation:
		op.Gen, err = s.Generation(ctx, op.Key, op.Gen, op.TTL)
	case DeleteField:
		op.OK, err = s.DeleteField(ctx, op.Key, op.Field)
	default:
		err = fmt.Errorf("batch: unknown op kind %d", op.Kind)
	}
	return err
}

// Mark returns the ops that make key a mark (a counter of at least 1)
// living ttl from now, whether or not it exists: Touch renews one that
// does, SetNX makes one that does not. The Touch's OK reports whether it
// existed.
func Mark(key string, ttl time.Duration) [2]Op {
	return [2]Op{{Kind: Touch, Key: key, TTL: ttl}, {Kind: SetNX, Key: key, TTL: ttl}}
}
