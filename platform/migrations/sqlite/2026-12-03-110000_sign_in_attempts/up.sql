-- Sign-in attempts of the password grant, counted in fixed windows so that every node sees the
-- same counts (issue 21, items 2 and 7). A row is one counter: a user at one address, a user, or
-- an address. key_digest is a SHA-256 of what the counter names, never a username or an address
-- itself, so a row has a fixed size whatever a client sends. attempts counts the attempts of the
-- window that were refused by the password check or are still being checked (a success gives its
-- attempt back). Rows whose window has ended are purged with the expired tokens.
CREATE TABLE sign_in_attempts (
    key_digest TEXT PRIMARY KEY NOT NULL,
    window_ends_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL
);
CREATE INDEX sign_in_attempts_window_ends_at ON sign_in_attempts (window_ends_at);
