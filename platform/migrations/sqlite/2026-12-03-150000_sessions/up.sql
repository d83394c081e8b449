-- Browser sessions (SSO) of the sign-in flow, stored so that every node sees them (issue 23,
-- item 3). id_hash is the SHA-256 of the session id (`sha256:` and 64 hex digits): the cookie
-- value itself is never stored, so a copy of the database signs nobody in. subject is the
-- username; auth_time is when the user last proved their password. A session ends at expires_at
-- (absolute), after an idle time the server configures (from last_seen_at), or when ended_at is
-- set (logout, "log out everywhere", the user's removal). Rows past expires_at or ended are
-- purged with the expired tokens.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    tenant_domain TEXT NOT NULL REFERENCES tenants(domain) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX sessions_tenant_subject ON sessions (tenant_domain, subject);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
