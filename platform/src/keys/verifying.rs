//! Checking a JWS signature (RFC 7515, algorithms of RFC 7518 and RFC 8037) with a public key
//! parsed once: the counterpart of `signing::ReadySigner`, for the gateway's hot path.
//!
//! jsonwebtoken rebuilds the key from its JWK for every verification and parses the token's
//! header and claims twice; on the gateway that was about a third more than the signature itself
//! (BENCHMARKS.md, "The API gateway"). Here a JWK becomes an openssl key once, kept in
//! `VerificationKeys`, and the algorithm must fit the key's type exactly (an RSA key never checks
//! an ES256 signature, a P-384 key never an ES256 one): no algorithm confusion.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{RsaPssSaltlen, Verifier};
use serde_json::Value;

use super::certificates::CertificateError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Rsa,
    P256,
    P384,
    Ed25519,
}

/// A public key ready to check signatures.
pub struct VerificationKey {
    key: PKey<Public>,
    key_type: KeyType,
}

impl VerificationKey {
    /// An RSA, EC (P-256, P-384) or OKP (Ed25519) JWK's key; anything else is refused.
    pub fn from_jwk(jwk: &Value) -> Result<VerificationKey, CertificateError> {
        let member = |name: &str| -> Result<Vec<u8>, CertificateError> {
            jwk[name]
                .as_str()
                .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
                .ok_or_else(|| CertificateError::UnsupportedKey(format!("JWK without {name}")))
        };
        let number = |name: &str| -> Result<BigNum, CertificateError> {
            Ok(BigNum::from_slice(&member(name)?)?)
        };
        let (key, key_type) = match (jwk["kty"].as_str(), jwk["crv"].as_str()) {
            (Some("RSA"), _) => {
                let rsa = Rsa::from_public_components(number("n")?, number("e")?)?;
                (PKey::from_rsa(rsa)?, KeyType::Rsa)
            }
            (Some("EC"), Some(crv @ ("P-256" | "P-384"))) => {
                let (nid, key_type) = if crv == "P-256" {
                    (Nid::X9_62_PRIME256V1, KeyType::P256)
                } else {
                    (Nid::SECP384R1, KeyType::P384)
                };
                let group = EcGroup::from_curve_name(nid)?;
                // Refuses a point that is not on the curve.
                let (x, y) = (number("x")?, number("y")?);
                let ec = EcKey::from_public_key_affine_coordinates(&group, &x, &y)?;
                ec.check_key()?;
                (PKey::from_ec_key(ec)?, key_type)
            }
            (Some("OKP"), Some("Ed25519")) => (
                PKey::public_key_from_raw_bytes(&member("x")?, Id::ED25519)?,
                KeyType::Ed25519,
            ),
            (kty, crv) => {
                return Err(CertificateError::UnsupportedKey(format!(
                    "JWK kty {} crv {}",
                    kty.unwrap_or("(none)"),
                    crv.unwrap_or("(none)")
                )))
            }
        };
        Ok(VerificationKey { key, key_type })
    }

    /// Whether `signature` is `alg`'s signature of `input` by this key. An algorithm that does not
    /// fit the key's type, or an unknown one, is `false`, as is a malformed signature.
    pub fn verifies(&self, alg: &str, input: &[u8], signature: &[u8]) -> bool {
        self.check(alg, input, signature).unwrap_or(false)
    }

    fn check(&self, alg: &str, input: &[u8], signature: &[u8]) -> Result<bool, CertificateError> {
        let digest = |bits: &str| match bits {
            "256" => Some(MessageDigest::sha256()),
            "384" => Some(MessageDigest::sha384()),
            "512" => Some(MessageDigest::sha512()),
            _ => None,
        };
        let (family, bits) = alg.split_at(alg.len().min(2));
        Ok(match (family, self.key_type) {
            ("RS", KeyType::Rsa) => {
                let Some(digest) = digest(bits) else {
                    return Ok(false);
                };
                Verifier::new(digest, &self.key)?.verify_oneshot(signature, input)?
            }
            ("PS", KeyType::Rsa) => {
                let Some(digest) = digest(bits) else {
                    return Ok(false);
                };
                // RFC 7518 3.5: MGF1 with the same hash, a salt as long as the hash.
                let mut verifier = Verifier::new(digest, &self.key)?;
                verifier.set_rsa_padding(Padding::PKCS1_PSS)?;
                verifier.set_rsa_mgf1_md(digest)?;
                verifier.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
                verifier.verify_oneshot(signature, input)?
            }
            ("ES", KeyType::P256) if bits == "256" => {
                self.ecdsa(MessageDigest::sha256(), 32, input, signature)?
            }
            ("ES", KeyType::P384) if bits == "384" => {
                self.ecdsa(MessageDigest::sha384(), 48, input, signature)?
            }
            ("Ed", KeyType::Ed25519) if alg == "EdDSA" => {
                Verifier::new_without_digest(&self.key)?.verify_oneshot(signature, input)?
            }
            _ => false,
        })
    }

    /// JWS carries r || s, each `size` bytes (RFC 7518 3.4); openssl checks DER.
    fn ecdsa(
        &self,
        digest: MessageDigest,
        size: usize,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, CertificateError> {
        if signature.len() != 2 * size {
            return Ok(false);
        }
        let (r, s) = signature.split_at(size);
        let der =
            EcdsaSig::from_private_components(BigNum::from_slice(r)?, BigNum::from_slice(s)?)?
                .to_der()?;
        Ok(Verifier::new(digest, &self.key)?.verify_oneshot(&der, input)?)
    }
}

/// Keys parsed from JWKs, each once. An entry answers only to the same JWK (compared whole), so a
/// key set refreshed with a new key under an old `kid` is never checked with the old key.
#[derive(Default)]
pub struct VerificationKeys {
    by_kid: Mutex<HashMap<String, Vec<Parsed>>>,
}

/// A JWK and its key.
type Parsed = (Arc<Value>, Arc<VerificationKey>);

/// Parsed keys kept before the map is emptied (key sets that rotate must not pile up).
const MAX_CACHED_KEYS: usize = 1024;

impl VerificationKeys {
    /// `jwk`'s key, parsed on first use; `None` when the JWK is not a usable key.
    /// The JWK cache hands out the same `Arc` for the same key until its key set changes; a JWK
    /// at the same address is known without comparing it whole (the entry holds the `Arc`, so
    /// the address cannot be reused by another JWK meanwhile).
    pub fn get(&self, jwk: &Arc<Value>) -> Option<Arc<VerificationKey>> {
        let kid = jwk["kid"].as_str().unwrap_or_default();
        {
            let by_kid = self.by_kid.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(found) = by_kid.get(kid).and_then(|keys| {
                keys.iter()
                    .find(|(known, _)| Arc::ptr_eq(known, jwk))
                    .or_else(|| keys.iter().find(|(known, _)| known == jwk))
            }) {
                return Some(found.1.clone());
            }
        }
        let key = Arc::new(VerificationKey::from_jwk(jwk).ok()?);
        let mut by_kid = self.by_kid.lock().unwrap_or_else(|e| e.into_inner());
        if by_kid.values().map(Vec::len).sum::<usize>() >= MAX_CACHED_KEYS {
            by_kid.clear();
        }
        by_kid
            .entry(kid.to_owned())
            .or_default()
            .push((jwk.clone(), key.clone()));
        Some(key)
    }

    pub fn len(&self) -> usize {
        let by_kid = self.by_kid.lock().unwrap_or_else(|e| e.into_inner());
        by_kid.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::pkey::Private;
    use openssl::sign::Signer;

    fn public_jwk(key: &PKey<Private>) -> Value {
        let public = PKey::public_key_from_der(&key.public_key_to_der().unwrap()).unwrap();
        crate::keys::jwk::key_parameters(&public).unwrap()
    }

    fn rsa() -> PKey<Private> {
        PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
    }

    fn ec(nid: Nid) -> PKey<Private> {
        let group = EcGroup::from_curve_name(nid).unwrap();
        PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
    }

    fn raw_ecdsa(key: &PKey<Private>, digest: MessageDigest, size: i32, input: &[u8]) -> Vec<u8> {
        let der = Signer::new(digest, key)
            .unwrap()
            .sign_oneshot_to_vec(input)
            .unwrap();
        let signature = EcdsaSig::from_der(&der).unwrap();
        let mut raw = signature.r().to_vec_padded(size).unwrap();
        raw.extend(signature.s().to_vec_padded(size).unwrap());
        raw
    }

    const INPUT: &[u8] = b"eyJhbGciOiJ4In0.eyJzdWIiOiJhbGljZSJ9";

    /// Every algorithm verifies its own signature, refuses a changed input, and no other
    /// algorithm accepts that signature with that key.
    #[test]
    fn each_algorithm_fits_its_key_type_only() {
        let rsa = rsa();
        let p256 = ec(Nid::X9_62_PRIME256V1);
        let p384 = ec(Nid::SECP384R1);
        let ed = PKey::generate_ed25519().unwrap();
        let pss = |digest: MessageDigest| {
            let mut signer = Signer::new(digest, &rsa).unwrap();
            signer.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
            signer.set_rsa_mgf1_md(digest).unwrap();
            signer
                .set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
                .unwrap();
            signer.sign_oneshot_to_vec(INPUT).unwrap()
        };
        let pkcs1 = |digest: MessageDigest| {
            Signer::new(digest, &rsa)
                .unwrap()
                .sign_oneshot_to_vec(INPUT)
                .unwrap()
        };
        let cases: Vec<(&str, &PKey<Private>, Vec<u8>)> = vec![
            ("RS256", &rsa, pkcs1(MessageDigest::sha256())),
            ("RS384", &rsa, pkcs1(MessageDigest::sha384())),
            ("RS512", &rsa, pkcs1(MessageDigest::sha512())),
            ("PS256", &rsa, pss(MessageDigest::sha256())),
            ("PS384", &rsa, pss(MessageDigest::sha384())),
            ("PS512", &rsa, pss(MessageDigest::sha512())),
            (
                "ES256",
                &p256,
                raw_ecdsa(&p256, MessageDigest::sha256(), 32, INPUT),
            ),
            (
                "ES384",
                &p384,
                raw_ecdsa(&p384, MessageDigest::sha384(), 48, INPUT),
            ),
            (
                "EdDSA",
                &ed,
                Signer::new_without_digest(&ed)
                    .unwrap()
                    .sign_oneshot_to_vec(INPUT)
                    .unwrap(),
            ),
        ];
        let algorithms: Vec<&str> = cases.iter().map(|c| c.0).collect();
        for (alg, key, signature) in &cases {
            let verifier = VerificationKey::from_jwk(&public_jwk(key)).unwrap();
            assert!(verifier.verifies(alg, INPUT, signature), "{alg}");
            assert!(
                !verifier.verifies(alg, b"eyJhbGciOiJ4In0.e30", signature),
                "{alg} tampered"
            );
            for other in algorithms.iter().filter(|other| *other != alg) {
                assert!(
                    !verifier.verifies(other, INPUT, signature),
                    "{alg}'s signature accepted as {other}"
                );
            }
            assert!(!verifier.verifies("none", INPUT, signature));
            assert!(!verifier.verifies("HS256", INPUT, signature));
        }
        // ES256 with a P-384 key, and a P-256 key with ES384: refused before any check.
        let p384_key = VerificationKey::from_jwk(&public_jwk(&p384)).unwrap();
        assert!(!p384_key.verifies(
            "ES256",
            INPUT,
            &raw_ecdsa(&p384, MessageDigest::sha256(), 48, INPUT)
        ));
        // Another key's signature.
        let other = VerificationKey::from_jwk(&public_jwk(&ec(Nid::X9_62_PRIME256V1))).unwrap();
        assert!(!other.verifies("ES256", INPUT, &cases[6].2));
    }

    #[test]
    fn unusable_jwks_are_refused() {
        for jwk in [
            serde_json::json!({"kty": "oct", "k": "c2VjcmV0"}),
            serde_json::json!({"kty": "RSA", "n": "AQAB"}),
            serde_json::json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}),
            // Not a point on P-256.
            serde_json::json!({"kty": "EC", "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode([1u8; 32]), "y": URL_SAFE_NO_PAD.encode([2u8; 32])}),
            serde_json::json!({"kty": "OKP", "crv": "X25519", "x": URL_SAFE_NO_PAD.encode([9u8; 32])}),
        ] {
            assert!(VerificationKey::from_jwk(&jwk).is_err(), "{jwk}");
        }
    }

    #[test]
    fn a_cached_key_answers_only_to_the_same_jwk() {
        let keys = VerificationKeys::default();
        let (first, second) = (rsa(), rsa());
        let mut jwk = public_jwk(&first);
        jwk["kid"] = "k1".into();
        let jwk = Arc::new(jwk);
        let signature = Signer::new(MessageDigest::sha256(), &first)
            .unwrap()
            .sign_oneshot_to_vec(INPUT)
            .unwrap();
        assert!(keys.get(&jwk).unwrap().verifies("RS256", INPUT, &signature));
        assert!(keys.get(&jwk).unwrap().verifies("RS256", INPUT, &signature));
        assert_eq!(keys.len(), 1, "parsed once");
        // The same JWK at another address (a refreshed key set) is known too.
        let copy = Arc::new(Value::clone(&jwk));
        assert!(keys
            .get(&copy)
            .unwrap()
            .verifies("RS256", INPUT, &signature));
        assert_eq!(keys.len(), 1);
        // The issuer's key set now has another key under the same kid.
        let mut replaced = public_jwk(&second);
        replaced["kid"] = "k1".into();
        let replaced = Arc::new(replaced);
        assert!(!keys
            .get(&replaced)
            .unwrap()
            .verifies("RS256", INPUT, &signature));
        assert_eq!(keys.len(), 2);
    }
}
