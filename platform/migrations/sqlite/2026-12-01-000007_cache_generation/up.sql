-- A change counter for the servers' in-memory read caches (tenants, clients, identity providers).
-- Triggers bump it on every write to those tables, whoever makes it (the CLI, another node, a
-- hand-written statement), so no writer can forget to; each server polls it and drops its caches
-- when it moves.
CREATE TABLE cache_generation (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO cache_generation (id, value) VALUES (1, 0);

CREATE TRIGGER tenants_changed_insert AFTER INSERT ON tenants
BEGIN UPDATE cache_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER tenants_changed_update AFTER UPDATE ON tenants
BEGIN UPDATE cache_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER tenants_changed_delete AFTER DELETE ON tenants
BEGIN UPDATE cache_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER service_providers_changed_insert AFTER INSERT ON service_providers
BEGIN UPDATE cache_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER service_providers_changed_update AFTER UPDATE ON service_providers
BEGIN UPDATE cache_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER service_providers_changed_delete AFTER DELETE ON service_providers
BEGIN UPDATE cache_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER identity_providers_changed_insert AFTER INSERT ON identity_providers
BEGIN UPDATE cache_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER identity_providers_changed_update AFTER UPDATE ON identity_providers
BEGIN UPDATE cache_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER identity_providers_changed_delete AFTER DELETE ON identity_providers
BEGIN UPDATE cache_generation SET value = value + 1 WHERE id = 1; END;
