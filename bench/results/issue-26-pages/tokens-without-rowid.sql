-- Tokens in a WITHOUT ROWID table keyed by the token id (one b-tree fewer; each secondary index carries the 32-character id instead of the rowid).
CREATE TABLE t2 (
    token_id TEXT PRIMARY KEY NOT NULL, token_hash TEXT NOT NULL, token_kind TEXT NOT NULL,
    tenant_domain TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES service_providers(client_id) ON DELETE CASCADE,
    subject TEXT, scope TEXT NOT NULL, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
    revoked_at BIGINT, family_id TEXT, claims TEXT) WITHOUT ROWID;
INSERT INTO t2 SELECT * FROM tokens;
DROP TABLE tokens;
ALTER TABLE t2 RENAME TO tokens;
CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX tokens_client_id ON tokens (client_id);
CREATE INDEX tokens_family_id ON tokens (family_id);
