-- Tokens are found by an id their holder presents with them (token_ids.rs): the issue time and
-- random bits, so a moment's new tokens sort together in the primary key instead of each landing
-- on an index page of its own (a random hash as the key). The hash of the whole token stays with
-- the row, unindexed, and must match. Tokens issued before keep their hash as their id and are
-- found by it, as JWT access tokens are.
ALTER TABLE tokens ADD COLUMN token_id TEXT;
UPDATE tokens SET token_id = token_hash;
ALTER TABLE tokens ALTER COLUMN token_id SET NOT NULL;
ALTER TABLE tokens DROP CONSTRAINT tokens_pkey;
ALTER TABLE tokens ADD PRIMARY KEY (token_id);
-- Each foreign key is a lookup at every insert. The client's stays: it removes a removed client's
-- tokens, and a removed tenant's through its clients. The tenant's adds nothing to that. The
-- family's is gone with its ON DELETE SET NULL: a family is purged only after its end, when every
-- refresh token in it has expired, and a family id that names no family is read as no family.
ALTER TABLE tokens DROP CONSTRAINT tokens_tenant_domain_fkey;
ALTER TABLE tokens DROP CONSTRAINT tokens_family_id_fkey;

-- Replay keys as a 16-byte digest of (tenant, kind, jti) (replay_keys.rs): a short random key
-- touches one page of the primary key per assertion, the text key (tenant, issuer, jti) several.
-- The keys of jwt_replay_cache are carried over when the store opens, and that table then stays
-- empty.
CREATE TABLE replay_keys (
    digest BYTEA PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX replay_keys_expires_at ON replay_keys (expires_at);
