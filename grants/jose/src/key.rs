//! Public keys (RFC 7517 JWKs, PEM certificates and keys) and JWS signature verification
//! (RFC 7515, algorithms of RFC 7518 and RFC 8037) through openssl: the one verification backend.
//!
//! A JWK becomes an openssl key once and is kept in `PreparedKeys` (jsonwebtoken rebuilt the key
//! for every verification: on the gateway that was about a third more than the signature itself,
//! BENCHMARKS.md, "The API gateway"). A key verifies only an algorithm it fits (`key_fits`: type,
//! curve, `use`, `alg`), and the key's own type is checked again at verification: an RSA key never
//! checks an ES256 signature, a P-384 key never an ES256 one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::bn::BigNum;
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{RsaPssSaltlen, Verifier};
use openssl::x509::X509;
use serde_json::{json, Value};

use crate::algorithm::key_fits;
use crate::{Algorithm, Jws};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM or DER certificate, nor a PEM public key")]
    Unreadable,
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    #[error("{0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

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
    pub fn from_jwk(jwk: &Value) -> Result<VerificationKey, KeyError> {
        let member = |name: &str| -> Result<Vec<u8>, KeyError> {
            jwk[name]
                .as_str()
                .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
                .ok_or_else(|| KeyError::UnsupportedKey(format!("JWK without {name}")))
        };
        let number =
            |name: &str| -> Result<BigNum, KeyError> { Ok(BigNum::from_slice(&member(name)?)?) };
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
                return Err(KeyError::UnsupportedKey(format!(
                    "JWK kty {} crv {}",
                    kty.unwrap_or("(none)"),
                    crv.unwrap_or("(none)")
                )))
            }
        };
        Ok(VerificationKey { key, key_type })
    }

    /// Whether `signature` is `alg`'s signature of `input` by this key. An algorithm that does not
    /// fit the key's type is `false`, as is a malformed signature.
    pub fn verifies(&self, alg: Algorithm, input: &[u8], signature: &[u8]) -> bool {
        self.check(alg, input, signature).unwrap_or(false)
    }

    fn check(&self, alg: Algorithm, input: &[u8], signature: &[u8]) -> Result<bool, KeyError> {
        let pkcs1 = |digest: MessageDigest| -> Result<bool, KeyError> {
            Ok(Verifier::new(digest, &self.key)?.verify_oneshot(signature, input)?)
        };
        // RFC 7518 3.5: MGF1 with the same hash, a salt as long as the hash.
        let pss = |digest: MessageDigest| -> Result<bool, KeyError> {
            let mut verifier = Verifier::new(digest, &self.key)?;
            verifier.set_rsa_padding(Padding::PKCS1_PSS)?;
            verifier.set_rsa_mgf1_md(digest)?;
            verifier.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
            Ok(verifier.verify_oneshot(signature, input)?)
        };
        match (alg, self.key_type) {
            (Algorithm::RS256, KeyType::Rsa) => pkcs1(MessageDigest::sha256()),
            (Algorithm::RS384, KeyType::Rsa) => pkcs1(MessageDigest::sha384()),
            (Algorithm::RS512, KeyType::Rsa) => pkcs1(MessageDigest::sha512()),
            (Algorithm::PS256, KeyType::Rsa) => pss(MessageDigest::sha256()),
            (Algorithm::PS384, KeyType::Rsa) => pss(MessageDigest::sha384()),
            (Algorithm::PS512, KeyType::Rsa) => pss(MessageDigest::sha512()),
            (Algorithm::ES256, KeyType::P256) => {
                self.ecdsa(MessageDigest::sha256(), 32, input, signature)
            }
            (Algorithm::ES384, KeyType::P384) => {
                self.ecdsa(MessageDigest::sha384(), 48, input, signature)
            }
            (Algorithm::EdDSA, KeyType::Ed25519) => {
                Ok(Verifier::new_without_digest(&self.key)?.verify_oneshot(signature, input)?)
            }
            _ => Ok(false),
        }
    }

    /// JWS carries r || s, each `size` bytes (RFC 7518 3.4); openssl checks DER.
    fn ecdsa(
        &self,
        digest: MessageDigest,
        size: usize,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, KeyError> {
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

/// How a verification came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Verified,
    /// No candidate key fits the algorithm (`key_fits`).
    NoFittingKey,
    /// Keys fit, and none verifies the signature (or none is a usable key).
    BadSignature,
}

/// Verifies `jws` as `alg` with the first of `keys` that fits it and verifies; each key is parsed
/// for this call (see `PreparedKeys` to parse once).
pub fn verify_with_any(jws: &Jws<'_>, alg: Algorithm, keys: &[Value]) -> Verification {
    verify_with(jws, alg, keys.iter(), |jwk| {
        VerificationKey::from_jwk(jwk).ok().map(Arc::new)
    })
}

/// The one verification loop: only keys that fit `alg` are tried.
fn verify_with<'k, K: std::borrow::Borrow<Value> + 'k>(
    jws: &Jws<'_>,
    alg: Algorithm,
    keys: impl Iterator<Item = &'k K>,
    mut prepare: impl FnMut(&'k K) -> Option<Arc<VerificationKey>>,
) -> Verification {
    let mut fitted = false;
    for jwk in keys.filter(|jwk| key_fits((*jwk).borrow(), alg)) {
        fitted = true;
        let Some(key) = prepare(jwk) else {
            continue;
        };
        if key.verifies(alg, jws.signing_input().as_bytes(), jws.signature()) {
            return Verification::Verified;
        }
    }
    if fitted {
        Verification::BadSignature
    } else {
        Verification::NoFittingKey
    }
}

/// Keys parsed from JWKs, each once. An entry answers only to the same JWK (compared whole), so a
/// key set refreshed with a new key under an old `kid` is never checked with the old key.
#[derive(Default)]
pub struct PreparedKeys {
    by_kid: Mutex<HashMap<String, Vec<Parsed>>>,
}

/// A JWK and its key.
type Parsed = (Arc<Value>, Arc<VerificationKey>);

/// Parsed keys kept before the map is emptied (key sets that rotate must not pile up).
const MAX_CACHED_KEYS: usize = 1024;

impl PreparedKeys {
    /// Verifies `jws` as `alg` with the first of `keys` that fits it and verifies, each key parsed
    /// once across calls.
    pub fn verify(&self, jws: &Jws<'_>, alg: Algorithm, keys: &[Arc<Value>]) -> Verification {
        verify_with(jws, alg, keys.iter(), |jwk| self.get(jwk))
    }

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

/// The JWK of a PEM certificate or public key. Its `kid` is the base64url SHA-256 thumbprint of
/// the certificate (also given as `x5t#S256`) or of the public key's DER form: stable, derived, and
/// what an issuer that names its certificate by thumbprint puts in its headers.
pub fn jwk_from_pem(pem: &str) -> Result<Value, KeyError> {
    let (key, thumbprint_of, is_certificate) = match X509::from_pem(pem.as_bytes()) {
        Ok(certificate) => (certificate.public_key()?, certificate.to_der()?, true),
        Err(_) => {
            let key =
                PKey::public_key_from_pem(pem.as_bytes()).map_err(|_| KeyError::Unreadable)?;
            let der = key.public_key_to_der()?;
            (key, der, false)
        }
    };
    let thumbprint = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(&thumbprint_of));
    let mut jwk = public_jwk(&key)?;
    jwk["kid"] = json!(thumbprint);
    jwk["use"] = json!("sig");
    if is_certificate {
        jwk["x5t#S256"] = json!(thumbprint);
    }
    Ok(jwk)
}

/// The public parameters of a key as a JWK (no `kid`, `use` or `alg`).
pub fn public_jwk(key: &PKey<Public>) -> Result<Value, KeyError> {
    match key.id() {
        Id::RSA => {
            let rsa = key.rsa()?;
            Ok(json!({
                "kty": "RSA",
                "n": b64(&rsa.n().to_vec()),
                "e": b64(&rsa.e().to_vec()),
            }))
        }
        Id::EC => {
            let ec = key.ec_key()?;
            let (crv, size) = match ec.group().curve_name() {
                Some(Nid::X9_62_PRIME256V1) => ("P-256", 32),
                Some(Nid::SECP384R1) => ("P-384", 48),
                other => return Err(KeyError::UnsupportedKey(format!("EC curve {other:?}"))),
            };
            let mut x = BigNum::new()?;
            let mut y = BigNum::new()?;
            let mut ctx = BigNumContext::new()?;
            ec.public_key()
                .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)?;
            // RFC 7518 6.2.1.2: coordinates are the full field size, left-padded with zeros.
            Ok(json!({
                "kty": "EC",
                "crv": crv,
                "x": b64(&x.to_vec_padded(size)?),
                "y": b64(&y.to_vec_padded(size)?),
            }))
        }
        Id::ED25519 => Ok(json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64(&key.raw_public_key()?),
        })),
        other => Err(KeyError::UnsupportedKey(format!("key type {other:?}"))),
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::pkey::Private;
    use openssl::sign::Signer;

    fn jwk_of(key: &PKey<Private>) -> Value {
        let public = PKey::public_key_from_der(&key.public_key_to_der().unwrap()).unwrap();
        super::public_jwk(&public).unwrap()
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
        let cases: Vec<(Algorithm, &PKey<Private>, Vec<u8>)> = vec![
            (Algorithm::RS256, &rsa, pkcs1(MessageDigest::sha256())),
            (Algorithm::RS384, &rsa, pkcs1(MessageDigest::sha384())),
            (Algorithm::RS512, &rsa, pkcs1(MessageDigest::sha512())),
            (Algorithm::PS256, &rsa, pss(MessageDigest::sha256())),
            (Algorithm::PS384, &rsa, pss(MessageDigest::sha384())),
            (Algorithm::PS512, &rsa, pss(MessageDigest::sha512())),
            (
                Algorithm::ES256,
                &p256,
                raw_ecdsa(&p256, MessageDigest::sha256(), 32, INPUT),
            ),
            (
                Algorithm::ES384,
                &p384,
                raw_ecdsa(&p384, MessageDigest::sha384(), 48, INPUT),
            ),
            (
                Algorithm::EdDSA,
                &ed,
                Signer::new_without_digest(&ed)
                    .unwrap()
                    .sign_oneshot_to_vec(INPUT)
                    .unwrap(),
            ),
        ];
        let algorithms: Vec<Algorithm> = cases.iter().map(|c| c.0).collect();
        for (alg, key, signature) in &cases {
            let verifier = VerificationKey::from_jwk(&jwk_of(key)).unwrap();
            assert!(verifier.verifies(*alg, INPUT, signature), "{alg}");
            assert!(
                !verifier.verifies(*alg, b"eyJhbGciOiJ4In0.e30", signature),
                "{alg} tampered"
            );
            for other in algorithms.iter().filter(|other| *other != alg) {
                assert!(
                    !verifier.verifies(*other, INPUT, signature),
                    "{alg}'s signature accepted as {other}"
                );
            }
        }
        // ES256 with a P-384 key, and a P-256 key with ES384: refused before any check.
        let p384_key = VerificationKey::from_jwk(&jwk_of(&p384)).unwrap();
        assert!(!p384_key.verifies(
            Algorithm::ES256,
            INPUT,
            &raw_ecdsa(&p384, MessageDigest::sha256(), 48, INPUT)
        ));
        // Another key's signature.
        let other = VerificationKey::from_jwk(&jwk_of(&ec(Nid::X9_62_PRIME256V1))).unwrap();
        assert!(!other.verifies(Algorithm::ES256, INPUT, &cases[6].2));
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
        let keys = PreparedKeys::default();
        let (first, second) = (rsa(), rsa());
        let mut jwk = jwk_of(&first);
        jwk["kid"] = "k1".into();
        let jwk = Arc::new(jwk);
        let signature = Signer::new(MessageDigest::sha256(), &first)
            .unwrap()
            .sign_oneshot_to_vec(INPUT)
            .unwrap();
        assert!(keys
            .get(&jwk)
            .unwrap()
            .verifies(Algorithm::RS256, INPUT, &signature));
        assert!(keys
            .get(&jwk)
            .unwrap()
            .verifies(Algorithm::RS256, INPUT, &signature));
        assert_eq!(keys.len(), 1, "parsed once");
        // The same JWK at another address (a refreshed key set) is known too.
        let copy = Arc::new(Value::clone(&jwk));
        assert!(keys
            .get(&copy)
            .unwrap()
            .verifies(Algorithm::RS256, INPUT, &signature));
        assert_eq!(keys.len(), 1);
        // The issuer's key set now has another key under the same kid.
        let mut replaced = jwk_of(&second);
        replaced["kid"] = "k1".into();
        let replaced = Arc::new(replaced);
        assert!(!keys
            .get(&replaced)
            .unwrap()
            .verifies(Algorithm::RS256, INPUT, &signature));
        assert_eq!(keys.len(), 2);
    }

    /// A signed compact JWS over `{"alg": alg}` and `{}`.
    fn signed(key: &PKey<Private>, alg: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(json!({ "alg": alg }).to_string()),
            URL_SAFE_NO_PAD.encode("{}")
        );
        let signature = Signer::new(MessageDigest::sha256(), key)
            .unwrap()
            .sign_oneshot_to_vec(input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// The key/algorithm fit is part of verification, for every caller: a key whose `use` is not
    /// `sig`, or whose `alg` is another algorithm, never verifies, even when its signature would.
    #[test]
    fn verification_honours_the_jwks_use_and_alg() {
        let key = rsa();
        let token = signed(&key, "RS256");
        let jws = Jws::parse(&token, 8192).unwrap();
        let plain = jwk_of(&key);
        assert_eq!(
            verify_with_any(&jws, Algorithm::RS256, std::slice::from_ref(&plain)),
            Verification::Verified
        );
        let prepared = PreparedKeys::default();
        for (member, value) in [("use", "enc"), ("alg", "PS256")] {
            let mut restricted = plain.clone();
            restricted[member] = json!(value);
            assert_eq!(
                verify_with_any(&jws, Algorithm::RS256, &[restricted.clone()]),
                Verification::NoFittingKey,
                "{member}"
            );
            assert_eq!(
                prepared.verify(&jws, Algorithm::RS256, &[Arc::new(restricted)]),
                Verification::NoFittingKey,
                "{member}"
            );
        }
        let mut declared = plain.clone();
        declared["alg"] = json!("RS256");
        declared["use"] = json!("sig");
        assert_eq!(
            prepared.verify(&jws, Algorithm::RS256, &[Arc::new(declared)]),
            Verification::Verified
        );
        // The wrong key: fits, does not verify. A key of another family does not fit.
        assert_eq!(
            verify_with_any(&jws, Algorithm::RS256, &[jwk_of(&rsa())]),
            Verification::BadSignature
        );
        assert_eq!(
            verify_with_any(&jws, Algorithm::ES256, &[plain]),
            Verification::NoFittingKey
        );
    }

    #[test]
    fn rsa_public_key() {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let pem = String::from_utf8(key.public_key_to_pem().unwrap()).unwrap();
        let jwk = jwk_from_pem(&pem).unwrap();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["e"], "AQAB");
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256);
        assert!(jwk.get("x5t#S256").is_none());
        assert_eq!(jwk["kid"].as_str().unwrap().len(), 43);
    }

    #[test]
    fn ec_coordinates_are_padded_to_the_field_size() {
        for (nid, crv, size) in [
            (Nid::X9_62_PRIME256V1, "P-256", 32),
            (Nid::SECP384R1, "P-384", 48),
        ] {
            // Enough keys that some coordinate has a leading zero byte.
            for _ in 0..40 {
                let group = EcGroup::from_curve_name(nid).unwrap();
                let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
                let pem = String::from_utf8(key.public_key_to_pem().unwrap()).unwrap();
                let jwk = jwk_from_pem(&pem).unwrap();
                assert_eq!(jwk["crv"], crv);
                for c in ["x", "y"] {
                    let bytes = URL_SAFE_NO_PAD.decode(jwk[c].as_str().unwrap()).unwrap();
                    assert_eq!(bytes.len(), size);
                }
            }
        }
    }

    #[test]
    fn ed25519_and_garbage() {
        let key = PKey::generate_ed25519().unwrap();
        let pem = String::from_utf8(key.public_key_to_pem().unwrap()).unwrap();
        let jwk = jwk_from_pem(&pem).unwrap();
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(jwk["x"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert!(jwk_from_pem("not a key").is_err());
    }
}
