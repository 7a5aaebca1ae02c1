//go:build !linux

package main

// dropExecutablePages does nothing outside Linux.
func dropExecutablePages() (int64, error) { return 0, nil }
