package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want Info
		line string
	}{
		{"tagged release", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "false"}}},
			Info{"v1.2.3", "0123abcd", "2026-12-01T10:00:00Z"}, "v1.2.3 (commit 0123abcd, 2026-12-01T10:00:00Z)"},
		{"local build, modified tree", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "true"}}},
			Info{"(devel)", "0123abcd-dirty", ""}, "(devel) (commit 0123abcd-dirty)"},
		{"no information", debug.BuildInfo{}, Info{Version: "(devel)"}, "(devel)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FromBuildInfo(&tc.bi)
			if got != tc.want || got.String() != tc.line {
				t.Errorf("FromBuildInfo = %+v %q, want %+v %q", got, got.String(), tc.want, tc.line)
			}
		})
	}
}
