package provider

import (
	"context"
	runtimemetrics "runtime/metrics"
	"testing"
	"time"
)

// forcedGCs is how many collections the program has forced so far.
func forcedGCs() uint64 {
	s := []runtimemetrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
	runtimemetrics.Read(s)
	return s[0].Value.Uint64()
}

// TestPasswordGateCollects: a check's 19 MiB are collected when it
// leaves the gate, not left to the pacer (which, at serve's GOGC 400,
// would let five times a check's memory pile up). With every slot taken
// the collection is over before the slot is free (the next check must
// not allocate first); otherwise it runs after, not holding the request.
func TestPasswordGateCollects(t *testing.T) {
	ctx := context.Background()
	g := newPasswordGate(2, time.Minute)

	// Every slot taken: collected before leave returns.
	l1, err := g.enter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := g.enter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := forcedGCs()
	l1()
	if forcedGCs() == before {
		t.Error("a check left a full gate without a collection")
	}
	if len(g.slots) != 1 {
		t.Errorf("%d slots taken after one of two left, want 1", len(g.slots))
	}

	// A slot to spare: collected soon after.
	before = forcedGCs()
	l2()
	if len(g.slots) != 0 {
		t.Errorf("%d slots taken after both left", len(g.slots))
	}
	for deadline := time.Now().Add(10 * time.Second); forcedGCs() == before; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a check left the gate, and no collection followed")
		}
	}
}
