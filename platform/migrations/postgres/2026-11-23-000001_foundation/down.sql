DROP TABLE tokens;
DROP TABLE service_providers;
DROP TABLE tenants;
