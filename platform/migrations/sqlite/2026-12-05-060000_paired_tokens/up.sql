-- A grant's access and refresh tokens in one row (store/tokens.rs): both carry the row's id, each
-- its own secret, and each half keeps its own hash, kind, expiry and revocation. One row per grant
-- is one insert into the table and each of its indexes instead of two. The row's own columns
-- describe the token that expires last, so the row's `expires_at` stays the time it may be
-- purged; the `paired_*` columns the other token. Rows written before hold one token each and are
-- read as before.
ALTER TABLE tokens ADD COLUMN paired_hash TEXT;
ALTER TABLE tokens ADD COLUMN paired_kind TEXT;
ALTER TABLE tokens ADD COLUMN paired_expires_at BIGINT;
ALTER TABLE tokens ADD COLUMN paired_revoked_at BIGINT;
