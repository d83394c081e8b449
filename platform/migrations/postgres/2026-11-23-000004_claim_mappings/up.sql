-- Declarative claim mappings per identity provider: a JSON object {"remote claim": "local claim"}.
ALTER TABLE identity_providers ADD COLUMN claim_mappings TEXT NOT NULL DEFAULT '{}';
