//go:build linux

package main

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssFileKiB reads RssFile (file-backed resident memory) of this process.
func rssFileKiB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// TestDropExecutablePages drops this test binary's read-only pages: the
// process's file-backed RSS shrinks, and the program runs on (its code and
// constants come back from the page cache).
func TestDropExecutablePages(t *testing.T) {
	before := rssFileKiB(t)
	n, err := dropExecutablePages()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKiB(t)
	if n == 0 || after >= before {
		t.Errorf("advised %d bytes; RssFile %d kB before, %d kB after: want it smaller", n, before, after)
	}
	// Code and read-only data are still there.
	if got := strconv.Quote("still here"); got != `"still here"` {
		t.Errorf("after dropping pages, Quote = %s", got)
	}
	cmd := newRootCmd(io.Discard, io.Discard)
	if cmd.Use == "" {
		t.Error("root command has no name after dropping pages")
	}
}
