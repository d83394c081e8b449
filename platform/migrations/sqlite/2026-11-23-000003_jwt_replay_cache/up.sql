-- Replay cache for assertion ids (RFC 7523 3, item 7): one row per (tenant, issuer, jti) until the
-- assertion expires. The primary key makes a second use fail on every node sharing the database.
CREATE TABLE jwt_replay_cache (
    tenant_domain TEXT NOT NULL REFERENCES tenants(domain) ON DELETE CASCADE,
    issuer TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_domain, issuer, jti)
);
CREATE INDEX jwt_replay_cache_expires_at ON jwt_replay_cache (expires_at);
