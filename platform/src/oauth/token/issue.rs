//! Stage 3: tokens for a decision. Opaque access tokens, or JWT access tokens signed with the
//! tenant's current key (RFC 9068), refresh tokens in families when the decision allows them, an ID
//! token when one is due; all stored only as hashes. Issuing decides the tokens and what must be
//! written for them; the commit stage writes them (with the decision's replay keys) in one
//! transaction before anyone sees a token.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::authenticate::Authenticated;
use super::decide::{Decision, Verdict};
use crate::config::TokenConfig;
use crate::keys::signing::ReadySigner;
use crate::oauth::context::OAuthContext;
use crate::oauth::error::OAuthError;
use crate::oauth::wire::TokenResponse;
use crate::secrets::random_token;
use crate::store::{Client, NewFamily, NewToken, WriteOp};
use crate::token_ids::{opaque_token_from, paired_opaque_token, TokenKey, TOKEN_RANDOM_BYTES};

/// A refresh token family a rotation continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinuedFamily {
    pub family_id: String,
    /// The family's absolute end, which the successor may not outlive.
    pub expires_at: i64,
}

/// A request's tokens, decided and not yet stored: what the commit stage is given.
pub struct Issued {
    pub client: Arc<Client>,
    pub response: TokenResponse,
    /// In order: the replay keys (the client's assertion, then the grant's: a replay fails before
    /// any token is written), the consumed refresh token, a new family, the tokens.
    pub writes: Vec<WriteOp>,
    /// The family of the refresh token the request rotates: revoked when the commit finds that
    /// token spent by another request meanwhile (reuse, as if presented late).
    pub rotated_family: Option<String>,
}

/// The issue stage: `authenticated`'s client gets the tokens `verdict` grants.
pub fn issue(
    ctx: &OAuthContext,
    authenticated: Authenticated,
    verdict: Verdict<Decision>,
    now: i64,
) -> Result<Verdict<Issued>, OAuthError> {
    verdict.map(|decision| {
        let Authenticated {
            client, replay_key, ..
        } = authenticated;
        if let Some(kind) = decision
            .shape
            .issued
            .filter(|t| *t != super::IssuedType::AccessToken)
        {
            let signer = tenant_jwt_issuer(ctx, &client.tenant_domain, now)?;
            let response = super::jwt_grant::sign(
                &signer,
                &client,
                &decision,
                kind,
                ctx.settings.token.access_token_lifetime_seconds,
                now,
            )?;
            // Not a token of this server: nothing stored but the grant's replay keys.
            let writes = replay_key
                .into_iter()
                .chain(decision.replay_keys)
                .map(|key| WriteOp::RecordReplayKey { key, now })
                .collect();
            return Ok(Issued {
                client,
                response,
                writes,
                rotated_family: None,
            });
        }
        let jwt = jwt_issuer(ctx, &client, now)?;
        let mut issued = issue_tokens(&ctx.settings.token, &client, &decision, now, jwt.as_ref())?;
        if let Some(wanted) = &decision.id_token {
            // The access token's signer when it is a JWT too: looked up once.
            let signer = match jwt {
                Some(jwt) => jwt,
                None => tenant_jwt_issuer(ctx, &client.tenant_domain, now)?,
            };
            issued.response.id_token = Some(crate::oauth::id_token::sign(
                &signer,
                &client,
                &decision,
                wanted,
                now,
                ctx.settings.token.id_token_lifetime_seconds,
            )?);
        }
        let replay_keys = replay_key.into_iter().chain(decision.replay_keys);
        let mut writes: Vec<WriteOp> = replay_keys
            .map(|key| WriteOp::RecordReplayKey { key, now })
            .collect();
        writes.append(&mut issued.writes);
        let rotated_family = decision
            .rotation
            .and_then(|r| r.family)
            .map(|f| f.family_id);
        Ok(Issued {
            client,
            response: issued.response,
            writes,
            rotated_family,
        })
    })
}

/// The tenant's current signing key and issuer, for a client that takes JWT access tokens.
fn jwt_issuer(
    ctx: &OAuthContext,
    client: &Client,
    now: i64,
) -> Result<Option<JwtIssuer>, OAuthError> {
    if client.token_format != crate::store::TOKEN_FORMAT_JWT {
        return Ok(None);
    }
    tenant_jwt_issuer(ctx, &client.tenant_domain, now).map(Some)
}

/// The tenant's current signing key, under its issuer.
fn tenant_jwt_issuer(ctx: &OAuthContext, tenant: &str, now: i64) -> Result<JwtIssuer, OAuthError> {
    let found = ctx
        .store
        .cached_active_tenant(tenant)?
        .ok_or_else(|| OAuthError::unknown_tenant(tenant))?;
    let signer = ctx.tenant_keys().current_signer(tenant, now)?;
    Ok(JwtIssuer {
        signer,
        issuer: ctx.urls.issuer_url(tenant),
        tenant: found,
    })
}

/// Tokens decided but not yet stored: `writes` must commit before `response` is sent.
#[derive(Debug)]
pub struct IssuedTokens {
    pub response: TokenResponse,
    pub writes: Vec<WriteOp>,
}

/// What signs a client's JWT access tokens: its tenant's current key, under the tenant's issuer.
pub struct JwtIssuer {
    pub signer: std::sync::Arc<ReadySigner>,
    pub issuer: String,
    /// The tenant, which decides how a resource owner's subject is written.
    pub tenant: std::sync::Arc<crate::store::Tenant>,
}

impl JwtIssuer {
    /// `sub` for a token of `grant`: the resource owner as the tenant presents them, or the client
    /// itself when it acts for itself.
    pub fn subject(&self, grant: &Decision, client: &Client) -> String {
        match &grant.subject {
            Some(subject) => self.tenant.present_subject(subject),
            None => client.client_id.clone(),
        }
    }
}

/// Claims a grant may not set in a JWT access token: the token's own (RFC 9068 2.2).
pub const JWT_ACCESS_TOKEN_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
];

/// `jwt` signs the access token when the client asks for JWT access tokens
/// (`token_format = jwt`); it is required then.
pub fn issue_tokens(
    defaults: &TokenConfig,
    client: &Client,
    grant: &Decision,
    now: i64,
    jwt: Option<&JwtIssuer>,
) -> Result<IssuedTokens, OAuthError> {
    let scope = grant.scopes.join(" ");
    // What no token of this grant may outlive (a token exchange's subject token's expiry).
    let cap = grant.shape.expires_at_most.unwrap_or(i64::MAX);
    let mut writes = Vec::with_capacity(4);
    let random = Randomness::draw()?;
    let continued = grant.rotation.as_ref().and_then(|r| r.family.clone());
    if let Some(rotation) = &grant.rotation {
        writes.push(WriteOp::ConsumeRefreshToken {
            tenant_domain: client.tenant_domain.clone(),
            client_id: client.client_id.clone(),
            token: rotation.token.clone(),
            family_id: continued.as_ref().map(|f| f.family_id.clone()),
            now,
        });
    }
    if let Some(code_hash) = &grant.code {
        // First: a code spent meanwhile refuses the request before anything else is written.
        writes.push(WriteOp::ConsumeAuthorizationCode {
            code_hash: code_hash.clone(),
            client_id: client.client_id.clone(),
            family_id: None,
            now,
        });
    }
    // Tokens with a refresh token belong to a family: the rotated token's, or a new one. So do
    // those of an authorization code, with a refresh token or without: a second use of the code
    // revokes them through it.
    let wants_family = grant.issue_refresh_token || grant.code.is_some();
    let family = match (wants_family, continued) {
        (false, _) => None,
        (true, Some(family)) => Some(family),
        (true, None) => {
            let family = ContinuedFamily {
                family_id: new_family_id(now, &random.family),
                expires_at: seconds_after(now, defaults.refresh_token_family_lifetime_seconds)
                    .min(cap),
            };
            writes.push(WriteOp::InsertFamily(NewFamily {
                family_id: family.family_id.clone(),
                tenant_domain: client.tenant_domain.clone(),
                client_id: client.client_id.clone(),
                origin: grant.origin.clone(),
                started_at: now,
                expires_at: family.expires_at,
            }));
            Some(family)
        }
    };
    let family_id = family.as_ref().map(|f| f.family_id.clone());
    if let Some(WriteOp::ConsumeAuthorizationCode {
        family_id: consumed_into,
        ..
    }) = writes.first_mut()
    {
        consumed_into.clone_from(&family_id);
    }
    let access_lifetime = lifetime(
        client.access_token_lifetime,
        defaults.access_token_lifetime_seconds,
    );
    let access_format = match (client.token_format.as_str(), jwt) {
        (crate::store::TOKEN_FORMAT_JWT, Some(jwt)) => Format::Jwt(jwt),
        (crate::store::TOKEN_FORMAT_JWT, None) => {
            return Err(OAuthError::internal(
                "issuance",
                "a JWT access token was due but no signing key was given",
            ))
        }
        _ => Format::Opaque(&random.access),
    };
    // Never past the grant's cap, nor past its family's end: a family ends every token in it.
    let access_expires_at = seconds_after(now, access_lifetime)
        .min(cap)
        .min(family.as_ref().map_or(i64::MAX, |f| f.expires_at));
    let access_is_opaque = matches!(access_format, Format::Opaque(_));
    let (access_token, access_row) = new_token(
        client,
        grant,
        access_format,
        Stored {
            kind: crate::store::KIND_ACCESS,
            scope: &scope,
            issued_at: now,
            expires_at: access_expires_at,
            family_id: family_id.clone(),
        },
    )?;
    let refresh = match family.as_ref().filter(|_| grant.issue_refresh_token) {
        Some(family) => {
            let refresh_lifetime = lifetime(
                client.refresh_token_lifetime,
                defaults.refresh_token_lifetime_seconds,
            );
            // Beside an opaque access token, in its row (`store/tokens.rs`).
            let format = match access_is_opaque {
                true => Format::Beside(&access_row.key, &random.refresh),
                false => Format::Opaque(&random.refresh),
            };
            Some(new_token(
                client,
                grant,
                format,
                Stored {
                    kind: crate::store::KIND_REFRESH,
                    scope: &scope,
                    issued_at: now,
                    // Rotation never extends the family.
                    expires_at: seconds_after(now, refresh_lifetime).min(family.expires_at),
                    family_id,
                },
            )?)
        }
        None => None,
    };
    let refresh_token = match refresh {
        Some((token, refresh_row)) => {
            // One row for both, or two when the access token is a JWT (found by its hash).
            let rows = access_row.together(refresh_row);
            writes.extend(rows.into_iter().map(WriteOp::InsertToken));
            Some(token)
        }
        None => {
            writes.push(WriteOp::InsertToken(access_row));
            None
        }
    };
    Ok(IssuedTokens {
        response: TokenResponse {
            access_token,
            token_type: "Bearer",
            issued_token_type: grant.shape.issued.map(|t| t.uri().to_owned()),
            expires_in: u64::try_from(access_expires_at.saturating_sub(now)).unwrap_or(0),
            scope,
            refresh_token,
            id_token: None,
        },
        writes,
    })
}

/// A client's own lifetime wins over the server default; nonsense values fall back to it.
fn lifetime(client_value: Option<i64>, default: u64) -> u64 {
    client_value
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

/// A family id: the issue time and a per-process sequence number first, so the families of one
/// batch of requests land side by side in the families table and in the tokens' family index (a
/// random id dirties one page of each per request, which SQLite then writes to its log), then 96
/// random bits (unique across nodes). Not a secret: a family is reached only through one of its
/// tokens.
fn new_family_id(now: i64, random: &[u8; FAMILY_RANDOM_BYTES]) -> String {
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let sequence = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "{:010x}{:010x}.{}",
        now.max(0),
        sequence & 0xff_ffff_ffff,
        URL_SAFE_NO_PAD.encode(random)
    )
}

/// Random bytes of a family id.
const FAMILY_RANDOM_BYTES: usize = 12;

/// What a request's new family and opaque tokens take at random, drawn in one call into OpenSSL's
/// generator rather than one per part (`token_ids::opaque_token_from` says why). Each part serves
/// one purpose only; the parts a request does not use are dropped unread.
struct Randomness {
    family: [u8; FAMILY_RANDOM_BYTES],
    access: [u8; TOKEN_RANDOM_BYTES],
    refresh: [u8; TOKEN_RANDOM_BYTES],
}

impl Randomness {
    fn draw() -> Result<Randomness, OAuthError> {
        let mut all = [0u8; FAMILY_RANDOM_BYTES + 2 * TOKEN_RANDOM_BYTES];
        openssl::rand::rand_bytes(&mut all).map_err(|e| OAuthError::internal("random", e))?;
        let (family, tokens) = all.split_at(FAMILY_RANDOM_BYTES);
        let (access, refresh) = tokens.split_at(TOKEN_RANDOM_BYTES);
        let mut drawn = Randomness {
            family: [0; FAMILY_RANDOM_BYTES],
            access: [0; TOKEN_RANDOM_BYTES],
            refresh: [0; TOKEN_RANDOM_BYTES],
        };
        drawn.family.copy_from_slice(family);
        drawn.access.copy_from_slice(access);
        drawn.refresh.copy_from_slice(refresh);
        Ok(drawn)
    }
}

fn seconds_after(now: i64, seconds: u64) -> i64 {
    now.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX))
}

/// What a new token's row holds besides the grant's subject and the client.
struct Stored<'a> {
    kind: &'static str,
    scope: &'a str,
    issued_at: i64,
    expires_at: i64,
    family_id: Option<String>,
}

/// How a token is made: from the random bytes drawn for it, beside another token in its row (the
/// same id, its own secret), or a JWT signed by the tenant's key.
enum Format<'a> {
    Opaque(&'a [u8; TOKEN_RANDOM_BYTES]),
    Beside(&'a TokenKey, &'a [u8; TOKEN_RANDOM_BYTES]),
    Jwt(&'a JwtIssuer),
}

/// A new token and the row that stores it.
fn new_token(
    client: &Client,
    grant: &Decision,
    format: Format<'_>,
    stored: Stored<'_>,
) -> Result<(String, NewToken), OAuthError> {
    let (token, key) = match format {
        Format::Opaque(random) => {
            // The id's time: the issue second, to the millisecond the clock reads within it.
            let issued_ms = stored
                .issued_at
                .saturating_mul(1000)
                .saturating_add(crate::clock::subsecond_millis());
            opaque_token_from(issued_ms, random)
        }
        Format::Beside(first, random) => paired_opaque_token(first, random),
        Format::Jwt(jwt) => {
            let token = jwt_access_token(jwt, client, grant, &stored)?;
            let key = TokenKey::hashed(&token);
            (token, key)
        }
    };
    let row = NewToken {
        key,
        kind: stored.kind,
        tenant_domain: client.tenant_domain.clone(),
        client_id: client.client_id.clone(),
        subject: grant.subject.clone(),
        scope: stored.scope.to_owned(),
        issued_at: stored.issued_at,
        expires_at: stored.expires_at,
        family_id: stored.family_id,
        claims: grant.claims.clone(),
        paired: None,
    };
    Ok((token, row))
}

/// An RFC 9068 access token: `typ: at+jwt`; `iss`, `sub` (the client itself when no resource
/// owner), `aud` (the client), `client_id`, `scope`, `iat`, `exp`, `jti`; and the grant's claims
/// (after the identity provider's mappings and transformer), none of which may take the place of
/// those.
fn jwt_access_token(
    jwt: &JwtIssuer,
    client: &Client,
    grant: &Decision,
    stored: &Stored<'_>,
) -> Result<String, OAuthError> {
    let mut claims = jwt.token_claims(
        grant_claims(grant),
        grant,
        client,
        (stored.issued_at, stored.expires_at),
        stored.scope,
    )?;
    claims.insert("client_id".into(), serde_json::json!(client.client_id));
    jwt.signer
        .sign_jwt("at+jwt", &serde_json::Value::Object(claims))
        .map_err(|e| OAuthError::internal("signing an access token", e))
}

/// A grant's claims as stored with its tokens (a JSON object); none when it has none.
pub fn grant_claims(grant: &Decision) -> serde_json::Map<String, serde_json::Value> {
    grant
        .claims
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default()
}

impl JwtIssuer {
    /// What every JWT signed for `grant` carries (an access token, a JWT grant for another
    /// domain): `claims` without those a token sets itself, then `iss`, `sub`, `aud`, `iat`,
    /// `exp` (`times`), a unique `jti`, and `scope` when there is one.
    pub fn token_claims(
        &self,
        mut claims: serde_json::Map<String, serde_json::Value>,
        grant: &Decision,
        client: &Client,
        (issued_at, expires_at): (i64, i64),
        scope: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, OAuthError> {
        claims.retain(|name, _| !JWT_ACCESS_TOKEN_CLAIMS.contains(&name.as_str()));
        let jti = random_token(18).map_err(|e| OAuthError::internal("random", e))?;
        for (name, value) in [
            ("iss", serde_json::json!(self.issuer)),
            ("sub", serde_json::json!(self.subject(grant, client))),
            ("aud", audience_claim(grant, client)),
            ("iat", serde_json::json!(issued_at)),
            ("exp", serde_json::json!(expires_at)),
            ("jti", serde_json::json!(jti)),
        ] {
            claims.insert(name.into(), value);
        }
        if !scope.is_empty() {
            claims.insert("scope".into(), serde_json::json!(scope));
        }
        Ok(claims)
    }
}

/// `aud`: the audience a token exchange narrowed to, else the client (RFC 9068 3). One value is
/// a string, several an array (RFC 7519 4.1.3).
pub fn audience_claim(grant: &Decision, client: &Client) -> serde_json::Value {
    match grant.shape.audience.as_deref() {
        Some(audience) if !audience.is_empty() => aud_value(audience),
        _ => serde_json::json!(client.client_id),
    }
}

/// An `aud` value: one audience as a string, several as an array (RFC 7519 4.1.3).
pub fn aud_value(audience: &[String]) -> serde_json::Value {
    match audience {
        [one] => serde_json::json!(one),
        many => serde_json::json!(many),
    }
}

#[cfg(test)]
mod tests {
    use super::super::decide::Rotation;
    use super::*;
    use crate::blocking::test_thread as here;
    use crate::secrets::hash_secret;
    use crate::store::FamilyOrigin;

    #[test]
    fn lifetimes() {
        assert_eq!(lifetime(None, 3600), 3600);
        assert_eq!(lifetime(Some(60), 3600), 60);
        assert_eq!(lifetime(Some(0), 3600), 3600);
        assert_eq!(lifetime(Some(-5), 3600), 3600);
    }

    #[test]
    fn family_ids_grow_so_a_batch_of_families_lands_together() {
        let id = |now| new_family_id(now, &Randomness::draw().unwrap().family);
        let ids: Vec<String> = (0..100).map(|_| id(1_000)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert!(id(999) < ids[0]);
        let later = id(1_001);
        assert!(ids.iter().all(|id| *id < later));
    }

    fn issued_family_id(writes: &[WriteOp]) -> Option<String> {
        writes.iter().find_map(|w| match w {
            WriteOp::InsertFamily(family) => Some(family.family_id.clone()),
            _ => None,
        })
    }

    #[test]
    fn issued_tokens_are_stored_hashed() {
        crate::store::test_support::for_each_backend(|store| {
            let client = store
                .add_client(
                    &crate::store::NewClient {
                        tenant_domain: "carbon.super".into(),
                        name: "app".into(),
                        client_id: "cid".into(),
                        secret_hash: hash_secret("x"),
                        grant_types: vec!["client_credentials".into()],
                        scopes: vec!["read".into()],
                        access_token_lifetime: Some(120),
                        refresh_token_lifetime: None,
                        token_format: "opaque".into(),
                        audiences: Vec::new(),
                        certificates: Vec::new(),
                        jwks_uri: None,
                        redirect_uris: Vec::new(),
                        post_logout_redirect_uris: Vec::new(),
                        consent: crate::store::CONSENT_REQUIRED.into(),
                    },
                    0,
                )
                .unwrap();
            let grant = Decision {
                subject: Some("alice".into()),
                scopes: vec!["read".into()],
                issue_refresh_token: true,
                rotation: None,
                origin: FamilyOrigin::default(),
                replay_keys: Vec::new(),
                claims: None,
                id_token: None,
                code: None,
                shape: Default::default(),
            };
            let issued =
                issue_tokens(&TokenConfig::default(), &client, &grant, 1000, None).unwrap();
            // Nothing is stored until the writes commit.
            assert!(store
                .find_active_token(
                    "carbon.super",
                    &TokenKey::of(&issued.response.access_token),
                    1001
                )
                .unwrap()
                .is_none());
            let writer = crate::store::GroupCommitter::start(store, 1).unwrap();
            let issued_writes = issued.writes.clone();
            writer.commit_blocking(here(), issued.writes).unwrap();
            let response = issued.response;
            assert_eq!(response.expires_in, 120);
            let refresh = response.refresh_token.clone().unwrap();
            // One draw served the family and both tokens, each from bytes of its own: a part
            // handed out twice would make one token's secret the other's, or print a secret's
            // bytes in the family id.
            let secret = |token: &str| URL_SAFE_NO_PAD.decode(&token[33..]).unwrap();
            assert_ne!(secret(&response.access_token), secret(&refresh));
            // Both in one row: the refresh token carries the access token's id.
            assert_eq!(response.access_token[..32], refresh[..32]);
            let rows: Vec<_> = issued_writes
                .iter()
                .filter_map(|w| match w {
                    WriteOp::InsertToken(row) => Some(row),
                    _ => None,
                })
                .collect();
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].kind, crate::store::KIND_REFRESH);
            assert_eq!(
                rows[0].paired.as_ref().map(|p| p.kind),
                Some(crate::store::KIND_ACCESS)
            );
            let family_random = issued_family_id(&issued_writes)
                .and_then(|id| URL_SAFE_NO_PAD.decode(&id[21..]).ok())
                .unwrap();
            for token in [&response.access_token, &refresh] {
                let bytes = secret(token);
                assert!(!bytes
                    .windows(4)
                    .any(|w| family_random.windows(4).any(|f| f == w)));
            }
            let stored = store
                .find_active_token("carbon.super", &TokenKey::of(&response.access_token), 1001)
                .unwrap()
                .unwrap();
            assert_eq!(stored.expires_at, 1120);
            assert_eq!(stored.subject.as_deref(), Some("alice"));
            assert!(store
                // Its id with the hash as the secret finds nothing.
                .find_active_token(
                    "carbon.super",
                    &TokenKey {
                        id: TokenKey::of(&response.access_token).id,
                        hash: response.access_token.clone(),
                    },
                    1001
                )
                .unwrap()
                .is_none());
            let stored_refresh = store
                .find_active_token("carbon.super", &TokenKey::of(&refresh), 1001)
                .unwrap()
                .unwrap();
            assert_eq!(stored_refresh.token_kind, "refresh");
            assert_eq!(stored_refresh.expires_at, 1000 + 86400);
            // One new family for both.
            assert!(stored.family_id.is_some());
            assert_eq!(stored.family_id, stored_refresh.family_id);

            // A rotation continues the family and never outlives it.
            let family = ContinuedFamily {
                family_id: stored.family_id.clone().unwrap(),
                expires_at: 1500,
            };
            let rotated = Decision {
                rotation: Some(Rotation {
                    token: TokenKey::of(&refresh),
                    family: Some(family.clone()),
                }),
                ..grant
            };
            let issued =
                issue_tokens(&TokenConfig::default(), &client, &rotated, 1200, None).unwrap();
            assert!(!issued
                .writes
                .iter()
                .any(|w| matches!(w, WriteOp::InsertFamily(_))));
            writer.commit_blocking(here(), issued.writes).unwrap();
            let successor = store
                .find_active_token(
                    "carbon.super",
                    &TokenKey::of(&issued.response.refresh_token.unwrap()),
                    1201,
                )
                .unwrap()
                .unwrap();
            assert_eq!(successor.expires_at, 1500);
            assert_eq!(
                successor.family_id.as_deref(),
                Some(family.family_id.as_str())
            );
        });
    }
}
