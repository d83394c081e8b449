//! The claims a UserInfo response releases (OpenID Connect Core 1.0 section 5.3): `sub`, always the
//! subject the ID token carries, plus the user's claims that the granted standard scopes ask for
//! (section 5.4). Pure: no HTTP, no store; it never releases a claim that no granted scope names,
//! and never lets a user's own `sub` claim take the subject's place.

use serde_json::{Map, Value};

use super::context::OAuthContext;
use crate::store::{StoreError, KIND_ACCESS};

/// Why a UserInfo request is refused (RFC 6750 3.1): the answer is 401 or 403 with a
/// `WWW-Authenticate: Bearer` challenge naming the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerRefusal {
    /// Unknown, expired or revoked, another tenant's, or a refresh token; or its user is gone.
    InvalidToken,
    /// A valid access token granted without `openid`.
    InsufficientScope,
}

/// The UserInfo response for the access token `token` of `tenant`.
pub fn userinfo(
    ctx: &OAuthContext,
    tenant: &str,
    token: &str,
    now: i64,
) -> Result<Result<Map<String, Value>, BearerRefusal>, StoreError> {
    let Some(found) = ctx
        .store
        .find_active_token(tenant, &crate::token_ids::TokenKey::of(token), now)?
        .filter(|t| t.token_kind == KIND_ACCESS)
    else {
        return Ok(Err(BearerRefusal::InvalidToken));
    };
    let scopes = crate::oauth::scopes::stored_scopes(&found.scope);
    if !scopes.iter().any(|s| s == "openid") {
        return Ok(Err(BearerRefusal::InsufficientScope));
    }
    // A client acting for itself has no user to describe.
    let Some(subject) = found.subject else {
        return Ok(Err(BearerRefusal::InsufficientScope));
    };
    let Some(user) = ctx.store.find_user(tenant, &subject)? else {
        return Ok(Err(BearerRefusal::InvalidToken));
    };
    // `sub` as the ID token has it.
    let presented = match ctx.store.cached_active_tenant(tenant)? {
        Some(tenant) => tenant.present_subject(&subject),
        None => return Ok(Err(BearerRefusal::InvalidToken)),
    };
    Ok(Ok(userinfo_claims(
        &presented,
        &user.claims_object(),
        &scopes,
    )))
}

/// The standard scopes of OpenID Connect Core 1.0 section 5.4 and the claims each one releases.
pub const STANDARD_SCOPES: &[(&str, &[&str])] = &[
    (
        "profile",
        &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("address", &["address"]),
    ("phone", &["phone_number", "phone_number_verified"]),
];

/// Every claim a UserInfo response may carry: `sub` and the claims of the standard scopes (for the
/// discovery document's `claims_supported`).
pub fn claims_supported() -> Vec<&'static str> {
    let mut claims = vec!["sub"];
    claims.extend(
        STANDARD_SCOPES
            .iter()
            .flat_map(|(_, claims)| claims.iter().copied()),
    );
    claims
}

/// The UserInfo claims for `subject` (the subject the ID token presented carries): `sub`, plus each
/// of `user_claims` that a granted standard scope releases. A claim the user lacks is absent.
pub fn userinfo_claims(
    subject: &str,
    user_claims: &Map<String, Value>,
    scopes: &[String],
) -> Map<String, Value> {
    let mut released = Map::new();
    for (scope, claims) in STANDARD_SCOPES {
        if !scopes.iter().any(|s| s == scope) {
            continue;
        }
        for claim in *claims {
            if let Some(value) = user_claims.get(*claim) {
                released.insert((*claim).to_owned(), value.clone());
            }
        }
    }
    // Inserted last and unconditionally: no user claim can stand in for the subject.
    released.insert("sub".into(), Value::String(subject.to_owned()));
    released
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn alice() -> Map<String, Value> {
        json!({
            "sub": "mallory",
            "name": "Alice Liddell",
            "given_name": "Alice",
            "family_name": "Liddell",
            "preferred_username": "alice",
            "locale": "en-GB",
            "updated_at": 1_700_000_000,
            "email": "alice@acme.example",
            "email_verified": true,
            "address": {"country": "GB", "locality": "Oxford"},
            "phone_number": "+44 1865 000000",
            "phone_number_verified": false,
            "groups": ["dev"],
            "role": "admin",
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn claims_for(scopes: &[&str]) -> Value {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        Value::Object(userinfo_claims("alice-subject", &alice(), &scopes))
    }

    #[test]
    fn openid_alone_releases_only_the_subject() {
        assert_eq!(claims_for(&["openid"]), json!({"sub": "alice-subject"}));
        assert_eq!(claims_for(&[]), json!({"sub": "alice-subject"}));
    }

    #[test]
    fn profile_releases_the_profile_claims_the_user_has() {
        assert_eq!(
            claims_for(&["openid", "profile"]),
            json!({
                "sub": "alice-subject",
                "name": "Alice Liddell",
                "given_name": "Alice",
                "family_name": "Liddell",
                "preferred_username": "alice",
                "locale": "en-GB",
                "updated_at": 1_700_000_000,
            })
        );
    }

    #[test]
    fn email_releases_email_and_its_verification() {
        assert_eq!(
            claims_for(&["openid", "email"]),
            json!({"sub": "alice-subject", "email": "alice@acme.example", "email_verified": true})
        );
    }

    #[test]
    fn address_releases_the_address_object() {
        assert_eq!(
            claims_for(&["openid", "address"]),
            json!({"sub": "alice-subject", "address": {"country": "GB", "locality": "Oxford"}})
        );
    }

    #[test]
    fn phone_releases_the_number_and_its_verification() {
        assert_eq!(
            claims_for(&["openid", "phone"]),
            json!({
                "sub": "alice-subject",
                "phone_number": "+44 1865 000000",
                "phone_number_verified": false,
            })
        );
    }

    #[test]
    fn scopes_combine() {
        assert_eq!(
            claims_for(&["openid", "email", "phone"]),
            json!({
                "sub": "alice-subject",
                "email": "alice@acme.example",
                "email_verified": true,
                "phone_number": "+44 1865 000000",
                "phone_number_verified": false,
            })
        );
        let everything = claims_for(&["phone", "address", "openid", "email", "profile"]);
        let mut expected = alice();
        expected.remove("groups");
        expected.remove("role");
        expected.insert("sub".into(), json!("alice-subject"));
        assert_eq!(everything, Value::Object(expected));
    }

    #[test]
    fn a_missing_claim_is_absent_not_null() {
        let user = json!({"email": "bob@acme.example"})
            .as_object()
            .cloned()
            .unwrap();
        let claims = userinfo_claims("bob", &user, &["openid".into(), "email".into()]);
        assert_eq!(
            Value::Object(claims),
            json!({"sub": "bob", "email": "bob@acme.example"})
        );
    }

    #[test]
    fn a_user_claim_named_sub_never_replaces_the_subject() {
        for scopes in [
            &["openid"][..],
            &["openid", "profile", "email", "address", "phone"],
        ] {
            assert_eq!(claims_for(scopes)["sub"], json!("alice-subject"));
        }
    }

    #[test]
    fn claims_without_a_standard_scope_are_never_released() {
        // Neither a scope named after the claim nor every standard scope releases it.
        let released = claims_for(&[
            "openid", "groups", "role", "profile", "email", "address", "phone",
        ]);
        assert!(released.get("groups").is_none());
        assert!(released.get("role").is_none());
    }

    #[test]
    fn claims_supported_lists_sub_and_every_standard_claim_once() {
        let supported = claims_supported();
        assert_eq!(supported[0], "sub");
        assert_eq!(supported.len(), 1 + 14 + 2 + 1 + 2);
        for claim in [
            "name",
            "updated_at",
            "email_verified",
            "address",
            "phone_number",
        ] {
            assert!(supported.contains(&claim), "{claim}");
        }
        let mut unique = supported.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), supported.len());
    }
}
