-- The identity provider, SQLite dialect. Keep in step with ../postgres/0003_idp.sql.
-- Timestamps are BIGINT unix milliseconds (UTC), lists are JSON TEXT. Secrets that could be
-- replayed are stored as hashes (see directory/src/idp.rs).

-- Password state by login (no foreign key: a credential outlives a renamed or removed account row).
CREATE TABLE idp_credentials (
    login         TEXT PRIMARY KEY NOT NULL,
    hash          TEXT NOT NULL,
    changed_at    BIGINT NOT NULL,
    must_change   BOOLEAN NOT NULL,
    failed_count  INTEGER NOT NULL DEFAULT 0,
    locked_until  BIGINT,
    totp_secret   TEXT,
    last_login_at BIGINT
) WITHOUT ROWID;

-- Previous password hashes; id breaks ties between changes in the same millisecond.
CREATE TABLE idp_password_history (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    login      TEXT NOT NULL,
    hash       TEXT NOT NULL,
    retired_at BIGINT NOT NULL
);
CREATE INDEX idp_password_history_login ON idp_password_history (login, retired_at, id);

-- Clients added with `orgid clients add`; the URI and grant lists are JSON arrays.
CREATE TABLE idp_clients (
    id                        TEXT PRIMARY KEY NOT NULL,
    name                      TEXT NOT NULL,
    secret_hash               TEXT,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    grants                    TEXT NOT NULL,
    id_token_alg              TEXT NOT NULL,
    require_totp              BOOLEAN NOT NULL,
    created_at                BIGINT NOT NULL
) WITHOUT ROWID;

CREATE TABLE idp_signing_keys (
    kid           TEXT PRIMARY KEY NOT NULL,
    alg           TEXT NOT NULL,
    private_pkcs8 BLOB NOT NULL,
    created_at    BIGINT NOT NULL,
    retire_at     BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX idp_signing_keys_created ON idp_signing_keys (created_at);
CREATE INDEX idp_signing_keys_expires ON idp_signing_keys (expires_at);

-- Rows locked to serialise replicas (`signing_keys`: key rotation).
CREATE TABLE idp_locks (
    name TEXT PRIMARY KEY NOT NULL
) WITHOUT ROWID;
INSERT INTO idp_locks (name) VALUES ('signing_keys');

CREATE TABLE idp_sessions (
    id_hash      TEXT PRIMARY KEY NOT NULL,
    login        TEXT NOT NULL,
    auth_time    BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    amr          TEXT NOT NULL,
    ended_at     BIGINT
) WITHOUT ROWID;
CREATE INDEX idp_sessions_login ON idp_sessions (login);
CREATE INDEX idp_sessions_expires ON idp_sessions (expires_at);

-- Authorization codes by hash. used_at: spent; reused_at: presented again after that;
-- grant_id: what the exchange issued.
CREATE TABLE idp_codes (
    code_hash      TEXT PRIMARY KEY NOT NULL,
    client_id      TEXT NOT NULL,
    login          TEXT NOT NULL,
    session_hash   TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    auth_time      BIGINT NOT NULL,
    amr            TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT,
    reused_at      BIGINT,
    grant_id       TEXT
) WITHOUT ROWID;
CREATE INDEX idp_codes_expires ON idp_codes (expires_at);

CREATE TABLE idp_grants (
    id           TEXT PRIMARY KEY NOT NULL,
    client_id    TEXT NOT NULL,
    login        TEXT,
    scope        TEXT NOT NULL,
    session_hash TEXT,
    auth_time    BIGINT,
    amr          TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
) WITHOUT ROWID;
CREATE INDEX idp_grants_login ON idp_grants (login);
CREATE INDEX idp_grants_session ON idp_grants (session_hash);
CREATE INDEX idp_grants_client ON idp_grants (client_id);

-- Access tokens by jti, refresh tokens by hash.
CREATE TABLE idp_tokens (
    id         TEXT PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,
    grant_id   TEXT NOT NULL REFERENCES idp_grants (id),
    client_id  TEXT NOT NULL,
    login      TEXT,
    scope      TEXT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
) WITHOUT ROWID;
CREATE INDEX idp_tokens_grant ON idp_tokens (grant_id);
CREATE INDEX idp_tokens_expires ON idp_tokens (expires_at);
