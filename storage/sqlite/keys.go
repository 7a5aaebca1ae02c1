package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hallpass/hallpass/storage"
)

const keyColumns = `id, algorithm, state, public_jwk, private_encrypted,
	created_at, activates_at, retires_at, removes_at`

// CreateKey stores a signing key. storage.ErrConflict if the kid exists, or
// if k.State is active and another active key exists.
func (s *Store) CreateKey(ctx context.Context, k *storage.Key) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO signing_keys (`+keyColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, string(k.State), blob(k.PublicJWK), blob(k.PrivateEncrypted),
		micros(k.CreatedAt), micros(k.ActivatesAt), micros(k.RetiresAt), micros(k.RemovesAt))
	if err != nil {
		return mapErr(fmt.Sprintf("create key %q", k.ID), err)
	}
	return nil
}

// ListKeys returns every key ordered by CreatedAt, then ID.
func (s *Store) ListKeys(ctx context.Context) ([]storage.Key, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT `+keyColumns+` FROM signing_keys
		ORDER BY created_at NULLS FIRST, id`)
	if err != nil {
		return nil, mapErr("list keys", err)
	}
	defer rows.Close()
	var ks []storage.Key
	for rows.Next() {
		var (
			k                                    storage.Key
			state                                string
			pub, priv                            []byte
			created, activates, retires, removes sql.NullInt64
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &state, &pub, &priv,
			&created, &activates, &retires, &removes); err != nil {
			return nil, mapErr("list keys", err)
		}
		k.State = storage.KeyState(state)
		k.PublicJWK = fromBlob(pub)
		k.PrivateEncrypted = fromBlob(priv)
		k.CreatedAt = fromMicros(created)
		k.ActivatesAt = fromMicros(activates)
		k.RetiresAt = fromMicros(retires)
		k.RemovesAt = fromMicros(removes)
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("list keys", err)
	}
	return ks, nil
}

// UpdateKey replaces State, ActivatesAt, RetiresAt and RemovesAt of key k.ID.
// storage.ErrNotFound if absent, storage.ErrConflict if it would make a
// second active key.
func (s *Store) UpdateKey(ctx context.Context, k *storage.Key) error {
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE signing_keys SET
		state = ?, activates_at = ?, retires_at = ?, removes_at = ?
		WHERE id = ?`,
		string(k.State), micros(k.ActivatesAt), micros(k.RetiresAt), micros(k.RemovesAt), k.ID)
	return affectedOne(res, err, fmt.Sprintf("update key %q", k.ID))
}

// SetKeyPrivate replaces the sealed private part of key id;
// storage.ErrNotFound if absent.
func (s *Store) SetKeyPrivate(ctx context.Context, id string, privateEncrypted []byte) error {
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE signing_keys SET private_encrypted = ? WHERE id = ?`,
		blob(privateEncrypted), id)
	return affectedOne(res, err, fmt.Sprintf("set private part of key %q", id))
}

// DeleteKey removes a key; storage.ErrNotFound if absent.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	res, err := s.q(ctx).ExecContext(ctx, `DELETE FROM signing_keys WHERE id = ?`, id)
	return affectedOne(res, err, fmt.Sprintf("delete key %q", id))
}

// LockKeys serializes signing-key changes: it writes the one row of
// key_lock inside the transaction carried by ctx, which then holds
// SQLite's write lock until it ends. (BeginTX already begins IMMEDIATE, so
// the write lock is held from the start; the write makes sure of it.) It
// fails without a transaction in ctx.
func (s *Store) LockKeys(ctx context.Context) error {
	tx, ok := s.tx(ctx)
	if !ok {
		return errors.New("lock keys: LockKeys needs a transaction from BeginTX")
	}
	res, err := tx.ExecContext(ctx, `UPDATE key_lock SET locked_at = ? WHERE id = 1`, s.now().UnixMicro())
	if err != nil {
		return mapErr("lock keys", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr("lock keys", err)
	}
	if n != 1 {
		return errors.New("lock keys: the key_lock row is missing")
	}
	return nil
}
