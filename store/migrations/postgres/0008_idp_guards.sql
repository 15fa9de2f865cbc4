-- The identity provider's guards against replay and guessing, PostgreSQL dialect. Keep in step with
-- ../sqlite/0008_idp_guards.sql. Times are BIGINT unix milliseconds (UTC).

-- Every new password (change or reset) raises its credential's version: a login form is bound to
-- the version it was sealed for and cannot act once the password has changed.
ALTER TABLE idp_credentials ADD COLUMN version BIGINT NOT NULL DEFAULT 0;

-- The scopes a stored client may ask for (JSON array). Clients registered before: the standard
-- ones, those discovery advertises.
ALTER TABLE idp_clients ADD COLUMN scopes TEXT NOT NULL
    DEFAULT '["openid","profile","email","phone","org","offline_access"]';

-- The login flow's form tokens that were used (each acts once), by the SHA-256 of their id, kept
-- until the token has expired anyway.
CREATE TABLE idp_spent_forms (
    form_hash  TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX idp_spent_forms_expires ON idp_spent_forms (expires_at);

-- Budgets of failed logins by key (a hash of a source address or of a typed login): the key's
-- theoretical arrival time (generic cell rate algorithm); a row whose time has passed is a full
-- budget and may go.
CREATE TABLE idp_throttle (
    key TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    tat BIGINT NOT NULL
);
CREATE INDEX idp_throttle_tat ON idp_throttle (tat);
