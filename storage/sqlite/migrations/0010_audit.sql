-- 0010_audit: the audit log, its head and its signed checkpoints.
--
-- audit_entries is append-only for hallpass: rows are inserted by
-- AppendAudit and deleted only by PruneAudit, oldest first, up to a
-- checkpoint. audit_head holds exactly one row, the seq and hash of the
-- last entry appended; AppendAudit updates it first, so appends from
-- every process queue on the write lock (the store begins every
-- transaction IMMEDIATE), and it remembers the last seq after pruning.

CREATE TABLE audit_entries (
    seq         INTEGER NOT NULL PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    object      TEXT    NOT NULL,
    client_addr TEXT    NOT NULL,
    user_agent  TEXT    NOT NULL,
    client_id   TEXT    NOT NULL,
    details     TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);

CREATE INDEX audit_entries_at ON audit_entries (at);

CREATE TABLE audit_head (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
);

INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

CREATE TABLE audit_checkpoints (
    seq       INTEGER NOT NULL PRIMARY KEY,
    hash      TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    key_id    TEXT    NOT NULL,
    signature TEXT    NOT NULL
);
