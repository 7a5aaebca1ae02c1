-- 0009_client_protocol: client metadata for private_key_jwt, PAR and
-- back-channel logout.
--
-- jwks holds the client's public keys as a JSON Web Key Set (RFC 7517),
-- jwks_uri the https URL it publishes them at (one or neither, never
-- both); token_endpoint_auth_signing_alg the one JWS algorithm its
-- client assertions use (RFC 7591 §2). require_pushed_authorization_requests
-- makes the authorization endpoint accept only request_uri values from
-- the PAR endpoint (RFC 9126 §6). backchannel_logout_uri and
-- backchannel_logout_session_required are OpenID Back-Channel Logout 1.0
-- §2.2. Empty and false mean unset, so existing clients keep working as before.

ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN token_endpoint_auth_signing_alg TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT false;

-- session_clients records, for OpenID Back-Channel Logout 1.0, which
-- clients with a backchannel_logout_uri received tokens in which browser
-- session (by its sid), so that when the session ends each of them can be
-- told. A row lives as long as the session could; a client's rows go with
-- it.
CREATE TABLE session_clients (
    sid        TEXT COLLATE "C" NOT NULL,
    client_id  TEXT COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    TEXT COLLATE "C" NOT NULL,
    expires_at TIMESTAMPTZ,
    PRIMARY KEY (sid, client_id)
);
CREATE INDEX session_clients_user_id ON session_clients (user_id);
CREATE INDEX session_clients_expires_at ON session_clients (expires_at);
