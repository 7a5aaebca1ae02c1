-- 0014_tokens_request_index: the index of tokens by request leads with
-- the request id.
--
-- It was (kind, request_id). Its first column has a handful of values, so
-- it matches a condition on kind alone, and every lookup of a row by its
-- primary key (kind, signature) could use it too. The planner can tell
-- the two apart only by statistics: on a table that was empty when last
-- analyzed (a new database), PostgreSQL costs both alike and picks the
-- smaller index, and the generic plan it then keeps for the prepared
-- statement reads every row of that kind on each lookup until autovacuum
-- analyzes the table again. Led by request_id, the index serves the
-- revocation of a grant (request_id, or request_id and kind) as before
-- and no longer matches a lookup by primary key.

DROP INDEX tokens_kind_request_id;
CREATE INDEX tokens_request_id_kind ON tokens (request_id, kind);
