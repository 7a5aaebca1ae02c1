-- 0005_client_resource: what a client may introspect, and whether it may
-- skip PKCE.
--
-- resource_servers lists the audiences (resource server identifiers) a
-- client speaks for: it may introspect access tokens whose aud names one
-- of them, besides its own tokens. pkce_optional is set, by an admin only,
-- for a legacy confidential client that cannot send code_challenge; every
-- other client must use PKCE (RFC 9700 §2.1.1), so the default is false.

ALTER TABLE clients ADD COLUMN resource_servers TEXT[] NOT NULL DEFAULT '{}';
ALTER TABLE clients ADD COLUMN pkce_optional BOOLEAN NOT NULL DEFAULT false;
