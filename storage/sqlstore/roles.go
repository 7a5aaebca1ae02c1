package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hallpass/hallpass/storage"
)

const roleColumns = `name, description, scopes, created_at, updated_at, require_mfa`

// CreateRole stores a role; storage.ErrConflict if the name exists.
func (s *Store) CreateRole(ctx context.Context, r *storage.Role) error {
	_, err := s.q(ctx).exec(ctx, `INSERT INTO roles (`+roleColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		r.Name, r.Description, s.listArg(r.Scopes), s.timeArg(r.CreatedAt), s.timeArg(r.UpdatedAt), r.RequireMFA)
	if err != nil {
		return s.mapErr(ctx, fmt.Sprintf("create role %q", r.Name), err)
	}
	return nil
}

// GetRole returns the role name; storage.ErrNotFound if unknown.
func (s *Store) GetRole(ctx context.Context, name string) (*storage.Role, error) {
	if err := s.lockRead(ctx, fmt.Sprintf("lock role %q", name), "roles", "name = $1", name); err != nil {
		return nil, err
	}
	r, err := s.scanRole(s.q(ctx).queryRow(ctx, `SELECT `+roleColumns+` FROM roles WHERE name = $1`, name))
	if err != nil {
		return nil, s.mapErr(ctx, fmt.Sprintf("get role %q", name), err)
	}
	return r, nil
}

// ListRoles returns every role ordered by name (byte order).
func (s *Store) ListRoles(ctx context.Context) ([]storage.Role, error) {
	return queryAll(ctx, s, "list roles", `SELECT `+roleColumns+` FROM roles ORDER BY name`, s.scanRole)
}

// UpdateRole replaces Description, Scopes and RequireMFA of role r.Name, and UpdatedAt
// unless r.UpdatedAt is zero; storage.ErrNotFound if absent.
func (s *Store) UpdateRole(ctx context.Context, r *storage.Role) error {
	res, err := s.q(ctx).exec(ctx, `UPDATE roles SET
		description = $1, scopes = $2, updated_at = coalesce($3, updated_at), require_mfa = $5
		WHERE name = $4`,
		r.Description, s.listArg(r.Scopes), s.timeArg(r.UpdatedAt), r.Name, r.RequireMFA)
	return s.affectedOne(ctx, res, err, fmt.Sprintf("update role %q", r.Name))
}

// DeleteRole deletes role name; users who held it lose it by ON DELETE
// CASCADE. storage.ErrNotFound if absent.
func (s *Store) DeleteRole(ctx context.Context, name string) error {
	res, err := s.q(ctx).exec(ctx, `DELETE FROM roles WHERE name = $1`, name)
	return s.affectedOne(ctx, res, err, fmt.Sprintf("delete role %q", name))
}

// RoleHolders returns the usernames of at most limit holders of role
// name in byte order, and how many hold it; storage.ErrNotFound if the
// role does not exist. The role's row is read FOR UPDATE (PostgreSQL;
// SQLite's write transactions hold the database), which a user gaining
// the role must wait for: its foreign key check locks the row to share.
func (s *Store) RoleHolders(ctx context.Context, name string, limit int) ([]string, int, error) {
	op := fmt.Sprintf("read the holders of role %q", name)
	r := s.q(ctx)
	var found string
	if err := r.queryRow(ctx, `SELECT name FROM roles WHERE name = $1`+s.d.ForUpdate, name).Scan(&found); err != nil {
		return nil, 0, s.mapErr(ctx, op, err)
	}
	var total int
	if err := r.queryRow(ctx, `SELECT count(*) FROM user_roles WHERE role = $1`, name).Scan(&total); err != nil {
		return nil, 0, s.mapErr(ctx, op, err)
	}
	if limit <= 0 || total == 0 {
		return []string{}, total, nil
	}
	rows, err := queryAllIn(ctx, s, r, op, `SELECT users.username FROM user_roles JOIN users ON users.id = user_roles.user_id
		WHERE user_roles.role = $1 ORDER BY users.username LIMIT $2`, func(row scanner) (*string, error) {
		var u string
		return &u, row.Scan(&u)
	}, name, limit)
	if err != nil {
		return nil, 0, err
	}
	return append([]string{}, rows...), total, nil
}

func (s *Store) scanRole(row scanner) (*storage.Role, error) {
	var r storage.Role
	if err := row.Scan(&r.Name, &r.Description, s.listCol(&r.Scopes),
		s.timeCol(&r.CreatedAt), s.timeCol(&r.UpdatedAt), &r.RequireMFA); err != nil {
		return nil, err
	}
	return &r, nil
}

const scopeColumns = `name, description, audience, created_at, updated_at`

// CreateScope registers a scope; storage.ErrConflict if the name exists.
func (s *Store) CreateScope(ctx context.Context, sc *storage.Scope) error {
	_, err := s.q(ctx).exec(ctx, `INSERT INTO scopes (`+scopeColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		sc.Name, sc.Description, sc.Audience, s.timeArg(sc.CreatedAt), s.timeArg(sc.UpdatedAt))
	if err != nil {
		return s.mapErr(ctx, fmt.Sprintf("create scope %q", sc.Name), err)
	}
	return nil
}

// GetScope returns the registered scope name; storage.ErrNotFound if unknown.
func (s *Store) GetScope(ctx context.Context, name string) (*storage.Scope, error) {
	if err := s.lockRead(ctx, fmt.Sprintf("lock scope %q", name), "scopes", "name = $1", name); err != nil {
		return nil, err
	}
	sc, err := s.scanScope(s.q(ctx).queryRow(ctx, `SELECT `+scopeColumns+` FROM scopes WHERE name = $1`, name))
	if err != nil {
		return nil, s.mapErr(ctx, fmt.Sprintf("get scope %q", name), err)
	}
	return sc, nil
}

// ListScopes returns every registered scope ordered by name (byte order).
func (s *Store) ListScopes(ctx context.Context) ([]storage.Scope, error) {
	return queryAll(ctx, s, "list scopes", `SELECT `+scopeColumns+` FROM scopes ORDER BY name`, s.scanScope)
}

// UpdateScope replaces Description and Audience of scope sc.Name, and
// UpdatedAt unless sc.UpdatedAt is zero; storage.ErrNotFound if absent.
func (s *Store) UpdateScope(ctx context.Context, sc *storage.Scope) error {
	res, err := s.q(ctx).exec(ctx, `UPDATE scopes SET
		description = $1, audience = $2, updated_at = coalesce($3, updated_at)
		WHERE name = $4`,
		sc.Description, sc.Audience, s.timeArg(sc.UpdatedAt), sc.Name)
	return s.affectedOne(ctx, res, err, fmt.Sprintf("update scope %q", sc.Name))
}

// DeleteScope unregisters scope name (roles keep naming it);
// storage.ErrNotFound if absent.
func (s *Store) DeleteScope(ctx context.Context, name string) error {
	res, err := s.q(ctx).exec(ctx, `DELETE FROM scopes WHERE name = $1`, name)
	return s.affectedOne(ctx, res, err, fmt.Sprintf("delete scope %q", name))
}

func (s *Store) scanScope(row scanner) (*storage.Scope, error) {
	var sc storage.Scope
	if err := row.Scan(&sc.Name, &sc.Description, &sc.Audience,
		s.timeCol(&sc.CreatedAt), s.timeCol(&sc.UpdatedAt)); err != nil {
		return nil, err
	}
	return &sc, nil
}

// FindRoleNamesFold returns the role names that equal name under
// strings.EqualFold, in byte order, through the index on lower(name)
// (migration 0018); see FindUsersByUsernameFold for why lower() and
// asciiFold find them all.
func (s *Store) FindRoleNamesFold(ctx context.Context, name string) ([]string, error) {
	return s.namesFold(ctx, "roles", "name", name, "find role names in any case")
}

// FindScopeNamesFold is FindRoleNamesFold for registered scopes.
func (s *Store) FindScopeNamesFold(ctx context.Context, name string) ([]string, error) {
	return s.namesFold(ctx, "scopes", "name", name, "find scope names in any case")
}

// FindClientIDsFold is FindRoleNamesFold for client ids.
func (s *Store) FindClientIDsFold(ctx context.Context, id string) ([]string, error) {
	return s.namesFold(ctx, "clients", "id", id, "find client ids in any case")
}

// namesFold returns the values of column of table (a name that keys it)
// that equal name under strings.EqualFold, in byte order. op says what
// is being done, for errors.
func (s *Store) namesFold(ctx context.Context, table, column, name, op string) ([]string, error) {
	found, err := queryAll(ctx, s, op+fmt.Sprintf(" (%q)", name),
		`SELECT `+column+` FROM `+table+` WHERE lower(`+column+`) = $1 ORDER BY `+column,
		func(sc scanner) (*string, error) {
			var v string
			return &v, sc.Scan(&v)
		}, asciiFold(name))
	if err != nil {
		return nil, err
	}
	// lower() and asciiFold only narrow: strings.EqualFold decides.
	return slices.DeleteFunc(found, func(v string) bool { return !strings.EqualFold(v, name) }), nil
}

// LockNames serializes the transactions that create roles, scopes and
// clients: it updates the one row of name_lock (migration 0018) inside
// the transaction carried by ctx, as LockUsernames does username_lock.
func (s *Store) LockNames(ctx context.Context) error {
	return s.lockRow(ctx, "name_lock", "lock role, scope and client names")
}
