//! The one portable Diesel schema, shared by SQLite and PostgreSQL. Only types that cross both
//! backends through the multi-connection appear here: Text, BigInt, Integer (no Bool, no timestamps;
//! times are Unix seconds).

diesel::table! {
    tenants (domain) {
        domain -> Text,
        display_name -> Text,
        status -> Text,
        created_at -> BigInt,
        qualified_subjects -> Integer,
    }
}

diesel::table! {
    service_providers (client_id) {
        client_id -> Text,
        tenant_domain -> Text,
        name -> Text,
        secret_hash -> Text,
        grant_types -> Text,
        scopes -> Text,
        access_token_lifetime -> Nullable<BigInt>,
        refresh_token_lifetime -> Nullable<BigInt>,
        created_at -> BigInt,
        token_format -> Text,
        audiences -> Text,
        certificates -> Text,
        jwks_uri -> Nullable<Text>,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        consent -> Text,
    }
}

diesel::table! {
    tokens (token_id) {
        token_id -> Text,
        token_hash -> Text,
        token_kind -> Text,
        tenant_domain -> Text,
        client_id -> Text,
        subject -> Nullable<Text>,
        scope -> Text,
        issued_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        family_id -> Nullable<Text>,
        claims -> Nullable<Text>,
        paired_hash -> Nullable<Text>,
        paired_kind -> Nullable<Text>,
        paired_expires_at -> Nullable<BigInt>,
        paired_revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    token_families (family_id) {
        family_id -> Text,
        tenant_domain -> Text,
        client_id -> Text,
        idp_issuer -> Nullable<Text>,
        idp_created_at -> Nullable<BigInt>,
        via_service_account -> Integer,
        started_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        tenant_domain -> Text,
        algorithm -> Text,
        sealed_private_key -> Text,
        public_jwk -> Text,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
        publish_until -> Nullable<BigInt>,
        activates_at -> BigInt,
    }
}

diesel::table! {
    key_encryption_key (id) {
        id -> SmallInt,
        kek_id -> Text,
    }
}

diesel::joinable!(service_providers -> tenants (tenant_domain));
diesel::joinable!(tokens -> token_families (family_id));
diesel::joinable!(tokens -> service_providers (client_id));

diesel::table! {
    identity_providers (tenant_domain, name) {
        tenant_domain -> Text,
        name -> Text,
        issuer -> Text,
        aliases -> Text,
        certificates -> Text,
        jwks_uri -> Nullable<Text>,
        enabled -> Integer,
        clock_skew_seconds -> BigInt,
        allowed_subjects -> Nullable<Text>,
        allowed_scopes -> Nullable<Text>,
        created_at -> BigInt,
        claim_mappings -> Text,
        claim_transformer -> Nullable<Text>,
        service_account_client -> Nullable<Text>,
        scope_claim -> Nullable<Text>,
    }
}

diesel::joinable!(identity_providers -> tenants (tenant_domain));

diesel::table! {
    users (tenant_domain, username) {
        tenant_domain -> Text,
        username -> Text,
        password_hash -> Text,
        claims -> Text,
        created_at -> BigInt,
    }
}

diesel::joinable!(users -> tenants (tenant_domain));
diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    service_providers,
    tokens,
    token_families,
    identity_providers
);

diesel::table! {
    jwt_replay_cache (tenant_domain, issuer, jti) {
        tenant_domain -> Text,
        issuer -> Text,
        jti -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    replay_keys (digest) {
        digest -> Binary,
        expires_at -> BigInt,
    }
}

diesel::table! {
    cache_generation (id) {
        id -> Integer,
        value -> BigInt,
    }
}

diesel::table! {
    sign_in_attempts (key_digest) {
        key_digest -> Text,
        window_ends_at -> BigInt,
        attempts -> Integer,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        tenant_domain -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        code_challenge -> Text,
        nonce -> Nullable<Text>,
        session_id_hash -> Nullable<Text>,
        subject -> Text,
        scope -> Text,
        auth_time -> BigInt,
        claims -> Nullable<Text>,
        issued_at -> BigInt,
        expires_at -> BigInt,
        consumed_at -> Nullable<BigInt>,
        family_id -> Nullable<Text>,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        tenant_domain -> Text,
        subject -> Text,
        auth_time -> BigInt,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        ended_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(sessions -> tenants (tenant_domain));

diesel::table! {
    console_sessions (id_hash) {
        id_hash -> Text,
        credential -> Text,
        operator_tenant -> Nullable<Text>,
        operator_subject -> Nullable<Text>,
        signed_in_from -> Nullable<Text>,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        ended_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    consents (tenant_domain, client_id, subject) {
        tenant_domain -> Text,
        client_id -> Text,
        subject -> Text,
        scopes -> Text,
        granted_at -> BigInt,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> BigInt,
        actor -> Text,
        via -> Text,
        from_address -> Nullable<Text>,
        action -> Text,
        tenant_domain -> Nullable<Text>,
        target -> Text,
        detail -> Text,
    }
}
