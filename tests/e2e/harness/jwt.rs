//! JWTs made and read by the tests: identity-provider keys and certificates generated at test
//! time, assertions signed here (including the malformed and hostile ones no library would
//! produce), and the server's signed tokens verified as a relying party would: the key its `kid`
//! names in the tenant's JWKS, fetched over HTTP, with jsonwebtoken (aws-lc), not the server's own
//! signing code (openssl).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};
use serde_json::{json, Value};

use super::{Reply, Server};

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An identity provider's key pair and self-signed certificate, made at test time.
pub struct IdpKey {
    pub private: PKey<Private>,
    pub algorithm: Algorithm,
    pub certificate_path: PathBuf,
    /// The public key, PEM (what an attacker might use as an HMAC secret).
    pub public_pem: Vec<u8>,
    /// base64url SHA-256 of the certificate: the `kid` the host gives this key.
    pub thumbprint: String,
}

impl IdpKey {
    pub fn rsa(dir: &Path, name: &str) -> IdpKey {
        Self::from_key(
            dir,
            name,
            PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(),
            Algorithm::RS256,
        )
    }

    pub fn ec_p256(dir: &Path, name: &str) -> IdpKey {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        Self::from_key(dir, name, key, Algorithm::ES256)
    }

    pub fn ed25519(dir: &Path, name: &str) -> IdpKey {
        Self::from_key(
            dir,
            name,
            PKey::generate_ed25519().unwrap(),
            Algorithm::EdDSA,
        )
    }

    /// An RSA key whose certificate's validity ended yesterday.
    pub fn rsa_expired(dir: &Path, name: &str) -> IdpKey {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let day = 86_400;
        let validity = (now() - 30 * day, now() - day);
        Self::with_validity(dir, name, key, Algorithm::RS256, validity)
    }

    fn from_key(dir: &Path, name: &str, private: PKey<Private>, algorithm: Algorithm) -> IdpKey {
        let validity = (now(), now() + 86_400);
        Self::with_validity(dir, name, private, algorithm, validity)
    }

    /// `validity`: the certificate's notBefore and notAfter, as Unix times.
    fn with_validity(
        dir: &Path,
        name: &str,
        private: PKey<Private>,
        algorithm: Algorithm,
        validity: (i64, i64),
    ) -> IdpKey {
        let mut subject = X509NameBuilder::new().unwrap();
        subject.append_entry_by_text("CN", name).unwrap();
        let subject = subject.build();
        let mut builder = X509::builder().unwrap();
        builder.set_version(2).unwrap();
        builder.set_subject_name(&subject).unwrap();
        builder.set_issuer_name(&subject).unwrap();
        builder.set_pubkey(&private).unwrap();
        builder
            .set_not_before(&Asn1Time::from_unix(validity.0).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::from_unix(validity.1).unwrap())
            .unwrap();
        // Ed25519 signs without a separate digest.
        let digest = if algorithm == Algorithm::EdDSA {
            MessageDigest::null()
        } else {
            MessageDigest::sha256()
        };
        builder.sign(&private, digest).unwrap();
        let certificate = builder.build();
        let certificate_path = dir.join(format!("{name}.crt"));
        std::fs::write(&certificate_path, certificate.to_pem().unwrap()).unwrap();
        // The same certificate in DER (`.cer` files often are).
        std::fs::write(
            dir.join(format!("{name}.cer")),
            certificate.to_der().unwrap(),
        )
        .unwrap();
        let thumbprint =
            URL_SAFE_NO_PAD.encode(openssl::sha::sha256(&certificate.to_der().unwrap()));
        IdpKey {
            public_pem: private.public_key_to_pem().unwrap(),
            private,
            algorithm,
            certificate_path,
            thumbprint,
        }
    }

    /// Writes the private key (PKCS#8 PEM) for `grantor assertion mint`.
    pub fn write_private_key(&self, path: &Path) {
        std::fs::write(path, self.private.private_key_to_pem_pkcs8().unwrap()).unwrap();
    }

    pub fn encoding_key(&self) -> EncodingKey {
        let pem = self.private.private_key_to_pem_pkcs8().unwrap();
        match self.algorithm {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem).unwrap(),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem).unwrap(),
            _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
        }
    }

    /// A compact JWS of exactly these header and claims, signed with this key under `alg`.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let alg: Algorithm = header["alg"].as_str().unwrap().parse().unwrap();
        sign_raw(
            &header.to_string(),
            &claims.to_string(),
            alg,
            &self.encoding_key(),
        )
    }

    /// Signs `claims` under this key's own algorithm with a plain header.
    pub fn assertion(&self, claims: &Value) -> String {
        let alg = match self.algorithm {
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
            _ => "EdDSA",
        };
        self.sign(&json!({"alg": alg, "typ": "JWT"}), claims)
    }
}

/// Signs the exact header and payload text given (duplicates, odd types and all).
pub fn sign_raw(header: &str, claims: &str, alg: Algorithm, key: &EncodingKey) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).unwrap();
    format!("{input}.{signature}")
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl IdpKey {
    /// This key as a JWK with the given `kid`.
    pub fn jwk(&self, kid: &str) -> Value {
        let rsa = self.private.rsa().expect("JWKs are made for RSA keys here");
        json!({
            "kty": "RSA",
            "kid": kid,
            "use": "sig",
            "n": b64(&rsa.n().to_vec()),
            "e": b64(&rsa.e().to_vec()),
        })
    }

    /// Signs `claims` with RS256 and this `kid`.
    pub fn assertion_with_kid(&self, kid: &str, claims: &Value) -> String {
        self.sign(&json!({"alg": "RS256", "kid": kid}), claims)
    }
}

/// Verifies `token` (header `typ` must be `typ`) against the JWKS at `jwks_path`, requiring
/// `audience` among its audiences; returns the claims.
pub fn verified(server: &Server, jwks_path: &str, token: &str, typ: &str, audience: &str) -> Value {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some(typ));
    let kid = header.kid.clone().unwrap();
    let jwks = server.get(jwks_path).json;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} not in {jwks}"))
        .clone();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

/// The `access_token` of a successful token response.
pub fn access_token(reply: &Reply) -> String {
    reply.assert_token()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The `kid` in a JWT's header.
pub fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// A JWT's claims, unverified (what it says, for comparing).
pub fn unverified_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// `token` with its `scope` claim replaced by `scope` and its signature kept: what a client
/// that raised its own rights would send.
pub fn with_scope_forged(token: &str, scope: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["scope"] = json!(scope);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{}.{payload}.{}", parts[0], parts[2])
}
