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

// releaseStartupMemory gives back the heap that starting up left as
// garbage (migrations, templates, key loading): a GC, then the free pages
// returned to the OS, once the server is up (README "Sizing", idle RSS).
func releaseStartupMemory(log *slog.Logger) {
	debug.FreeOSMemory()
	log.Debug("returned startup memory")
}
