//! The test identity provider: its RSA key, self-signed certificate and JWKS (made here, or read
//! from a directory written earlier), and the RS256 assertions it signs before the clock starts.
//! Every assertion carries a fresh random `jti`; this module never hands out one twice.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use openssl::x509::{X509NameBuilder, X509};
use serde_json::{json, Value};

pub const KEY_FILE: &str = "idp.key.pem";
pub const CERT_FILE: &str = "idp.cert.pem";
pub const JWKS_FILE: &str = "idp.jwks.json";

/// Seconds an assertion is valid from its `iat` (Grantor allows up to 24 hours by default).
const ASSERTION_LIFETIME_SECONDS: u64 = 3000;

/// An RSA 2048 key pair and its self-signed certificate. The `kid` is the base64url SHA-256 of the
/// certificate (DER), the name Grantor gives a certificate key, so the same value works in a JWKS.
pub struct IdpKey {
    pub private: PKey<Private>,
    pub certificate: X509,
    pub kid: String,
}

impl IdpKey {
    pub fn generate() -> anyhow::Result<IdpKey> {
        let private = PKey::from_rsa(Rsa::generate(2048)?)?;
        let mut subject = X509NameBuilder::new()?;
        subject.append_entry_by_text("CN", "bench-idp")?;
        let subject = subject.build();
        let mut serial = BigNum::new()?;
        serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
        let mut builder = X509::builder()?;
        builder.set_version(2)?;
        builder.set_serial_number(serial.to_asn1_integer()?.as_ref())?;
        builder.set_subject_name(&subject)?;
        builder.set_issuer_name(&subject)?;
        builder.set_pubkey(&private)?;
        builder.set_not_before(Asn1Time::days_from_now(0)?.as_ref())?;
        builder.set_not_after(Asn1Time::days_from_now(365)?.as_ref())?;
        builder.sign(&private, MessageDigest::sha256())?;
        Self::from_parts(private, builder.build())
    }

    /// Reads `idp.key.pem` and `idp.cert.pem` from `dir` (as `write` left them).
    pub fn load(dir: &Path) -> anyhow::Result<IdpKey> {
        let read = |name: &str| -> anyhow::Result<Vec<u8>> {
            let path = dir.join(name);
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
        };
        let private = PKey::private_key_from_pem(&read(KEY_FILE)?)
            .with_context(|| format!("{}: not a PEM private key", dir.join(KEY_FILE).display()))?;
        if private.rsa().is_err() {
            bail!("{}: not an RSA key", dir.join(KEY_FILE).display());
        }
        let certificate = X509::from_pem(&read(CERT_FILE)?)
            .with_context(|| format!("{}: not a PEM certificate", dir.join(CERT_FILE).display()))?;
        if !certificate.public_key()?.public_eq(&private) {
            bail!(
                "{}: does not match {KEY_FILE}",
                dir.join(CERT_FILE).display()
            );
        }
        Self::from_parts(private, certificate)
    }

    fn from_parts(private: PKey<Private>, certificate: X509) -> anyhow::Result<IdpKey> {
        let kid = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(&certificate.to_der()?));
        Ok(IdpKey {
            private,
            certificate,
            kid,
        })
    }

    /// Writes the key (PKCS#8 PEM), the certificate (PEM) and the JWKS into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let write = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
            let path = dir.join(name);
            std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
        };
        write(KEY_FILE, &self.private.private_key_to_pem_pkcs8()?)?;
        write(CERT_FILE, &self.certificate.to_pem()?)?;
        write(
            JWKS_FILE,
            serde_json::to_string_pretty(&self.jwks()?)?.as_bytes(),
        )
    }

    /// Writes only the certificate, for `grantor idp add --certificate`; returns its path.
    pub fn write_certificate(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let path = dir.join(CERT_FILE);
        std::fs::write(&path, self.certificate.to_pem()?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// The public key as a JWK set with this key's `kid` (what node-oidc-provider's IDP_JWKS
    /// reads).
    pub fn jwks(&self) -> anyhow::Result<Value> {
        let rsa = self.private.rsa()?;
        Ok(json!({"keys": [{
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(rsa.n().to_vec()),
            "e": URL_SAFE_NO_PAD.encode(rsa.e().to_vec()),
        }]}))
    }
}

/// What every assertion of a run says, apart from its `jti`.
#[derive(Debug, Clone)]
pub struct AssertionClaims {
    pub issuer: String,
    pub subject: String,
    pub audience: String,
}

pub struct Minted {
    pub assertions: Vec<String>,
    pub took: Duration,
}

/// Signs `count` RS256 assertions on every core. `iat` is now, `exp` now + 3000 s, `jti` 128
/// random bits.
pub fn mint_assertions(
    key: &IdpKey,
    claims: &AssertionClaims,
    count: usize,
) -> anyhow::Result<Minted> {
    let started = Instant::now();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    let header = URL_SAFE_NO_PAD.encode(
        json!({"alg": "RS256", "typ": "JWT", "kid": key.kid})
            .to_string()
            .as_bytes(),
    );
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(count.max(1));
    let share = count.div_ceil(threads);
    let parts: Vec<anyhow::Result<Vec<String>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let n = share.min(count.saturating_sub(i * share));
                let header = &header;
                scope.spawn(move || -> anyhow::Result<Vec<String>> {
                    (0..n)
                        .map(|_| sign_assertion(key, header, claims, now))
                        .collect()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a minting thread panicked")))
            })
            .collect()
    });
    let mut assertions = Vec::with_capacity(count);
    for part in parts {
        assertions.extend(part?);
    }
    Ok(Minted {
        assertions,
        took: started.elapsed(),
    })
}

/// Mints one assertion now (setup requests in attach mode, where a retry needs a fresh `jti`).
pub fn mint_one(key: &IdpKey, claims: &AssertionClaims) -> anyhow::Result<String> {
    let mut minted = mint_assertions(key, claims, 1)?;
    minted
        .assertions
        .pop()
        .context("minting produced no assertion")
}

fn sign_assertion(
    key: &IdpKey,
    header: &str,
    claims: &AssertionClaims,
    now: u64,
) -> anyhow::Result<String> {
    let mut jti = [0u8; 16];
    openssl::rand::rand_bytes(&mut jti)?;
    let payload = json!({
        "iss": claims.issuer,
        "sub": claims.subject,
        "aud": claims.audience,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_SECONDS,
        "jti": URL_SAFE_NO_PAD.encode(jti),
    });
    let input = format!(
        "{header}.{}",
        URL_SAFE_NO_PAD.encode(payload.to_string().as_bytes())
    );
    let mut signer = Signer::new(MessageDigest::sha256(), &key.private)?;
    signer.update(input.as_bytes())?;
    let signature = signer.sign_to_vec()?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// A random lowercase hex string of `bytes` random bytes (tenant names, client names).
pub fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    openssl::rand::rand_bytes(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::sign::Verifier;

    fn claims() -> AssertionClaims {
        AssertionClaims {
            issuer: "https://idp.bench".into(),
            subject: "alice".into(),
            audience: "http://127.0.0.1:1/t/x/oauth2/token".into(),
        }
    }

    #[test]
    fn assertions_verify_and_carry_distinct_jtis() {
        let key = IdpKey::generate().expect("key");
        let minted = mint_assertions(&key, &claims(), 5).expect("mint");
        assert_eq!(minted.assertions.len(), 5);
        let mut jtis = std::collections::HashSet::new();
        for assertion in &minted.assertions {
            let (input, signature) = assertion.rsplit_once('.').expect("three parts");
            let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
            let mut verifier = Verifier::new(MessageDigest::sha256(), &key.private).expect("v");
            verifier.update(input.as_bytes()).expect("update");
            assert!(verifier.verify(&signature).expect("verify"));
            let payload = input.split('.').nth(1).expect("payload");
            let payload: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64"))
                    .expect("json");
            assert_eq!(payload["aud"], "http://127.0.0.1:1/t/x/oauth2/token");
            assert_eq!(
                payload["exp"].as_u64().expect("exp") - payload["iat"].as_u64().expect("iat"),
                ASSERTION_LIFETIME_SECONDS
            );
            assert!(jtis.insert(payload["jti"].as_str().expect("jti").to_owned()));
        }
    }

    #[test]
    fn written_key_set_loads_back_with_the_same_kid() {
        let dir = tempfile::tempdir().expect("dir");
        let key = IdpKey::generate().expect("key");
        key.write(dir.path()).expect("write");
        let loaded = IdpKey::load(dir.path()).expect("load");
        assert_eq!(loaded.kid, key.kid);
        let jwks: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(JWKS_FILE)).expect("read"))
                .expect("json");
        assert_eq!(jwks["keys"][0]["kid"], key.kid.as_str());
        assert_eq!(jwks["keys"][0]["e"], "AQAB");
    }
}
