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
-- §2.2. Empty and 0 mean unset, so existing clients keep working as before.

ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN token_endpoint_auth_signing_alg TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required INTEGER NOT NULL DEFAULT 0;
