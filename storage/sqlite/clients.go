package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hallpass/hallpass/storage"
)

const clientColumns = `id, secret_hash, name, redirect_uris, post_logout_redirect_uris,
	grant_types, response_types, scopes, audience, token_endpoint_auth_method,
	skip_consent, resource_servers, pkce_optional, created_at, updated_at`

// CreateClient stores a new client; storage.ErrConflict if the id exists.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	_, err := s.q(ctx).ExecContext(ctx, `INSERT INTO clients (`+clientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, blob(c.SecretHash), c.Name, list(c.RedirectURIs), list(c.PostLogoutRedirectURIs),
		list(c.GrantTypes), list(c.ResponseTypes), list(c.Scopes), list(c.Audience),
		c.TokenEndpointAuthMethod, c.SkipConsent, list(c.ResourceServers), c.PKCEOptional, micros(c.CreatedAt), micros(c.UpdatedAt))
	if err != nil {
		return mapErr(fmt.Sprintf("create client %q", c.ID), err)
	}
	return nil
}

// GetClient returns the client with id; storage.ErrNotFound if unknown.
func (s *Store) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	row := s.q(ctx).QueryRowContext(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = ?`, id)
	c, err := scanClient(row)
	if err != nil {
		return nil, mapErr(fmt.Sprintf("get client %q", id), err)
	}
	return c, nil
}

// ListClients returns every client ordered by id (byte order).
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT `+clientColumns+` FROM clients ORDER BY id`)
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
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE clients SET
		secret_hash = ?, name = ?, redirect_uris = ?, post_logout_redirect_uris = ?,
		grant_types = ?, response_types = ?, scopes = ?, audience = ?,
		token_endpoint_auth_method = ?, skip_consent = ?, resource_servers = ?,
		pkce_optional = ?, updated_at = ?
		WHERE id = ?`,
		blob(c.SecretHash), c.Name, list(c.RedirectURIs), list(c.PostLogoutRedirectURIs),
		list(c.GrantTypes), list(c.ResponseTypes), list(c.Scopes), list(c.Audience),
		c.TokenEndpointAuthMethod, c.SkipConsent, list(c.ResourceServers), c.PKCEOptional, micros(c.UpdatedAt),
		c.ID)
	return affectedOne(res, err, fmt.Sprintf("update client %q", c.ID))
}

// DeleteClient deletes client id and every token row issued to it, in one
// transaction (the one carried by ctx, if any); the consents given to it go
// by ON DELETE CASCADE. storage.ErrNotFound if absent.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	op := fmt.Sprintf("delete client %q", id)
	return s.inTx(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
		if err := affectedOne(res, err, op); err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM tokens WHERE client_id = ?`, id); err != nil {
			return mapErr(op+": delete tokens", err)
		}
		return nil
	})
}

func scanClient(row scanner) (*storage.Client, error) {
	var (
		c                storage.Client
		created, updated sql.NullInt64
		secretHash       []byte
	)
	err := row.Scan(&c.ID, &secretHash, &c.Name,
		listScanner{&c.RedirectURIs}, listScanner{&c.PostLogoutRedirectURIs},
		listScanner{&c.GrantTypes}, listScanner{&c.ResponseTypes},
		listScanner{&c.Scopes}, listScanner{&c.Audience},
		&c.TokenEndpointAuthMethod, &c.SkipConsent, listScanner{&c.ResourceServers}, &c.PKCEOptional,
		&created, &updated)
	if err != nil {
		return nil, err
	}
	c.SecretHash = fromBlob(secretHash)
	c.CreatedAt = fromMicros(created)
	c.UpdatedAt = fromMicros(updated)
	return &c, nil
}

// affectedOne turns an Exec result that changed no row into
// storage.ErrNotFound.
func affectedOne(res sql.Result, err error, op string) error {
	if err != nil {
		return mapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, storage.ErrNotFound)
	}
	return nil
}
