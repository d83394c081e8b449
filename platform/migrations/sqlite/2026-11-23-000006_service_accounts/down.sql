ALTER TABLE identity_providers DROP COLUMN scope_claim;
ALTER TABLE identity_providers DROP COLUMN service_account_client;
