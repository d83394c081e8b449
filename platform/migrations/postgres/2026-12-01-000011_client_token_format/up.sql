-- How a client's access tokens look: 'opaque' (random, looked up in the database) or 'jwt'
-- (RFC 9068, signed with the tenant's current key, verifiable by a gateway alone).
ALTER TABLE service_providers ADD COLUMN token_format TEXT NOT NULL DEFAULT 'opaque';
