package main

import (
	"log/slog"
	"runtime/debug"
)

// defaultGCPercent is the GOGC serve runs with unless GOGC is set: the
// collector runs half as often as at Go's default of 100, each time
// scanning the whole live heap (most of it the password-strength
// dictionaries), which was a few per cent of a token request's and an
// introspection's CPU. The heap under token load peaks about 20 MB
// higher; fresh logins are bounded by the password gate's own collection
// (provider/password.go), and 64 at once stay under 120 MB (README
// "Sizing").
const defaultGCPercent = 200

// tuneGC sets defaultGCPercent unless the GOGC variable chose otherwise
// (getenv is os.Getenv).
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}

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
