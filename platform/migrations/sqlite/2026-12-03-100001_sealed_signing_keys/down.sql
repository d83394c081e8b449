-- The keys stay sealed: a version from before this one cannot use them.
ALTER TABLE signing_keys RENAME COLUMN sealed_private_key TO private_key_pem;
