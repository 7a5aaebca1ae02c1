package main

import (
	"log/slog"
	"runtime/debug"
)

// releaseStartupMemory gives back the heap that starting up left as
// garbage (migrations, templates, key loading): a GC, then the free pages
// returned to the OS, once the server is up (README "Sizing", idle RSS).
func releaseStartupMemory(log *slog.Logger) {
	debug.FreeOSMemory()
	log.Debug("returned startup memory")
}
