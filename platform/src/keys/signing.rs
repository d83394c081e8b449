//! A tenant's signing keys: generated here (RSA 2048, EC P-256 or Ed25519), identified by their
//! RFC 7638 thumbprint, published as JWKs. The private key leaves this module only as the PEM the
//! store keeps; `Debug` never shows it and nothing here logs it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use serde_json::{json, Value};

use super::certificates::CertificateError;
use super::jwk::key_parameters;

pub use crate::config::SigningAlgorithm;

impl SigningAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            SigningAlgorithm::RS256 => "RS256",
            SigningAlgorithm::ES256 => "ES256",
            SigningAlgorithm::EdDSA => "EdDSA",
        }
    }

    pub fn from_name(name: &str) -> Option<SigningAlgorithm> {
        [
            SigningAlgorithm::RS256,
            SigningAlgorithm::ES256,
            SigningAlgorithm::EdDSA,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }
}

/// A new key: what the store keeps, and what JWKS publishes.
pub struct GeneratedKey {
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    /// PKCS#8 PEM. Secret: stored, never printed or logged.
    pub private_pem: String,
    /// The public JWK, with `kid`, `alg` and `use`.
    pub public_jwk: Value,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

pub fn generate(algorithm: SigningAlgorithm) -> Result<GeneratedKey, CertificateError> {
    let private: PKey<Private> = match algorithm {
        SigningAlgorithm::RS256 => PKey::from_rsa(Rsa::generate(2048)?)?,
        SigningAlgorithm::ES256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
            PKey::from_ec_key(EcKey::generate(&group)?)?
        }
        SigningAlgorithm::EdDSA => PKey::generate_ed25519()?,
    };
    let public = PKey::public_key_from_der(&private.public_key_to_der()?)?;
    let mut jwk = key_parameters(&public)?;
    let kid = thumbprint(&jwk)?;
    jwk["kid"] = json!(kid);
    jwk["alg"] = json!(algorithm.name());
    jwk["use"] = json!("sig");
    Ok(GeneratedKey {
        kid,
        algorithm,
        private_pem: String::from_utf8_lossy(&private.private_key_to_pem_pkcs8()?).into_owned(),
        public_jwk: jwk,
    })
}

/// RFC 7638: base64url SHA-256 of the key's required members, in lexicographic order, without
/// whitespace.
pub fn thumbprint(jwk: &Value) -> Result<String, CertificateError> {
    let member = |name: &str| {
        jwk[name]
            .as_str()
            .map(|v| serde_json::to_string(v).unwrap_or_default())
            .ok_or_else(|| CertificateError::UnsupportedKey(format!("JWK without {name}")))
    };
    let canonical = match jwk["kty"].as_str() {
        Some("RSA") => format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            member("e")?,
            member("n")?
        ),
        Some("EC") => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            member("crv")?,
            member("x")?,
            member("y")?
        ),
        Some("OKP") => format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            member("crv")?,
            member("x")?
        ),
        other => {
            return Err(CertificateError::UnsupportedKey(format!(
                "JWK key type {other:?}"
            )))
        }
    };
    Ok(URL_SAFE_NO_PAD.encode(openssl::sha::sha256(canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7638_example_thumbprint() {
        // RFC 7638 section 3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn generated_keys_of_each_algorithm() {
        for (algorithm, kty) in [
            (SigningAlgorithm::RS256, "RSA"),
            (SigningAlgorithm::ES256, "EC"),
            (SigningAlgorithm::EdDSA, "OKP"),
        ] {
            let key = generate(algorithm).unwrap();
            assert_eq!(key.public_jwk["kty"], kty);
            assert_eq!(key.public_jwk["kid"], key.kid.as_str());
            assert_eq!(key.public_jwk["alg"], algorithm.name());
            assert_eq!(thumbprint(&key.public_jwk).unwrap(), key.kid);
            assert!(key.private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
            // No private member ever reaches the public JWK or the debug form.
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(key.public_jwk.get(private).is_none());
            }
            assert!(!format!("{key:?}").contains("PRIVATE"));
            assert_eq!(
                SigningAlgorithm::from_name(algorithm.name()),
                Some(algorithm)
            );
        }
        assert_ne!(
            generate(SigningAlgorithm::EdDSA).unwrap().kid,
            generate(SigningAlgorithm::EdDSA).unwrap().kid
        );
    }
}
