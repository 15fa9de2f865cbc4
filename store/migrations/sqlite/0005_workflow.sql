-- Delegation and the lifecycle workflow, sqlite dialect. Keep in step with ../postgres/0005_workflow.sql.
-- Timestamps are INTEGER unix milliseconds (UTC); profiles and chains are JSON TEXT. No ID numbers:
-- people are referred to by their person key.

-- Roles held by logins for a company (and its subtree). Never deleted: revoked_at ends a grant.
CREATE TABLE role_grants (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    login      TEXT NOT NULL,
    role       TEXT NOT NULL,
    company    TEXT NOT NULL,
    subtree    BOOLEAN NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX role_grants_login ON role_grants (login);

-- Open / adjust / close requests and their state.
CREATE TABLE requests (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    company         TEXT NOT NULL,
    person_key      TEXT NOT NULL,
    employee_number TEXT NOT NULL,
    name            TEXT NOT NULL,
    profile         TEXT NOT NULL,
    before_profile  TEXT,
    effective_date  TEXT,
    origin          TEXT NOT NULL,
    requested_by    TEXT NOT NULL,
    requested_at    INTEGER NOT NULL,
    state           TEXT NOT NULL,
    chain           TEXT NOT NULL,
    approved_at     INTEGER,
    due             INTEGER,
    done_at         INTEGER,
    error           TEXT
);
CREATE INDEX requests_state ON requests (state, id);
CREATE INDEX requests_person ON requests (person_key);
CREATE INDEX requests_company ON requests (company, id);

-- Each decision on a step of a request, in order.
CREATE TABLE request_approvals (
    request_id INTEGER NOT NULL REFERENCES requests (id),
    seq        INTEGER NOT NULL,
    step       TEXT NOT NULL,
    by_login   TEXT NOT NULL,
    at         INTEGER NOT NULL,
    approve    BOOLEAN NOT NULL,
    comment    TEXT NOT NULL,
    PRIMARY KEY (request_id, seq)
);

-- Differences between group HR's roster and an independent company's accounts.
CREATE TABLE roster_checks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    company         TEXT NOT NULL,
    person_key      TEXT NOT NULL,
    employee_number TEXT NOT NULL,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    detail          TEXT NOT NULL,
    first_seen      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL,
    resolved_at     INTEGER
);
CREATE INDEX roster_checks_open ON roster_checks (company, resolved_at);

-- Operating modes set in orgid (group IT); they win over the company list's on every sync.
CREATE TABLE company_modes (
    code TEXT PRIMARY KEY NOT NULL,
    mode TEXT NOT NULL
);
