DROP TRIGGER tenants_changed ON tenants;
DROP TRIGGER service_providers_changed ON service_providers;
DROP TRIGGER identity_providers_changed ON identity_providers;
DROP FUNCTION grantor_bump_cache_generation();
DROP TABLE cache_generation;
