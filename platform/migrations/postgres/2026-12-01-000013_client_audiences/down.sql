ALTER TABLE service_providers DROP COLUMN audiences;
