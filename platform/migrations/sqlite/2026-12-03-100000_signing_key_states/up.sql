-- Key states (next, current, retiring, retired) follow from these timestamps and the time, so
-- every node agrees on which key signs without a write at the moment of the switch: a key signs
-- from activates_at until retired_at, and stays published until publish_until. A rotation
-- publishes its key at once and lets it sign only after the JWKS max-age plus a margin. Keys from
-- before signed from the moment they were made.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT NOT NULL DEFAULT 0;
UPDATE signing_keys SET activates_at = created_at;
