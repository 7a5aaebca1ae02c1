package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hallpass/hallpass/storage"
)

const tokenColumns = `kind, signature, request_id, requested_at, client_id, subject,
	requested_scopes, granted_scopes, requested_audience, granted_audience,
	form, session, active, expires_at, access_signature`

// CreateToken stores a token row; storage.ErrConflict if (kind, signature)
// exists.
func (s *Store) CreateToken(ctx context.Context, t *storage.Token) error {
	_, err := s.q(ctx).exec(ctx, `INSERT INTO tokens (`+tokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		string(t.Kind), t.Signature, t.RequestID, s.timeArg(t.RequestedAt), t.ClientID, t.Subject,
		s.listArg(t.RequestedScopes), s.listArg(t.GrantedScopes), s.listArg(t.RequestedAudience), s.listArg(t.GrantedAudience),
		t.Form, blobArg(t.Session), t.Active, s.timeArg(t.ExpiresAt), t.AccessSignature)
	if err != nil {
		return s.mapErr(ctx, fmt.Sprintf("create %s token", t.Kind), err)
	}
	return nil
}

// CreateTokens stores rows in one statement: all of them, or none with
// storage.ErrConflict when a (kind, signature) of them exists.
func (s *Store) CreateTokens(ctx context.Context, ts []*storage.Token) error {
	if len(ts) == 0 {
		return nil
	}
	query, args := s.insertTokens(ts, "", 0)
	if _, err := s.q(ctx).exec(ctx, query, args...); err != nil {
		return s.mapErr(ctx, fmt.Sprintf("create %d tokens", len(ts)), err)
	}
	return nil
}

// touchSession is TouchBrowserSession's statement; $1 is the time, $2
// the session.
const touchSession = `UPDATE browser_sessions SET last_seen_at = $1 WHERE id = $2`

// CreateTokensTouching stores rows and touches browser session sessionID
// (TouchBrowserSession, but a session that is gone is no error) in one
// write: where the dialect allows, one statement, the touch in its WITH
// clause (a signed-in browser's authorization request then costs a read
// and this one round trip, however long ago the browser was last seen);
// else one transaction, whose one commit costs what one statement's
// would.
func (s *Store) CreateTokensTouching(ctx context.Context, ts []*storage.Token, sessionID string, lastSeen time.Time) error {
	if len(ts) == 0 {
		return s.touchQuietly(ctx, sessionID, lastSeen)
	}
	op := fmt.Sprintf("create %d tokens touching a browser session", len(ts))
	if s.d.WritesInWith {
		query, args := s.insertTokens(ts, `WITH touched AS (`+touchSession+`) `, 2)
		args[0], args[1] = s.timeArg(lastSeen), sessionID
		if _, err := s.q(ctx).exec(ctx, query, args...); err != nil {
			return s.mapErr(ctx, op, err)
		}
		return nil
	}
	query, args := s.insertTokens(ts, "", 0)
	return s.inTx(ctx, func(ctx context.Context, r runner) error {
		if _, err := r.exec(ctx, touchSession, s.timeArg(lastSeen), sessionID); err != nil {
			return s.mapErr(ctx, op, err)
		}
		if _, err := r.exec(ctx, query, args...); err != nil {
			return s.mapErr(ctx, op, err)
		}
		return nil
	})
}

// touchQuietly touches session id, which may be gone.
func (s *Store) touchQuietly(ctx context.Context, id string, lastSeen time.Time) error {
	_, err := s.q(ctx).exec(ctx, touchSession, s.timeArg(lastSeen), id)
	if err != nil {
		return s.mapErr(ctx, "touch browser session", err)
	}
	return nil
}

// placeholders returns the list of n parameters numbered from first,
// "$first, $first+1, ...", for an IN list of values passed one by one.
func placeholders(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(first + i))
	}
	return b.String()
}

// insertTokens returns the INSERT of rows ts, after prefix, with its
// arguments; the first skip arguments ($1 to $skip) are left for the
// caller to set, for prefix.
func (s *Store) insertTokens(ts []*storage.Token, prefix string, skip int) (string, []any) {
	const n = 15 // columns
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteString(`INSERT INTO tokens (` + tokenColumns + `) VALUES `)
	args := make([]any, skip, skip+n*len(ts))
	for i, t := range ts {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + placeholders(skip+i*n+1, n) + ")")
		args = append(args, string(t.Kind), t.Signature, t.RequestID, s.timeArg(t.RequestedAt), t.ClientID, t.Subject,
			s.listArg(t.RequestedScopes), s.listArg(t.GrantedScopes), s.listArg(t.RequestedAudience), s.listArg(t.GrantedAudience),
			t.Form, blobArg(t.Session), t.Active, s.timeArg(t.ExpiresAt), t.AccessSignature)
	}
	return b.String(), args
}

// GetTokens returns the rows of keys that exist, active or not, in one
// statement; a key without a row is left out.
//
// Each key is its own lookup by primary key, joined with UNION ALL, not
// one WHERE of ORed keys: on a table that was small when last analyzed,
// PostgreSQL plans the ORed form as a scan of the whole table, and keeps
// that generic plan for the prepared statement while the table grows
// (TestCodeExchangePlansByPrimaryKey).
func (s *Store) GetTokens(ctx context.Context, keys []storage.TokenKey) ([]storage.Token, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	var b strings.Builder
	args := make([]any, 0, 2*len(keys))
	for i, k := range keys {
		if slices.Contains(keys[:i], k) {
			continue // one row per key, as the ORed form gave
		}
		if len(args) > 0 {
			b.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&b, "SELECT "+tokenColumns+" FROM tokens WHERE kind = $%d AND signature = $%d", len(args)+1, len(args)+2)
		args = append(args, string(k.Kind), k.Signature)
	}
	return queryAll(ctx, s, "get tokens", b.String(), s.scanToken, args...)
}

// scanToken reads a row of tokenColumns.
func (s *Store) scanToken(row scanner) (*storage.Token, error) {
	var (
		t       storage.Token
		kindStr string
	)
	if err := row.Scan(&kindStr, &t.Signature, &t.RequestID, s.timeCol(&t.RequestedAt), &t.ClientID, &t.Subject,
		s.listCol(&t.RequestedScopes), s.listCol(&t.GrantedScopes),
		s.listCol(&t.RequestedAudience), s.listCol(&t.GrantedAudience),
		&t.Form, blobCol{&t.Session}, &t.Active, s.timeCol(&t.ExpiresAt), &t.AccessSignature); err != nil {
		return nil, err
	}
	t.Kind = storage.TokenKind(kindStr)
	return &t, nil
}

// GetToken returns the row whether active or not; storage.ErrNotFound if
// absent.
func (s *Store) GetToken(ctx context.Context, kind storage.TokenKind, signature string) (*storage.Token, error) {
	var (
		t       storage.Token
		kindStr string
	)
	err := s.q(ctx).queryRow(ctx, `SELECT `+tokenColumns+` FROM tokens
		WHERE kind = $1 AND signature = $2`, string(kind), signature).Scan(
		&kindStr, &t.Signature, &t.RequestID, s.timeCol(&t.RequestedAt), &t.ClientID, &t.Subject,
		s.listCol(&t.RequestedScopes), s.listCol(&t.GrantedScopes),
		s.listCol(&t.RequestedAudience), s.listCol(&t.GrantedAudience),
		&t.Form, blobCol{&t.Session}, &t.Active, s.timeCol(&t.ExpiresAt), &t.AccessSignature)
	if err != nil {
		return nil, s.mapErr(ctx, fmt.Sprintf("get %s token", kind), err)
	}
	t.Kind = storage.TokenKind(kindStr)
	return &t, nil
}

// DeactivateToken marks an active row inactive with a conditional update.
// storage.ErrNotFound if the row is absent, storage.ErrConflict if it was
// already inactive (a concurrent caller won).
func (s *Store) DeactivateToken(ctx context.Context, kind storage.TokenKind, signature string) error {
	return s.deactivate(ctx, fmt.Sprintf("deactivate %s token", kind), "", kind, signature)
}

// DeactivateTokenAtEpoch marks an active row inactive provided its
// subject is a user whose token epoch is userEpoch; storage.ErrConflict if
// it was inactive, storage.ErrNotFound if absent or if the epoch moved on
// (or the user is gone).
func (s *Store) DeactivateTokenAtEpoch(ctx context.Context, kind storage.TokenKind, signature string, userEpoch int64) error {
	return s.deactivate(ctx, fmt.Sprintf("deactivate %s token at the user's token epoch", kind),
		` AND EXISTS (SELECT 1 FROM users WHERE users.id = tokens.subject AND users.token_epoch = $3)`,
		kind, signature, userEpoch)
}

// deactivate marks the active row (kind, signature) inactive where the
// further condition cond (with its arguments from $3 on) holds:
// storage.ErrConflict, nothing changed, if the row is inactive,
// storage.ErrNotFound if there is no row, or, nothing changed, if the row
// is active and cond fails (DeactivateTokenAtEpoch: its grant has ended).
func (s *Store) deactivate(ctx context.Context, op, cond string, kind storage.TokenKind, signature string, condArgs ...any) error {
	r := s.q(ctx)
	args := append([]any{string(kind), signature}, condArgs...)
	n, err := rowsAffected(r.exec(ctx, `UPDATE tokens SET active = FALSE
		WHERE kind = $1 AND signature = $2 AND active = TRUE`+cond, args...))
	if err != nil {
		return s.mapErr(ctx, op, err)
	}
	if n == 1 {
		return nil
	}
	var active bool
	err = r.queryRow(ctx, `SELECT active FROM tokens WHERE kind = $1 AND signature = $2`,
		string(kind), signature).Scan(&active)
	if err != nil {
		return s.mapErr(ctx, op, err)
	}
	if active {
		return fmt.Errorf("%s: the condition failed: %w", op, storage.ErrNotFound)
	}
	return fmt.Errorf("%s: already inactive: %w", op, storage.ErrConflict)
}

// DeleteToken deletes one row; storage.ErrNotFound if absent.
func (s *Store) DeleteToken(ctx context.Context, kind storage.TokenKind, signature string) error {
	res, err := s.q(ctx).exec(ctx, `DELETE FROM tokens WHERE kind = $1 AND signature = $2`,
		string(kind), signature)
	return s.affectedOne(ctx, res, err, fmt.Sprintf("delete %s token", kind))
}

// DeactivateTokensByRequest marks every row of kind with requestID
// inactive, those a refresh that spent one of them writes meanwhile
// included (deactivateAll). It is not an error if there is none.
func (s *Store) DeactivateTokensByRequest(ctx context.Context, kind storage.TokenKind, requestID string) error {
	return s.deactivateAll(ctx, s.q(ctx), fmt.Sprintf("deactivate %s tokens of request %q", kind, requestID),
		`kind = $1 AND request_id = $2`, string(kind), requestID)
}

// maxDeactivatePasses bounds deactivateAll's statements: each pass after
// the first needs a row spent under the one before it, by a request
// that then wrote the row the pass finds.
const maxDeactivatePasses = 32

// deactivateAll marks inactive, with r, every active token row where the
// condition where holds (on the columns of tokens, with its arguments
// args from $1 on), the rows written meanwhile by a transaction that
// spent one of them included.
//
// A refresh spends the refresh token it presents and writes its
// successor, of the same grant, in one transaction. On PostgreSQL, at
// READ COMMITTED, an UPDATE that meets a row such a transaction spent
// waits for its commit and re-checks that row (inactive now, so left
// alone), but not the successor, which did not exist when the statement
// began: the successor outlived the end of its grant, active at
// introspection and good for new tokens. So the statement also counts
// the rows it saw active: when it marked fewer, one was spent under it,
// and it runs again, a statement that sees what the spender committed
// (and again if that was spent in turn). Where every write transaction
// holds the database's one write lock from its start (SQLite: ForUpdate
// is empty), none commits under the UPDATE, and one is enough.
func (s *Store) deactivateAll(ctx context.Context, r runner, op, where string, args ...any) error {
	update := `UPDATE tokens SET active = FALSE WHERE ` + where + ` AND active = TRUE`
	if s.d.ForUpdate == "" {
		if _, err := r.exec(ctx, update, args...); err != nil {
			return s.mapErr(ctx, op, err)
		}
		return nil
	}
	query := `WITH seen AS (SELECT 1 FROM tokens WHERE ` + where + ` AND active = TRUE),
		ended AS (` + update + ` RETURNING 1)
		SELECT (SELECT COUNT(*) FROM seen), (SELECT COUNT(*) FROM ended)`
	for range maxDeactivatePasses {
		var seen, ended int64
		if err := r.queryRow(ctx, query, args...).Scan(&seen, &ended); err != nil {
			return s.mapErr(ctx, op, err)
		}
		if ended >= seen {
			return nil
		}
	}
	return fmt.Errorf("%s: rows still spent under it after %d passes: %w", op, maxDeactivatePasses, storage.ErrUnavailable)
}

// HasActiveToken reports whether any row of kind with requestID is active.
func (s *Store) HasActiveToken(ctx context.Context, kind storage.TokenKind, requestID string) (bool, error) {
	var n int
	err := s.q(ctx).queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM tokens
		WHERE request_id = $1 AND kind = $2 AND active = TRUE LIMIT 1) t`, requestID, string(kind)).Scan(&n)
	if err != nil {
		return false, s.mapErr(ctx, fmt.Sprintf("look for an active %s token of request %q", kind, requestID), err)
	}
	return n > 0, nil
}

// HasTokenAfter reports whether any row of kind with requestID, active or
// not, was requested after the time after.
func (s *Store) HasTokenAfter(ctx context.Context, kind storage.TokenKind, requestID string, after time.Time) (bool, error) {
	var n int
	err := s.q(ctx).queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM tokens
		WHERE request_id = $1 AND kind = $2 AND requested_at > $3 LIMIT 1) t`, requestID, string(kind), s.timeArg(after)).Scan(&n)
	if err != nil {
		return false, s.mapErr(ctx, fmt.Sprintf("look for a %s token of request %q requested after %s", kind, requestID, after.UTC().Format(time.RFC3339Nano)), err)
	}
	return n > 0, nil
}

// DeleteTokensByRequest deletes every row of kind with requestID. It is not
// an error if there is none.
func (s *Store) DeleteTokensByRequest(ctx context.Context, kind storage.TokenKind, requestID string) error {
	_, err := s.q(ctx).exec(ctx, `DELETE FROM tokens WHERE kind = $1 AND request_id = $2`,
		string(kind), requestID)
	if err != nil {
		return s.mapErr(ctx, fmt.Sprintf("delete %s tokens of request %q", kind, requestID), err)
	}
	return nil
}

// RevokeTokensByClient ends every grant of clientID in one transaction (the
// one carried by ctx, if any): its rows end as endGrantRows has it, and its
// token epoch is advanced. It is not an error if there is none.
func (s *Store) RevokeTokensByClient(ctx context.Context, clientID string) error {
	return s.revokeTokens(ctx, "client_id", "clients", clientID, fmt.Sprintf("revoke tokens of client %q", clientID))
}

// RevokeTokensBySubject does what RevokeTokensByClient does for every token
// row whose subject is subject, advancing the token epoch of the user
// subject (if it is one).
func (s *Store) RevokeTokensBySubject(ctx context.Context, subject string) error {
	return s.revokeTokens(ctx, "subject", "users", subject, fmt.Sprintf("revoke tokens of subject %q", subject))
}

// revokeTokens revokes the token rows whose column (client_id or subject,
// both indexed) is value, and advances the token epoch of the row of
// epochTable (clients or users) whose id is value.
func (s *Store) revokeTokens(ctx context.Context, column, epochTable, value, op string) error {
	return s.inTx(ctx, func(ctx context.Context, r runner) error {
		if err := s.endGrantRows(ctx, r, op, column+` = $1`, value); err != nil {
			return err
		}
		if _, err := r.exec(ctx, `UPDATE `+epochTable+` SET token_epoch = token_epoch + 1 WHERE id = $1`, value); err != nil {
			return s.mapErr(ctx, op+": advance the token epoch", err)
		}
		return nil
	})
}

// endGrantRows ends, with r, the token rows of the grants that end: those
// where the condition where holds (on the columns of tokens, with its
// arguments args from $1 on). Their access-token rows are deleted, and
// their codes not spent yet (active) too: an ended code is gone, so its
// exchange finds no code and is never taken for a replay, which only a
// spent code presented again is (the exchange that lost the race to
// spend one to the end of its grant included). Their refresh tokens are
// marked inactive (deactivateAll: those a refresh racing the end writes
// too), kept so that a replay of one is still recognised, and
// their spent codes stay as they are, spent by an exchange. Their OIDC
// and PKCE rows are left as they are: they are only read after an active
// code, and they expire with it.
func (s *Store) endGrantRows(ctx context.Context, r runner, op, where string, args ...any) error {
	n := len(args)
	if _, err := r.exec(ctx, fmt.Sprintf(`DELETE FROM tokens WHERE %s AND (kind = $%d OR (kind = $%d AND active = TRUE))`, where, n+1, n+2),
		slices.Concat(args, []any{string(storage.KindAccessToken), string(storage.KindAuthorizeCode)})...); err != nil {
		return s.mapErr(ctx, op+": delete access tokens and unspent codes", err)
	}
	return s.deactivateAll(ctx, r, op+": deactivate refresh tokens", fmt.Sprintf(`%s AND kind = $%d`, where, n+1),
		slices.Concat(args, []any{string(storage.KindRefreshToken)})...)
}

// RevokeAccess records ids as revoked until expires, keeping the later
// expiry of an id recorded before, in one transaction (the one carried by
// ctx, if any).
func (s *Store) RevokeAccess(ctx context.Context, ids []string, expires time.Time) error {
	return s.inTx(ctx, func(ctx context.Context, r runner) error { return s.recordRevocations(ctx, r, ids, expires) })
}

// recordRevocations writes the revocation records of ids with r, keeping
// the later expiry of a record written before.
func (s *Store) recordRevocations(ctx context.Context, r runner, ids []string, expires time.Time) error {
	for _, id := range ids {
		if _, err := r.exec(ctx, `INSERT INTO access_revocations (id, expires_at) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
			WHERE access_revocations.expires_at < excluded.expires_at`,
			id, s.timeArg(expires)); err != nil {
			return s.mapErr(ctx, "record access revocation", err)
		}
	}
	return nil
}

// AccessTokenState reads the revocation records of ids and the token
// epoch of user userID in one statement.
func (s *Store) AccessTokenState(ctx context.Context, ids []string, userID string) (storage.AccessTokenState, error) {
	var st storage.AccessTokenState
	args := make([]any, 0, len(ids)+1)
	args = append(args, userID)
	in := "NULL"
	if len(ids) > 0 {
		in = placeholders(2, len(ids))
		for _, id := range ids {
			args = append(args, id)
		}
	}
	var (
		revoked int64
		epoch   sql.NullInt64
	)
	err := s.q(ctx).queryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM access_revocations WHERE id IN (`+in+`)),
		(SELECT token_epoch FROM users WHERE id = $1)`, args...).Scan(&revoked, &epoch)
	if err != nil {
		return st, s.mapErr(ctx, "read access token state", err)
	}
	st.Revoked = revoked > 0
	st.UserFound = userID != "" && epoch.Valid
	if st.UserFound {
		st.UserEpoch = epoch.Int64
	}
	return st, nil
}

// firstTokenEpoch returns a random token epoch below 2^53 (exact as a JSON
// number anywhere) to start a client's count at.
func firstTokenEpoch() (int64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("first token epoch: %w", err)
	}
	return int64(binary.BigEndian.Uint64(b[:]) >> 11), nil
}
