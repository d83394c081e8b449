-- Keys of a client that authenticates with private_key_jwt (RFC 7523 2.2): its certificates or
-- public keys (a JSON array of PEM texts), or a JWKS URI. A client with either authenticates only
-- that way.
ALTER TABLE service_providers ADD COLUMN certificates TEXT NOT NULL DEFAULT '[]';
ALTER TABLE service_providers ADD COLUMN jwks_uri TEXT;
