-- A tenant's users, for the password grant. password_hash is an argon2id PHC string (never the
-- password); claims is a JSON object (email, groups, ...) that the user's tokens carry.
CREATE TABLE users (
    tenant_domain TEXT NOT NULL REFERENCES tenants(domain) ON DELETE CASCADE,
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    claims TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_domain, username)
);
