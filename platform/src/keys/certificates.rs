//! Reading an identity provider's verification key as an operator hands it over: a PEM
//! certificate or public key, or a DER certificate (`.crt`/`.cer` files are often DER). Everything
//! is normalised to PEM at registration, and only asymmetric keys a JWT may be verified with are
//! accepted (RSA, EC P-256/P-384, Ed25519).

use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::x509::X509;

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("not a PEM or DER certificate, nor a PEM public key")]
    Unreadable,
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    #[error("{0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

/// A key `grantor_jose` could not read, in this module's terms (the same three cases).
impl From<grantor_jose::KeyError> for CertificateError {
    fn from(error: grantor_jose::KeyError) -> CertificateError {
        match error {
            grantor_jose::KeyError::Unreadable => CertificateError::Unreadable,
            grantor_jose::KeyError::UnsupportedKey(what) => CertificateError::UnsupportedKey(what),
            grantor_jose::KeyError::OpenSsl(stack) => CertificateError::OpenSsl(stack),
        }
    }
}

/// A verification key ready to store: PEM text and a SHA-256 fingerprint of its DER form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalisedKey {
    pub pem: String,
    pub fingerprint: String,
    pub description: String,
    /// A certificate's `notAfter`; a bare public key has none.
    pub validity: Option<Validity>,
}

/// A certificate this close to its `notAfter` is warned about.
const WARN_DAYS: i64 = 30;

/// A certificate's last valid moment, as a Unix time and as openssl prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validity {
    pub not_after: i64,
    pub not_after_text: String,
}

impl Validity {
    pub fn of(certificate: &openssl::x509::X509Ref) -> Result<Validity, CertificateError> {
        let epoch = openssl::asn1::Asn1Time::from_unix(0)?;
        let since_epoch = epoch.diff(certificate.not_after())?;
        Ok(Validity {
            not_after: i64::from(since_epoch.days) * 86_400 + i64::from(since_epoch.secs),
            not_after_text: certificate.not_after().to_string(),
        })
    }

    /// Past `notAfter` (RFC 5280 4.1.2.5: valid through that second, inclusive).
    pub fn expired_at(&self, now: i64) -> bool {
        now > self.not_after
    }

    /// Past `notAfter`, or within `WARN_DAYS` of it: time to register a successor.
    pub fn needs_successor(&self, now: i64) -> bool {
        self.expired_at(now) || self.not_after - now < WARN_DAYS * 86_400
    }

    /// What `idp add` and `idp show` print about it, with a warning when it is near or past.
    pub fn describe(&self, now: i64) -> String {
        if self.expired_at(now) {
            format!(
                "EXPIRED on {}: assertions signed with it are refused",
                self.not_after_text
            )
        } else if self.needs_successor(now) {
            format!(
                "expires {}, in less than {WARN_DAYS} days: register its successor before then",
                self.not_after_text
            )
        } else {
            format!("valid until {}", self.not_after_text)
        }
    }
}

/// The `notAfter` of a stored PEM certificate; `None` for a public key.
/// The certificates in the PEM file `path`, at least one (a CA bundle, a chain); errors name the
/// `setting` the path came from.
pub fn read_pem_certificates(path: &std::path::Path, setting: &str) -> anyhow::Result<Vec<X509>> {
    use anyhow::Context;
    let pem = std::fs::read(path)
        .with_context(|| format!("{setting}: cannot read {}", path.display()))?;
    X509::stack_from_pem(&pem)
        .ok()
        .filter(|certificates| !certificates.is_empty())
        .with_context(|| format!("{setting}: no PEM certificate in {}", path.display()))
}

pub fn validity_of_pem(pem: &str) -> Option<Validity> {
    let certificate = X509::from_pem(pem.as_bytes()).ok()?;
    Validity::of(&certificate).ok()
}

/// Accepts PEM certificates (the first of a chain), PEM public keys, and DER certificates.
pub fn normalise_verification_key(bytes: &[u8]) -> Result<NormalisedKey, CertificateError> {
    let looks_pem = bytes.windows(11).any(|w| w == b"-----BEGIN ");
    if looks_pem {
        if let Ok(mut chain) = X509::stack_from_pem(bytes) {
            if !chain.is_empty() {
                return from_certificate(chain.remove(0));
            }
        }
        if let Ok(key) = PKey::public_key_from_pem(bytes) {
            let pem = String::from_utf8_lossy(&key.public_key_to_pem()?).into_owned();
            let der = key.public_key_to_der()?;
            return Ok(NormalisedKey {
                description: describe_key(&key)?,
                pem,
                fingerprint: fingerprint(&der),
                validity: None,
            });
        }
        return Err(CertificateError::Unreadable);
    }
    let certificate = X509::from_der(bytes).map_err(|_| CertificateError::Unreadable)?;
    from_certificate(certificate)
}

fn from_certificate(certificate: X509) -> Result<NormalisedKey, CertificateError> {
    let key = certificate.public_key()?;
    let description = describe_key(&key)?;
    let subject = certificate
        .subject_name()
        .entries()
        .filter_map(|e| e.data().to_string().ok())
        .collect::<Vec<_>>()
        .join(", ");
    Ok(NormalisedKey {
        pem: String::from_utf8_lossy(&certificate.to_pem()?).into_owned(),
        fingerprint: fingerprint(&certificate.to_der()?),
        description: format!("certificate '{subject}', {description}"),
        validity: Some(Validity::of(&certificate)?),
    })
}

/// Refuses keys no JWS algorithm we accept could be verified with.
fn describe_key(key: &PKey<Public>) -> Result<String, CertificateError> {
    match key.id() {
        Id::RSA => {
            let bits = key.bits();
            if bits < 2048 {
                return Err(CertificateError::UnsupportedKey(format!(
                    "RSA key of {bits} bits; at least 2048 required"
                )));
            }
            Ok(format!("RSA {bits}"))
        }
        Id::EC => {
            let curve = key.ec_key()?.group().curve_name();
            match curve {
                Some(Nid::X9_62_PRIME256V1) => Ok("EC P-256".into()),
                Some(Nid::SECP384R1) => Ok("EC P-384".into()),
                other => Err(CertificateError::UnsupportedKey(format!(
                    "EC curve {other:?}; P-256 or P-384 required"
                ))),
            }
        }
        Id::ED25519 => Ok("Ed25519".into()),
        other => Err(CertificateError::UnsupportedKey(format!(
            "key type {other:?}"
        ))),
    }
}

fn fingerprint(der: &[u8]) -> String {
    openssl::sha::sha256(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A self-signed certificate for `key`, valid from now for `days` (tests elsewhere need one too).
#[cfg(test)]
pub(crate) fn test_certificate(key: &PKey<openssl::pkey::Private>, days: u32) -> X509 {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::x509::X509NameBuilder;
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "test-idp").unwrap();
    let name = name.build();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(&name).unwrap();
    builder.set_pubkey(key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(days).unwrap())
        .unwrap();
    builder.sign(key, MessageDigest::sha256()).unwrap();
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::pkey::Private;
    use openssl::rsa::Rsa;
    use openssl::x509::X509;

    fn self_signed(key: &PKey<Private>) -> X509 {
        test_certificate(key, 1)
    }

    #[test]
    fn pem_and_der_certificates_and_public_keys() {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let cert = self_signed(&key);
        let from_pem = normalise_verification_key(&cert.to_pem().unwrap()).unwrap();
        let from_der = normalise_verification_key(&cert.to_der().unwrap()).unwrap();
        assert_eq!(from_pem, from_der, "DER is converted to the same PEM");
        assert!(from_pem.pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(
            from_pem.description.contains("test-idp") && from_pem.description.contains("RSA 2048")
        );
        let public = normalise_verification_key(&key.public_key_to_pem().unwrap()).unwrap();
        assert!(public.pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert!(public.validity.is_none() && validity_of_pem(&public.pem).is_none());

        let ec = PKey::from_ec_key(
            EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
        )
        .unwrap();
        let ec_cert = normalise_verification_key(&self_signed(&ec).to_der().unwrap()).unwrap();
        assert!(ec_cert.description.contains("EC P-256"));
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            normalise_verification_key(b"hello"),
            Err(CertificateError::Unreadable)
        ));
        assert!(matches!(
            normalise_verification_key(
                b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"
            ),
            Err(CertificateError::Unreadable)
        ));
        let weak = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        assert!(matches!(
            normalise_verification_key(&weak.public_key_to_pem().unwrap()),
            Err(CertificateError::UnsupportedKey(_))
        ));
    }

    #[test]
    fn validity_is_read_and_described() {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let cert = self_signed(&key);
        let validity =
            validity_of_pem(&String::from_utf8(cert.to_pem().unwrap()).unwrap()).unwrap();
        let now = crate::clock::now_unix();
        // days_from_now(1): one day ahead, within the minute the test took.
        assert!(
            (validity.not_after - (now + 86_400)).abs() < 60,
            "{validity:?}"
        );
        assert!(!validity.expired_at(validity.not_after));
        assert!(validity.expired_at(validity.not_after + 1));
        assert!(validity.describe(now).contains("in less than 30 days"));
        assert!(validity
            .describe(validity.not_after - 40 * 86_400)
            .starts_with("valid until"));
        assert!(validity
            .describe(validity.not_after + 1)
            .starts_with("EXPIRED on"));
    }
}
