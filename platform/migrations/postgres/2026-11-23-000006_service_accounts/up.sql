-- Service-account style identity providers: the client_id the provider's issuer stands for (its
-- assertions may then come with no client authentication), and the claim carrying requested
-- scopes. NULL: neither.
ALTER TABLE identity_providers ADD COLUMN service_account_client TEXT;
ALTER TABLE identity_providers ADD COLUMN scope_claim TEXT;
