-- A family's tenant key adds nothing to its client's: a removed tenant removes its clients
-- (ON DELETE CASCADE), which removes their families, and a family written for a client removed
-- meanwhile is refused by the client's key alone. Each key is a lookup at every insert; the
-- tokens' tenant key went the same way (2026-12-04-120000_token_ids). SQLite drops a key only
-- with its table: the families are copied into one without it.
CREATE TABLE token_families_by_client (
    family_id TEXT PRIMARY KEY NOT NULL,
    tenant_domain TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES service_providers(client_id) ON DELETE CASCADE,
    idp_issuer TEXT,
    idp_created_at BIGINT,
    via_service_account INTEGER NOT NULL DEFAULT 0,
    started_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
INSERT INTO token_families_by_client (family_id, tenant_domain, client_id, idp_issuer,
    idp_created_at, via_service_account, started_at, expires_at, revoked_at)
SELECT family_id, tenant_domain, client_id, idp_issuer, idp_created_at, via_service_account,
    started_at, expires_at, revoked_at FROM token_families;
DROP TABLE token_families;
ALTER TABLE token_families_by_client RENAME TO token_families;
CREATE INDEX token_families_expires_at ON token_families (expires_at);
