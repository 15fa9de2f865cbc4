-- SAML service providers registered with `orgid clients add --protocol saml`, postgres dialect.
-- Keep in step with ../sqlite/0016_saml_sps.sql.

-- The client row (idp_clients: id, name, require_totp; no redirect URIs, grants or scopes) is the
-- SP as the login flow knows it; this is the rest, gone with the client.
CREATE TABLE idp_saml_sps (
    id         TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES idp_clients (id) ON DELETE CASCADE,
    metadata   TEXT NOT NULL,
    name_id    TEXT NOT NULL,
    sign       TEXT NOT NULL,
    attributes TEXT NOT NULL
);
