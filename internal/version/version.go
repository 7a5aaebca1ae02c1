// Package version says which hallpass is running, from the build
// information the Go toolchain embeds in the binary: the module version
// (a tag for `go install …@v1.2.3`, "(devel)" for a local build without
// one), the VCS revision and its time.
package version

import (
	"fmt"
	"runtime/debug"
)

// Info is what a build says about itself.
type Info struct {
	// Version is the module version, or "(devel)".
	Version string `json:"version"`
	// Commit is the VCS revision; "" when the build did not record it.
	// A "-dirty" suffix marks a build from a modified work tree.
	Commit string `json:"commit,omitempty"`
	// Date is the commit's time (RFC 3339); "" when not recorded.
	Date string `json:"date,omitempty"`
}

// Read returns the Info of the running binary.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "(devel)"}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo returns the Info bi records.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: bi.Main.Version}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.Date = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && info.Commit != "" {
		info.Commit += "-dirty"
	}
	return info
}

// String is the version in one line: "v1.2.3 (commit 0123abc, 2026-12-01T10:00:00Z)".
func (i Info) String() string {
	switch {
	case i.Commit != "" && i.Date != "":
		return fmt.Sprintf("%s (commit %s, %s)", i.Version, i.Commit, i.Date)
	case i.Commit != "":
		return fmt.Sprintf("%s (commit %s)", i.Version, i.Commit)
	}
	return i.Version
}
