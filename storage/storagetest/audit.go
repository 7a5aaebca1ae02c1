package storagetest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/storage"
)

// testAuditStore checks the audit methods' contract on one store: appends
// number the entries and chain them, the filters, checkpoints and pruning.
func testAuditStore(t *testing.T, s storage.Store) {
	ctx := t.Context()
	seq, hash, err := s.AuditHead(ctx)
	noErr(t, err, "AuditHead on an empty store")
	if seq != 0 || hash != "" {
		t.Fatalf("AuditHead on an empty store = %d, %q; want 0, \"\"", seq, hash)
	}
	actions := []string{"client.create", "client.update", "clientx.odd", "signin.failure", "client_y.z", "signin.success"}
	var appended []storage.AuditEntry
	for i, a := range actions {
		e := &storage.AuditEntry{Time: baseTime().Add(time.Duration(i) * time.Minute), Actor: []string{"admin-token", "cli:root"}[i%2],
			Action: a, Object: "thing:" + a, ClientAddr: "192.0.2.1", UserAgent: "Mozilla/5.0 ✓", ClientID: "c-1",
			Details: `{"fields":["name"]}`}
		var sealedSeq int64
		noErr(t, s.AppendAudit(ctx, e, func(e *storage.AuditEntry) string {
			sealedSeq = e.Seq
			return audit.Hash(e)
		}), "AppendAudit "+a)
		if e.Seq != int64(i+1) || sealedSeq != e.Seq {
			t.Fatalf("AppendAudit #%d: Seq %d (seal saw %d), want %d", i, e.Seq, sealedSeq, i+1)
		}
		want := ""
		if i > 0 {
			want = appended[i-1].Hash
		}
		if e.PrevHash != want || e.Hash != audit.Hash(e) {
			t.Fatalf("AppendAudit #%d: PrevHash %q Hash %q; want the predecessor's hash %q and the seal", i, e.PrevHash, e.Hash, want)
		}
		appended = append(appended, *e)
	}
	seq, hash, err = s.AuditHead(ctx)
	noErr(t, err, "AuditHead")
	if last := appended[len(appended)-1]; seq != last.Seq || hash != last.Hash {
		t.Fatalf("AuditHead = %d, %q; want %d, %q", seq, hash, last.Seq, last.Hash)
	}
	all, err := s.ListAudit(ctx, storage.AuditQuery{})
	noErr(t, err, "ListAudit")
	for i := range appended {
		appended[i].Time = stored(appended[i].Time)
	}
	check(t, "ListAudit", appended, all)
	for _, e := range all {
		if audit.Hash(&e) != e.Hash {
			t.Fatalf("entry %d read back does not hash as it was sealed: the store changed a field", e.Seq)
		}
	}

	seqs := func(q storage.AuditQuery) []int64 {
		t.Helper()
		es, err := s.ListAudit(ctx, q)
		noErr(t, err, fmt.Sprintf("ListAudit(%+v)", q))
		var out []int64
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return out
	}
	for _, c := range []struct {
		q    storage.AuditQuery
		want []int64
	}{
		{storage.AuditQuery{AfterSeq: 4}, []int64{5, 6}},
		{storage.AuditQuery{Limit: 2}, []int64{1, 2}},
		{storage.AuditQuery{AfterSeq: 1, Limit: 2}, []int64{2, 3}},
		{storage.AuditQuery{BeforeSeq: 3}, []int64{1, 2}},
		{storage.AuditQuery{Newest: true, Limit: 2}, []int64{6, 5}},
		{storage.AuditQuery{Newest: true, BeforeSeq: 5, Limit: 2}, []int64{4, 3}},
		{storage.AuditQuery{Newest: true, Action: "client", AfterSeq: 1}, []int64{2}},
		{storage.AuditQuery{Since: baseTime().Add(3 * time.Minute)}, []int64{4, 5, 6}},
		{storage.AuditQuery{Actor: "cli:root"}, []int64{2, 4, 6}},
		// "client" selects its family only, not "clientx" or "client_y".
		{storage.AuditQuery{Action: "client"}, []int64{1, 2}},
		{storage.AuditQuery{Action: "client_"}, nil},
		{storage.AuditQuery{Action: "signin.failure"}, []int64{4}},
		{storage.AuditQuery{Action: "signin", Actor: "admin-token"}, []int64{}},
		{storage.AuditQuery{Actor: "nobody"}, nil},
	} {
		if got := seqs(c.q); !slices.Equal(got, c.want) {
			t.Errorf("ListAudit(%+v) seqs = %v, want %v", c.q, got, c.want)
		}
	}

	cp := &storage.AuditCheckpoint{Seq: 3, Hash: appended[2].Hash, Time: baseTime(), KeyID: "k1", Signature: "a.b.c"}
	noErr(t, s.CreateAuditCheckpoint(ctx, cp), "CreateAuditCheckpoint")
	errIs(t, s.CreateAuditCheckpoint(ctx, cp), storage.ErrConflict, "CreateAuditCheckpoint twice")
	cp5 := &storage.AuditCheckpoint{Seq: 5, Hash: appended[4].Hash, Time: baseTime().Add(time.Hour), KeyID: "k2", Signature: "d.e.f"}
	noErr(t, s.CreateAuditCheckpoint(ctx, cp5), "CreateAuditCheckpoint(5)")
	cps, err := s.ListAuditCheckpoints(ctx)
	noErr(t, err, "ListAuditCheckpoints")
	cp.Time, cp5.Time = stored(cp.Time), stored(cp5.Time)
	check(t, "ListAuditCheckpoints", []storage.AuditCheckpoint{*cp, *cp5}, cps)

	_, err = s.PruneAudit(ctx, 4)
	errIs(t, err, storage.ErrNotFound, "PruneAudit where there is no checkpoint")
	if got := seqs(storage.AuditQuery{}); len(got) != 6 {
		t.Fatalf("a refused PruneAudit deleted entries: %v left", got)
	}
	n, err := s.PruneAudit(ctx, 5)
	noErr(t, err, "PruneAudit(5)")
	if n != 5 {
		t.Fatalf("PruneAudit(5) = %d, want 5", n)
	}
	if got := seqs(storage.AuditQuery{}); !slices.Equal(got, []int64{6}) {
		t.Fatalf("after PruneAudit(5): %v, want [6]", got)
	}
	cps, err = s.ListAuditCheckpoints(ctx)
	noErr(t, err, "ListAuditCheckpoints after pruning")
	check(t, "checkpoints after PruneAudit(5)", []storage.AuditCheckpoint{*cp5}, cps)
	// The head remembers the numbering: the next entry is 7.
	e := &storage.AuditEntry{Action: "audit.pruned"}
	noErr(t, s.AppendAudit(ctx, e, audit.Hash), "AppendAudit after pruning")
	if e.Seq != 7 || e.PrevHash != appended[5].Hash || e.Time.IsZero() {
		t.Fatalf("AppendAudit after pruning: Seq %d PrevHash %q Time %v; want 7, the hash of 6, the store's clock", e.Seq, e.PrevHash, e.Time)
	}
}

// RunAudit runs the audit chain's suite: concurrent appends from several
// replicas (goroutines on each of n stores sharing one database) leave one
// unbroken chain, and audit.Verify catches an entry altered, removed,
// moved or rewritten directly in the database, and accepts a pruned one.
// newReplicas has RunReplicas's contract; raw returns a database handle on
// a store's database that bypasses the store, as an intruder would.
func RunAudit(t *testing.T, newReplicas func(t *testing.T, n int) []storage.Store, raw func(t *testing.T, s storage.Store) *sql.DB) {
	t.Run("ConcurrentAppends", func(t *testing.T) {
		testAuditConcurrentAppends(t, newReplicas(t, 2))
	})
	tampers := []struct {
		name    string
		tamper  func(ctx context.Context, s storage.Store, db *sql.DB) error
		wantSeq int64
	}{
		{"AlteredEntry", func(ctx context.Context, _ storage.Store, db *sql.DB) error {
			return execAll(ctx, db, `UPDATE audit_entries SET actor = 'someone-else' WHERE seq = 5`)
		}, 5},
		{"AlteredDetails", func(ctx context.Context, _ storage.Store, db *sql.DB) error {
			return execAll(ctx, db, `UPDATE audit_entries SET details = '{}' WHERE seq = 2`)
		}, 2},
		{"RemovedEntry", func(ctx context.Context, _ storage.Store, db *sql.DB) error {
			return execAll(ctx, db, `DELETE FROM audit_entries WHERE seq = 5`)
		}, 5},
		{"RemovedLastEntry", func(ctx context.Context, _ storage.Store, db *sql.DB) error {
			return execAll(ctx, db, `DELETE FROM audit_entries WHERE seq = 10`)
		}, 10},
		{"RemovedFirstEntries", func(ctx context.Context, _ storage.Store, db *sql.DB) error {
			// Up to a checkpoint, as pruning would, but without the
			// audit.pruned entry pruning writes.
			return execAll(ctx, db, `DELETE FROM audit_entries WHERE seq <= 4`)
		}, 4},
		{"ReorderedEntries", func(ctx context.Context, _ storage.Store, db *sql.DB) error {
			return execAll(ctx, db,
				`UPDATE audit_entries SET seq = -1 WHERE seq = 4`,
				`UPDATE audit_entries SET seq = 4 WHERE seq = 6`,
				`UPDATE audit_entries SET seq = 6 WHERE seq = -1`)
		}, 4},
		{"RewrittenChain", rewriteChain, 8},
		{"RespeltCheckpoint", respellCheckpoint, 4},
	}
	for _, tc := range tampers {
		t.Run(tc.name, func(t *testing.T) {
			s := newReplicas(t, 1)[0]
			ctx := t.Context()
			log := newSignedLog(t, s, 4)
			for i := range 10 {
				log.Record(audit.WithActor(ctx, "admin-token"), audit.Event{Action: "client.update",
					Object: fmt.Sprintf("client:c%d", i), Details: map[string]any{"fields": []string{"name"}}})
			}
			if _, err := audit.Verify(ctx, s); err != nil {
				t.Fatalf("Verify before tampering: %v", err)
			}
			noErr(t, tc.tamper(ctx, s, raw(t, s)), "tamper")
			_, err := audit.Verify(ctx, s)
			var te *audit.TamperError
			if !errors.As(err, &te) {
				t.Fatalf("Verify after tampering = %v, want a TamperError", err)
			}
			if te.Seq != tc.wantSeq {
				t.Fatalf("Verify after tampering names entry %d (%v), want %d", te.Seq, err, tc.wantSeq)
			}
		})
	}
	t.Run("Pruned", func(t *testing.T) {
		s := newReplicas(t, 1)[0]
		ctx := t.Context()
		now := baseTime()
		log := newSignedLogAt(t, s, 4, func() time.Time { return now })
		for i := range 10 {
			log.Record(ctx, audit.Event{Action: "signin.success", Object: fmt.Sprintf("user:u%d", i)})
			now = now.Add(time.Minute)
		}
		// Checkpoints at 4 (minute 3) and 8 (minute 7): a cutoff at
		// minute 5 prunes through 4 only.
		n, err := log.Prune(ctx, baseTime().Add(5*time.Minute))
		noErr(t, err, "Prune")
		if n != 4 {
			t.Fatalf("Prune deleted %d entries, want 4 (those up to the checkpoint before the cutoff)", n)
		}
		es, err := s.ListAudit(ctx, storage.AuditQuery{Action: "audit.pruned"})
		noErr(t, err, "ListAudit(audit.pruned)")
		if len(es) != 1 || es[0].Seq != 11 {
			t.Fatalf("pruning recorded %+v, want one audit.pruned entry, 11", es)
		}
		rep, err := audit.Verify(ctx, s)
		noErr(t, err, "Verify after pruning")
		if rep.First != 5 || rep.Last != 11 || rep.Entries != 7 {
			t.Fatalf("Verify after pruning: %+v, want entries 5 to 11", rep)
		}
		// Pruning again with the same cutoff deletes and records nothing.
		if n, err := log.Prune(ctx, baseTime().Add(5*time.Minute)); err != nil || n != 0 {
			t.Fatalf("Prune again = %d, %v; want 0, nil", n, err)
		}
		// Removing the first retained entry is still caught.
		noErr(t, execAll(ctx, raw(t, s), `DELETE FROM audit_entries WHERE seq = 5`), "tamper")
		var te *audit.TamperError
		if _, err := audit.Verify(ctx, s); !errors.As(err, &te) || te.Seq != 5 {
			t.Fatalf("Verify after removing entry 5 of a pruned chain = %v, want a TamperError at 5", err)
		}
	})
}

// testAuditConcurrentAppends appends from goroutines spread over the
// stores; the chain must come out whole, each entry exactly once.
func testAuditConcurrentAppends(t *testing.T, stores []storage.Store) {
	ctx := t.Context()
	const writers, each = 8, 15
	logs := make([]*audit.Log, len(stores))
	signer := newTestSigner(t, stores[0])
	for i, s := range stores {
		logs[i] = audit.New(s, audit.Options{Signer: signer, CheckpointEvery: 7, Logger: discardLogger()})
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				logs[w%len(logs)].Record(ctx, audit.Event{Action: "signin.success", Object: fmt.Sprintf("user:w%d-%d", w, i)})
			}
		}()
	}
	wg.Wait()
	for i, l := range logs {
		if n := l.Failures(); n != 0 {
			t.Fatalf("replica %d failed to store %d entries", i, n)
		}
	}
	rep, err := audit.Verify(ctx, stores[len(stores)-1])
	noErr(t, err, "Verify after concurrent appends")
	if rep.First != 1 || rep.Last != writers*each || rep.Entries != writers*each {
		t.Fatalf("Verify: %+v, want entries 1 to %d", rep, writers*each)
	}
	if rep.Checkpoints != writers*each/7 {
		t.Fatalf("Verify checked %d checkpoints, want %d", rep.Checkpoints, writers*each/7)
	}
	es, err := stores[0].ListAudit(ctx, storage.AuditQuery{})
	noErr(t, err, "ListAudit")
	seen := map[string]bool{}
	for _, e := range es {
		if seen[e.Object] {
			t.Fatalf("%s recorded twice", e.Object)
		}
		seen[e.Object] = true
	}
}

// rewriteChain alters entry 6 and re-seals it, every later entry and the
// head, as an intruder who knows the hash function would: only the signed
// checkpoint at 8 can tell, and it names itself (the entry it signed no
// longer has the hash it signed).
func rewriteChain(ctx context.Context, s storage.Store, db *sql.DB) error {
	es, err := s.ListAudit(ctx, storage.AuditQuery{AfterSeq: 5})
	if err != nil {
		return err
	}
	prev := ""
	for i := range es {
		e := &es[i]
		if e.Seq == 6 {
			e.Object = "client:forged"
		} else {
			e.PrevHash = prev
		}
		e.Hash = audit.Hash(e)
		prev = e.Hash
		if _, err := db.ExecContext(ctx, `UPDATE audit_entries SET object = $1, prev_hash = $2, hash = $3 WHERE seq = $4`,
			e.Object, e.PrevHash, e.Hash, e.Seq); err != nil {
			return err
		}
	}
	_, err = db.ExecContext(ctx, `UPDATE audit_head SET hash = $1 WHERE id = 1`, prev)
	return err
}

// execAll runs each statement on db.
func execAll(ctx context.Context, db *sql.DB, stmts ...string) error {
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// testSigner signs checkpoints like keys.Manager, with a key the store
// holds (so Verify can check the signatures).
type testSigner struct {
	kid string
	key *rsa.PrivateKey
}

func newTestSigner(t *testing.T, s storage.Store) *testSigner {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	noErr(t, err, "generate RSA key")
	kid := fmt.Sprintf("audit-test-%d", time.Now().UnixNano())
	pub, err := (&jose.JSONWebKey{Key: &key.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}).MarshalJSON()
	noErr(t, err, "marshal JWK")
	noErr(t, s.CreateKey(t.Context(), &storage.Key{ID: kid, Algorithm: "RS256", State: storage.KeyRetired,
		PublicJWK: pub, PrivateEncrypted: []byte("unused"), CreatedAt: baseTime()}), "CreateKey for the audit signer")
	return &testSigner{kid: kid, key: key}
}

// Sign returns a compact RS256 JWS with kid and typ headers.
func (s *testSigner) Sign(payload []byte, typ string) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256,
		Key: jose.JSONWebKey{Key: s.key, KeyID: s.kid}}, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func newSignedLog(t *testing.T, s storage.Store, every int) *audit.Log {
	return newSignedLogAt(t, s, every, nil)
}

func newSignedLogAt(t *testing.T, s storage.Store, every int, now func() time.Time) *audit.Log {
	return audit.New(s, audit.Options{Signer: newTestSigner(t, s), CheckpointEvery: every, Now: now, Logger: discardLogger()})
}

// discardLogger drops the audit lines the suite's logs write.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// respellCheckpoint rewrites the signature of the checkpoint at seq 4 in
// another spelling of the same bytes: its last character with unused
// bits set, which a lenient base64url decoder reads as the same
// signature. hallpass never writes such a spelling, so Verify must take
// it for tampering rather than accept a checkpoint not as written.
func respellCheckpoint(ctx context.Context, _ storage.Store, db *sql.DB) error {
	var sig string
	if err := db.QueryRowContext(ctx, `SELECT signature FROM audit_checkpoints WHERE seq = 4`).Scan(&sig); err != nil {
		return fmt.Errorf("read checkpoint 4: %w", err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	if last < 0 || last&1 != 0 {
		return fmt.Errorf("checkpoint 4's signature %q does not end as a 256-byte signature's canonical spelling", sig[len(sig)-8:])
	}
	respelt := sig[:len(sig)-1] + string(alphabet[last|1])
	return execAll(ctx, db, fmt.Sprintf(`UPDATE audit_checkpoints SET signature = '%s' WHERE seq = 4`, respelt))
}
