-- 0007_access_revocations: self-contained access tokens.
--
-- Access tokens are JWTs that are no longer stored one row each. What
-- ends one early is kept instead: a revocation record naming its grant
-- (the request id its refresh token and code share) or the token itself
-- (by the digest of its signature, when a refresh replaces it), kept until
-- every token it could name has expired; and a token epoch on its user and
-- its client, carried in the token and advanced when every grant of the
-- user or client is ended (a password change, a disable, an admin's
-- revocation), so a token issued under an older epoch is no longer active.

CREATE TABLE access_revocations (
    id         TEXT        COLLATE "C" NOT NULL PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX access_revocations_expires_at ON access_revocations (expires_at);

ALTER TABLE users ADD COLUMN token_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN token_epoch BIGINT NOT NULL DEFAULT 0;
