-- Remembered consents (issue 23, item 4): which scopes a user (subject, the username) granted a
-- client in a tenant, so the consent page is shown again only for a scope not yet granted. scopes
-- is a JSON array of strings (store/lists.rs), sorted and without duplicates; a second grant
-- stores the union and its time in granted_at (Unix seconds). Withdrawing deletes the row; removing
-- the client or the tenant removes its consents.
CREATE TABLE consents (
    tenant_domain TEXT NOT NULL REFERENCES tenants(domain) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES service_providers(client_id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    scopes TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_domain, client_id, subject)
);
CREATE INDEX consents_tenant_subject ON consents (tenant_domain, subject);
CREATE INDEX consents_client_id ON consents (client_id);
