-- 0003_key_lock: the row LockKeys locks.
--
-- key_lock holds exactly one row. LockKeys updates it inside the caller's
-- transaction: the row lock serializes signing-key changes among replicas
-- until that transaction ends (portable to Postgres-compatible distributed
-- databases, unlike advisory locks). An UPDATE rather than SELECT ... FOR
-- UPDATE, so that at REPEATABLE READ or SERIALIZABLE the second locker
-- fails with a serialization failure instead of going on with a snapshot
-- that misses the first locker's keys.
--
-- The expiry columns DeleteExpired scans are indexed since 0001 (tokens,
-- client_assertion_jtis) and 0002 (browser_sessions, auth_requests).

CREATE TABLE key_lock (
    id        INTEGER     NOT NULL PRIMARY KEY CHECK (id = 1),
    locked_at TIMESTAMPTZ
);

INSERT INTO key_lock (id) VALUES (1);
