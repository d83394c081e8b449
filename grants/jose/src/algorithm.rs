//! The signature algorithms Grantor verifies (RFC 7518 3, RFC 8037 3.1): asymmetric only, so
//! `none` and HMAC can never be used, and the one rule of which key may verify which algorithm
//! (RFC 8725 3.1, 3.2): a key is never used with an algorithm of another family, and a JWK's own
//! `use` and `alg` (RFC 7517 4.2, 4.4) are honoured.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl Algorithm {
    /// Every algorithm verified here, in the order refusals list them.
    pub const ALL: &'static [Algorithm] = &[
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The algorithm with this JWS name (case-sensitive, RFC 7515 4.1.1), if it is one of ours.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.iter().copied().find(|a| a.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The JWK key type and curve this algorithm's keys have.
    pub(crate) fn key_type(self) -> (&'static str, Option<&'static str>) {
        match self {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => ("RSA", None),
            Algorithm::ES256 => ("EC", Some("P-256")),
            Algorithm::ES384 => ("EC", Some("P-384")),
            Algorithm::EdDSA => ("OKP", Some("Ed25519")),
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The names of `algorithms`, comma-separated (as refusals list them).
pub fn names(algorithms: &[Algorithm]) -> String {
    algorithms
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a JWK may verify `algorithm`: its key type (and curve) must be the algorithm's, its
/// `use` (if any) `sig`, its `alg` (if any) this very algorithm.
pub fn key_fits(jwk: &Value, algorithm: Algorithm) -> bool {
    let (kty, crv) = algorithm.key_type();
    if jwk["kty"].as_str() != Some(kty) {
        return false;
    }
    if let Some(crv) = crv {
        if jwk["crv"].as_str() != Some(crv) {
            return false;
        }
    }
    if let Some(usage) = jwk.get("use") {
        if usage.as_str() != Some("sig") {
            return false;
        }
    }
    match jwk.get("alg") {
        Some(alg) => alg.as_str() == Some(algorithm.name()),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_round_trip_and_nothing_else_is_an_algorithm() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(*alg));
        }
        for other in ["none", "HS256", "rs256", "ES512", "RSA-OAEP", ""] {
            assert_eq!(Algorithm::from_name(other), None, "{other}");
        }
        assert_eq!(
            names(Algorithm::ALL),
            "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
        );
    }

    #[test]
    fn keys_fit_only_their_algorithm_family() {
        let rsa = json!({"kty": "RSA", "n": "x", "e": "AQAB"});
        let p256 = json!({"kty": "EC", "crv": "P-256"});
        let ed = json!({"kty": "OKP", "crv": "Ed25519"});
        assert!(key_fits(&rsa, Algorithm::RS256) && key_fits(&rsa, Algorithm::PS384));
        assert!(!key_fits(&rsa, Algorithm::ES256));
        assert!(key_fits(&p256, Algorithm::ES256) && !key_fits(&p256, Algorithm::ES384));
        assert!(key_fits(&ed, Algorithm::EdDSA) && !key_fits(&ed, Algorithm::RS256));
        assert!(!key_fits(
            &json!({"kty": "oct", "k": "c2Vj"}),
            Algorithm::RS256
        ));
    }

    #[test]
    fn a_jwks_use_and_alg_are_honoured() {
        let fits = |jwk: Value| key_fits(&jwk, Algorithm::RS256);
        assert!(fits(json!({"kty": "RSA", "use": "sig"})));
        assert!(!fits(json!({"kty": "RSA", "use": "enc"})));
        assert!(!fits(json!({"kty": "RSA", "use": 1})));
        assert!(fits(json!({"kty": "RSA", "alg": "RS256"})));
        assert!(!fits(json!({"kty": "RSA", "alg": "PS256"})));
        assert!(!fits(json!({"kty": "RSA", "alg": ["RS256"]})));
    }
}
