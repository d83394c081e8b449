-- One index on tokens (client_id, family_id) instead of one on each (a family's revocation would name its client).
DROP INDEX tokens_client_id; DROP INDEX tokens_family_id;
CREATE INDEX tokens_client_family ON tokens (client_id, family_id);
