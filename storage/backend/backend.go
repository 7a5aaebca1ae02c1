// Package backend opens the storage backend a database URL names. It is
// the one place that knows every backend, so commands and tests select
// storage the same way.
package backend

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/storage/postgres"
	"github.com/hallpass/hallpass/storage/sqlite"
)

// Open opens, without migrating, the database named by dsn: "sqlite:PATH"
// for an SQLite file or a postgres:// (postgresql://) URL.
func Open(ctx context.Context, dsn string) (storage.Store, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, errors.New("open database: sqlite: needs a file path, e.g. sqlite:hallpass.db")
		}
		return sqlite.Open(ctx, path)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return postgres.Open(ctx, dsn)
	}
	return nil, fmt.Errorf("open database %q: use sqlite:PATH or a postgres:// URL", Redact(dsn))
}

// Redact hides the password of a database URL, for logs and errors.
func Redact(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 || scheme > at {
		return dsn
	}
	userinfo := dsn[scheme+3 : at]
	if user, _, ok := strings.Cut(userinfo, ":"); ok {
		return dsn[:scheme+3] + user + ":xxxxx" + dsn[at:]
	}
	return dsn
}
