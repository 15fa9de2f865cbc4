-- Client-credentials access tokens without a record, postgres dialect. Keep in step with
-- ../sqlite/0012_self_contained_tokens.sql.

-- Such a token is a signed JWT that only the audit trail records (its jti); revoking it puts
-- its jti here until it expires anyway.
CREATE TABLE idp_revoked_access (
    jti        TEXT PRIMARY KEY NOT NULL,
    client_id  TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX idp_revoked_access_expires ON idp_revoked_access (expires_at);

-- When a client was last removed: its self-contained tokens issued until then are dead, also if
-- a client of the same id is added again.
CREATE TABLE idp_client_removals (
    client_id  TEXT PRIMARY KEY NOT NULL,
    removed_at BIGINT NOT NULL
);
