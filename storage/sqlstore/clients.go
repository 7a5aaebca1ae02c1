package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/hallpass/hallpass/storage"
)

const clientColumns = `id, secret_hash, name, redirect_uris, post_logout_redirect_uris,
	grant_types, response_types, scopes, audience, token_endpoint_auth_method,
	skip_consent, resource_servers, pkce_optional, created_at, updated_at,
	jwks, jwks_uri, token_endpoint_auth_signing_alg, require_pushed_authorization_requests,
	backchannel_logout_uri, backchannel_logout_session_required`

// clientSelect is what reads a client: its columns and its token epoch,
// which only RevokeTokensByClient writes.
const clientSelect = `SELECT ` + clientColumns + `, token_epoch FROM clients`

// CreateClient stores a new client with a random first token epoch, so
// that the tokens of a deleted client do not come back when its id is
// registered again; storage.ErrConflict if the id exists.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	epoch, err := firstTokenEpoch()
	if err != nil {
		return fmt.Errorf("create client %q: %w", c.ID, err)
	}
	_, err = s.q(ctx).exec(ctx, `INSERT INTO clients (`+clientColumns+`, token_epoch)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
			$16, $17, $18, $19, $20, $21, $22)`,
		c.ID, blobArg(c.SecretHash), c.Name, s.listArg(c.RedirectURIs), s.listArg(c.PostLogoutRedirectURIs),
		s.listArg(c.GrantTypes), s.listArg(c.ResponseTypes), s.listArg(c.Scopes), s.listArg(c.Audience),
		c.TokenEndpointAuthMethod, c.SkipConsent, s.listArg(c.ResourceServers), c.PKCEOptional,
		s.timeArg(c.CreatedAt), s.timeArg(c.UpdatedAt),
		c.JWKS, c.JWKSURI, c.TokenEndpointAuthSigningAlg, c.RequirePAR,
		c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired, epoch)
	if err != nil {
		return s.mapErr(ctx, fmt.Sprintf("create client %q", c.ID), err)
	}
	return nil
}

// GetClient returns the client with id; storage.ErrNotFound if unknown.
func (s *Store) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	if err := s.lockRead(ctx, fmt.Sprintf("lock client %q", id), "clients", "id = $1", id); err != nil {
		return nil, err
	}
	row := s.q(ctx).queryRow(ctx, clientSelect+` WHERE id = $1`, id)
	c, err := s.scanClient(row)
	if err != nil {
		return nil, s.mapErr(ctx, fmt.Sprintf("get client %q", id), err)
	}
	return c, nil
}

// ListClients returns every client ordered by id (byte order).
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	return queryAll(ctx, s, "list clients", clientSelect+` ORDER BY id`, s.scanClient)
}

// UpdateClient replaces every field of client c.ID but CreatedAt;
// storage.ErrNotFound if absent.
func (s *Store) UpdateClient(ctx context.Context, c *storage.Client) error {
	res, err := s.q(ctx).exec(ctx, `UPDATE clients SET
		secret_hash = $1, name = $2, redirect_uris = $3, post_logout_redirect_uris = $4,
		grant_types = $5, response_types = $6, scopes = $7, audience = $8,
		token_endpoint_auth_method = $9, skip_consent = $10, resource_servers = $11,
		pkce_optional = $12, updated_at = $13,
		jwks = $15, jwks_uri = $16, token_endpoint_auth_signing_alg = $17,
		require_pushed_authorization_requests = $18, backchannel_logout_uri = $19,
		backchannel_logout_session_required = $20
		WHERE id = $14`,
		blobArg(c.SecretHash), c.Name, s.listArg(c.RedirectURIs), s.listArg(c.PostLogoutRedirectURIs),
		s.listArg(c.GrantTypes), s.listArg(c.ResponseTypes), s.listArg(c.Scopes), s.listArg(c.Audience),
		c.TokenEndpointAuthMethod, c.SkipConsent, s.listArg(c.ResourceServers), c.PKCEOptional,
		s.timeArg(c.UpdatedAt), c.ID,
		c.JWKS, c.JWKSURI, c.TokenEndpointAuthSigningAlg, c.RequirePAR,
		c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired)
	return s.affectedOne(ctx, res, err, fmt.Sprintf("update client %q", c.ID))
}

// DeleteClient deletes client id and every token row issued to it, in one
// transaction (the one carried by ctx, if any); the consents given to it go
// by ON DELETE CASCADE. storage.ErrNotFound if absent.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	op := fmt.Sprintf("delete client %q", id)
	return s.inTx(ctx, func(ctx context.Context, r runner) error {
		res, err := r.exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
		if err := s.affectedOne(ctx, res, err, op); err != nil {
			return err
		}
		// Its grants end first, as RevokeTokensByClient ends them: those
		// statements wait for a token request that spends one of their
		// rows and see what it wrote (endGrantRows), so the DELETE after
		// them finds the tokens a request racing the deletion issued.
		// Alone, at READ COMMITTED, it missed them, and they came back
		// with a client registered again under the id.
		if err := s.endGrantRows(ctx, r, op, `client_id = $1`, id); err != nil {
			return err
		}
		if _, err := r.exec(ctx, `DELETE FROM tokens WHERE client_id = $1`, id); err != nil {
			return s.mapErr(ctx, op+": delete tokens", err)
		}
		return nil
	})
}

func (s *Store) scanClient(row scanner) (*storage.Client, error) {
	var c storage.Client
	err := row.Scan(&c.ID, blobCol{&c.SecretHash}, &c.Name,
		s.listCol(&c.RedirectURIs), s.listCol(&c.PostLogoutRedirectURIs),
		s.listCol(&c.GrantTypes), s.listCol(&c.ResponseTypes),
		s.listCol(&c.Scopes), s.listCol(&c.Audience),
		&c.TokenEndpointAuthMethod, &c.SkipConsent, s.listCol(&c.ResourceServers), &c.PKCEOptional,
		s.timeCol(&c.CreatedAt), s.timeCol(&c.UpdatedAt),
		&c.JWKS, &c.JWKSURI, &c.TokenEndpointAuthSigningAlg, &c.RequirePAR,
		&c.BackchannelLogoutURI, &c.BackchannelLogoutSessionRequired, &c.TokenEpoch)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// queryAll runs query and scans every row it returns with scan; op names
// the operation in errors.
func queryAll[T any](ctx context.Context, s *Store, op, query string, scan func(scanner) (*T, error), args ...any) ([]T, error) {
	return queryAllIn(ctx, s, s.q(ctx), op, query, scan, args...)
}

// queryAllIn is queryAll with r, for a statement that runs in a
// transaction of inTx.
func queryAllIn[T any](ctx context.Context, s *Store, r runner, op, query string, scan func(scanner) (*T, error), args ...any) ([]T, error) {
	rows, err := r.query(ctx, query, args...)
	if errors.Is(err, errUnstorable) {
		// Rows selected by a value no row can hold: none.
		return nil, nil
	}
	if err != nil {
		return nil, s.mapErr(ctx, op, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.mapErr(ctx, op, err)
		}
		out = append(out, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.mapErr(ctx, op, err)
	}
	return out, nil
}
