-- Refresh token families (RFC 9700 4.14.2): every token issued from one original grant, through
-- every rotation, shares a family. Presenting a spent refresh token revokes the family, access
-- tokens included. A family ends at expires_at whatever the rotations (its absolute lifetime), and
-- records the identity provider the original grant came from, so removing, disabling or
-- re-registering that provider, or removing its service-account binding, stops the family.
CREATE TABLE token_families (
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

CREATE INDEX token_families_expires_at ON token_families (expires_at);

-- A purged (expired) family leaves its last access tokens valid until their own expiry.
ALTER TABLE tokens ADD COLUMN family_id TEXT REFERENCES token_families(family_id) ON DELETE SET NULL;
CREATE INDEX tokens_family_id ON tokens (family_id);
