//! Validating a bearer token as the gateway does, per reference 003 and RFC 8725, through
//! `grantor_jose`: only signed JWTs with asymmetric algorithms; `typ` absent, `JWT` or `at+jwt`
//! (and `at+jwt` for an issuer that asks, RFC 9068); no `crit` extensions; `sub`, `iat`, `exp` and
//! `iss` required, `nbf` honoured, with the configured clock skew; the issuer one of the trusted
//! ones; the key chosen by `kid` from the issuer's certificates or JWKS, and a token without `kid`
//! checked against the issuer's default (first) certificate only; a key verifies only the
//! algorithm it fits (its `kty`, `crv`, `use` and `alg`). Keys named by the token itself (`jku`,
//! `x5u`, `jwk`, `x5c`) are never used. Then the issuer's claim mappings.
//!
//! Two steps, so the JWKS lookup between them can be awaited: `read` (parse, header, issuer, the
//! keys at hand) and `Unverified::verify` (signature and claims). A refusal's description never
//! contains the token.

use std::sync::Arc;

use grantor_jose::{
    Algorithm, CheckedHeader, HeaderError, HeaderPolicy, Jws, ParseError, PreparedKeys, TimeClaims,
    TimeError, TimePolicy, TypRule, Verification,
};
use serde_json::{Map, Value};

use crate::config::JwtIssuerConfig;
use crate::keys::remote_jwks::{JwksError, KeyLookup};

/// Why a token is not accepted: the `error_description` of a 401 `invalid_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRefusal(pub String);

fn refuse(reason: impl Into<String>) -> TokenRefusal {
    TokenRefusal(reason.into())
}

/// A trusted issuer with its certificates already turned into JWKs (the first is the default).
pub struct TrustedIssuer {
    pub config: JwtIssuerConfig,
    pub certificate_keys: Vec<Arc<Value>>,
    /// Only tokens typed `at+jwt` are access tokens of this issuer (RFC 9068 4): its ID tokens,
    /// signed with the same keys, are refused.
    pub require_at_jwt: bool,
}

/// The gateway's bounds on a token.
pub struct TokenLimits {
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

/// The gateway's header policy: every asymmetric algorithm; `typ` absent, `JWT` or `at+jwt`.
const HEADER_POLICY: HeaderPolicy<'static> = HeaderPolicy {
    algorithms: Algorithm::ALL,
    typ: TypRule::AbsentOrOneOf(&["jwt", "at+jwt"]),
};

/// The `typ` of an issuer's access tokens when it asks for it (RFC 9068 2.1).
const ACCESS_TOKEN_TYP: TypRule<'static> = TypRule::Exactly("at+jwt");

/// The longest piece of a token's own text a refusal repeats (an issuer or a kid).
const MAX_ECHO: usize = 80;

fn echo(text: &str) -> String {
    let mut shown: String = text.chars().take(MAX_ECHO).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    shown.escape_default().to_string()
}

/// A token read and matched to its trusted issuer; its signature and claims not yet checked.
pub struct Unverified<'t, 'i> {
    jws: Jws<'t>,
    header: CheckedHeader,
    issuer: &'i TrustedIssuer,
    /// The issuer's certificates that may have signed (by `kid`, or the default one).
    certificate_keys: Vec<Arc<Value>>,
}

/// Reads `token`: its shape, its header, its issuer, and the issuer's certificates that may have
/// signed it.
pub fn read<'t, 'i>(
    token: &'t str,
    issuers: &'i [TrustedIssuer],
    limits: &TokenLimits,
) -> Result<Unverified<'t, 'i>, TokenRefusal> {
    let jws = Jws::parse(token, limits.max_token_bytes).map_err(|error| match error {
        ParseError::TooLarge { max, .. } => refuse(format!("the token is larger than {max} bytes")),
        ParseError::Encrypted => refuse("encrypted tokens (JWE) are not accepted"),
        ParseError::NotCompact { .. } => refuse("the token is not a JWT"),
        ParseError::Header(_) => refuse("the token's header is malformed"),
        ParseError::Claims(_) => refuse("the token's claims are malformed"),
        ParseError::Unsigned => refuse("the token is not signed"),
        ParseError::SignatureNotBase64 => refuse("the token's signature is malformed"),
    })?;
    let header = HEADER_POLICY
        .check(&jws.header)
        .map_err(|error| match error {
            HeaderError::Unsigned => refuse("unsigned tokens are not accepted"),
            HeaderError::AlgMissing | HeaderError::AlgNotString => not_accepted(""),
            HeaderError::NotAccepted(alg) => not_accepted(&alg),
            HeaderError::Typ(_) => refuse("the token's typ must be JWT or at+jwt"),
            HeaderError::Critical(_) | HeaderError::CriticalMalformed => {
                refuse("the token names critical header extensions (crit)")
            }
            HeaderError::KidNotString | HeaderError::KidEmpty => {
                refuse("the token's kid must be a non-empty string")
            }
        })?;
    let iss = jws
        .claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| refuse("the token has no iss"))?;
    let issuer = issuers
        .iter()
        .find(|i| i.config.name == iss)
        .ok_or_else(|| refuse(format!("the token's issuer '{}' is not trusted", echo(iss))))?;
    if issuer.require_at_jwt && header.check_typ(ACCESS_TOKEN_TYP).is_err() {
        return Err(refuse(
            "the token is not an access token: this issuer's access tokens are typed at+jwt \
             (RFC 9068), and an ID token is not one",
        ));
    }
    let certificate_keys = match header.kid.as_deref() {
        // No kid: the default certificate, and nothing else (never "try every key").
        None => issuer
            .certificate_keys
            .first()
            .cloned()
            .map(|key| vec![key])
            .ok_or_else(|| {
                refuse("the token has no kid, and its issuer has no default certificate")
            })?,
        Some(kid) => issuer
            .certificate_keys
            .iter()
            .filter(|key| key_has_kid(key, kid))
            .cloned()
            .collect(),
    };
    Ok(Unverified {
        jws,
        header,
        issuer,
        certificate_keys,
    })
}

fn not_accepted(alg: &str) -> TokenRefusal {
    refuse(format!(
        "algorithm '{}' is not accepted: only RS, PS, ES and EdDSA signatures",
        echo(alg)
    ))
}

impl<'i> Unverified<'_, 'i> {
    /// Where the key must be looked up, when no certificate of the issuer has the token's `kid`:
    /// the issuer's JWKS URL and the `kid`.
    pub fn jwks_lookup(&self) -> Option<(&'i str, &str)> {
        let kid = self.header.kid.as_deref()?;
        let source = self.issuer.config.jwks.as_ref()?;
        self.certificate_keys
            .is_empty()
            .then_some((source.url.as_str(), kid))
    }

    /// Checks the signature, with the certificates found by `read` or the keys `published` at
    /// the issuer's JWKS endpoint (the answer to `jwks_lookup`), then the claims at `now`.
    pub fn verify(
        self,
        published: Option<Result<KeyLookup, JwksError>>,
        prepared: &PreparedKeys,
        limits: &TokenLimits,
        now: i64,
    ) -> Result<Validated, TokenRefusal> {
        let mut keys = self.certificate_keys;
        if let Some(published) = published {
            let lookup = published.map_err(|JwksError::Unavailable(reason)| {
                if let Some(source) = &self.issuer.config.jwks {
                    tracing::warn!(issuer = %self.issuer.config.name, jwks_uri = %source.url, "{reason}");
                }
                refuse("the issuer's keys could not be fetched; try again later")
            })?;
            keys = lookup.keys;
        }
        if keys.is_empty() {
            return Err(refuse(format!(
                "no key of the issuer has kid '{}'",
                echo(self.header.kid.as_deref().unwrap_or_default())
            )));
        }
        // A key of the wrong family, or one whose `use` or `alg` excludes this algorithm, is no
        // more use than a wrong key: the same refusal.
        if prepared.verify(&self.jws, self.header.algorithm, &keys) != Verification::Verified {
            return Err(refuse("the token's signature does not verify"));
        }
        check_claims(&self.jws.claims, self.issuer, limits, now)?;
        Ok(accepted(self.issuer, self.jws.claims))
    }
}

/// A certificate's JWK answers to its certificate thumbprint (`x5t#S256`, its `kid`) and to the
/// RFC 7638 thumbprint of its key (what Grantor's own tenants put in `kid`).
fn key_has_kid(key: &Value, kid: &str) -> bool {
    key["kid"] == kid
        || crate::keys::signing::thumbprint(key).is_ok_and(|thumbprint| thumbprint == kid)
}

/// The registered claims (RFC 7519 4.1) checked after the signature: `sub` a string, then the
/// time policy (`exp` required and not past, `nbf` not ahead, `iat` required and not ahead, each
/// with the skew), and `aud` naming one of the issuer's configured audiences when it has any.
/// `iss` chose the issuer.
fn check_claims(
    claims: &Map<String, Value>,
    issuer: &TrustedIssuer,
    limits: &TokenLimits,
    now: i64,
) -> Result<(), TokenRefusal> {
    match claims.get("sub") {
        None => return Err(refuse("the token has no sub")),
        Some(Value::String(_)) => {}
        Some(_) => return Err(refuse("the token's sub is not a string")),
    }
    let policy = TimePolicy {
        leeway_seconds: i64::try_from(limits.clock_skew_seconds).unwrap_or(i64::MAX),
        require_iat: true,
    };
    TimeClaims::read(claims)
        .and_then(|times| policy.check(times, now))
        .map_err(|error| match error {
            TimeError::NotNumericDate(name) => {
                refuse(format!("the token's {name} is not a number"))
            }
            TimeError::Missing(name) => refuse(format!("the token has no {name}")),
            TimeError::Expired { .. } => refuse("the token has expired"),
            TimeError::NotYetValid { .. } => refuse("the token is not valid yet (nbf)"),
            TimeError::IssuedInFuture { .. } => refuse("the token was issued in the future (iat)"),
        })?;
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
        subject: claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        claims,
        scopes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use openssl::hash::MessageDigest;
    use openssl::pkey::{PKey, Private};
    use openssl::rsa::Rsa;
    use openssl::sign::Signer;
    use serde_json::json;

    const ISS: &str = "https://idp.example/oauth2/token";

    /// Where the tests' JWKS keys come from.
    trait JwksKeys {
        fn keys(&self, uri: &str, kid: Option<&str>) -> Result<KeyLookup, JwksError>;
    }

    /// Both steps, the JWKS lookup between them as the gateway does it.
    fn validate(
        token: &str,
        issuers: &[TrustedIssuer],
        jwks: &dyn JwksKeys,
        prepared: &PreparedKeys,
        limits: &TokenLimits,
    ) -> Result<Validated, TokenRefusal> {
        let unverified = read(token, issuers, limits)?;
        let published = unverified
            .jwks_lookup()
            .map(|(uri, kid)| jwks.keys(uri, Some(kid)));
        unverified.verify(published, prepared, limits, crate::clock::now_unix())
    }

    struct NoJwks;
    impl JwksKeys for NoJwks {
        fn keys(&self, _: &str, _: Option<&str>) -> Result<KeyLookup, JwksError> {
            Err(JwksError::Unavailable("no JWKS in this test".into()))
        }
    }

    /// A JWKS endpoint answering with fixed keys, counting lookups.
    struct FixedJwks(Vec<Value>, std::cell::Cell<u32>);
    impl JwksKeys for FixedJwks {
        fn keys(&self, _: &str, kid: Option<&str>) -> Result<KeyLookup, JwksError> {
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
        let mut jwk = grantor_jose::key::public_jwk(&public).unwrap();
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

    const LIMITS: TokenLimits = TokenLimits {
        max_token_bytes: 8192,
        clock_skew_seconds: 60,
    };

    fn check(token: &str, issuers: &[TrustedIssuer]) -> Result<Validated, TokenRefusal> {
        validate(token, issuers, &NoJwks, &PreparedKeys::default(), &LIMITS)
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
                ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
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

    /// A JWK's `use` and `alg` decide what it may verify, as for the plugin and `private_key_jwt`:
    /// a key published for encryption, or for another algorithm, never verifies a token, even one
    /// its private key signed.
    #[test]
    fn a_keys_use_and_alg_are_honoured() {
        let key = rsa();
        let token = sign(&key, &json!({"alg": "RS256", "kid": "k1"}), &claims());
        for (member, value) in [("use", "enc"), ("alg", "PS256"), ("alg", "RS512")] {
            let mut restricted = jwk(&key, "k1");
            restricted[member] = json!(value);
            assert_eq!(
                refused(&token, &[issuer(vec![restricted])]),
                "the token's signature does not verify",
                "{member} {value}"
            );
        }
        let mut declared = jwk(&key, "k1");
        declared["use"] = json!("sig");
        declared["alg"] = json!("RS256");
        assert!(check(&token, &[issuer(vec![declared])]).is_ok());
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
        assert!(validate(&token, &issuers, &jwks, &PreparedKeys::default(), &LIMITS).is_ok());
        assert_eq!(jwks.1.get(), 1);
        let mut elsewhere = claims();
        elsewhere["aud"] = json!("another-api");
        let token = sign(&key, &json!({"alg": "RS256", "kid": "jk"}), &elsewhere);
        assert!(
            validate(&token, &issuers, &jwks, &PreparedKeys::default(), &LIMITS)
                .unwrap_err()
                .0
                .contains("audience")
        );
        // A JWKS issuer without certificates has no default key for a token without kid.
        let token = sign(&key, &json!({"alg": "RS256"}), &claims());
        assert!(
            validate(&token, &issuers, &jwks, &PreparedKeys::default(), &LIMITS)
                .unwrap_err()
                .0
                .contains("no kid")
        );
    }
}
