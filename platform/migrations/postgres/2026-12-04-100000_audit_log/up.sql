-- The audit log (issue 25, item 3): one row per change an operator made through the console, the
-- REST API or the command line, appended after the change succeeded and never updated. actor is
-- who (an OS user, or the admin token, with its console session), via is cli, api or console,
-- from_address where from (the peer address, or the command line's host name). action is a
-- dotted name (audit.rs lists them); target names what changed (a domain, a client_id, a name);
-- detail is a JSON object of what changed, never a secret. tenant_domain has no foreign key: an
-- entry outlives its tenant (the entry of a tenant's removal must stay). id orders the entries
-- (newest first by id) and pages them; at is Unix seconds.
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    via TEXT NOT NULL,
    from_address TEXT,
    action TEXT NOT NULL,
    tenant_domain TEXT,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
-- A tenant's entries, newest first; the primary key serves the log of every tenant.
CREATE INDEX audit_log_tenant_domain_id ON audit_log (tenant_domain, id);
