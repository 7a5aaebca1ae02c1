package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hallpass/hallpass/storage"
)

const roleColumns = `name, description, scopes, created_at, updated_at`

// CreateRole stores a role; storage.ErrConflict if the name exists.
func (s *Store) CreateRole(ctx context.Context, r *storage.Role) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO roles (`+roleColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		r.Name, r.Description, list(r.Scopes), ts(r.CreatedAt), ts(r.UpdatedAt))
	if err != nil {
		return mapErr(fmt.Sprintf("create role %q", r.Name), err)
	}
	return nil
}

// GetRole returns the role name; storage.ErrNotFound if unknown.
func (s *Store) GetRole(ctx context.Context, name string) (*storage.Role, error) {
	r, err := scanRole(s.q(ctx).QueryRow(ctx, `SELECT `+roleColumns+` FROM roles WHERE name = $1`, name))
	if err != nil {
		return nil, mapErr(fmt.Sprintf("get role %q", name), err)
	}
	return r, nil
}

// ListRoles returns every role ordered by name (byte order).
func (s *Store) ListRoles(ctx context.Context) ([]storage.Role, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+roleColumns+` FROM roles ORDER BY name`)
	if err != nil {
		return nil, mapErr("list roles", err)
	}
	defer rows.Close()
	var rs []storage.Role
	for rows.Next() {
		r, err := scanRole(rows)
		if err != nil {
			return nil, mapErr("list roles", err)
		}
		rs = append(rs, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("list roles", err)
	}
	return rs, nil
}

// UpdateRole replaces Description and Scopes of role r.Name, and UpdatedAt
// unless r.UpdatedAt is zero; storage.ErrNotFound if absent.
func (s *Store) UpdateRole(ctx context.Context, r *storage.Role) error {
	tag, err := s.q(ctx).Exec(ctx, `UPDATE roles SET
		description = $1, scopes = $2, updated_at = coalesce($3, updated_at)
		WHERE name = $4`,
		r.Description, list(r.Scopes), ts(r.UpdatedAt), r.Name)
	return affectedOne(tag, err, fmt.Sprintf("update role %q", r.Name))
}

// DeleteRole deletes role name; users who held it lose it by ON DELETE
// CASCADE. storage.ErrNotFound if absent.
func (s *Store) DeleteRole(ctx context.Context, name string) error {
	tag, err := s.q(ctx).Exec(ctx, `DELETE FROM roles WHERE name = $1`, name)
	return affectedOne(tag, err, fmt.Sprintf("delete role %q", name))
}

func scanRole(row scanner) (*storage.Role, error) {
	var (
		r                storage.Role
		created, updated pgtype.Timestamptz
	)
	if err := row.Scan(&r.Name, &r.Description, &r.Scopes, &created, &updated); err != nil {
		return nil, err
	}
	r.Scopes = fromList(r.Scopes)
	r.CreatedAt = fromTS(created)
	r.UpdatedAt = fromTS(updated)
	return &r, nil
}

const scopeColumns = `name, description, audience, created_at, updated_at`

// CreateScope registers a scope; storage.ErrConflict if the name exists.
func (s *Store) CreateScope(ctx context.Context, sc *storage.Scope) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO scopes (`+scopeColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		sc.Name, sc.Description, sc.Audience, ts(sc.CreatedAt), ts(sc.UpdatedAt))
	if err != nil {
		return mapErr(fmt.Sprintf("create scope %q", sc.Name), err)
	}
	return nil
}

// GetScope returns the registered scope name; storage.ErrNotFound if unknown.
func (s *Store) GetScope(ctx context.Context, name string) (*storage.Scope, error) {
	sc, err := scanScope(s.q(ctx).QueryRow(ctx, `SELECT `+scopeColumns+` FROM scopes WHERE name = $1`, name))
	if err != nil {
		return nil, mapErr(fmt.Sprintf("get scope %q", name), err)
	}
	return sc, nil
}

// ListScopes returns every registered scope ordered by name (byte order).
func (s *Store) ListScopes(ctx context.Context) ([]storage.Scope, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+scopeColumns+` FROM scopes ORDER BY name`)
	if err != nil {
		return nil, mapErr("list scopes", err)
	}
	defer rows.Close()
	var ss []storage.Scope
	for rows.Next() {
		sc, err := scanScope(rows)
		if err != nil {
			return nil, mapErr("list scopes", err)
		}
		ss = append(ss, *sc)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("list scopes", err)
	}
	return ss, nil
}

// UpdateScope replaces Description and Audience of scope sc.Name, and
// UpdatedAt unless sc.UpdatedAt is zero; storage.ErrNotFound if absent.
func (s *Store) UpdateScope(ctx context.Context, sc *storage.Scope) error {
	tag, err := s.q(ctx).Exec(ctx, `UPDATE scopes SET
		description = $1, audience = $2, updated_at = coalesce($3, updated_at)
		WHERE name = $4`,
		sc.Description, sc.Audience, ts(sc.UpdatedAt), sc.Name)
	return affectedOne(tag, err, fmt.Sprintf("update scope %q", sc.Name))
}

// DeleteScope unregisters scope name (roles keep naming it);
// storage.ErrNotFound if absent.
func (s *Store) DeleteScope(ctx context.Context, name string) error {
	tag, err := s.q(ctx).Exec(ctx, `DELETE FROM scopes WHERE name = $1`, name)
	return affectedOne(tag, err, fmt.Sprintf("delete scope %q", name))
}

func scanScope(row scanner) (*storage.Scope, error) {
	var (
		sc               storage.Scope
		created, updated pgtype.Timestamptz
	)
	if err := row.Scan(&sc.Name, &sc.Description, &sc.Audience, &created, &updated); err != nil {
		return nil, err
	}
	sc.CreatedAt = fromTS(created)
	sc.UpdatedAt = fromTS(updated)
	return &sc, nil
}
