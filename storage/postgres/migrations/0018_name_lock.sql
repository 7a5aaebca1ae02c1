-- 0018_name_lock: the row LockNames locks, and the indexes that find role
-- names, scope names and client ids differing from a new one only by case.
--
-- name_lock holds exactly one row. LockNames updates it inside the
-- transaction that creates a role, a scope or a client, before that
-- transaction looks for names of its kind differing from the new one only
-- by case (FindRoleNamesFold, FindScopeNamesFold, FindClientIDsFold): the
-- row lock serializes those transactions, as username_lock (0016) does
-- users', so two of them cannot both find a name free. One row for the
-- three kinds: creations are rare, and one lock cannot be taken in two
-- orders. No unique index on a folded name: databases from before the
-- rule may hold case variants ("admin" and "Admin"), which stay, each
-- still named exactly; only new ones are refused.

CREATE TABLE name_lock (
    id        INTEGER     NOT NULL PRIMARY KEY CHECK (id = 1),
    locked_at TIMESTAMPTZ
);

INSERT INTO name_lock (id) VALUES (1);

-- Names are ASCII (the directory's rules), so lower() (ASCII-only in
-- SQLite and on PostgreSQL's "C" collation of these columns) finds every
-- case variant through these indexes; none is unique.
CREATE INDEX roles_name_lower ON roles (lower(name));
CREATE INDEX scopes_name_lower ON scopes (lower(name));
CREATE INDEX clients_id_lower ON clients (lower(id));
