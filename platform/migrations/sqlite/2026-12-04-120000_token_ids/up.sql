-- Tokens are found by an id their holder presents with them (token_ids.rs): the issue time and
-- random bits, so a moment's new tokens sort together in the primary key instead of each landing
-- on an index page of its own (a random hash as the key). The hash of the whole token stays with
-- the row, unindexed, and must match. Tokens issued before keep their hash as their id and are
-- found by it, as JWT access tokens are.
-- Each foreign key is a lookup at every insert. The client's stays: it removes a removed client's
-- tokens, and a removed tenant's through its clients. The tenant's adds nothing to that. The
-- family's is gone with its ON DELETE SET NULL: a family is purged only after its end, when every
-- refresh token in it has expired, and a family id that names no family is read as no family.
CREATE TABLE tokens_by_id (
    token_id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL,
    token_kind TEXT NOT NULL,
    tenant_domain TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES service_providers(client_id) ON DELETE CASCADE,
    subject TEXT,
    scope TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    family_id TEXT,
    claims TEXT
);
INSERT INTO tokens_by_id (token_id, token_hash, token_kind, tenant_domain, client_id, subject,
    scope, issued_at, expires_at, revoked_at, family_id, claims)
SELECT token_hash, token_hash, token_kind, tenant_domain, client_id, subject, scope, issued_at,
    expires_at, revoked_at, family_id, claims FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_by_id RENAME TO tokens;
CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX tokens_client_id ON tokens (client_id);
CREATE INDEX tokens_family_id ON tokens (family_id);

-- Replay keys as a 16-byte digest of (tenant, kind, jti) (replay_keys.rs): a short random key
-- touches one page of the primary key per assertion, the text key (tenant, issuer, jti) several.
-- The expiry index is kept in insertion order within a second (SQLite's rowid follows it), so
-- new keys append to it. The keys of jwt_replay_cache are carried over when the store opens
-- (SQLite has no SHA-256 of its own), and that table then stays empty.
CREATE TABLE replay_keys (
    digest BLOB PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX replay_keys_expires_at ON replay_keys (expires_at);
