package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hallpass/hallpass/storage"
)

const auditColumns = `seq, at, actor, action, object, client_addr, user_agent,
	client_id, details, prev_hash, hash`

// AppendAudit appends e as the next entry of the audit chain. It first
// increments the seq of the one row of audit_head, which takes that row's
// lock (PostgreSQL) or the write lock (SQLite) until the transaction ends,
// so appends from every replica run one after the other and each reads the
// hash its predecessor wrote. A zero e.Time becomes the store's clock;
// the time is truncated to microseconds before seal sees it, so the hash
// covers what is read back.
func (s *Store) AppendAudit(ctx context.Context, e *storage.AuditEntry, seal func(*storage.AuditEntry) string) error {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	// Refused before the head moves: in a caller's transaction, which
	// goes on past a refused value (storage.ErrInvalidInput), a head
	// moved without its entry would leave a gap in the chain.
	if err := checkArgs([]any{s.timeArg(e.Time), e.Actor, e.Action, e.Object, e.ClientAddr, e.UserAgent,
		e.ClientID, e.Details}); err != nil {
		return s.mapErr(ctx, "append audit entry", err)
	}
	return s.inTx(ctx, func(ctx context.Context, r runner) error {
		var (
			seq  int64
			prev string
		)
		if err := r.queryRow(ctx, `UPDATE audit_head SET seq = seq + 1 WHERE id = 1
			RETURNING seq, hash`).Scan(&seq, &prev); err != nil {
			return s.mapErr(ctx, "append audit entry: lock the head", err)
		}
		e.Seq, e.PrevHash = seq, prev
		e.Hash = seal(e)
		if _, err := r.exec(ctx, `INSERT INTO audit_entries (`+auditColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			e.Seq, s.timeArg(e.Time), e.Actor, e.Action, e.Object, e.ClientAddr, e.UserAgent,
			e.ClientID, e.Details, e.PrevHash, e.Hash); err != nil {
			return s.mapErr(ctx, fmt.Sprintf("append audit entry %d", e.Seq), err)
		}
		if _, err := r.exec(ctx, `UPDATE audit_head SET hash = $1 WHERE id = 1`, e.Hash); err != nil {
			return s.mapErr(ctx, "append audit entry: move the head", err)
		}
		return nil
	})
}

// AuditHead returns the seq and hash of the last entry appended.
func (s *Store) AuditHead(ctx context.Context) (int64, string, error) {
	var (
		seq  int64
		hash string
	)
	if err := s.q(ctx).queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash); err != nil {
		return 0, "", s.mapErr(ctx, "read audit head", err)
	}
	return seq, hash, nil
}

// ListAudit returns the entries q selects, ordered by seq (descending
// when q.Newest).
func (s *Store) ListAudit(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEntry, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.AfterSeq > 0 {
		where = append(where, "seq > "+arg(q.AfterSeq))
	}
	if q.BeforeSeq > 0 {
		where = append(where, "seq < "+arg(q.BeforeSeq))
	}
	if !q.Since.IsZero() {
		where = append(where, "at >= "+arg(s.timeBound(q.Since)))
	}
	if q.Actor != "" {
		where = append(where, "actor = "+arg(q.Actor))
	}
	if q.Action != "" {
		// A prefix compared with substr, not LIKE, so that _ and % in
		// the filter match themselves.
		prefix := q.Action + "."
		where = append(where, "(action = "+arg(q.Action)+" OR substr(action, 1, "+arg(len(prefix))+") = "+arg(prefix)+")")
	}
	query := `SELECT ` + auditColumns + ` FROM audit_entries`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY seq"
	if q.Newest {
		query += " DESC"
	}
	if q.Limit > 0 {
		query += " LIMIT " + arg(q.Limit)
	}
	return queryAll(ctx, s, "list audit entries", query, s.scanAudit, args...)
}

func (s *Store) scanAudit(row scanner) (*storage.AuditEntry, error) {
	var e storage.AuditEntry
	if err := row.Scan(&e.Seq, s.timeCol(&e.Time), &e.Actor, &e.Action, &e.Object, &e.ClientAddr,
		&e.UserAgent, &e.ClientID, &e.Details, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	return &e, nil
}

// CreateAuditCheckpoint stores a checkpoint; storage.ErrConflict if one
// for c.Seq exists.
func (s *Store) CreateAuditCheckpoint(ctx context.Context, c *storage.AuditCheckpoint) error {
	_, err := s.q(ctx).exec(ctx, `INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature)
		VALUES ($1, $2, $3, $4, $5)`, c.Seq, c.Hash, s.timeArg(c.Time), c.KeyID, c.Signature)
	if err != nil {
		return s.mapErr(ctx, fmt.Sprintf("create audit checkpoint %d", c.Seq), err)
	}
	return nil
}

// ListAuditCheckpoints returns every checkpoint ordered by seq.
func (s *Store) ListAuditCheckpoints(ctx context.Context) ([]storage.AuditCheckpoint, error) {
	return queryAll(ctx, s, "list audit checkpoints", `SELECT seq, hash, at, key_id, signature
		FROM audit_checkpoints ORDER BY seq`, func(row scanner) (*storage.AuditCheckpoint, error) {
		var c storage.AuditCheckpoint
		if err := row.Scan(&c.Seq, &c.Hash, s.timeCol(&c.Time), &c.KeyID, &c.Signature); err != nil {
			return nil, err
		}
		return &c, nil
	})
}

// PruneAudit deletes the entries up to the checkpoint at through and the
// checkpoints before it, in one transaction.
func (s *Store) PruneAudit(ctx context.Context, through int64) (int, error) {
	var n int64
	err := s.inTx(ctx, func(ctx context.Context, r runner) error {
		var seq int64
		if err := r.queryRow(ctx, `SELECT seq FROM audit_checkpoints WHERE seq = $1`, through).Scan(&seq); err != nil {
			return s.mapErr(ctx, fmt.Sprintf("prune audit log through %d: no checkpoint there", through), err)
		}
		res, err := r.exec(ctx, `DELETE FROM audit_entries WHERE seq <= $1`, through)
		if n, err = rowsAffected(res, err); err != nil {
			return s.mapErr(ctx, "prune audit entries", err)
		}
		if _, err := r.exec(ctx, `DELETE FROM audit_checkpoints WHERE seq < $1`, through); err != nil {
			return s.mapErr(ctx, "prune audit checkpoints", err)
		}
		return nil
	})
	return int(n), err
}
