package sqlstore

import (
	"context"
	"fmt"

	"github.com/hallpass/hallpass/storage"
)

const keyColumns = `id, algorithm, state, public_jwk, private_encrypted,
	created_at, activates_at, retires_at, removes_at`

// CreateKey stores a signing key. storage.ErrConflict if the kid exists, or
// if k.State is active and another active key exists.
func (s *Store) CreateKey(ctx context.Context, k *storage.Key) error {
	_, err := s.q(ctx).exec(ctx, `INSERT INTO signing_keys (`+keyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		k.ID, k.Algorithm, string(k.State), blobArg(k.PublicJWK), blobArg(k.PrivateEncrypted),
		s.timeArg(k.CreatedAt), s.timeArg(k.ActivatesAt), s.timeArg(k.RetiresAt), s.timeArg(k.RemovesAt))
	if err != nil {
		return s.mapErr(ctx, fmt.Sprintf("create key %q", k.ID), err)
	}
	return nil
}

// ListKeys returns every key ordered by CreatedAt, then ID.
func (s *Store) ListKeys(ctx context.Context) ([]storage.Key, error) {
	return queryAll(ctx, s, "list keys", `SELECT `+keyColumns+` FROM signing_keys
		ORDER BY created_at NULLS FIRST, id`, s.scanKey)
}

func (s *Store) scanKey(row scanner) (*storage.Key, error) {
	var (
		k     storage.Key
		state string
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &state, blobCol{&k.PublicJWK}, blobCol{&k.PrivateEncrypted},
		s.timeCol(&k.CreatedAt), s.timeCol(&k.ActivatesAt), s.timeCol(&k.RetiresAt), s.timeCol(&k.RemovesAt)); err != nil {
		return nil, err
	}
	k.State = storage.KeyState(state)
	return &k, nil
}

// UpdateKey replaces State, ActivatesAt, RetiresAt and RemovesAt of key k.ID.
// storage.ErrNotFound if absent, storage.ErrConflict if it would make a
// second active key.
func (s *Store) UpdateKey(ctx context.Context, k *storage.Key) error {
	res, err := s.q(ctx).exec(ctx, `UPDATE signing_keys SET
		state = $1, activates_at = $2, retires_at = $3, removes_at = $4
		WHERE id = $5`,
		string(k.State), s.timeArg(k.ActivatesAt), s.timeArg(k.RetiresAt), s.timeArg(k.RemovesAt), k.ID)
	return s.affectedOne(ctx, res, err, fmt.Sprintf("update key %q", k.ID))
}

// SetKeyPrivate replaces the sealed private part of key id;
// storage.ErrNotFound if absent.
func (s *Store) SetKeyPrivate(ctx context.Context, id string, privateEncrypted []byte) error {
	res, err := s.q(ctx).exec(ctx, `UPDATE signing_keys SET private_encrypted = $1 WHERE id = $2`,
		blobArg(privateEncrypted), id)
	return s.affectedOne(ctx, res, err, fmt.Sprintf("set private part of key %q", id))
}

// DeleteKey removes a key; storage.ErrNotFound if absent.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	res, err := s.q(ctx).exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id)
	return s.affectedOne(ctx, res, err, fmt.Sprintf("delete key %q", id))
}

// LockKeys serializes signing-key changes among processes and replicas: it
// updates the one row of key_lock inside the transaction carried by ctx,
// which holds the lock until it ends; a second locker waits for it. It
// fails without a transaction in ctx.
//
// In SQLite the write holds the database's write lock (BeginTX already
// begins IMMEDIATE, so it is held from the start; the write makes sure of
// it). In PostgreSQL it holds the row lock; an update rather than
// SELECT ... FOR UPDATE because at READ COMMITTED both behave the same,
// but at REPEATABLE READ or SERIALIZABLE (or on a distributed database)
// the waiting locker then fails with a serialization failure
// (storage.ErrTransient) instead of reading the keys through a snapshot
// taken before the first locker committed.
func (s *Store) LockKeys(ctx context.Context) error { return s.lockRow(ctx, "key_lock", "lock keys") }

// lockRow updates the one row of table (key_lock, username_lock) inside
// the transaction carried by ctx, which holds the row's lock until it
// ends; op names the lock in errors. It fails without a transaction.
func (s *Store) lockRow(ctx context.Context, table, op string) error {
	if _, ok := s.tx(ctx); !ok {
		return fmt.Errorf("%s: needs a transaction from BeginTX", op)
	}
	res, err := s.q(ctx).exec(ctx, `UPDATE `+table+` SET locked_at = $1 WHERE id = 1`, s.timeArg(s.now()))
	n, err := rowsAffected(res, err)
	if err != nil {
		return s.mapErr(ctx, op, err)
	}
	if n != 1 {
		return fmt.Errorf("%s: the %s row is missing", op, table)
	}
	return nil
}
