ALTER TABLE token_families ADD CONSTRAINT token_families_tenant_domain_fkey
    FOREIGN KEY (tenant_domain) REFERENCES tenants(domain) ON DELETE CASCADE;
