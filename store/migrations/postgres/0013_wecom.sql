-- WeCom (企业微信) tracking, PostgreSQL dialect. Keep in step with ../sqlite/0013_wecom.sql.
-- What orgid has created (or queued) in WeCom's address book; its operations wait in the one
-- outbox under the target 'wecom'.

-- Departments by stable key (company:C, dept:C:path); id is WeCom's department id, given by orgid.
CREATE TABLE wecom_departments (
    key    TEXT PRIMARY KEY NOT NULL,
    id     BIGINT NOT NULL UNIQUE,
    name   TEXT NOT NULL,
    parent BIGINT NOT NULL
);

-- One member per account: its userid (the login), its department's key, enabled or not.
CREATE TABLE wecom_members (
    person_key TEXT PRIMARY KEY NOT NULL REFERENCES people (person_key),
    userid     TEXT NOT NULL,
    dept       TEXT NOT NULL,
    enabled    BOOLEAN NOT NULL
);
CREATE INDEX wecom_members_dept ON wecom_members (dept);
