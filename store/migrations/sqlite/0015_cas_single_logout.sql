-- CAS service tickets and single logout, sqlite dialect. Keep in step with
-- ../postgres/0015_cas_single_logout.sql.

-- A client's protocol (oidc, cas), its CAS services (JSON list of URLs and anchored patterns)
-- and its OIDC back-channel logout URI.
ALTER TABLE idp_clients ADD COLUMN protocol TEXT NOT NULL DEFAULT 'oidc';
ALTER TABLE idp_clients ADD COLUMN services TEXT NOT NULL DEFAULT '[]';
ALTER TABLE idp_clients ADD COLUMN backchannel_logout_uri TEXT;

-- Service tickets by hash, single-use (used_at), bound to their service, shared by replicas.
CREATE TABLE idp_cas_tickets (
    ticket_hash      TEXT PRIMARY KEY NOT NULL,
    client_id        TEXT NOT NULL,
    service          TEXT NOT NULL,
    login            TEXT NOT NULL,
    session_hash     TEXT NOT NULL,
    auth_time        BIGINT NOT NULL,
    amr              TEXT NOT NULL,
    from_credentials BOOLEAN NOT NULL,
    expires_at       BIGINT NOT NULL,
    used_at          BIGINT
);
CREATE INDEX idp_cas_tickets_expires ON idp_cas_tickets (expires_at);

-- Who to tell when an SSO session ends: one row per OIDC client, one per CAS service ticket
-- validated (ticket: the spent ticket the service keys its own session by; '' for OIDC).
-- next_at: when it is due (again), also a replica's claim; done_at: delivered or given up.
CREATE TABLE idp_logout_notices (
    id           TEXT PRIMARY KEY NOT NULL,
    session_hash TEXT NOT NULL,
    login        TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    protocol     TEXT NOT NULL,
    target       TEXT NOT NULL,
    ticket       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    done_at      BIGINT,
    UNIQUE (session_hash, client_id, ticket)
);
CREATE INDEX idp_logout_notices_due ON idp_logout_notices (done_at, next_at);
CREATE INDEX idp_logout_notices_session ON idp_logout_notices (session_hash);
