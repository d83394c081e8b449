//! A tenant's signing keys: generated here (RSA 2048, EC P-256 or Ed25519), identified by their
//! RFC 7638 thumbprint, published as JWKs. The private key leaves this module only as the PEM that
//! is sealed for keeping (`sealed`); `Debug` never shows it and nothing here logs it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use serde_json::{json, Value};

use super::certificates::CertificateError;
use grantor_jose::key::public_jwk;

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
    /// PKCS#8 PEM. Secret: sealed before it is kept, never printed or logged; wiped when dropped.
    pub private_pem: zeroize::Zeroizing<String>,
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
    described(algorithm, &private)
}

/// A private key read back from its PEM, with its `kid` and public JWK; the algorithm follows from
/// the key's type (RSA: RS256, EC P-256: ES256, Ed25519: EdDSA).
pub fn from_private_pem(pem: &str) -> Result<GeneratedKey, CertificateError> {
    let private =
        PKey::private_key_from_pem(pem.as_bytes()).map_err(|_| CertificateError::Unreadable)?;
    let algorithm = match private.id() {
        openssl::pkey::Id::RSA => SigningAlgorithm::RS256,
        openssl::pkey::Id::ED25519 => SigningAlgorithm::EdDSA,
        openssl::pkey::Id::EC
            if private.ec_key()?.group().curve_name() == Some(Nid::X9_62_PRIME256V1) =>
        {
            SigningAlgorithm::ES256
        }
        _ => {
            return Err(CertificateError::UnsupportedKey(
                "a signing key must be RSA, EC P-256 or Ed25519".into(),
            ))
        }
    };
    described(algorithm, &private)
}

fn described(
    algorithm: SigningAlgorithm,
    private: &PKey<Private>,
) -> Result<GeneratedKey, CertificateError> {
    let public = PKey::public_key_from_der(&private.public_key_to_der()?)?;
    let mut jwk = public_jwk(&public)?;
    let kid = thumbprint(&jwk)?;
    jwk["kid"] = json!(kid);
    jwk["alg"] = json!(algorithm.name());
    jwk["use"] = json!("sig");
    Ok(GeneratedKey {
        kid,
        algorithm,
        private_pem: zeroize::Zeroizing::new(
            String::from_utf8_lossy(&zeroize::Zeroizing::new(
                private.private_key_to_pem_pkcs8()?,
            ))
            .into_owned(),
        ),
        public_jwk: jwk,
    })
}

/// A stored key parsed once, ready to sign: a signature never re-parses a PEM. `Debug` shows only
/// the `kid`.
pub struct ReadySigner {
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    key: PKey<Private>,
}

impl std::fmt::Debug for ReadySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadySigner")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl ReadySigner {
    pub fn from_pem(
        kid: &str,
        algorithm: &str,
        pem: &str,
    ) -> Result<ReadySigner, CertificateError> {
        let algorithm = SigningAlgorithm::from_name(algorithm).ok_or_else(|| {
            CertificateError::UnsupportedKey(format!("signing algorithm {algorithm}"))
        })?;
        let key = PKey::private_key_from_pem(pem.as_bytes())?;
        Ok(ReadySigner {
            kid: kid.to_owned(),
            algorithm,
            key,
        })
    }

    /// A compact JWS of `claims` with header `{alg, kid, typ}`.
    pub fn sign_jwt(&self, typ: &str, claims: &Value) -> Result<String, CertificateError> {
        let header = json!({ "alg": self.algorithm.name(), "kid": self.kid, "typ": typ });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.sign(input.as_bytes())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, CertificateError> {
        use openssl::hash::MessageDigest;
        use openssl::sign::Signer;
        Ok(match self.algorithm {
            SigningAlgorithm::RS256 => {
                Signer::new(MessageDigest::sha256(), &self.key)?.sign_oneshot_to_vec(input)?
            }
            SigningAlgorithm::ES256 => {
                // JWS wants r || s, 32 bytes each (RFC 7518 3.4), not openssl's DER.
                let der =
                    Signer::new(MessageDigest::sha256(), &self.key)?.sign_oneshot_to_vec(input)?;
                let signature = openssl::ecdsa::EcdsaSig::from_der(&der)?;
                let mut raw = signature.r().to_vec_padded(32)?;
                raw.extend(signature.s().to_vec_padded(32)?);
                raw
            }
            SigningAlgorithm::EdDSA => {
                Signer::new_without_digest(&self.key)?.sign_oneshot_to_vec(input)?
            }
        })
    }
}

/// Signers by `kid`, each parsed once per process. A `kid` is the key's thumbprint, so one `kid`
/// is always the same key: whichever key a tenant signs with at a given moment (a rotation's key
/// becomes current by the clock alone), it is found or parsed here under its own `kid`.
#[derive(Default)]
pub struct SignerCache {
    by_kid: std::sync::RwLock<std::collections::HashMap<String, std::sync::Arc<ReadySigner>>>,
}

/// Parsed keys kept before the map is emptied (keys of removed tenants must not pile up).
const MAX_CACHED_SIGNERS: usize = 4096;

impl SignerCache {
    /// The signer of `kid`, made by `parse` (which opens the sealed key) if it is not cached.
    pub fn get_or_parse<E>(
        &self,
        kid: &str,
        parse: impl FnOnce() -> Result<ReadySigner, E>,
    ) -> Result<std::sync::Arc<ReadySigner>, E> {
        if let Some(signer) = self
            .by_kid
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(kid)
        {
            return Ok(signer.clone());
        }
        let signer = std::sync::Arc::new(parse()?);
        let mut by_kid = self.by_kid.write().unwrap_or_else(|e| e.into_inner());
        if by_kid.len() >= MAX_CACHED_SIGNERS {
            by_kid.clear();
        }
        by_kid.insert(kid.to_owned(), signer.clone());
        Ok(signer)
    }

    /// How many signers are parsed and kept.
    pub fn len(&self) -> usize {
        self.by_kid.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
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

    #[test]
    fn ready_signers_make_jws_that_an_independent_implementation_verifies() {
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        for algorithm in [
            SigningAlgorithm::RS256,
            SigningAlgorithm::ES256,
            SigningAlgorithm::EdDSA,
        ] {
            let key = generate(algorithm).unwrap();
            let signer =
                ReadySigner::from_pem(&key.kid, algorithm.name(), &key.private_pem).unwrap();
            let claims = json!({"sub": "alice", "exp": 4_000_000_000i64, "aud": "x"});
            let jwt = signer.sign_jwt("at+jwt", &claims).unwrap();
            let header = jsonwebtoken::decode_header(&jwt).unwrap();
            assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            // jsonwebtoken (aws-lc) with the published JWK: not the code that signed.
            let jwk: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(key.public_jwk.clone()).unwrap();
            let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
            let mut validation = jsonwebtoken::Validation::new(header.alg);
            validation.set_audience(&["x"]);
            let decoded =
                jsonwebtoken::decode::<serde_json::Value>(&jwt, &decoding, &validation).unwrap();
            assert_eq!(decoded.claims["sub"], "alice");
            assert!(!format!("{signer:?}").contains("PRIVATE"));
        }
    }
}
