//! A stored verification key (PEM certificate or public key) as a JWK (RFC 7517), the form keys
//! cross the plugin boundary in, whatever their source (certificate now, JWKS endpoint later).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::bn::{BigNum, BigNumContext};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::x509::X509;
use serde_json::{json, Value};

use super::certificates::CertificateError;

/// The JWK of a PEM certificate or public key. Its `kid` is the base64url SHA-256 thumbprint of
/// the certificate (also given as `x5t#S256`) or of the public key's DER form: stable, derived, and
/// what an issuer that names its certificate by thumbprint puts in its headers.
pub fn jwk_from_pem(pem: &str) -> Result<Value, CertificateError> {
    let (key, thumbprint_of, is_certificate) = match X509::from_pem(pem.as_bytes()) {
        Ok(certificate) => (certificate.public_key()?, certificate.to_der()?, true),
        Err(_) => {
            let key = PKey::public_key_from_pem(pem.as_bytes())
                .map_err(|_| CertificateError::Unreadable)?;
            let der = key.public_key_to_der()?;
            (key, der, false)
        }
    };
    let thumbprint = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(&thumbprint_of));
    let mut jwk = key_parameters(&key)?;
    jwk["kid"] = json!(thumbprint);
    jwk["use"] = json!("sig");
    if is_certificate {
        jwk["x5t#S256"] = json!(thumbprint);
    }
    Ok(jwk)
}

/// The public parameters of a key as a JWK (no `kid`, `use` or `alg`).
pub fn key_parameters(key: &PKey<Public>) -> Result<Value, CertificateError> {
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
                other => {
                    return Err(CertificateError::UnsupportedKey(format!(
                        "EC curve {other:?}"
                    )))
                }
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
        other => Err(CertificateError::UnsupportedKey(format!(
            "key type {other:?}"
        ))),
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::rsa::Rsa;

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
