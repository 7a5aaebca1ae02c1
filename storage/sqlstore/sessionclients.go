package sqlstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// PutSessionClient records sc, renewing the expiry of an existing
// record; storage.ErrInvalidReference if the client does not exist.
func (s *Store) PutSessionClient(ctx context.Context, sc *storage.SessionClient) error {
	_, err := s.q(ctx).exec(ctx, `INSERT INTO session_clients (sid, client_id, user_id, expires_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (sid, client_id) DO UPDATE SET expires_at = excluded.expires_at`,
		sc.SID, sc.ClientID, sc.UserID, s.timeArg(sc.ExpiresAt))
	if err != nil {
		return s.mapErr(ctx, fmt.Sprintf("record client %q in session", sc.ClientID), err)
	}
	return nil
}

// PutLiveSessionClient records sc, renewing the expiry of an existing
// record, only while sc's browser session is live and sc's user's:
// storage.ErrNotFound otherwise. The session is read with the dialect's
// ForShare: on PostgreSQL an end of the session under way (which deletes
// it, then takes its clients' records, in one transaction) holds the
// statement until it commits, and the statement then finds the session
// gone and writes nothing; an end that comes later waits for the
// statement and takes the record it wrote. On SQLite the one writer
// orders the statement wholly before or after the end.
func (s *Store) PutLiveSessionClient(ctx context.Context, sc *storage.SessionClient, now, seenSince time.Time) error {
	res, err := s.q(ctx).exec(ctx, `INSERT INTO session_clients (sid, client_id, user_id, expires_at)
		SELECT sid, $2, user_id, $4 FROM browser_sessions
		WHERE sid = $1 AND user_id = $3 AND expires_at > $5 AND last_seen_at >= $6`+s.d.ForShare+`
		ON CONFLICT (sid, client_id) DO UPDATE SET expires_at = excluded.expires_at`,
		sc.SID, sc.ClientID, sc.UserID, s.timeArg(sc.ExpiresAt), s.timeArg(now), s.timeArg(seenSince))
	return s.affectedOne(ctx, res, err, fmt.Sprintf("record client %q in a live session", sc.ClientID))
}

// TakeSessionClients deletes and returns the records of session sid, or,
// when sid is "", of every session of userID but the session whose id is
// keep, ordered by sid and client.
func (s *Store) TakeSessionClients(ctx context.Context, sid, userID, keep string) ([]storage.SessionClient, error) {
	if (sid == "") == (userID == "") {
		return nil, errors.New("take session clients: give exactly one of sid and user id")
	}
	if sid != "" && keep != "" {
		return nil, errors.New("take session clients: a session to keep goes with a user id, not a sid")
	}
	where, args := `sid = $1`, []any{sid}
	if sid == "" {
		// The records name sessions by sid; keep is a session's id. A kept
		// session without a sid, or not the user's, keeps nothing.
		where, args = `user_id = $1 AND NOT EXISTS (SELECT 1 FROM browser_sessions b
			WHERE b.id = $2 AND b.user_id = session_clients.user_id AND b.sid = session_clients.sid)`, []any{userID, keep}
	}
	var out []storage.SessionClient
	scan := func(row scanner) (*storage.SessionClient, error) {
		var sc storage.SessionClient
		if err := row.Scan(&sc.SID, &sc.ClientID, &sc.UserID, s.timeCol(&sc.ExpiresAt)); err != nil {
			return nil, err
		}
		return &sc, nil
	}
	const taken = `DELETE FROM session_clients WHERE `
	const returning = ` RETURNING sid, client_id, user_id, expires_at`
	if s.d.WritesInWith {
		// One statement, as before there were notices: the notices are
		// inserted in its WITH clause, from the rows it deletes.
		n := len(args) + 1
		query := `WITH taken AS (` + taken + where + returning + `),
			queued AS (INSERT INTO logout_notices (id, client_id, sid, user_id, created_at, next_attempt_at)
				SELECT gen_random_uuid()::text, t.client_id, t.sid, t.user_id, $` + fmt.Sprint(n) + `, $` + fmt.Sprint(n) + `
				FROM taken t JOIN clients c ON c.id = t.client_id WHERE c.backchannel_logout_uri <> '')
			SELECT sid, client_id, user_id, expires_at FROM taken`
		args = append(args, s.timeArg(s.now()))
		err := s.inStmt(ctx, func(ctx context.Context, r runner) (err error) {
			out, err = queryAllIn(ctx, s, r, "take session clients", query, scan, args...)
			return err
		})
		if err != nil {
			return nil, err
		}
		sortSessionClients(out)
		return out, nil
	}
	take := func(ctx context.Context, r runner) (err error) {
		out, err = queryAllIn(ctx, s, r, "take session clients", taken+where+returning, scan, args...)
		if err != nil {
			return err
		}
		sortSessionClients(out)
		return s.queueLogoutNotices(ctx, r, out)
	}
	// The records and the notices they queue go together: in ctx's
	// transaction, or else in one of their own (inTx, which, where the
	// dialect queues writers, takes its turn like every other write).
	if err := s.inTx(ctx, take); err != nil {
		return nil, err
	}
	return out, nil
}

// queueLogoutNotices inserts, with r, a logout notice due now for each
// of taken whose client has a back-channel logout URI.
func (s *Store) queueLogoutNotices(ctx context.Context, r runner, taken []storage.SessionClient) error {
	now := s.timeArg(s.now())
	for _, sc := range taken {
		_, err := r.exec(ctx, `INSERT INTO logout_notices (id, client_id, sid, user_id, created_at, next_attempt_at)
			SELECT $1, id, $2, $3, $4, $4 FROM clients WHERE id = $5 AND backchannel_logout_uri <> ''`,
			rand.Text(), sc.SID, sc.UserID, now, sc.ClientID)
		if err != nil {
			return s.mapErr(ctx, fmt.Sprintf("queue logout notice for client %q", sc.ClientID), err)
		}
	}
	return nil
}

func sortSessionClients(scs []storage.SessionClient) {
	slices.SortFunc(scs, func(a, b storage.SessionClient) int {
		return cmp.Or(cmp.Compare(a.SID, b.SID), cmp.Compare(a.ClientID, b.ClientID))
	})
}
