-- 0002_users: users, roles, registered scopes, browser sessions, consents
-- and pending authorization requests.
--
-- Same conventions as 0001: every time is INTEGER unix microseconds in UTC,
-- NULL for the zero time.Time; every []string is a JSON array in TEXT; every
-- bool is INTEGER 0/1; an empty []byte or optional reference is NULL.
--
-- Rows that belong to a user, a role or a client go with it through
-- ON DELETE CASCADE (the store opens every connection with
-- foreign_keys(1)). Token rows carry no foreign key: DeleteUser deletes
-- them by subject.

CREATE TABLE users (
    id             TEXT    NOT NULL PRIMARY KEY,
    username       TEXT    NOT NULL UNIQUE,
    password_hash  TEXT    NOT NULL DEFAULT '',
    email          TEXT    NOT NULL DEFAULT '',
    email_verified INTEGER NOT NULL DEFAULT 0,
    name           TEXT    NOT NULL DEFAULT '',
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER,
    updated_at     INTEGER
);

CREATE TABLE roles (
    name        TEXT    NOT NULL PRIMARY KEY,
    description TEXT    NOT NULL DEFAULT '',
    scopes      TEXT    NOT NULL DEFAULT '[]',
    created_at  INTEGER,
    updated_at  INTEGER
);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role)
);

CREATE INDEX user_roles_role ON user_roles (role);

CREATE TABLE scopes (
    name        TEXT    NOT NULL PRIMARY KEY,
    description TEXT    NOT NULL DEFAULT '',
    audience    TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER,
    updated_at  INTEGER
);

CREATE TABLE browser_sessions (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time    INTEGER,
    last_seen_at INTEGER,
    expires_at   INTEGER,
    created_at   INTEGER
);

CREATE INDEX browser_sessions_user_id ON browser_sessions (user_id);
CREATE INDEX browser_sessions_expires_at ON browser_sessions (expires_at);

CREATE TABLE consents (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT    NOT NULL DEFAULT '[]',
    granted_at INTEGER,
    PRIMARY KEY (user_id, client_id)
);

CREATE INDEX consents_client_id ON consents (client_id);

-- user_id is NULL until someone has logged in for the request.
CREATE TABLE auth_requests (
    id              TEXT    NOT NULL PRIMARY KEY,
    query           TEXT    NOT NULL DEFAULT '',
    requested_at    INTEGER,
    browser_binding BLOB,
    user_id         TEXT    REFERENCES users (id) ON DELETE CASCADE,
    auth_time       INTEGER,
    expires_at      INTEGER
);

CREATE INDEX auth_requests_user_id ON auth_requests (user_id);
CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at);

-- DeleteUser deletes a user's token rows by subject.
CREATE INDEX tokens_subject ON tokens (subject);
