-- Authorization codes (issue 23, item 5): one-time and short-lived, kept only as a hash of the
-- code (code_hash), bound to the client, the redirect URI, the PKCE challenge (S256), the nonce
-- and the session they were issued in. The token request that exchanges a code sets consumed_at
-- and the refresh token family it started (family_id, no reference: the family is written in the
-- same request, after the code), so that a second use is refused and can revoke what the first
-- one issued (RFC 6749 4.1.2). scope is space-separated and claims a JSON object, as tokens keep
-- them; times are Unix seconds.
CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    tenant_domain TEXT NOT NULL REFERENCES tenants(domain) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES service_providers(client_id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    nonce TEXT,
    session_id_hash TEXT,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    claims TEXT,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT,
    family_id TEXT
);
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);
CREATE INDEX authorization_codes_client_id ON authorization_codes (client_id);
