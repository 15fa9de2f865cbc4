-- Personal notices (a password nearing expiry, …), SQLite dialect. Keep in step with ../postgres/0017_notices.sql.
-- One row per notice and channel: queued once (its key says what it is about and when, e.g.
-- 'password_expiry:zhangwei:7:<expiry ms>'), sent once (sent_at), retried at next_at while it fails.
-- Times are unix milliseconds.
CREATE TABLE notices (
    key        TEXT NOT NULL,
    channel    TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    next_at    BIGINT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    sent_at    BIGINT,
    last_error TEXT,
    PRIMARY KEY (key, channel)
) WITHOUT ROWID;
CREATE INDEX notices_due ON notices (next_at) WHERE sent_at IS NULL;
