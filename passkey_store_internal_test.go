package twofactor

import (
	"testing"
)

// The State-backed store: an update never brings back a removed passkey,
// even when it lands after the removal (a stray "u:" field is ignored).
func TestStatePasskeysUpdateNeverAdds(t *testing.T) {
	ctx := t.Context()
	p := statePasskeys{new(MemoryState)}
	if ok, err := p.UpdatePasskey(ctx, "alice", "k1", []byte("used")); ok || err != nil {
		t.Fatalf("update of a passkey never added: %v %v", ok, err)
	}
	if err := p.AddPasskey(ctx, "alice", "k1", []byte("added")); err != nil {
		t.Fatal(err)
	}
	if ok, err := p.UpdatePasskey(ctx, "alice", "k1", []byte("used")); !ok || err != nil {
		t.Fatalf("update: %v %v", ok, err)
	}
	got, _ := p.Passkeys(ctx, "alice")
	if len(got) != 1 || string(got["k1"]) != "used" {
		t.Fatalf("after the update: %q", got)
	}
	if had, err := p.DeletePasskey(ctx, "alice", "k1"); !had || err != nil {
		t.Fatalf("delete: %v %v", had, err)
	}
	// An update that read the passkey before the removal writes after it.
	if err := p.s.SetField(ctx, passkeysKey("alice"), usedPrefix+"k1", "late", passkeysLife); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.Passkeys(ctx, "alice"); len(got) != 0 {
		t.Fatalf("a removed passkey came back: %q", got)
	}
	if had, _ := p.DeletePasskey(ctx, "alice", "k1"); had {
		t.Fatal("deleted twice")
	}
}
