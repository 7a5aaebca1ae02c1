-- 0001_init: the initial hallpass schema.
--
-- Portable to Postgres-compatible distributed databases: no advisory locks,
-- no LISTEN/NOTIFY, no extensions. Ids use the "C" collation so that ORDER BY
-- id is byte order on every database, as in SQLite.

CREATE TABLE clients (
    id                         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    secret_hash                BYTEA,
    name                       TEXT        NOT NULL DEFAULT '',
    redirect_uris              TEXT[]      NOT NULL DEFAULT '{}',
    post_logout_redirect_uris  TEXT[]      NOT NULL DEFAULT '{}',
    grant_types                TEXT[]      NOT NULL DEFAULT '{}',
    response_types             TEXT[]      NOT NULL DEFAULT '{}',
    scopes                     TEXT[]      NOT NULL DEFAULT '{}',
    audience                   TEXT[]      NOT NULL DEFAULT '{}',
    token_endpoint_auth_method TEXT        NOT NULL DEFAULT '',
    skip_consent               BOOLEAN     NOT NULL DEFAULT false,
    created_at                 TIMESTAMPTZ,
    updated_at                 TIMESTAMPTZ
);

CREATE TABLE tokens (
    kind               TEXT        NOT NULL,
    signature          TEXT        NOT NULL,
    request_id         TEXT        NOT NULL DEFAULT '',
    requested_at       TIMESTAMPTZ,
    client_id          TEXT        NOT NULL DEFAULT '',
    subject            TEXT        NOT NULL DEFAULT '',
    requested_scopes   TEXT[]      NOT NULL DEFAULT '{}',
    granted_scopes     TEXT[]      NOT NULL DEFAULT '{}',
    requested_audience TEXT[]      NOT NULL DEFAULT '{}',
    granted_audience   TEXT[]      NOT NULL DEFAULT '{}',
    form               TEXT        NOT NULL DEFAULT '',
    session            BYTEA,
    active             BOOLEAN     NOT NULL DEFAULT true,
    expires_at         TIMESTAMPTZ,
    access_signature   TEXT        NOT NULL DEFAULT '',
    PRIMARY KEY (kind, signature)
);

CREATE INDEX tokens_kind_request_id ON tokens (kind, request_id);
CREATE INDEX tokens_client_id ON tokens (client_id);
CREATE INDEX tokens_expires_at ON tokens (expires_at);

CREATE TABLE signing_keys (
    id                TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    algorithm         TEXT        NOT NULL,
    state             TEXT        NOT NULL,
    public_jwk        BYTEA,
    private_encrypted BYTEA,
    created_at        TIMESTAMPTZ,
    activates_at      TIMESTAMPTZ,
    retires_at        TIMESTAMPTZ,
    removes_at        TIMESTAMPTZ
);

-- At most one active signing key.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active';

CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value BYTEA
);

CREATE TABLE client_assertion_jtis (
    jti        TEXT        NOT NULL PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX client_assertion_jtis_expires_at ON client_assertion_jtis (expires_at);
