package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// syncBuffer is a log destination safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// take returns the lines written since the last call, as "level msg
// action seq".
func (b *syncBuffer) take(t *testing.T) []string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var lines []string
	for line := range strings.Lines(b.buf.String()) {
		var rec struct {
			Level, Msg, Action string
			Seq                int64
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		lines = append(lines, fmt.Sprintf("%s %s %s %d", rec.Level, rec.Msg, rec.Action, rec.Seq))
	}
	b.buf.Reset()
	return lines
}

// signerFor returns a Signer whose key s knows, for checkpoints.
func signerFor(t *testing.T, s storage.Store) Signer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const kid = "audit-after-commit"
	pub, err := (&jose.JSONWebKey{Key: &key.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKey(t.Context(), &storage.Key{ID: kid, Algorithm: "RS256", State: storage.KeyRetired,
		PublicJWK: pub, PrivateEncrypted: []byte("unused"), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return SignerFunc(func(payload []byte, typ string) (string, error) {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
			(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
		if err != nil {
			return "", err
		}
		jws, err := signer.Sign(payload)
		if err != nil {
			return "", err
		}
		return jws.CompactSerialize()
	})
}

// failingAppend fails the first append it is asked for, as a statement
// that lost a deadlock would.
type failingAppend struct {
	storage.Store
	mu     sync.Mutex
	failed bool
}

var errTransient = fmt.Errorf("append audit entry: %w (%w): deadlock detected", storage.ErrTransient, storage.ErrUnavailable)

func (s *failingAppend) AppendAudit(ctx context.Context, e *storage.AuditEntry, seal func(*storage.AuditEntry) string) error {
	s.mu.Lock()
	first := !s.failed
	s.failed = true
	s.mu.Unlock()
	if first {
		return errTransient
	}
	return s.Store.AppendAudit(ctx, e, seal)
}

// TestRecordAfterCommit: an entry recorded in a transaction is logged,
// and its checkpoint made, only once the transaction commits; recorded
// in one that rolls back, it logs nothing and leaves lastCheckpoint
// alone (the next entry takes its seq). Recorded in an attempt that
// failed and was run again, its failure is neither logged nor counted.
func TestRecordAfterCommit(t *testing.T) {
	boom := errors.New("boom")
	for _, be := range testdb.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := t.Context()
			s := testdb.Open(t, be.DSN(t))
			var logs syncBuffer
			l := New(s, Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Signer: signerFor(t, s), CheckpointEvery: 1})
			wantLines := func(what string, want ...string) {
				t.Helper()
				if got := logs.take(t); strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s: log lines %q, want %q", what, got, want)
				}
			}

			err := s.InTransaction(ctx, func(tx context.Context) error {
				l.Record(tx, Event{Action: "test.rolledback", Object: "o"})
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("InTransaction: %v", err)
			}
			wantLines("rolled back")
			if n := l.lastCheckpoint.Load(); n != 0 {
				t.Errorf("lastCheckpoint %d after a rollback, want 0", n)
			}

			if err := s.InTransaction(ctx, func(tx context.Context) error {
				l.Record(tx, Event{Action: "test.committed", Object: "o"})
				wantLines("before the commit")
				return nil
			}); err != nil {
				t.Fatalf("InTransaction: %v", err)
			}
			wantLines("committed", "INFO audit test.committed 1")
			if n := l.lastCheckpoint.Load(); n != 1 {
				t.Errorf("lastCheckpoint %d after the commit, want 1", n)
			}

			// An attempt that failed with a transient error (here its
			// append, which Record swallows, and then the attempt) and
			// was run again: only the stored entry is logged.
			if be.Name != "postgres" {
				return // SQLite runs no transaction again
			}
			f := &failingAppend{Store: s}
			fl := New(f, Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			attempts := 0
			if err := s.InTransaction(ctx, func(tx context.Context) error {
				attempts++
				fl.Record(tx, Event{Action: "test.retried", Object: "o"})
				if attempts == 1 {
					return errTransient
				}
				return nil
			}); err != nil {
				t.Fatalf("InTransaction: %v", err)
			}
			if attempts != 2 {
				t.Fatalf("%d attempts, want 2", attempts)
			}
			wantLines("retried", "INFO audit test.retried 2")
			if n := fl.Failures(); n != 0 {
				t.Errorf("%d failures counted for an entry the retry stored, want 0", n)
			}
		})
	}
}

// TestRecordKeepsBadText: an entry whose client-chosen text is not text
// a store keeps (a User-Agent with invalid UTF-8 or cut inside a
// character, a typed name with a NUL) is still recorded, on every
// backend, with that text made valid, and verifies.
func TestRecordKeepsBadText(t *testing.T) {
	for _, be := range testdb.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := t.Context()
			s := testdb.Open(t, be.DSN(t))
			var logs syncBuffer
			l := New(s, Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			// 1 + 2*200 bytes: the bound (256) falls inside an é.
			ua := "a" + strings.Repeat("é", 200)
			for _, ev := range []struct {
				ua string
				ev Event
			}{
				{ua, Event{Action: "signin.failure", Object: "user:ann"}},
				{"Mozilla\xff\xfe", Event{Action: "signin.failure", Object: "user:a\x00b\xc3("}},
				{"ok", Event{Action: "signin.failure", Actor: "user:\xed\xa0\x80", ClientID: "c\x00"}},
			} {
				l.Record(WithRequest(ctx, "192.0.2.1", ev.ua), ev.ev)
			}
			es, err := s.ListAudit(ctx, storage.AuditQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != 3 {
				t.Fatalf("%d entries stored, want 3; log:\n%s", len(es), strings.Join(logs.take(t), "\n"))
			}
			for _, e := range es {
				for _, f := range []string{e.Actor, e.Action, e.Object, e.ClientAddr, e.UserAgent, e.ClientID, e.Details} {
					if !utf8.ValidString(f) || strings.ContainsRune(f, 0) || len(f) > 256+len("\uFFFD") {
						t.Errorf("entry %d holds %q", e.Seq, f)
					}
				}
				if Hash(&e) != e.Hash {
					t.Errorf("entry %d does not verify", e.Seq)
				}
			}
			if want := "a" + strings.Repeat("é", 127); es[0].UserAgent != want {
				t.Errorf("long User-Agent kept as %q, want %q", es[0].UserAgent, want)
			}
		})
	}
}
