-- One outbox for every target, SQLite dialect. Keep in step with ../postgres/0006_outbox.sql.
-- The LDAP outbox becomes the outbox of every target orgid keeps equal to its decisions
-- (OpenLDAP today; Active Directory and WeCom next): each item names its target, and each
-- target's worker reads its own queue in seq order. Items queued before this are LDAP's.
ALTER TABLE ldap_outbox RENAME TO outbox;
ALTER TABLE outbox ADD COLUMN target TEXT NOT NULL DEFAULT 'ldap';
DROP INDEX ldap_outbox_pending;
CREATE INDEX outbox_pending ON outbox (target, seq) WHERE NOT parked;
