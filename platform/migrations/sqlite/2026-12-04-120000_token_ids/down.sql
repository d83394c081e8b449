-- Reverting forgets the replay keys recorded since (a digest cannot be turned back into its
-- text): an assertion accepted since is accepted again until it expires.
DROP TABLE replay_keys;
CREATE TABLE tokens_by_hash (
    token_hash TEXT PRIMARY KEY NOT NULL,
    token_kind TEXT NOT NULL,
    tenant_domain TEXT NOT NULL REFERENCES tenants(domain) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES service_providers(client_id) ON DELETE CASCADE,
    subject TEXT,
    scope TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    family_id TEXT REFERENCES token_families(family_id) ON DELETE SET NULL,
    claims TEXT
);
-- A token of the new format is found by its hash again (it no longer says its id to anyone).
INSERT INTO tokens_by_hash SELECT token_hash, token_kind, tenant_domain, client_id, subject,
    scope, issued_at, expires_at, revoked_at,
    CASE WHEN family_id IN (SELECT family_id FROM token_families) THEN family_id END, claims
    FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_by_hash RENAME TO tokens;
CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX tokens_client_id ON tokens (client_id);
CREATE INDEX tokens_family_id ON tokens (family_id);
