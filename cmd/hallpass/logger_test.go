package main

import (
	"encoding/json"
	"testing"
	"time"
)

// TestLoggerDurationsAsText: a duration in a log line reads as a flag
// takes it ("1s"), not as nanoseconds, at the top level, in a group and
// in attributes added with With.
func TestLoggerDurationsAsText(t *testing.T) {
	var buf syncBuffer
	g := &globalOptions{logLevel: "info", stderr: &buf}
	log, err := g.logger()
	if err != nil {
		t.Fatal(err)
	}
	log.With("every", 90*time.Second).WithGroup("retry").Info("check failed", "interval", time.Second)
	var rec struct {
		Every string `json:"every"`
		Retry struct {
			Interval string `json:"interval"`
		} `json:"retry"`
	}
	if err := json.Unmarshal([]byte(buf.String()), &rec); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	if rec.Every != "1m30s" || rec.Retry.Interval != "1s" {
		t.Errorf("log line %q: want every 1m30s and retry.interval 1s", buf.String())
	}
}
