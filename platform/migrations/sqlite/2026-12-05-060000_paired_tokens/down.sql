-- Reverting forgets the second token of every grant written since (an access token, usually):
-- a token of that format is found by its id alone, which its pair keeps. Its holder asks again.
ALTER TABLE tokens DROP COLUMN paired_revoked_at;
ALTER TABLE tokens DROP COLUMN paired_expires_at;
ALTER TABLE tokens DROP COLUMN paired_kind;
ALTER TABLE tokens DROP COLUMN paired_hash;
