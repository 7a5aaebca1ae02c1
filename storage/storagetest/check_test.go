package storagetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// recorder is a testing.TB that keeps what check reports instead of
// failing the test running it.
type recorder struct {
	testing.TB
	errors []string
	fatal  string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// Fatalf stops check as testing's does, without ending the test.
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	panic(r)
}

// run calls check on rec, recovering from its Fatalf.
func run[T any](t *testing.T, want, got T) *recorder {
	rec := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil && p != rec {
				panic(p)
			}
		}()
		check(rec, "what", want, got)
	}()
	return rec
}

// TestCheck pins the comparison rules the suite relies on: what a backend
// may change (time zone, nanoseconds, nil for empty) passes, anything else
// is reported with the field, the value got and the value wanted.
func TestCheck(t *testing.T) {
	at := time.Date(2031, 4, 5, 6, 7, 8, 123456789, time.FixedZone("east", 3600))
	want := &storage.Client{ID: "c", Scopes: nil, SecretHash: nil, CreatedAt: at}
	same := &storage.Client{ID: "c", Scopes: []string{}, SecretHash: []byte{}, CreatedAt: stored(at)}
	if rec := run(t, want, same); len(rec.errors) > 0 || rec.fatal != "" {
		t.Errorf("check of a client as stored: %q %q, want no report", rec.errors, rec.fatal)
	}

	for _, tc := range []struct {
		name string
		got  func(c *storage.Client)
		want string // in the one report
	}{
		{"string", func(c *storage.Client) { c.Name = "x" }, `Name: got "x", want ""`},
		{"list", func(c *storage.Client) { c.Scopes = []string{"a"} }, `Scopes: got ["a"], want []`},
		{"bytes", func(c *storage.Client) { c.SecretHash = []byte{1} }, "SecretHash: got 01, want "},
		{"bool", func(c *storage.Client) { c.PKCEOptional = true }, "PKCEOptional: got true, want false"},
		{"time", func(c *storage.Client) { c.CreatedAt = c.CreatedAt.Add(time.Microsecond) }, "CreatedAt: got 2031-04-05 05:07:08.123457 +0000 UTC, want 2031-04-05 05:07:08.123456 +0000 UTC"},
		{"not truncated", func(c *storage.Client) { c.CreatedAt = at.UTC() }, "CreatedAt: got 2031-04-05 05:07:08.123456789"},
		{"zero time", func(c *storage.Client) { c.UpdatedAt = time.Unix(0, 0).UTC() }, "UpdatedAt: got 1970-01-01"},
		{"location", func(c *storage.Client) { c.CreatedAt = c.CreatedAt.In(at.Location()) }, "CreatedAt: got location east, want UTC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := *same
			tc.got(&got)
			rec := run(t, want, &got)
			if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "what differs:\n\t"+tc.want) {
				t.Errorf("reports %q, want one with %q", rec.errors, tc.want)
			}
		})
	}

	if rec := run(t, want, nil); !strings.Contains(rec.fatal, "what: got nil storage.Client") {
		t.Errorf("nil got: fatal %q", rec.fatal)
	}
	keys := []storage.Key{{ID: "a"}, {ID: "b"}}
	if rec := run(t, keys, keys[:1]); !strings.Contains(rec.fatal, "what: got 1 Key [a], want 2 [a b]") {
		t.Errorf("short list: fatal %q", rec.fatal)
	}
	if rec := run(t, keys, []storage.Key{{ID: "a"}, {ID: "b", State: storage.KeyActive}}); len(rec.errors) != 1 ||
		!strings.Contains(rec.errors[0], `[1].State: got "active", want ""`) {
		t.Errorf("list element: reports %q", rec.errors)
	}
	if rec := run(t, at, at.Add(time.Second)); len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "value: got ") {
		t.Errorf("bare time: reports %q", rec.errors)
	}
}
