package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hallpass/hallpass/storage"
)

// userSelect returns the query that selects a user with the list of its
// role names in byte order.
func userSelect(d *Dialect) string {
	return `SELECT ` + userColumns(d) + ` FROM users`
}

// userColumns returns the columns of a user, qualified so that they can
// be selected beside another table's, with the list of its role names in
// byte order; userDest is where they are scanned.
func userColumns(d *Dialect) string {
	return `users.id, users.username, users.password_hash, users.email, users.email_verified, users.name,
	users.disabled, users.created_at, users.updated_at, users.token_epoch,
	` + d.SortedList("role", "user_roles WHERE user_roles.user_id = users.id")
}

// CreateUser stores a user and their roles in one transaction (the one
// carried by ctx, if any). storage.ErrConflict if the id or username exists,
// storage.ErrInvalidReference if a role does not exist; nothing is written
// then.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	op := fmt.Sprintf("create user %q", u.ID)
	roles := roleSet(u.Roles)
	return s.inTx(ctx, func(ctx context.Context, r runner) error {
		if err := s.checkRoles(ctx, r, op, roles); err != nil {
			return err
		}
		if _, err := r.exec(ctx, `INSERT INTO users (id, username, password_hash,
			email, email_verified, name, disabled, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			u.ID, u.Username, u.PasswordHash, u.Email, u.EmailVerified, u.Name, u.Disabled,
			s.timeArg(u.CreatedAt), s.timeArg(u.UpdatedAt)); err != nil {
			return s.mapErr(ctx, op, err)
		}
		return s.insertUserRoles(ctx, r, op, u.ID, roles)
	})
}

// GetUser returns the user with id; storage.ErrNotFound if unknown.
func (s *Store) GetUser(ctx context.Context, id string) (*storage.User, error) {
	if err := s.lockRead(ctx, fmt.Sprintf("lock user %q", id), "users", "id = $1", id); err != nil {
		return nil, err
	}
	u, err := s.scanUser(s.q(ctx).queryRow(ctx, s.userSelect+` WHERE id = $1`, id))
	if err != nil {
		return nil, s.mapErr(ctx, fmt.Sprintf("get user %q", id), err)
	}
	return u, nil
}

// GetUserByUsername returns the user with username (compared exactly);
// storage.ErrNotFound if unknown.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*storage.User, error) {
	if err := s.lockRead(ctx, fmt.Sprintf("lock user by username %q", username), "users", "username = $1", username); err != nil {
		return nil, err
	}
	u, err := s.scanUser(s.q(ctx).queryRow(ctx, s.userSelect+` WHERE username = $1`, username))
	if err != nil {
		return nil, s.mapErr(ctx, fmt.Sprintf("get user by username %q", username), err)
	}
	return u, nil
}

// FindUsersByUsernameFold returns the users whose username equals
// username under strings.EqualFold, ordered by username (byte order).
//
// Usernames are ASCII (directory.ValidName), so one query through the
// index on lower(username) (migration 0016) finds them all: lower() is
// ASCII-only in SQLite and on PostgreSQL's "C" collation of the column,
// and asciiFold takes username's KELVIN SIGN or LONG S to the ASCII
// letters they fold to. A username stored outside ASCII by a hand edit
// of the database is not looked for.
func (s *Store) FindUsersByUsernameFold(ctx context.Context, username string) ([]storage.User, error) {
	// The username is left out of the error: sign-in passes what was
	// typed into a login form, now and then a password. Callers looking
	// up a name an admin gave add it themselves.
	const op = "find users by username in any case"
	if err := s.lockRead(ctx, op, "users", "lower(username) = $1", asciiFold(username)); err != nil {
		return nil, err
	}
	lowered, err := queryAll(ctx, s, op, s.userSelect+` WHERE lower(username) = $1 ORDER BY username`, s.scanUser, asciiFold(username))
	if err != nil {
		return nil, err
	}
	// lower() and asciiFold only narrow: strings.EqualFold decides.
	return slices.DeleteFunc(lowered, func(u storage.User) bool { return !strings.EqualFold(u.Username, username) }), nil
}

// LockUsernames serializes the transactions that create or rename users:
// it updates the one row of username_lock inside the transaction carried
// by ctx, which holds the lock until it ends; a second locker waits for
// it, and at READ COMMITTED then reads what the first committed. It
// fails without a transaction in ctx. As LockKeys, an update rather than
// SELECT ... FOR UPDATE, so that at stricter isolation levels the waiting
// locker fails (storage.ErrTransient) rather than read through a stale
// snapshot.
func (s *Store) LockUsernames(ctx context.Context) error {
	return s.lockRow(ctx, "username_lock", "lock usernames")
}

// asciiFold returns s with every character whose case folding includes
// an ASCII letter (the ASCII letters themselves, and U+212A KELVIN SIGN
// and U+017F LATIN SMALL LETTER LONG S) replaced by that letter in lower
// case. An ASCII username u equals s under strings.EqualFold only if
// u, lowercased, equals asciiFold(s).
func asciiFold(s string) string {
	return strings.Map(func(r rune) rune {
		for f := r; ; {
			if f < utf8.RuneSelf {
				return unicode.ToLower(f)
			}
			if f = unicode.SimpleFold(f); f == r {
				return r
			}
		}
	}, s)
}

// ListUsers returns every user ordered by username (byte order).
func (s *Store) ListUsers(ctx context.Context) ([]storage.User, error) {
	return queryAll(ctx, s, "list users", s.userSelect+` ORDER BY username`, s.scanUser)
}

// UpdateUser replaces every field of user u.ID but CreatedAt, roles
// included, in one transaction (the one carried by ctx, if any).
// storage.ErrNotFound if absent, storage.ErrConflict if the new username is
// taken, storage.ErrInvalidReference if a role does not exist; nothing is
// written then.
func (s *Store) UpdateUser(ctx context.Context, u *storage.User) error {
	op := fmt.Sprintf("update user %q", u.ID)
	roles := roleSet(u.Roles)
	return s.inTx(ctx, func(ctx context.Context, r runner) error {
		if err := s.checkRoles(ctx, r, op, roles); err != nil {
			return err
		}
		res, err := r.exec(ctx, `UPDATE users SET
			username = $1, password_hash = $2, email = $3, email_verified = $4, name = $5,
			disabled = $6, updated_at = $7
			WHERE id = $8`,
			u.Username, u.PasswordHash, u.Email, u.EmailVerified, u.Name,
			u.Disabled, s.timeArg(u.UpdatedAt),
			u.ID)
		if err := s.affectedOne(ctx, res, err, op); err != nil {
			return err
		}
		if _, err := r.exec(ctx, `DELETE FROM user_roles WHERE user_id = $1`, u.ID); err != nil {
			return s.mapErr(ctx, op+": delete roles", err)
		}
		return s.insertUserRoles(ctx, r, op, u.ID, roles)
	})
}

// ConfirmUserCredential waits for a concurrent change of the user row to
// commit and then judges the row: storage.ErrNotFound when the user is
// gone, disabled or has another password hash. Where the dialect has a
// shared row lock (Dialect.ForShare) it reads the row under it, which
// writes nothing; elsewhere it is a no-op update, which takes the write
// lock. Either is a statement of its own outside a transaction, run
// again if the database could not order it (at a stricter isolation
// level).
func (s *Store) ConfirmUserCredential(ctx context.Context, userID, passwordHash string) error {
	op := fmt.Sprintf("confirm credential of user %q", userID)
	if s.d.ForShare == "" {
		res, err := s.q(ctx).exec(ctx, `UPDATE users SET password_hash = password_hash
			WHERE id = $1 AND password_hash = $2 AND NOT disabled`, userID, passwordHash)
		return s.affectedOne(ctx, res, err, op)
	}
	return s.inStmt(ctx, func(ctx context.Context, r runner) error {
		var one int
		if err := r.queryRow(ctx, s.confirmSelect, userID, passwordHash).Scan(&one); err != nil {
			return s.mapErr(ctx, op, err)
		}
		return nil
	})
}

// confirmSelect returns ConfirmUserCredential's read of the user row
// under the dialect's shared lock (Dialect.ForShare).
func confirmSelect(d *Dialect) string {
	return `SELECT 1 FROM users WHERE id = $1 AND password_hash = $2 AND NOT disabled` + d.ForShare
}

// DeleteUser deletes user id in one transaction (the one carried by ctx, if
// any) with the token rows whose subject is id; their roles, browser
// sessions, consents and pending authorization requests go by ON DELETE
// CASCADE. storage.ErrNotFound if absent.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	op := fmt.Sprintf("delete user %q", id)
	return s.inTx(ctx, func(ctx context.Context, r runner) error {
		res, err := r.exec(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err := s.affectedOne(ctx, res, err, op); err != nil {
			return err
		}
		if _, err := r.exec(ctx, `DELETE FROM tokens WHERE subject = $1`, id); err != nil {
			return s.mapErr(ctx, op+": delete tokens", err)
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
// roles do not exist. A role deleted by a concurrent transaction after the
// check still fails the insert that follows, with a foreign-key violation
// that mapErr also reports as storage.ErrInvalidReference.
func (s *Store) checkRoles(ctx context.Context, r runner, op string, roles []string) error {
	if len(roles) == 0 {
		return nil
	}
	rows, err := r.query(ctx, `SELECT value FROM `+s.d.ListRows("$1")+`
		WHERE value NOT IN (SELECT name FROM roles)`, s.listArg(roles))
	if err != nil {
		return s.mapErr(ctx, op+": check roles", err)
	}
	defer rows.Close()
	var missing []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return s.mapErr(ctx, op+": check roles", err)
		}
		missing = append(missing, name)
	}
	if err := rows.Err(); err != nil {
		return s.mapErr(ctx, op+": check roles", err)
	}
	if len(missing) > 0 {
		// Byte order, whatever the database's collation.
		slices.Sort(missing)
		for i, name := range missing {
			missing[i] = fmt.Sprintf("%q", name)
		}
		return fmt.Errorf("%s: %w: no role %s", op, storage.ErrInvalidReference, strings.Join(missing, ", "))
	}
	return nil
}

// insertUserRoles gives user the roles (a roleSet).
func (s *Store) insertUserRoles(ctx context.Context, r runner, op, user string, roles []string) error {
	if len(roles) == 0 {
		return nil
	}
	if _, err := r.exec(ctx, `INSERT INTO user_roles (user_id, role)
		SELECT $1, value FROM `+s.d.ListRows("$2"), user, s.listArg(roles)); err != nil {
		return s.mapErr(ctx, op+": insert roles", err)
	}
	return nil
}

func (s *Store) scanUser(row scanner) (*storage.User, error) {
	var u storage.User
	if err := row.Scan(s.userDest(&u)...); err != nil {
		return nil, err
	}
	return &u, nil
}

// userDest is where a row of userColumns is scanned.
func (s *Store) userDest(u *storage.User) []any {
	return []any{&u.ID, &u.Username, &u.PasswordHash, &u.Email, &u.EmailVerified, &u.Name,
		&u.Disabled, s.timeCol(&u.CreatedAt), s.timeCol(&u.UpdatedAt), &u.TokenEpoch, s.listCol(&u.Roles)}
}
