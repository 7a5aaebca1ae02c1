package postgres

import "database/sql"

// DB returns the database/sql handle s runs its statements on, for the
// external tests' look at the schema and the session settings.
func DB(s *Store) *sql.DB { return s.db }
