package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hallpass/hallpass/storage"
)

const clientColumns = `id, secret_hash, name, redirect_uris, post_logout_redirect_uris,
	grant_types, response_types, scopes, audience, token_endpoint_auth_method,
	skip_consent, resource_servers, pkce_optional, created_at, updated_at`

// CreateClient stores a new client; storage.ErrConflict if the id exists.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO clients (`+clientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		c.ID, blob(c.SecretHash), c.Name, list(c.RedirectURIs), list(c.PostLogoutRedirectURIs),
		list(c.GrantTypes), list(c.ResponseTypes), list(c.Scopes), list(c.Audience),
		c.TokenEndpointAuthMethod, c.SkipConsent, list(c.ResourceServers), c.PKCEOptional, ts(c.CreatedAt), ts(c.UpdatedAt))
	if err != nil {
		return mapErr(fmt.Sprintf("create client %q", c.ID), err)
	}
	return nil
}

// GetClient returns the client with id; storage.ErrNotFound if unknown.
func (s *Store) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	row := s.q(ctx).QueryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1`, id)
	c, err := scanClient(row)
	if err != nil {
		return nil, mapErr(fmt.Sprintf("get client %q", id), err)
	}
	return c, nil
}

// ListClients returns every client ordered by id (byte order).
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+clientColumns+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, mapErr("list clients", err)
	}
	defer rows.Close()
	var cs []storage.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, mapErr("list clients", err)
		}
		cs = append(cs, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("list clients", err)
	}
	return cs, nil
}

// UpdateClient replaces every field of client c.ID but CreatedAt;
// storage.ErrNotFound if absent.
func (s *Store) UpdateClient(ctx context.Context, c *storage.Client) error {
	tag, err := s.q(ctx).Exec(ctx, `UPDATE clients SET
		secret_hash = $1, name = $2, redirect_uris = $3, post_logout_redirect_uris = $4,
		grant_types = $5, response_types = $6, scopes = $7, audience = $8,
		token_endpoint_auth_method = $9, skip_consent = $10, resource_servers = $11,
		pkce_optional = $12, updated_at = $13
		WHERE id = $14`,
		blob(c.SecretHash), c.Name, list(c.RedirectURIs), list(c.PostLogoutRedirectURIs),
		list(c.GrantTypes), list(c.ResponseTypes), list(c.Scopes), list(c.Audience),
		c.TokenEndpointAuthMethod, c.SkipConsent, list(c.ResourceServers), c.PKCEOptional, ts(c.UpdatedAt),
		c.ID)
	return affectedOne(tag, err, fmt.Sprintf("update client %q", c.ID))
}

// DeleteClient deletes client id and every token row issued to it, in one
// transaction (the one carried by ctx, if any); the consents given to it go
// by ON DELETE CASCADE. storage.ErrNotFound if absent.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	op := fmt.Sprintf("delete client %q", id)
	return s.inTx(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
		if err := affectedOne(tag, err, op); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `DELETE FROM tokens WHERE client_id = $1`, id); err != nil {
			return mapErr(op+": delete tokens", err)
		}
		return nil
	})
}

// scanner is what pgx.Row and pgx.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

func scanClient(row scanner) (*storage.Client, error) {
	var (
		c                storage.Client
		created, updated pgtype.Timestamptz
	)
	err := row.Scan(&c.ID, &c.SecretHash, &c.Name,
		&c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.GrantTypes, &c.ResponseTypes,
		&c.Scopes, &c.Audience,
		&c.TokenEndpointAuthMethod, &c.SkipConsent, &c.ResourceServers, &c.PKCEOptional,
		&created, &updated)
	if err != nil {
		return nil, err
	}
	c.SecretHash = fromBlob(c.SecretHash)
	c.RedirectURIs = fromList(c.RedirectURIs)
	c.PostLogoutRedirectURIs = fromList(c.PostLogoutRedirectURIs)
	c.GrantTypes = fromList(c.GrantTypes)
	c.ResponseTypes = fromList(c.ResponseTypes)
	c.Scopes = fromList(c.Scopes)
	c.Audience = fromList(c.Audience)
	c.ResourceServers = fromList(c.ResourceServers)
	c.CreatedAt = fromTS(created)
	c.UpdatedAt = fromTS(updated)
	return &c, nil
}
