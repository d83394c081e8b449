-- Private keys are sealed (AES-256-GCM) under a key-encryption key that never enters the database
-- (keys::sealed). A migration cannot seal (SQL has no key): rows from before hold PEM until the
-- server's first start with this version, which seals them and says so in its log.
ALTER TABLE signing_keys RENAME COLUMN private_key_pem TO sealed_private_key;
