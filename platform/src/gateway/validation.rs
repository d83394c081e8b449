//! Validating a bearer token as the gateway does, per reference 003 and RFC 8725: only signed JWTs
//! with asymmetric algorithms; `typ` absent, `JWT` or `at+jwt`; no `crit` extensions; `sub`,
//! `iat`, `exp` and `iss` required, `nbf` honoured, with the configured clock skew; the issuer one
//! of the trusted ones; the key chosen by `kid` from the issuer's certificates or JWKS, and a token
//! without `kid` checked against the issuer's default (first) certificate only. Keys named by the
//! token itself (`jku`, `x5u`, `jwk`, `x5c`) are never used. Then the issuer's claim mappings.
//!
//! A refusal's description never contains the token.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::config::JwtIssuerConfig;
use crate::keys::jwks::KeyLookup;
use crate::keys::verifying::VerificationKeys;

/// Why a token is not accepted: the `error_description` of a 401 `invalid_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

fn refuse(reason: impl Into<String>) -> Refusal {
    Refusal(reason.into())
}

/// A trusted issuer with its certificates already turned into JWKs (the first is the default).
pub struct TrustedIssuer {
    pub config: JwtIssuerConfig,
    pub certificate_keys: Vec<Arc<Value>>,
    /// Only tokens typed `at+jwt` are access tokens of this issuer (RFC 9068 4): its ID tokens,
    /// signed with the same keys, are refused.
    pub require_at_jwt: bool,
}

/// Where JWKS endpoints' keys come from (the shared, bounded JWKS cache in the server).
pub trait JwksKeys {
    fn keys(&self, uri: &str, kid: Option<&str>) -> Result<KeyLookup, KeysUnavailable>;
}

/// Why a JWKS endpoint's keys are not at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeysUnavailable {
    /// Not in the cache, and this lookup may not fetch: the caller asks again where it may. Not
    /// a problem, and not logged.
    NotCached,
    /// The fetch failed (the reason is logged).
    Failed(String),
}

pub struct Limits {
    pub max_token_bytes: usize,
    pub clock_skew_seconds: u64,
}

/// A token that passed, with its claims after the issuer's mappings.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    pub issuer: String,
    pub subject: String,
    pub claims: Map<String, Value>,
    pub scopes: Vec<String>,
}

const ASYMMETRIC: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// The longest piece of a token's own text a refusal repeats (an issuer or a kid).
const MAX_ECHO: usize = 80;

fn echo(text: &str) -> String {
    let mut shown: String = text.chars().take(MAX_ECHO).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    shown.escape_default().to_string()
}

pub fn validate(
    token: &str,
    issuers: &[TrustedIssuer],
    jwks: &dyn JwksKeys,
    prepared: &VerificationKeys,
    limits: &Limits,
) -> Result<Validated, Refusal> {
    if token.len() > limits.max_token_bytes {
        return Err(refuse(format!(
            "the token is larger than {} bytes",
            limits.max_token_bytes
        )));
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 if parts.iter().all(|p| !p.is_empty()) => {}
        3 => return Err(refuse("the token is not signed")),
        5 => return Err(refuse("encrypted tokens (JWE) are not accepted")),
        _ => return Err(refuse("the token is not a JWT")),
    }
    let header = decode_json(parts[0]).ok_or_else(|| refuse("the token's header is malformed"))?;
    let alg = header["alg"].as_str().unwrap_or_default();
    if alg.eq_ignore_ascii_case("none") {
        return Err(refuse("unsigned tokens are not accepted"));
    }
    if !ASYMMETRIC.contains(&alg) {
        return Err(refuse(format!(
            "algorithm '{}' is not accepted: only RS, PS, ES and EdDSA signatures",
            echo(alg)
        )));
    }
    let typ = header.get("typ").map(|typ| {
        let typ = typ.as_str().unwrap_or_default().to_ascii_lowercase();
        typ.strip_prefix("application/").unwrap_or(&typ).to_owned()
    });
    if typ
        .as_deref()
        .is_some_and(|typ| typ != "jwt" && typ != "at+jwt")
    {
        return Err(refuse("the token's typ must be JWT or at+jwt"));
    }
    if header.get("crit").is_some() {
        return Err(refuse("the token names critical header extensions (crit)"));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) if !kid.is_empty() => Some(kid.as_str()),
        Some(_) => return Err(refuse("the token's kid must be a non-empty string")),
    };
    let claims = decode_json(parts[1]).ok_or_else(|| refuse("the token's claims are malformed"))?;
    let iss = claims["iss"]
        .as_str()
        .ok_or_else(|| refuse("the token has no iss"))?;
    let issuer = issuers
        .iter()
        .find(|i| i.config.name == iss)
        .ok_or_else(|| refuse(format!("the token's issuer '{}' is not trusted", echo(iss))))?;
    if issuer.require_at_jwt && typ.as_deref() != Some("at+jwt") {
        return Err(refuse(
            "the token is not an access token: this issuer's access tokens are typed at+jwt \
             (RFC 9068), and an ID token is not one",
        ));
    }
    let keys = candidate_keys(issuer, kid, jwks)?;
    let signed_part = &token[..parts[0].len() + 1 + parts[1].len()];
    let signature = URL_SAFE_NO_PAD
        .decode(parts[2])
        .map_err(|_| refuse("the token's signature is malformed"))?;
    let verified = keys.iter().any(|jwk| {
        prepared
            .get(jwk)
            .is_some_and(|key| key.verifies(alg, signed_part.as_bytes(), &signature))
    });
    if !verified {
        return Err(refuse("the token's signature does not verify"));
    }
    check_claims(&claims, issuer, limits, crate::clock::now_unix())?;
    Ok(accepted(issuer, claims))
}

fn decode_json(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(object) => Some(object),
        _ => None,
    }
}

fn candidate_keys(
    issuer: &TrustedIssuer,
    kid: Option<&str>,
    jwks: &dyn JwksKeys,
) -> Result<Vec<Arc<Value>>, Refusal> {
    let Some(kid) = kid else {
        // No kid: the default certificate, and nothing else (never "try every key").
        return issuer
            .certificate_keys
            .first()
            .cloned()
            .map(|key| vec![key])
            .ok_or_else(|| {
                refuse("the token has no kid, and its issuer has no default certificate")
            });
    };
    let mut keys: Vec<Arc<Value>> = issuer
        .certificate_keys
        .iter()
        .filter(|key| key_has_kid(key, kid))
        .cloned()
        .collect();
    if keys.is_empty() {
        if let Some(source) = &issuer.config.jwks {
            let lookup = jwks.keys(&source.url, Some(kid)).map_err(|unavailable| {
                if let KeysUnavailable::Failed(reason) = unavailable {
                    tracing::warn!(issuer = %issuer.config.name, jwks_uri = %source.url, "{reason}");
                }
                refuse("the issuer's keys could not be fetched; try again later")
            })?;
            keys = lookup.keys;
        }
    }
    if keys.is_empty() {
        return Err(refuse(format!(
            "no key of the issuer has kid '{}'",
            echo(kid)
        )));
    }
    Ok(keys)
}

/// A certificate's JWK answers to its certificate thumbprint (`x5t#S256`, its `kid`) and to the
/// RFC 7638 thumbprint of its key (what Grantor's own tenants put in `kid`).
fn key_has_kid(key: &Value, kid: &str) -> bool {
    key["kid"] == kid
        || crate::keys::signing::thumbprint(key).is_ok_and(|thumbprint| thumbprint == kid)
}

/// The registered claims (RFC 7519 4.1) checked after the signature: `sub` a string, `exp`
/// required and not past, `nbf` not ahead, `iat` required and not ahead (each with the skew), and
/// `aud` naming one of the issuer's configured audiences when it has any. `iss` chose the issuer.
fn check_claims(
    claims: &Map<String, Value>,
    issuer: &TrustedIssuer,
    limits: &Limits,
    now: i64,
) -> Result<(), Refusal> {
    let skew = limits.clock_skew_seconds as f64;
    let now = now as f64;
    let time = |name: &str| -> Result<Option<f64>, Refusal> {
        match claims.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .map(Some)
                .ok_or_else(|| refuse(format!("the token's {name} is not a number"))),
        }
    };
    match claims.get("sub") {
        None => return Err(refuse("the token has no sub")),
        Some(Value::String(_)) => {}
        Some(_) => return Err(refuse("the token's sub is not a string")),
    }
    let exp = time("exp")?.ok_or_else(|| refuse("the token has no exp"))?;
    if exp < now - skew {
        return Err(refuse("the token has expired"));
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now + skew) {
        return Err(refuse("the token is not valid yet (nbf)"));
    }
    let iat = time("iat")?.ok_or_else(|| refuse("the token has no iat"))?;
    if iat > now + skew {
        return Err(refuse("the token was issued in the future (iat)"));
    }
    if !issuer.config.audience.is_empty() {
        let accepted = |aud: &str| issuer.config.audience.iter().any(|a| a == aud);
        let matched = match claims.get("aud") {
            None => return Err(refuse("the token has no aud")),
            Some(Value::String(aud)) => accepted(aud),
            Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(accepted),
            Some(_) => false,
        };
        if !matched {
            return Err(refuse(
                "the token's audience is not one this gateway accepts",
            ));
        }
    }
    Ok(())
}

/// The issuer's mappings applied (a remote claim renamed to its local name), and the scopes read
/// from its scope claim.
fn accepted(issuer: &TrustedIssuer, mut claims: Map<String, Value>) -> Validated {
    for mapping in &issuer.config.claim_mapping {
        if let Some(value) = claims.remove(&mapping.remote_claim) {
            claims.insert(mapping.local_claim.clone(), value);
        }
    }
    let scopes = match claims.get(&issuer.config.scope_claim) {
        Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    Validated {
        issuer: issuer.config.name.clone(),
        subject: claims["sub"].as_str().unwrap_or_default().to_owned(),
        claims,
        scopes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::Algorithm;
    use openssl::hash::MessageDigest;
    use openssl::pkey::{PKey, Private};
    use openssl::rsa::Rsa;
    use openssl::sign::Signer;
    use serde_json::json;

    const ISS: &str = "https://idp.example/oauth2/token";

    struct NoJwks;
    impl JwksKeys for NoJwks {
        fn keys(&self, _: &str, _: Option<&str>) -> Result<KeyLookup, KeysUnavailable> {
            Err(KeysUnavailable::Failed("no JWKS in this test".into()))
        }
    }

    /// A JWKS endpoint answering with fixed keys, counting lookups.
    struct FixedJwks(Vec<Value>, std::cell::Cell<u32>);
    impl JwksKeys for FixedJwks {
        fn keys(&self, _: &str, kid: Option<&str>) -> Result<KeyLookup, KeysUnavailable> {
            self.1.set(self.1.get() + 1);
            let keys: Vec<Arc<Value>> = self
                .0
                .iter()
                .filter(|k| kid.is_none_or(|kid| k["kid"] == kid))
                .map(|k| Arc::new(k.clone()))
                .collect();
            Ok(KeyLookup {
                unknown_kid: keys.is_empty(),
                keys,
            })
        }
    }

    fn rsa() -> PKey<Private> {
        PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
    }

    fn jwk(key: &PKey<Private>, kid: &str) -> Value {
        let public = PKey::public_key_from_der(&key.public_key_to_der().unwrap()).unwrap();
        let mut jwk = crate::keys::jwk::key_parameters(&public).unwrap();
        jwk["kid"] = json!(kid);
        jwk
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// RS256 over exactly this header and these claims.
    fn sign(key: &PKey<Private>, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut signer = Signer::new(MessageDigest::sha256(), key).unwrap();
        let signature = signer.sign_oneshot_to_vec(input.as_bytes()).unwrap();
        format!("{input}.{}", b64(&signature))
    }

    fn now() -> i64 {
        crate::clock::now_unix()
    }

    fn claims() -> Value {
        json!({"iss": ISS, "sub": "alice", "iat": now(), "exp": now() + 300,
               "scope": "read write", "groups": ["sales"], "aud": "gateway"})
    }

    fn issuer(keys: Vec<Value>) -> TrustedIssuer {
        TrustedIssuer {
            config: JwtIssuerConfig {
                name: ISS.into(),
                jwks: None,
                certificates: Vec::new(),
                audience: Vec::new(),
                claim_mapping: vec![crate::config::ClaimMapping {
                    remote_claim: "groups".into(),
                    local_claim: "roles".into(),
                }],
                transformer: None,
                scope_claim: "scope".into(),
                require_at_jwt: None,
            },
            certificate_keys: keys.into_iter().map(Arc::new).collect(),
            require_at_jwt: false,
        }
    }

    const LIMITS: Limits = Limits {
        max_token_bytes: 8192,
        clock_skew_seconds: 60,
    };

    fn check(token: &str, issuers: &[TrustedIssuer]) -> Result<Validated, Refusal> {
        validate(
            token,
            issuers,
            &NoJwks,
            &VerificationKeys::default(),
            &LIMITS,
        )
    }

    fn refused(token: &str, issuers: &[TrustedIssuer]) -> String {
        let reason = check(token, issuers).unwrap_err().0;
        assert!(!reason.contains(token), "a refusal echoed the token");
        reason
    }

    #[test]
    fn a_good_token_passes_with_its_mapped_claims_and_scopes() {
        let key = rsa();
        let issuers = [issuer(vec![jwk(&key, "k1")])];
        let token = sign(
            &key,
            &json!({"alg": "RS256", "kid": "k1", "typ": "at+jwt"}),
            &claims(),
        );
        let validated = check(&token, &issuers).unwrap();
        assert_eq!(validated.subject, "alice");
        assert_eq!(validated.scopes, ["read", "write"]);
        assert_eq!(validated.claims["roles"], json!(["sales"]));
        assert!(validated.claims.get("groups").is_none());
        // Without kid: the default (first) certificate.
        let token = sign(&key, &json!({"alg": "RS256"}), &claims());
        assert!(check(&token, &issuers).is_ok());
    }

    #[test]
    fn rfc_8725_refusals() {
        let key = rsa();
        let attacker = rsa();
        let issuers = [issuer(vec![jwk(&key, "k1")])];
        let header = json!({"alg": "RS256", "kid": "k1"});
        let good = sign(&key, &header, &claims());

        // alg none, and HS256 keyed with the public key.
        let unsigned = format!(
            "{}.{}.",
            b64(br#"{"alg":"none"}"#),
            b64(claims().to_string().as_bytes())
        );
        assert_eq!(refused(&unsigned, &issuers), "the token is not signed");
        let none_signed = format!(
            "{}.{}.c2ln",
            b64(br#"{"alg":"none"}"#),
            b64(claims().to_string().as_bytes())
        );
        assert_eq!(
            refused(&none_signed, &issuers),
            "unsigned tokens are not accepted"
        );
        let public_pem = key.public_key_to_pem().unwrap();
        let hs = jsonwebtoken::encode(
            &jsonwebtoken::Header {
                kid: Some("k1".into()),
                ..jsonwebtoken::Header::new(Algorithm::HS256)
            },
            &claims(),
            &jsonwebtoken::EncodingKey::from_secret(&public_pem),
        )
        .unwrap();
        assert!(refused(&hs, &issuers).contains("'HS256' is not accepted"));
        // Keys the token names itself are never used.
        for (name, value) in [
            ("jku", json!("https://attacker.example/jwks")),
            ("x5u", json!("https://attacker.example/cert")),
            ("jwk", jwk(&attacker, "k1")),
        ] {
            let mut header = header.clone();
            header[name] = value;
            let token = sign(&attacker, &header, &claims());
            assert_eq!(
                refused(&token, &issuers),
                "the token's signature does not verify",
                "{name}"
            );
        }
        // Tampered claims.
        let parts: Vec<&str> = good.split('.').collect();
        let mut changed = claims();
        changed["scope"] = json!("read write admin");
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64(changed.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(
            refused(&tampered, &issuers),
            "the token's signature does not verify"
        );
        // Expired (past the skew), not yet valid, wrong and untrusted issuers, missing claims.
        let mut expired = claims();
        expired["exp"] = json!(now() - 120);
        assert_eq!(
            refused(&sign(&key, &header, &expired), &issuers),
            "the token has expired"
        );
        let mut early = claims();
        early["nbf"] = json!(now() + 600);
        assert!(refused(&sign(&key, &header, &early), &issuers).contains("nbf"));
        let mut other = claims();
        other["iss"] = json!("https://other.example");
        assert!(refused(&sign(&key, &header, &other), &issuers).contains("is not trusted"));
        for claim in ["sub", "iat", "exp"] {
            let mut missing = claims();
            missing.as_object_mut().unwrap().remove(claim);
            assert_eq!(
                refused(&sign(&key, &header, &missing), &issuers),
                format!("the token has no {claim}")
            );
        }
        // typ, crit, size, JWE, unknown kid.
        let typed = sign(
            &key,
            &json!({"alg": "RS256", "kid": "k1", "typ": "dpop+jwt"}),
            &claims(),
        );
        assert!(refused(&typed, &issuers).contains("typ"));
        // An issuer whose access tokens are at+jwt: its ID tokens (typ JWT) and untyped tokens
        // are refused, its access tokens pass.
        let mut strict = issuer(vec![jwk(&key, "k1")]);
        strict.require_at_jwt = true;
        let strict = [strict];
        for header in [
            json!({"alg": "RS256", "kid": "k1", "typ": "JWT"}),
            json!({"alg": "RS256", "kid": "k1"}),
        ] {
            assert!(
                refused(&sign(&key, &header, &claims()), &strict).contains("not an access token")
            );
        }
        for typ in ["at+jwt", "application/at+JWT"] {
            let access = sign(
                &key,
                &json!({"alg": "RS256", "kid": "k1", "typ": typ}),
                &claims(),
            );
            assert!(check(&access, &strict).is_ok(), "{typ}");
        }
        let critical = sign(
            &key,
            &json!({"alg": "RS256", "kid": "k1", "crit": ["b64"]}),
            &claims(),
        );
        assert!(refused(&critical, &issuers).contains("crit"));
        let mut big = claims();
        big["pad"] = json!("x".repeat(9000));
        assert!(refused(&sign(&key, &header, &big), &issuers).contains("larger than"));
        assert!(refused("a.b.c.d.e", &issuers).contains("JWE"));
        let unknown = sign(&key, &json!({"alg": "RS256", "kid": "k9"}), &claims());
        assert!(refused(&unknown, &issuers).contains("no key of the issuer has kid 'k9'"));
    }

    /// EC and Ed25519 issuers' tokens pass too, and a token cannot switch its key's algorithm.
    #[test]
    fn ecdsa_and_eddsa_tokens() {
        let group =
            openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
        let p256 = PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
        let ed = PKey::generate_ed25519().unwrap();
        let issuers = [issuer(vec![jwk(&p256, "ec"), jwk(&ed, "ed")])];
        let input = |header: &Value| {
            format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(claims().to_string().as_bytes())
            )
        };
        let es_input = input(&json!({"alg": "ES256", "kid": "ec"}));
        let der = Signer::new(MessageDigest::sha256(), &p256)
            .unwrap()
            .sign_oneshot_to_vec(es_input.as_bytes())
            .unwrap();
        let sig = openssl::ecdsa::EcdsaSig::from_der(&der).unwrap();
        let mut raw = sig.r().to_vec_padded(32).unwrap();
        raw.extend(sig.s().to_vec_padded(32).unwrap());
        let es256 = format!("{es_input}.{}", b64(&raw));
        assert_eq!(check(&es256, &issuers).unwrap().subject, "alice");
        // openssl's DER form is not a JWS signature.
        let der_signed = format!("{es_input}.{}", b64(&der));
        assert_eq!(
            refused(&der_signed, &issuers),
            "the token's signature does not verify"
        );
        let ed_input = input(&json!({"alg": "EdDSA", "kid": "ed"}));
        let ed_signature = Signer::new_without_digest(&ed)
            .unwrap()
            .sign_oneshot_to_vec(ed_input.as_bytes())
            .unwrap();
        let eddsa = format!("{ed_input}.{}", b64(&ed_signature));
        assert!(check(&eddsa, &issuers).is_ok());
        // The Ed25519 signature presented as ES256 under the Ed25519 key's kid.
        let confused_input = input(&json!({"alg": "ES256", "kid": "ed"}));
        let confused = format!("{confused_input}.{}", eddsa.rsplit_once('.').unwrap().1);
        assert_eq!(
            refused(&confused, &issuers),
            "the token's signature does not verify"
        );
    }

    #[test]
    fn audience_and_jwks_keys() {
        let key = rsa();
        let jwks = FixedJwks(vec![jwk(&key, "jk")], std::cell::Cell::new(0));
        let mut trusted = issuer(Vec::new());
        trusted.config.jwks = Some(crate::config::JwksSource {
            url: "https://idp.example/jwks".into(),
        });
        trusted.config.audience = vec!["gateway".into()];
        let issuers = [trusted];
        let token = sign(&key, &json!({"alg": "RS256", "kid": "jk"}), &claims());
        assert!(validate(
            &token,
            &issuers,
            &jwks,
            &VerificationKeys::default(),
            &LIMITS
        )
        .is_ok());
        assert_eq!(jwks.1.get(), 1);
        let mut elsewhere = claims();
        elsewhere["aud"] = json!("another-api");
        let token = sign(&key, &json!({"alg": "RS256", "kid": "jk"}), &elsewhere);
        assert!(validate(
            &token,
            &issuers,
            &jwks,
            &VerificationKeys::default(),
            &LIMITS
        )
        .unwrap_err()
        .0
        .contains("audience"));
        // A JWKS issuer without certificates has no default key for a token without kid.
        let token = sign(&key, &json!({"alg": "RS256"}), &claims());
        assert!(validate(
            &token,
            &issuers,
            &jwks,
            &VerificationKeys::default(),
            &LIMITS
        )
        .unwrap_err()
        .0
        .contains("no kid"));
    }
}
