-- 0011_session_device: what a browser session was started from.
--
-- The account page lists a user's active sessions so they can recognise
-- theirs and sign the others out: the browser's User-Agent and the client
-- address it signed in from, both as seen at sign-in and capped in length
-- by the provider. Sessions from before this migration have neither
-- (NULL, read as empty).

ALTER TABLE browser_sessions ADD COLUMN user_agent TEXT;
ALTER TABLE browser_sessions ADD COLUMN address TEXT;
