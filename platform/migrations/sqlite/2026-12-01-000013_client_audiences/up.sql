-- Audiences a client's ID tokens carry besides its client_id (space separated): the token
-- endpoints or issuers of the servers that will accept them in a JWT bearer exchange.
ALTER TABLE service_providers ADD COLUMN audiences TEXT NOT NULL DEFAULT '';
