-- The claims a grant produced (after the identity provider's claim mappings and transformer), as
-- a JSON object, kept with the tokens issued for it: a refresh carries them to the new tokens, and
-- introspection and JWT access tokens read them.
ALTER TABLE tokens ADD COLUMN claims TEXT;
