ALTER TABLE service_providers DROP COLUMN jwks_uri;
ALTER TABLE service_providers DROP COLUMN certificates;
