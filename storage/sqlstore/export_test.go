package sqlstore

import "context"

// InsertUserWithRoles inserts user, then gives it roles without checking
// them first, in one transaction: the foreign-key fallback that catches a
// role deleted by a concurrent transaction between CreateUser's check and
// its insert.
func InsertUserWithRoles(ctx context.Context, s *Store, user string, roles []string) error {
	return s.inTx(ctx, func(r runner) error {
		if _, err := r.exec(ctx, `INSERT INTO users (id, username) VALUES ($1, $1)`, user); err != nil {
			return err
		}
		return s.insertUserRoles(ctx, r, "test", user, roles)
	})
}
