-- A family's tenant key adds nothing to its client's: a removed tenant removes its clients
-- (ON DELETE CASCADE), which removes their families, and a family written for a client removed
-- meanwhile is refused by the client's key alone. Each key is a lookup at every insert (PostgreSQL
-- runs it as a query of its own per row); the tokens' tenant key went the same way
-- (2026-12-04-120000_token_ids).
ALTER TABLE token_families DROP CONSTRAINT token_families_tenant_domain_fkey;
