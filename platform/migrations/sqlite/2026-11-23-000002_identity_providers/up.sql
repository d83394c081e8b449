-- Identity providers (trusted token issuers) per tenant. List-valued columns hold JSON arrays.
CREATE TABLE identity_providers (
    tenant_domain TEXT NOT NULL REFERENCES tenants(domain) ON DELETE CASCADE,
    name TEXT NOT NULL,
    issuer TEXT NOT NULL,
    aliases TEXT NOT NULL,
    certificates TEXT NOT NULL,
    jwks_uri TEXT,
    enabled INTEGER NOT NULL,
    clock_skew_seconds BIGINT NOT NULL,
    allowed_subjects TEXT,
    allowed_scopes TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_domain, name),
    UNIQUE (tenant_domain, issuer)
);
