ALTER TABLE service_providers DROP COLUMN token_format;
