-- Reverting forgets the replay keys recorded since (a digest cannot be turned back into its
-- text): an assertion accepted since is accepted again until it expires.
DROP TABLE replay_keys;
UPDATE tokens SET family_id = NULL
    WHERE family_id NOT IN (SELECT family_id FROM token_families);
ALTER TABLE tokens ADD CONSTRAINT tokens_family_id_fkey FOREIGN KEY (family_id)
    REFERENCES token_families(family_id) ON DELETE SET NULL;
ALTER TABLE tokens ADD CONSTRAINT tokens_tenant_domain_fkey FOREIGN KEY (tenant_domain)
    REFERENCES tenants(domain) ON DELETE CASCADE;
ALTER TABLE tokens DROP CONSTRAINT tokens_pkey;
ALTER TABLE tokens ADD PRIMARY KEY (token_hash);
ALTER TABLE tokens DROP COLUMN token_id;
