-- 0013_passkeys: WebAuthn credentials (passkeys).
--
-- A row is one credential a user registered: its credential id (base64url
-- of the raw id, unique across users, since an assertion names only the
-- credential), its COSE public key, the signature counter last seen
-- (a counter that does not advance is a cloned authenticator's sign), the
-- transports the browser reported (space-separated), the authenticator
-- model (AAGUID), the flags that stay with it (backup eligible: a synced
-- passkey; backup state; user verified at registration), the attestation
-- format, the name the user gave it, and when it was created and last used.
-- Deleting the user deletes their passkeys.

CREATE TABLE passkeys (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    public_key      BLOB NOT NULL,
    sign_count      INTEGER NOT NULL DEFAULT 0,
    transports      TEXT,
    aaguid          BLOB,
    backup_eligible INTEGER NOT NULL DEFAULT 0,
    backup_state    INTEGER NOT NULL DEFAULT 0,
    user_verified   INTEGER NOT NULL DEFAULT 0,
    attestation_fmt TEXT,
    name            TEXT NOT NULL,
    created_at      INTEGER,
    last_used_at    INTEGER
);

CREATE INDEX passkeys_user ON passkeys (user_id);
