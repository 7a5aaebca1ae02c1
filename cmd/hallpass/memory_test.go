package main

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestTuneGC: serve runs the collector at serveGCPercent, unless the
// operator chose with GOGC (any value, even Go's default).
func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	t.Setenv("GOGC", "100") // restored, or unset again, after the test
	tuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC=100 set, tuneGC made it %d", got)
	}

	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
	tuneGC()
	if got := debug.SetGCPercent(100); got != serveGCPercent {
		t.Errorf("without GOGC, tuneGC made it %d, want %d", got, serveGCPercent)
	}
}
