-- orgid store, SQLite dialect. Timestamps are BIGINT unix milliseconds (UTC), dates TEXT
-- YYYY-MM-DD, JSON as TEXT. Keep in step with ../postgres/0001_initial.sql.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Bumped by every run that changed the stored state; runs remember the value they planned against.
CREATE TABLE store_revision (
    id       INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO store_revision (id, revision) VALUES (1, 0);

CREATE TABLE companies (
    code       TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    parent     TEXT,
    tier       TEXT NOT NULL,
    mode       TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE people (
    person_key      TEXT PRIMARY KEY NOT NULL,
    employee_number TEXT NOT NULL,
    name            TEXT NOT NULL,
    gender          TEXT,
    company         TEXT NOT NULL,
    department      TEXT NOT NULL,
    title           TEXT NOT NULL,
    grade           TEXT,
    mobile          TEXT NOT NULL,
    email           TEXT NOT NULL,
    hire_date       TEXT,
    confidential    BOOLEAN NOT NULL,
    employment      TEXT NOT NULL,
    leave_date      TEXT,
    source          TEXT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX people_employee_number ON people (employee_number);
CREATE INDEX people_company ON people (company, employee_number);

CREATE TABLE accounts (
    person_key TEXT PRIMARY KEY NOT NULL REFERENCES people (person_key),
    login      TEXT NOT NULL UNIQUE,
    status     TEXT NOT NULL,
    rule       TEXT NOT NULL,
    opened_at  BIGINT,
    closed_at  BIGINT,
    updated_at BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX accounts_status ON accounts (status);

CREATE TABLE runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,
    sources       TEXT NOT NULL,
    actor         TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    status        TEXT NOT NULL,
    counts        TEXT NOT NULL,
    active_people BIGINT NOT NULL DEFAULT 0,
    rejected_rows BIGINT NOT NULL DEFAULT 0,
    message       TEXT,
    approval_of   BIGINT REFERENCES runs (id),
    base_revision BIGINT NOT NULL,
    -- The plan of a held run, until it is approved.
    plan          TEXT
);
CREATE INDEX runs_status ON runs (status, id);

CREATE TABLE run_rejections (
    run_id      BIGINT NOT NULL REFERENCES runs (id),
    seq         BIGINT NOT NULL,
    file        TEXT NOT NULL,
    source_row  BIGINT NOT NULL,
    column_name TEXT NOT NULL,
    reason      TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE run_changes (
    run_id          BIGINT NOT NULL REFERENCES runs (id),
    seq             BIGINT NOT NULL,
    person_key      TEXT NOT NULL,
    login           TEXT NOT NULL,
    op              TEXT NOT NULL,
    employee_number TEXT NOT NULL,
    name            TEXT NOT NULL,
    company         TEXT NOT NULL,
    change          TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
