ALTER TABLE identity_providers DROP COLUMN claim_transformer;
