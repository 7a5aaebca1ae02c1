-- 0012_mfa: second factors, the policy that requires them, and what a
-- sign-in proved.
--
-- user_totp holds a user's confirmed TOTP authenticator: its secret sealed
-- under the key-encryption secret (never in the clear), and the last time
-- step a code was accepted for, so no code is accepted twice (RFC 6238
-- §5.2). recovery_codes holds the digests of a user's unused recovery
-- codes; using one deletes it. roles.require_mfa makes the holders of a
-- role enrol a second factor. amr on browser sessions and pending
-- authorization requests lists the authentication methods (RFC 8176)
-- the sign-in used, space-separated; NULL on older rows reads as "pwd".

CREATE TABLE user_totp (
    user_id    TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret     BLOB NOT NULL,
    last_step  INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER
);

CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    digest  TEXT NOT NULL,
    PRIMARY KEY (user_id, digest)
);

ALTER TABLE roles ADD COLUMN require_mfa INTEGER NOT NULL DEFAULT 0;
ALTER TABLE browser_sessions ADD COLUMN amr TEXT;
ALTER TABLE auth_requests ADD COLUMN amr TEXT;
