package main

import (
	"log/slog"
	"runtime/debug"
)

// releaseStartupMemory gives back what starting up used and serving does
// not need, once the server is up (README "Sizing", idle RSS): the heap
// that startup left as garbage (a GC, then the free pages returned to the
// OS), and the pages of the executable that only starting touched
// (dropExecutablePages). Serving re-reads the code it runs from the page
// cache on first use.
func releaseStartupMemory(log *slog.Logger) {
	debug.FreeOSMemory()
	n, err := dropExecutablePages()
	if err != nil {
		log.Debug("returning the executable's startup pages failed", "err", err)
		return
	}
	log.Debug("returned startup memory", "executable_bytes", n)
}
