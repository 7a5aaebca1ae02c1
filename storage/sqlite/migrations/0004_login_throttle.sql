-- 0004_login_throttle: sign-in throttling shared by every process.
--
-- One row per throttle key: a digest standing for an account or a client
-- address (never the username or address itself), so no input makes more
-- than one row per key. attempts and locked_until mean what the provider
-- says they mean; expires_at is when the row is forgotten, and
-- DeleteExpired deletes it after that. Times are unix microseconds.

CREATE TABLE login_throttle (
    id           TEXT    NOT NULL PRIMARY KEY,
    attempts     INTEGER NOT NULL,
    locked_until INTEGER,
    expires_at   INTEGER NOT NULL
);

CREATE INDEX login_throttle_expires_at ON login_throttle (expires_at);
