//! A test-only view of what a deployment stored, read from its database directly (no server
//! involved): what a client cannot observe through the API yet (revocation before introspection
//! exists, expiry dates, replay keys).

use diesel::prelude::*;

diesel::table! {
    tokens (token_hash) {
        token_hash -> Text,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        family_id -> Nullable<Text>,
        subject -> Nullable<Text>,
        claims -> Nullable<Text>,
        paired_hash -> Nullable<Text>,
        paired_expires_at -> Nullable<BigInt>,
        paired_revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    replay_keys (digest) {
        digest -> Binary,
        expires_at -> BigInt,
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
    }
}

diesel::table! {
    token_families (family_id) {
        family_id -> Text,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    console_sessions (id_hash) {
        id_hash -> Text,
    }
}

/// The stored form of a token (`platform/src/secrets.rs`: SHA-256, hex, with its scheme).
pub fn stored_hash(token: &str) -> String {
    let digest = openssl::sha::sha256(token.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The stored form of an identity provider's assertion's replay key
/// (`platform/src/store/replay_keys.rs`): the first 16 bytes of a SHA-256 over the tenant, the
/// issuer and the `jti`, each after its length as 8 big-endian bytes.
pub fn replay_key_digest(tenant: &str, issuer: &str, jti: &str) -> Vec<u8> {
    let mut hasher = openssl::sha::Sha256::new();
    for part in [tenant, issuer, jti] {
        hasher.update(&(part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finish()[..16].to_vec()
}

/// Runs a query returning one value on the deployment's database.
macro_rules! query_database {
    ($deployment:expr, $query:expr) => {{
        use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
        let url = &$deployment.database_url;
        match url.strip_prefix("sqlite://") {
            Some(path) => $query
                .get_result(&mut SqliteConnection::establish(path).unwrap())
                .unwrap(),
            None => $query
                .get_result(&mut PgConnection::establish(url).unwrap())
                .unwrap(),
        }
    }};
}
pub(crate) use query_database;

/// Runs a statement on the deployment's database; returns the rows it changed.
macro_rules! execute_on_database {
    ($deployment:expr, $statement:expr) => {{
        use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
        let url = &$deployment.database_url;
        match url.strip_prefix("sqlite://") {
            Some(path) => $statement
                .execute(&mut SqliteConnection::establish(path).unwrap())
                .unwrap(),
            None => $statement
                .execute(&mut PgConnection::establish(url).unwrap())
                .unwrap(),
        }
    }};
}
pub(crate) use execute_on_database;

/// Every stored signing key (all tenants): (tenant, kid, the private key as stored).
pub fn stored_private_keys(database_url: &str) -> Vec<(String, String, String)> {
    use diesel::{Connection, PgConnection, SqliteConnection};
    let query = signing_keys::table
        .select((
            signing_keys::tenant_domain,
            signing_keys::kid,
            signing_keys::sealed_private_key,
        ))
        .order_by(signing_keys::kid);
    match database_url.strip_prefix("sqlite://") {
        Some(path) => query
            .load(&mut SqliteConnection::establish(path).unwrap())
            .unwrap(),
        None => query
            .load(&mut PgConnection::establish(database_url).unwrap())
            .unwrap(),
    }
}

/// Stores a signing key the way versions before sealing did: its private key as PEM, in the clear.
pub fn insert_key_in_the_clear(
    deployment: &crate::harness::Deployment,
    tenant: &str,
    kid: &str,
    private_pem: &str,
    public_jwk: &serde_json::Value,
) {
    let inserted = execute_on_database!(
        deployment,
        diesel::insert_into(signing_keys::table).values((
            signing_keys::kid.eq(kid),
            signing_keys::tenant_domain.eq(tenant),
            signing_keys::algorithm.eq("RS256"),
            signing_keys::sealed_private_key.eq(private_pem),
            signing_keys::public_jwk.eq(public_jwk.to_string()),
            signing_keys::created_at.eq(1_i64),
        ))
    );
    assert_eq!(inserted, 1);
}

/// The row that holds the token with this digest: as its own, or as the second token of a
/// grant's row (`paired_hash`).
fn holds(
    hash: &str,
) -> diesel::dsl::Or<
    diesel::dsl::Eq<tokens::token_hash, String>,
    diesel::dsl::Eq<tokens::paired_hash, String>,
> {
    tokens::token_hash
        .eq(hash.to_owned())
        .or(tokens::paired_hash.eq(hash.to_owned()))
}

/// What the database keeps of a token: (expires_at, revoked_at, family_id), from its own
/// columns or, when it is the second token of its row, the `paired_*` ones.
pub fn token_row(
    deployment: &crate::harness::Deployment,
    token: &str,
) -> (i64, Option<i64>, Option<String>) {
    let hash = stored_hash(token);
    type Row = (
        i64,
        Option<i64>,
        Option<String>,
        Option<i64>,
        Option<i64>,
        String,
    );
    let (expires, revoked, family, paired_expires, paired_revoked, own_hash): Row = query_database!(
        deployment,
        tokens::table.filter(holds(&hash)).select((
            tokens::expires_at,
            tokens::revoked_at,
            tokens::family_id,
            tokens::paired_expires_at,
            tokens::paired_revoked_at,
            tokens::token_hash,
        ))
    );
    match own_hash == hash {
        true => (expires, revoked, family),
        false => (paired_expires.unwrap(), paired_revoked, family),
    }
}

/// A family's (expires_at, revoked_at).
pub fn family_row(deployment: &crate::harness::Deployment, family_id: &str) -> (i64, Option<i64>) {
    query_database!(
        deployment,
        token_families::table
            .find(family_id)
            .select((token_families::expires_at, token_families::revoked_at))
    )
}

/// What a token was issued for: its subject and the grant's claims (after the identity
/// provider's mappings and transformer).
pub fn token_grant(
    deployment: &crate::harness::Deployment,
    token: &str,
) -> (Option<String>, serde_json::Value) {
    let (subject, claims): (Option<String>, Option<String>) = query_database!(
        deployment,
        tokens::table
            .filter(holds(&stored_hash(token)))
            .select((tokens::subject, tokens::claims))
    );
    let claims = claims.map_or(serde_json::Value::Null, |c| {
        serde_json::from_str(&c).unwrap()
    });
    (subject, claims)
}
