-- The audit trail, SQLite dialect. Keep in step with ../postgres/0004_audit.sql.

-- One record per event, in chain order: `hash` is SHA-256 over the record's position, `prev_hash`
-- and fields (orgid_directory::audit::chain::canonical). `at` is unix milliseconds (UTC).
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY NOT NULL,
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
    prev_hash  BLOB NOT NULL,
    hash       BLOB NOT NULL
);
-- Queries page in (at, seq) order; each filter walks its own index in that order (seq is the
-- rowid, so every index ends with it).
CREATE INDEX audit_log_login ON audit_log (login, at) WHERE login IS NOT NULL;
CREATE INDEX audit_log_company ON audit_log (company, at) WHERE company IS NOT NULL;
CREATE INDEX audit_log_ip ON audit_log (source_ip, at) WHERE source_ip IS NOT NULL;
CREATE INDEX audit_log_kind ON audit_log (kind, at);
CREATE INDEX audit_log_at ON audit_log (at);

-- The last record: appenders lock this row first, so the chain has one writer at a time.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash BLOB NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));

-- Signed statements "record seq had hash": the purge anchors and the periodic checkpoints.
CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY NOT NULL,
    hash       BLOB NOT NULL,
    at         BIGINT NOT NULL,
    public_key BLOB NOT NULL,
    signature  BLOB NOT NULL
);

-- Open only inside the retention purge's transaction.
CREATE TABLE audit_gate (
    id      INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    purging BOOLEAN NOT NULL
);
INSERT INTO audit_gate (id, purging) VALUES (1, FALSE);

-- Append-only: no record is ever changed; records are deleted only by the purge.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN (SELECT purging FROM audit_gate WHERE id = 1) = 0
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused (records go only by the retention purge)');
END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints is append-only: DELETE refused');
END;
