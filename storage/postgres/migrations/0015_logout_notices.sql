-- 0015_logout_notices: the outbox of back-channel logout notices.
--
-- When a browser session ends, each client that received tokens in it and
-- registered a backchannel_logout_uri must be sent a logout token (OpenID
-- Back-Channel Logout 1.0). The transaction that ends the session (takes
-- its session_clients rows) inserts one row here per such client, so a
-- change that commits always has its notices and one rolled back has
-- none, and a notice outlives a restart of the process that queued it:
-- any running server delivers it. A server claims due rows
-- (next_attempt_at passed, no lease or an expired one) by setting
-- lease_until, deletes a row once delivered or given up, and otherwise
-- sets next_attempt_at to its next try. A client's notices go with it.
CREATE TABLE logout_notices (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    client_id       TEXT COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    sid             TEXT COLLATE "C" NOT NULL,
    user_id         TEXT COLLATE "C" NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    lease_until     TIMESTAMPTZ
);
CREATE INDEX logout_notices_next_attempt_at ON logout_notices (next_attempt_at);
CREATE INDEX logout_notices_client_id ON logout_notices (client_id);
