-- Each tenant's signing keys. The newest key that is not retired signs; a retired key stays
-- published in the tenant's JWKS until publish_until, when every token it signed has expired.
-- private_key_pem is secret: never printed or logged.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    tenant_domain TEXT NOT NULL REFERENCES tenants(domain) ON DELETE CASCADE,
    algorithm TEXT NOT NULL,
    private_key_pem TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    publish_until BIGINT
);
CREATE INDEX signing_keys_tenant ON signing_keys (tenant_domain, created_at);

-- Servers cache the keys: a rotation by the CLI or another node reaches them like any other change.
CREATE TRIGGER signing_keys_changed_insert AFTER INSERT ON signing_keys
BEGIN UPDATE cache_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER signing_keys_changed_update AFTER UPDATE ON signing_keys
BEGIN UPDATE cache_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER signing_keys_changed_delete AFTER DELETE ON signing_keys
BEGIN UPDATE cache_generation SET value = value + 1 WHERE id = 1; END;
