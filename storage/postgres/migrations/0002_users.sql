-- 0002_users: users, roles, registered scopes, browser sessions, consents
-- and pending authorization requests.
--
-- Same conventions as 0001: times are TIMESTAMPTZ (NULL for the zero time),
-- lists are TEXT[], an empty []byte or optional reference is NULL, and keys
-- that are listed or referenced use the "C" collation so that ORDER BY is
-- byte order, as in SQLite.
--
-- Rows that belong to a user, a role or a client go with it through
-- ON DELETE CASCADE; every referencing column is indexed so that the
-- cascade does not scan. Token rows carry no foreign key: DeleteUser
-- deletes them by subject.

CREATE TABLE users (
    id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    username       TEXT COLLATE "C" NOT NULL UNIQUE,
    password_hash  TEXT        NOT NULL DEFAULT '',
    email          TEXT        NOT NULL DEFAULT '',
    email_verified BOOLEAN     NOT NULL DEFAULT false,
    name           TEXT        NOT NULL DEFAULT '',
    disabled       BOOLEAN     NOT NULL DEFAULT false,
    created_at     TIMESTAMPTZ,
    updated_at     TIMESTAMPTZ
);

CREATE TABLE roles (
    name        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    description TEXT        NOT NULL DEFAULT '',
    scopes      TEXT[]      NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ,
    updated_at  TIMESTAMPTZ
);

CREATE TABLE user_roles (
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT COLLATE "C" NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role)
);

CREATE INDEX user_roles_role ON user_roles (role);

CREATE TABLE scopes (
    name        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    description TEXT        NOT NULL DEFAULT '',
    audience    TEXT        NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ,
    updated_at  TIMESTAMPTZ
);

CREATE TABLE browser_sessions (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time    TIMESTAMPTZ,
    last_seen_at TIMESTAMPTZ,
    expires_at   TIMESTAMPTZ,
    created_at   TIMESTAMPTZ
);

CREATE INDEX browser_sessions_user_id ON browser_sessions (user_id);
CREATE INDEX browser_sessions_expires_at ON browser_sessions (expires_at);

CREATE TABLE consents (
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT[]      NOT NULL DEFAULT '{}',
    granted_at TIMESTAMPTZ,
    PRIMARY KEY (user_id, client_id)
);

CREATE INDEX consents_client_id ON consents (client_id);

-- user_id is NULL until someone has logged in for the request.
CREATE TABLE auth_requests (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    query           TEXT        NOT NULL DEFAULT '',
    requested_at    TIMESTAMPTZ,
    browser_binding BYTEA,
    user_id         TEXT COLLATE "C" REFERENCES users (id) ON DELETE CASCADE,
    auth_time       TIMESTAMPTZ,
    expires_at      TIMESTAMPTZ
);

CREATE INDEX auth_requests_user_id ON auth_requests (user_id);
CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at);

-- DeleteUser deletes a user's token rows by subject.
CREATE INDEX tokens_subject ON tokens (subject);
