package main

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// serveGCPercent is the GOGC that serve runs with when the environment
// sets none. hallpass's live heap is small (about 3 MB), so Go's default
// of 100 collects every 4 MB allocated: about every 25 signed-in flows,
// and a collection costs milliseconds of CPU however little it finds
// (GODEBUG=gctrace=1; README "Sizing"). At 400 the heap's goal is about
// 17 MB and collections come four times less often. The password checks'
// memory, the one large allocation, does not wait for the pacer: the
// password gate collects it after each check (provider/password.go).
const serveGCPercent = 400

// tuneGC sets serveGCPercent, unless the operator chose with GOGC.
func tuneGC() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(serveGCPercent)
	}
}

// releaseStartupMemory gives back the heap that starting up left as
// garbage (migrations, templates, key loading): a GC, then the free pages
// returned to the OS, once the server is up (README "Sizing", idle RSS).
func releaseStartupMemory(log *slog.Logger) {
	debug.FreeOSMemory()
	log.Debug("returned startup memory")
}
