-- LDAP provisioning, SQLite dialect. Keep in step with ../postgres/0002_ldap.sql.

-- The directory delta of a held run, until it is approved (JSON of DitDelta).
ALTER TABLE runs ADD COLUMN delta TEXT;

-- Directory operations waiting for the LDAP sink, written in the transaction that decided them.
-- Items with the same key are applied in seq order.
CREATE TABLE ldap_outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id          BIGINT REFERENCES runs (id),
    key             TEXT NOT NULL,
    phase           INTEGER NOT NULL,
    op              TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    parked          BOOLEAN NOT NULL DEFAULT FALSE
);
-- The worker reads the head of the queue past any parked items.
CREATE INDEX ldap_outbox_pending ON ldap_outbox (seq) WHERE NOT parked;

-- What orgid has put (or queued) in the directory for each account.
CREATE TABLE ldap_users (
    person_key TEXT PRIMARY KEY NOT NULL REFERENCES people (person_key),
    parent     TEXT NOT NULL,
    login      TEXT NOT NULL,
    groups     TEXT NOT NULL,
    locked     BOOLEAN NOT NULL
) WITHOUT ROWID;
CREATE INDEX ldap_users_parent ON ldap_users (parent);

-- OUs and groups orgid has created (or queued), by stable key; dn is JSON of Dn.
CREATE TABLE ldap_nodes (
    key  TEXT PRIMARY KEY NOT NULL,
    dn   TEXT NOT NULL,
    kind TEXT NOT NULL
) WITHOUT ROWID;
