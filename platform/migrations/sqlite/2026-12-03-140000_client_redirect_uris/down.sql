ALTER TABLE service_providers DROP COLUMN consent;
ALTER TABLE service_providers DROP COLUMN post_logout_redirect_uris;
ALTER TABLE service_providers DROP COLUMN redirect_uris;
