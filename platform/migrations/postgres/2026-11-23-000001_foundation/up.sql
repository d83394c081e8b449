-- Tenants, service providers (OAuth clients) and issued tokens (hashes only).
CREATE TABLE tenants (
    domain TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    created_at BIGINT NOT NULL
);

CREATE TABLE service_providers (
    client_id TEXT PRIMARY KEY NOT NULL,
    tenant_domain TEXT NOT NULL REFERENCES tenants(domain) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    scopes TEXT NOT NULL,
    access_token_lifetime BIGINT,
    refresh_token_lifetime BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_domain, name)
);

CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    token_kind TEXT NOT NULL,
    tenant_domain TEXT NOT NULL REFERENCES tenants(domain) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES service_providers(client_id) ON DELETE CASCADE,
    subject TEXT,
    scope TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX tokens_client_id ON tokens (client_id);
