package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/hallpass/hallpass/storage"
)

// userSelect selects a user with its role names, JSON-encoded in byte order.
const userSelect = `SELECT id, username, password_hash, email, email_verified, name,
	disabled, created_at, updated_at,
	(SELECT json_group_array(role ORDER BY role) FROM user_roles WHERE user_roles.user_id = users.id)
	FROM users`

// CreateUser stores a user and their roles in one transaction (the one
// carried by ctx, if any). storage.ErrConflict if the id or username exists,
// storage.ErrInvalidReference if a role does not exist; nothing is written
// then.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	op := fmt.Sprintf("create user %q", u.ID)
	roles := roleSet(u.Roles)
	return s.inTx(ctx, func(q querier) error {
		if err := checkRoles(ctx, q, op, roles); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO users (id, username, password_hash,
			email, email_verified, name, disabled, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Username, u.PasswordHash, u.Email, u.EmailVerified, u.Name, u.Disabled,
			micros(u.CreatedAt), micros(u.UpdatedAt)); err != nil {
			return mapErr(op, err)
		}
		return insertUserRoles(ctx, q, op, u.ID, roles)
	})
}

// GetUser returns the user with id; storage.ErrNotFound if unknown.
func (s *Store) GetUser(ctx context.Context, id string) (*storage.User, error) {
	u, err := scanUser(s.q(ctx).QueryRowContext(ctx, userSelect+` WHERE id = ?`, id))
	if err != nil {
		return nil, mapErr(fmt.Sprintf("get user %q", id), err)
	}
	return u, nil
}

// GetUserByUsername returns the user with username (compared exactly);
// storage.ErrNotFound if unknown.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*storage.User, error) {
	u, err := scanUser(s.q(ctx).QueryRowContext(ctx, userSelect+` WHERE username = ?`, username))
	if err != nil {
		return nil, mapErr(fmt.Sprintf("get user by username %q", username), err)
	}
	return u, nil
}

// ListUsers returns every user ordered by username (byte order).
func (s *Store) ListUsers(ctx context.Context) ([]storage.User, error) {
	rows, err := s.q(ctx).QueryContext(ctx, userSelect+` ORDER BY username`)
	if err != nil {
		return nil, mapErr("list users", err)
	}
	defer rows.Close()
	var us []storage.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, mapErr("list users", err)
		}
		us = append(us, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("list users", err)
	}
	return us, nil
}

// UpdateUser replaces every field of user u.ID but CreatedAt, roles
// included, in one transaction (the one carried by ctx, if any).
// storage.ErrNotFound if absent, storage.ErrConflict if the new username is
// taken, storage.ErrInvalidReference if a role does not exist; nothing is
// written then.
func (s *Store) UpdateUser(ctx context.Context, u *storage.User) error {
	op := fmt.Sprintf("update user %q", u.ID)
	roles := roleSet(u.Roles)
	return s.inTx(ctx, func(q querier) error {
		if err := checkRoles(ctx, q, op, roles); err != nil {
			return err
		}
		res, err := q.ExecContext(ctx, `UPDATE users SET
			username = ?, password_hash = ?, email = ?, email_verified = ?, name = ?,
			disabled = ?, updated_at = ?
			WHERE id = ?`,
			u.Username, u.PasswordHash, u.Email, u.EmailVerified, u.Name,
			u.Disabled, micros(u.UpdatedAt),
			u.ID)
		if err := affectedOne(res, err, op); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM user_roles WHERE user_id = ?`, u.ID); err != nil {
			return mapErr(op+": delete roles", err)
		}
		return insertUserRoles(ctx, q, op, u.ID, roles)
	})
}

// ConfirmUserCredential is a no-op update, so that it takes the user
// row's write lock and waits for a concurrent change to commit; storage.ErrNotFound
// when the user is gone, disabled or has another password hash.
func (s *Store) ConfirmUserCredential(ctx context.Context, userID, passwordHash string) error {
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE users SET password_hash = password_hash
		WHERE id = ? AND password_hash = ? AND disabled = 0`, userID, passwordHash)
	return affectedOne(res, err, fmt.Sprintf("confirm credential of user %q", userID))
}

// DeleteUser deletes user id in one transaction (the one carried by ctx, if
// any) with the token rows whose subject is id; their roles, browser
// sessions, consents and pending authorization requests go by ON DELETE
// CASCADE. storage.ErrNotFound if absent.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	op := fmt.Sprintf("delete user %q", id)
	return s.inTx(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
		if err := affectedOne(res, err, op); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM tokens WHERE subject = ?`, id); err != nil {
			return mapErr(op+": delete tokens", err)
		}
		return nil
	})
}

// roleSet returns roles sorted and without duplicates.
func roleSet(roles []string) []string {
	rs := slices.Clone(roles)
	slices.Sort(rs)
	return slices.Compact(rs)
}

// checkRoles returns storage.ErrInvalidReference, naming them, if some of
// roles do not exist.
func checkRoles(ctx context.Context, q querier, op string, roles []string) error {
	if len(roles) == 0 {
		return nil
	}
	rows, err := q.QueryContext(ctx, `SELECT value FROM json_each(?)
		WHERE value NOT IN (SELECT name FROM roles) ORDER BY value`, list(roles))
	if err != nil {
		return mapErr(op+": check roles", err)
	}
	defer rows.Close()
	var missing []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return mapErr(op+": check roles", err)
		}
		missing = append(missing, fmt.Sprintf("%q", r))
	}
	if err := rows.Err(); err != nil {
		return mapErr(op+": check roles", err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: %w: no role %s", op, storage.ErrInvalidReference, strings.Join(missing, ", "))
	}
	return nil
}

// insertUserRoles gives user the roles (a roleSet).
func insertUserRoles(ctx context.Context, q querier, op, user string, roles []string) error {
	if len(roles) == 0 {
		return nil
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO user_roles (user_id, role)
		SELECT ?, value FROM json_each(?)`, user, list(roles)); err != nil {
		return mapErr(op+": insert roles", err)
	}
	return nil
}

func scanUser(row scanner) (*storage.User, error) {
	var (
		u                storage.User
		created, updated sql.NullInt64
	)
	err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Email, &u.EmailVerified, &u.Name,
		&u.Disabled, &created, &updated, listScanner{&u.Roles})
	if err != nil {
		return nil, err
	}
	u.CreatedAt = fromMicros(created)
	u.UpdatedAt = fromMicros(updated)
	return &u, nil
}
