package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hallpass/hallpass/storage"
)

const keyColumns = `id, algorithm, state, public_jwk, private_encrypted,
	created_at, activates_at, retires_at, removes_at`

// CreateKey stores a signing key. storage.ErrConflict if the kid exists, or
// if k.State is active and another active key exists.
func (s *Store) CreateKey(ctx context.Context, k *storage.Key) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO signing_keys (`+keyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		k.ID, k.Algorithm, string(k.State), blob(k.PublicJWK), blob(k.PrivateEncrypted),
		ts(k.CreatedAt), ts(k.ActivatesAt), ts(k.RetiresAt), ts(k.RemovesAt))
	if err != nil {
		return mapErr(fmt.Sprintf("create key %q", k.ID), err)
	}
	return nil
}

// ListKeys returns every key ordered by CreatedAt, then ID.
func (s *Store) ListKeys(ctx context.Context) ([]storage.Key, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+keyColumns+` FROM signing_keys
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
			created, activates, retires, removes pgtype.Timestamptz
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &state, &k.PublicJWK, &k.PrivateEncrypted,
			&created, &activates, &retires, &removes); err != nil {
			return nil, mapErr("list keys", err)
		}
		k.State = storage.KeyState(state)
		k.PublicJWK = fromBlob(k.PublicJWK)
		k.PrivateEncrypted = fromBlob(k.PrivateEncrypted)
		k.CreatedAt = fromTS(created)
		k.ActivatesAt = fromTS(activates)
		k.RetiresAt = fromTS(retires)
		k.RemovesAt = fromTS(removes)
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
	tag, err := s.q(ctx).Exec(ctx, `UPDATE signing_keys SET
		state = $1, activates_at = $2, retires_at = $3, removes_at = $4
		WHERE id = $5`,
		string(k.State), ts(k.ActivatesAt), ts(k.RetiresAt), ts(k.RemovesAt), k.ID)
	return affectedOne(tag, err, fmt.Sprintf("update key %q", k.ID))
}

// SetKeyPrivate replaces the sealed private part of key id;
// storage.ErrNotFound if absent.
func (s *Store) SetKeyPrivate(ctx context.Context, id string, privateEncrypted []byte) error {
	tag, err := s.q(ctx).Exec(ctx, `UPDATE signing_keys SET private_encrypted = $1 WHERE id = $2`,
		blob(privateEncrypted), id)
	return affectedOne(tag, err, fmt.Sprintf("set private part of key %q", id))
}

// DeleteKey removes a key; storage.ErrNotFound if absent.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	tag, err := s.q(ctx).Exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id)
	return affectedOne(tag, err, fmt.Sprintf("delete key %q", id))
}

// LockKeys serializes signing-key changes among replicas: it updates the
// one row of key_lock inside the transaction carried by ctx, which holds
// the row lock until it ends; a second locker waits for it. An update
// rather than SELECT ... FOR UPDATE: at READ COMMITTED both behave the
// same, but at REPEATABLE READ or SERIALIZABLE (or on a distributed
// database) the waiting locker then fails with a serialization failure
// (storage.ErrConflict) instead of reading the keys through a snapshot
// taken before the first locker committed. It fails without a transaction
// in ctx.
func (s *Store) LockKeys(ctx context.Context) error {
	tx, ok := s.tx(ctx)
	if !ok {
		return errors.New("lock keys: LockKeys needs a transaction from BeginTX")
	}
	tag, err := tx.Exec(ctx, `UPDATE key_lock SET locked_at = $1 WHERE id = 1`, ts(s.now()))
	if err != nil {
		return mapErr("lock keys", err)
	}
	if tag.RowsAffected() != 1 {
		return errors.New("lock keys: the key_lock row is missing")
	}
	return nil
}
