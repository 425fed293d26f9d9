package batch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/internal/batch"
)

// plain is a State with neither Batch nor IncrBatch: Run calls it op by op.
type plain struct{ batch.State }

// incrOnly is a State with IncrBatch but no Batch.
type incrOnly struct {
	batch.State
	calls int
}

func (s *incrOnly) IncrBatch(ctx context.Context, keys []string, delta int64, windows []time.Duration) ([]int64, []time.Duration, error) {
	s.calls++
	return s.State.(*twofactor.MemoryState).IncrBatch(ctx, keys, delta, windows)
}

func ops() []batch.Op {
	m := batch.Mark("mark", time.Minute)
	return []batch.Op{
		{Kind: batch.Incr, Key: "n", Delta: 2, TTL: time.Minute},
		{Kind: batch.Generation, Key: "u", Gen: "g1", TTL: time.Minute},
		m[0], m[1], m[0], m[1],
		{Kind: batch.SetNX, Key: "s", TTL: time.Minute},
		{Kind: batch.Delete, Key: "s"},
		{Kind: batch.SetNX, Key: "s", TTL: time.Minute},
	}
}

func answers(ops []batch.Op) string {
	out := ""
	for _, op := range ops {
		out += fmt.Sprintf("%d/%v/%s ", op.N, op.OK, op.Gen)
	}
	return out
}

// Run gives the same answers whether the State runs the batch itself or
// Run calls it op by op; a batch of Incr ops with one delta goes to
// IncrBatch in one call.
func TestRun(t *testing.T) {
	ctx := t.Context()
	want := ops()
	if err := batch.Run(ctx, new(twofactor.MemoryState), want); err != nil {
		t.Fatal(err)
	}
	got := ops()
	if err := batch.Run(ctx, plain{new(twofactor.MemoryState)}, got); err != nil {
		t.Fatal(err)
	}
	if answers(got) != answers(want) {
		t.Errorf("op by op: %s, want %s", answers(got), answers(want))
	}
	if w := "2/false/ 0/false/g1 0/false/ 0/true/ 0/true/ 0/false/ 0/true/ 0/false/ 0/true/ "; answers(want) != w {
		t.Errorf("Batch: %s, want %s", answers(want), w)
	}
	s := &incrOnly{State: new(twofactor.MemoryState)}
	incrs := []batch.Op{{Kind: batch.Incr, Key: "a", Delta: 1, TTL: time.Minute}, {Kind: batch.Incr, Key: "b", Delta: 1, TTL: time.Hour}}
	if err := batch.Run(ctx, s, incrs); err != nil || s.calls != 1 || incrs[0].N != 1 || incrs[1].Left != time.Hour {
		t.Errorf("Incr ops on an IncrBatch State: %+v, %v in %d calls", incrs, err, s.calls)
	}
	if err := batch.Run(ctx, s, ops()); err != nil || s.calls != 1 {
		t.Errorf("mixed ops on an IncrBatch State: %v, %d IncrBatch calls, want none more", err, s.calls)
	}
	if !batch.Can(s) || batch.Can(plain{s}) || !batch.Can(new(twofactor.MemoryState)) {
		t.Error("Can: wrong about a State")
	}
	if err := batch.Run(ctx, plain{s}, []batch.Op{{Kind: 99, Key: "x"}}); err == nil {
		t.Error("an unknown op ran")
	}
}
