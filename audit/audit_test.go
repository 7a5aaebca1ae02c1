package audit

import (
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// TestHashPinned pins the canonical encoding: a change to Hash would make
// every chain already stored fail verification, so it must be deliberate
// (a new version tag, with Verify still knowing the old one).
func TestHashPinned(t *testing.T) {
	e := &storage.AuditEntry{Seq: 42, Time: time.Date(2026, 12, 6, 7, 8, 9, 123456000, time.UTC), Actor: "admin-token",
		Action: "client.update", Object: "client:portal", ClientAddr: "192.0.2.7", UserAgent: "curl/8.5.0",
		ClientID: "portal", Details: `{"fields":["client_name"]}`, PrevHash: "00ff"}
	const want = "49bd95b567d07ef26f75eff259460610497a0547cdd00c67f8d8fc1183bb6f84"
	got := Hash(e)
	if len(got) != 64 {
		t.Fatalf("Hash = %q, want 64 hex digits", got)
	}
	// Moving a byte between adjacent fields must change the hash: the
	// lengths make the encoding unambiguous.
	moved := *e
	moved.Actor, moved.Action = "admin-tokenc", "lient.update"
	if Hash(&moved) == got {
		t.Fatal("moving a byte from one field to the next keeps the hash")
	}
	if got != want {
		t.Fatalf("Hash = %s, want %s (the pinned v1 encoding)", got, want)
	}
}

// FuzzCheckCheckpoint: a checkpoint row read from the database may hold
// anything; checking it never panics and never accepts what no known key
// signed.
func FuzzCheckCheckpoint(f *testing.F) {
	f.Add(int64(3), "abc", "kid", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
	f.Add(int64(0), "", "", "")
	f.Fuzz(func(t *testing.T, seq int64, hash, kid, sig string) {
		checked, err := checkCheckpoint(storage.AuditCheckpoint{Seq: seq, Hash: hash, KeyID: kid, Signature: sig}, nil)
		if checked {
			t.Fatalf("a checkpoint was checked against no keys: %v", err)
		}
	})
}
