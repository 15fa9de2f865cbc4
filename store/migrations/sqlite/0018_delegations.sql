-- Delegation by authorization, sqlite dialect. Keep in step with ../postgres/0018_delegations.sql.

-- A person (principal) lets a colleague (delegate) act for them in named clients (clients: JSON
-- list of client ids, '[]' for every client) from starts_at until ends_at, unless revoked.
-- created_by: the principal's login, or admin:NAME for an operator.
CREATE TABLE idp_delegations (
    id         TEXT PRIMARY KEY NOT NULL,
    principal  TEXT NOT NULL,
    delegate   TEXT NOT NULL,
    clients    TEXT NOT NULL,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at BIGINT,
    revoked_by TEXT
);
CREATE INDEX idp_delegations_principal ON idp_delegations (principal);
CREATE INDEX idp_delegations_delegate ON idp_delegations (delegate);

-- The delegate acting for the login of a code, a grant or a service ticket (NULL: the person
-- themselves).
ALTER TABLE idp_codes ADD COLUMN actor TEXT;
ALTER TABLE idp_grants ADD COLUMN actor TEXT;
ALTER TABLE idp_cas_tickets ADD COLUMN actor TEXT;
