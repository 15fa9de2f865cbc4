-- The audit trail, SQLite dialect. Keep in step with ../postgres/0004_audit.sql.

-- One record per event. `hash` is SHA-256 over the record's chain, position, `prev_hash` and
-- fields (orgid_directory::audit::chain::canonical); `seq` only numbers the rows. `at` is unix
-- milliseconds (UTC). SQLite keeps one chain (one writer at a time anyway).
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY NOT NULL,
    chain      INTEGER NOT NULL,
    pos        BIGINT NOT NULL,
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
CREATE UNIQUE INDEX audit_log_chain ON audit_log (chain, pos);
-- Queries page in (at, seq) order; each filter walks its own index in that order (seq is the
-- rowid, so every index ends with it).
CREATE INDEX audit_log_login ON audit_log (login, at) WHERE login IS NOT NULL;
CREATE INDEX audit_log_company ON audit_log (company, at) WHERE company IS NOT NULL;
CREATE INDEX audit_log_ip ON audit_log (source_ip, at) WHERE source_ip IS NOT NULL;
CREATE INDEX audit_log_kind ON audit_log (kind, at);
CREATE INDEX audit_log_at ON audit_log (at);

-- The last record of each chain: an appender locks its chain's row first, so a chain has one
-- writer at a time.
CREATE TABLE audit_head (
    chain INTEGER PRIMARY KEY NOT NULL,
    pos   BIGINT NOT NULL,
    hash  BLOB NOT NULL
);
INSERT INTO audit_head (chain, pos, hash) VALUES (1, 0, zeroblob(32));

-- Signed statements "record pos of chain had hash": the purge anchors and the periodic checkpoints.
CREATE TABLE audit_checkpoints (
    chain      INTEGER NOT NULL,
    pos        BIGINT NOT NULL,
    hash       BLOB NOT NULL,
    at         BIGINT NOT NULL,
    public_key BLOB NOT NULL,
    signature  BLOB NOT NULL,
    PRIMARY KEY (chain, pos)
) WITHOUT ROWID;

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
