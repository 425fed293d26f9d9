package twofactor

import (
	"testing"
	"time"
)

// The State-backed store keeps one record per user: a new one replaces
// the old, a removal removes only the record it names (never the one that
// replaced it), and a use is noted only on the record still there.
func TestStateTOTPStore(t *testing.T) {
	ctx := t.Context()
	m := &Manager{keys: keys{totp: make([]byte, 32)}}
	s := stateTOTP{new(MemoryState)}
	t0 := time.Unix(1_800_000_000, 0)
	old := m.sealTOTP("alice", randomID(), t0, []byte("old secret of 20 b."))
	cur := m.sealTOTP("alice", randomID(), t0.Add(time.Second), []byte("new secret of 20 b."))
	if rec, _, err := s.TOTPSecret(ctx, "alice"); err != nil || rec != "" {
		t.Fatalf("no record yet: %q, %v", rec, err)
	}
	if err := s.SetTOTPSecret(ctx, "alice", old); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTOTPSecret(ctx, "alice", cur); err != nil {
		t.Fatal(err)
	}
	if rec, _, _ := s.TOTPSecret(ctx, "alice"); rec != cur {
		t.Fatalf("record %q, want the newer", rec)
	}
	if err := s.TOTPUsed(ctx, "alice", old, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, last, _ := s.TOTPSecret(ctx, "alice"); !last.IsZero() {
		t.Fatalf("a use of the replaced record was noted on the new: %v", last)
	}
	if ok, err := s.DeleteTOTPSecret(ctx, "alice", old); err != nil || ok {
		t.Fatalf("removing the replaced record: %v, %v", ok, err)
	}
	if err := s.TOTPUsed(ctx, "alice", cur, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if rec, last, _ := s.TOTPSecret(ctx, "alice"); rec != cur || !last.Equal(t0.Add(time.Hour)) {
		t.Fatalf("record %q last used %v", rec, last)
	}
	if rec, _, _ := s.TOTPSecret(ctx, "bob"); rec != "" {
		t.Fatalf("bob has %q", rec)
	}
	if ok, err := s.DeleteTOTPSecret(ctx, "alice", cur); err != nil || !ok {
		t.Fatalf("removing the record: %v, %v", ok, err)
	}
	if rec, _, _ := s.TOTPSecret(ctx, "alice"); rec != "" {
		t.Fatalf("after removal: %q", rec)
	}
	if r, err := m.openTOTP("alice", cur); err != nil || string(r.secret) != "new secret of 20 b." {
		t.Fatalf("open: %q, %v", r.secret, err)
	}
	if _, err := m.openTOTP("bob", cur); err == nil {
		t.Fatal("alice's record opens for bob")
	}
	if err := s.SetTOTPSecret(ctx, "alice", "not a record"); err == nil {
		t.Fatal("a record the library does not write was kept")
	}
}
