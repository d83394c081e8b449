CREATE TABLE token_families_by_tenant (
    family_id TEXT PRIMARY KEY NOT NULL,
    tenant_domain TEXT NOT NULL REFERENCES tenants(domain) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES service_providers(client_id) ON DELETE CASCADE,
    idp_issuer TEXT,
    idp_created_at BIGINT,
    via_service_account INTEGER NOT NULL DEFAULT 0,
    started_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
INSERT INTO token_families_by_tenant (family_id, tenant_domain, client_id, idp_issuer,
    idp_created_at, via_service_account, started_at, expires_at, revoked_at)
SELECT family_id, tenant_domain, client_id, idp_issuer, idp_created_at, via_service_account,
    started_at, expires_at, revoked_at FROM token_families;
DROP TABLE token_families;
ALTER TABLE token_families_by_tenant RENAME TO token_families;
CREATE INDEX token_families_expires_at ON token_families (expires_at);
