-- 0006_session_sid: the public id of a browser session.
--
-- ID tokens name the session they were issued in by its sid (OpenID
-- Front-/Back-Channel Logout), so that a logout request carrying only an
-- id_token_hint, with no cookie, can end that session. The id column is a
-- digest of the cookie and must not leave the server, so sid is a separate
-- random value. Sessions from before this migration have none (NULL); the
-- unique index admits any number of NULLs.

ALTER TABLE browser_sessions ADD COLUMN sid TEXT COLLATE "C";

CREATE UNIQUE INDEX browser_sessions_sid ON browser_sessions (sid);
