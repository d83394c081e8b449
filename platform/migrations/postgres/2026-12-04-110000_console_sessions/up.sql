-- The operators' console's sign-ins (issue 25), stored so that every node sharing the database
-- knows them. id_hash is the SHA-256 of the session id (`sha256:` and 64 hex digits): the cookie
-- value is never stored, so a copy of the database signs nobody in. A session ends at expires_at
-- (absolute), after an idle time the server sets (from last_seen_at), or when ended_at is set
-- (signing out), or once the admin token changes: credential names the token the session was
-- opened with (a digest of its digest), or the OpenID client an operator signed in through; then
-- operator_tenant and operator_subject name the user (none for the admin token), whose removal
-- ends the session. signed_in_from is the address the operator signed in from.
-- Rows that have ended are deleted at the next sign-in.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    credential TEXT NOT NULL,
    operator_tenant TEXT,
    operator_subject TEXT,
    signed_in_from TEXT,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
