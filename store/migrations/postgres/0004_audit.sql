-- The audit trail, PostgreSQL dialect. Keep in step with ../sqlite/0004_audit.sql.

-- One record per event, in chain order: `hash` is SHA-256 over the record's position, `prev_hash`
-- and fields (orgid_directory::audit::chain::canonical). `at` is unix milliseconds (UTC).
CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor      TEXT NOT NULL,
    login      TEXT,
    company    TEXT,
    client_id  TEXT,
    source_ip  TEXT,
    user_agent TEXT,
    session_id TEXT,
    reason     TEXT,
    details    TEXT,
    prev_hash  BYTEA NOT NULL,
    hash       BYTEA NOT NULL
);
-- Queries page in (at, seq) order; each filter walks its own index in that order.
CREATE INDEX audit_log_login ON audit_log (login, at, seq) WHERE login IS NOT NULL;
CREATE INDEX audit_log_company ON audit_log (company, at, seq) WHERE company IS NOT NULL;
CREATE INDEX audit_log_ip ON audit_log (source_ip, at, seq) WHERE source_ip IS NOT NULL;
CREATE INDEX audit_log_kind ON audit_log (kind, at, seq);
CREATE INDEX audit_log_at ON audit_log (at, seq);

-- The last record: appenders lock this row first, so the chain has one writer at a time across
-- every replica.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash BYTEA NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- Signed statements "record seq had hash": the purge anchors and the periodic checkpoints.
CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    hash       BYTEA NOT NULL,
    at         BIGINT NOT NULL,
    public_key BYTEA NOT NULL,
    signature  BYTEA NOT NULL
);

-- Open only inside the retention purge's transaction (other sessions never see it open).
CREATE TABLE audit_gate (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    purging BOOLEAN NOT NULL
);
INSERT INTO audit_gate (id, purging) VALUES (1, FALSE);

-- Append-only: no record is ever changed; records are deleted only by the purge. Statement
-- triggers, so a purge of millions of records costs one check.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_log' AND (SELECT purging FROM audit_gate WHERE id = 1) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
