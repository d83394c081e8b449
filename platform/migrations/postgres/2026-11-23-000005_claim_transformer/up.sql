-- The Rhai claim transformer of an identity provider: a script path, resolved against the
-- server's working directory; NULL for none.
ALTER TABLE identity_providers ADD COLUMN claim_transformer TEXT;
