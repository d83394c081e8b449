-- A change counter for the servers' in-memory read caches (tenants, clients, identity providers).
-- Triggers bump it on every write to those tables, whoever makes it (the CLI, another node, a
-- hand-written statement), so no writer can forget to; each server polls it and drops its caches
-- when it moves.
CREATE TABLE cache_generation (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO cache_generation (id, value) VALUES (1, 0);

CREATE FUNCTION grantor_bump_cache_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cache_generation SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER tenants_changed AFTER INSERT OR UPDATE OR DELETE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION grantor_bump_cache_generation();
CREATE TRIGGER service_providers_changed AFTER INSERT OR UPDATE OR DELETE ON service_providers
    FOR EACH STATEMENT EXECUTE FUNCTION grantor_bump_cache_generation();
CREATE TRIGGER identity_providers_changed AFTER INSERT OR UPDATE OR DELETE ON identity_providers
    FOR EACH STATEMENT EXECUTE FUNCTION grantor_bump_cache_generation();
