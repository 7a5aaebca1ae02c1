-- 0017_logout_notice_claims: a logout notice's claims, apart from its
-- attempts.
--
-- Until now attempts counted the claims of a notice, and a sender gave
-- a notice up after so many: a failure of the sender's own (its database,
-- its signing key, shutting down, a sender that died) spent an attempt
-- like a client that failed to answer, so a long enough outage of ours
-- gave notices up and their clients were never told of the logout.
-- From now on attempts counts only the sends a client failed (the sender
-- records them with RetryLogoutNotice), and claims counts every claim: it
-- is what a sender's retry is fenced on, so that a late retry of a claim
-- whose lease ended does not end the lease of a later one. Each claim
-- counted an attempt until now, so a notice's claims so far are its
-- attempts.
ALTER TABLE logout_notices ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
UPDATE logout_notices SET claims = attempts;
