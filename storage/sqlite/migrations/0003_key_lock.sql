-- 0003_key_lock: the row LockKeys locks.
--
-- key_lock holds exactly one row. LockKeys writes it inside the caller's
-- transaction, so signing-key changes are serialized even if a transaction
-- were begun DEFERRED (the store begins every transaction IMMEDIATE, which
-- already takes the write lock). The table exists in both backends so that
-- their schema versions stay in step.
--
-- The expiry columns DeleteExpired scans are indexed since 0001 (tokens,
-- client_assertion_jtis) and 0002 (browser_sessions, auth_requests).

CREATE TABLE key_lock (
    id        INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    locked_at INTEGER
);

INSERT INTO key_lock (id) VALUES (1);
