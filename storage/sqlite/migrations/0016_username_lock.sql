-- 0016_username_lock: the row LockUsernames locks.
--
-- username_lock holds exactly one row. LockUsernames updates it inside the
-- transaction that creates or renames a user, before that transaction
-- looks for usernames differing from the new one only by case: the row
-- lock serializes those transactions (portable to Postgres-compatible
-- distributed databases, unlike advisory locks), so two of them cannot
-- both find the name free. A unique index on a folded username would do
-- it too, but databases from before the rule may hold case variants it
-- would refuse. The table exists in both backends so that their schema
-- versions stay in step.

CREATE TABLE username_lock (
    id        INTEGER     NOT NULL PRIMARY KEY CHECK (id = 1),
    locked_at INTEGER
);

INSERT INTO username_lock (id) VALUES (1);

-- FindUsersByUsernameFold reads the users whose lowercased username (ASCII
-- lower case: usernames are ASCII) is the one asked about, through this
-- index, so that a create or a rename (an apply of a file of thousands)
-- does not scan every user. It is not unique: existing case variants stay.
CREATE INDEX users_username_lower ON users (lower(username));
