-- How access tokens are signed, sqlite dialect. Keep in step with ../postgres/0009_access_token_alg.sql.

-- A registered client's own access-token algorithm (RS256, ES256, EdDSA); NULL: the provider's.
ALTER TABLE idp_clients ADD COLUMN access_token_alg TEXT;

-- The install's default for clients that do not say: ES256 for a new install. An install that
-- already signed access tokens (RS256, the only algorithm before this migration) keeps RS256, so
-- that its resource servers go on verifying them, until `oidc.access_token_alg` says otherwise.
INSERT INTO settings (name, value)
    SELECT 'idp.access_token_alg', 'RS256' WHERE EXISTS (SELECT 1 FROM idp_signing_keys);
INSERT INTO settings (name, value)
    SELECT 'idp.access_token_alg', 'ES256' WHERE NOT EXISTS (SELECT 1 FROM idp_signing_keys);
