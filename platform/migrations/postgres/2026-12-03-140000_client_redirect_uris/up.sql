-- Where a client may be sent back after signing in (RFC 6749 3.1.2) and after signing out
-- (OpenID Connect RP-Initiated Logout 1.0), each a JSON array of strings matched exactly; and
-- whether its users are asked for consent (`required`) or not (`skip`, a first-party app).
ALTER TABLE service_providers ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE service_providers ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE service_providers ADD COLUMN consent TEXT NOT NULL DEFAULT 'required';
