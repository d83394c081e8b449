DROP INDEX tokens_family_id;
ALTER TABLE tokens DROP COLUMN family_id;
DROP TABLE token_families;
