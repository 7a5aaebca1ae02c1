-- 0001_init: the initial hallpass schema.
--
-- Conventions: every time is INTEGER unix microseconds in UTC, NULL for the
-- zero time.Time; every []string is a JSON array in TEXT; every bool is
-- INTEGER 0/1.

CREATE TABLE clients (
    id                         TEXT    NOT NULL PRIMARY KEY,
    secret_hash                BLOB,
    name                       TEXT    NOT NULL DEFAULT '',
    redirect_uris              TEXT    NOT NULL DEFAULT '[]',
    post_logout_redirect_uris  TEXT    NOT NULL DEFAULT '[]',
    grant_types                TEXT    NOT NULL DEFAULT '[]',
    response_types             TEXT    NOT NULL DEFAULT '[]',
    scopes                     TEXT    NOT NULL DEFAULT '[]',
    audience                   TEXT    NOT NULL DEFAULT '[]',
    token_endpoint_auth_method TEXT    NOT NULL DEFAULT '',
    skip_consent               INTEGER NOT NULL DEFAULT 0,
    created_at                 INTEGER,
    updated_at                 INTEGER
);

CREATE TABLE tokens (
    kind               TEXT    NOT NULL,
    signature          TEXT    NOT NULL,
    request_id         TEXT    NOT NULL DEFAULT '',
    requested_at       INTEGER,
    client_id          TEXT    NOT NULL DEFAULT '',
    subject            TEXT    NOT NULL DEFAULT '',
    requested_scopes   TEXT    NOT NULL DEFAULT '[]',
    granted_scopes     TEXT    NOT NULL DEFAULT '[]',
    requested_audience TEXT    NOT NULL DEFAULT '[]',
    granted_audience   TEXT    NOT NULL DEFAULT '[]',
    form               TEXT    NOT NULL DEFAULT '',
    session            BLOB,
    active             INTEGER NOT NULL DEFAULT 1,
    expires_at         INTEGER,
    access_signature   TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (kind, signature)
);

CREATE INDEX tokens_kind_request_id ON tokens (kind, request_id);
CREATE INDEX tokens_client_id ON tokens (client_id);
CREATE INDEX tokens_expires_at ON tokens (expires_at);

CREATE TABLE signing_keys (
    id                TEXT    NOT NULL PRIMARY KEY,
    algorithm         TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    public_jwk        BLOB,
    private_encrypted BLOB,
    created_at        INTEGER,
    activates_at      INTEGER,
    retires_at        INTEGER,
    removes_at        INTEGER
);

-- At most one active signing key.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active';

CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value BLOB
);

CREATE TABLE client_assertion_jtis (
    jti        TEXT    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
);

CREATE INDEX client_assertion_jtis_expires_at ON client_assertion_jtis (expires_at);
