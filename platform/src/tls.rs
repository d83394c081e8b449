//! HTTPS for the server's listener, through openssl. It allows TLS 1.2 or later, with Mozilla's
//! "intermediate" settings.
//!
//! The certificate and key come from `[server.tls]`. Without them, a pair is made on first start
//! in `<data_dir>/tls/`, as WSO2 ships a default keystore: a server certificate issued by a local CA
//! made for it (`ca.crt`, the file clients trust; the CA's key is not kept). The SHA-256
//! fingerprints are logged, so a client can check or pin them.
//!
//! `reload` reads the files again (the server calls it on SIGHUP). New connections get the new
//! certificate; open connections keep the one they started with. A new pair that does not load is
//! refused, and the old one keeps serving.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::ssl::{SslAcceptor, SslMethod, SslVersion};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509NameBuilder, X509};

use crate::config::Config;

pub struct ServerTls {
    certificate: PathBuf,
    private_key: PathBuf,
    current: RwLock<Loaded>,
}

#[derive(Clone)]
struct Loaded {
    acceptor: Arc<SslAcceptor>,
    fingerprint: String,
}

impl ServerTls {
    /// The configured pair, or the self-signed one in the data directory (made if missing).
    pub fn load(config: &Config) -> anyhow::Result<ServerTls> {
        let (certificate, private_key) = match configured_pair(config) {
            Some(pair) => pair,
            None => self_signed(
                &made_pair_dir(config),
                &config.server.public_base_url,
                config.server.bind.ip(),
            )?,
        };
        let loaded = load_pair(&certificate, &private_key)?;
        tracing::info!(
            certificate = %certificate.display(),
            sha256 = %loaded.fingerprint,
            "TLS certificate loaded"
        );
        Ok(ServerTls {
            certificate,
            private_key,
            current: RwLock::new(loaded),
        })
    }

    /// What new connections are accepted with.
    pub fn acceptor(&self) -> Arc<SslAcceptor> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .acceptor
            .clone()
    }

    /// The SHA-256 fingerprint of the certificate being served, `AB:CD:...`.
    pub fn fingerprint(&self) -> String {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .fingerprint
            .clone()
    }

    /// Reads the certificate and key again; on success new connections use them.
    pub fn reload(&self) -> anyhow::Result<String> {
        let loaded = load_pair(&self.certificate, &self.private_key)?;
        let fingerprint = loaded.fingerprint.clone();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = loaded;
        Ok(fingerprint)
    }
}

/// What `ServerTls::load` would serve, without making anything (`grantor check`): a summary line.
pub fn check(config: &Config) -> anyhow::Result<String> {
    let (certificate, private_key) = match configured_pair(config) {
        Some(pair) => pair,
        None => {
            let dir = made_pair_dir(config);
            let (certificate, key) = made_pair(&dir);
            if !(certificate.exists() && key.exists()) {
                return Ok(format!(
                    "a certificate is made on first start in {}",
                    dir.display()
                ));
            }
            (certificate, key)
        }
    };
    let loaded = load_pair(&certificate, &private_key)?;
    Ok(format!(
        "{} (sha256 {})",
        certificate.display(),
        loaded.fingerprint
    ))
}

/// `[server.tls]`'s certificate and key, when both are given.
fn configured_pair(config: &Config) -> Option<(PathBuf, PathBuf)> {
    let tls = &config.server.tls;
    Some((tls.certificate.clone()?, tls.private_key.clone()?))
}

/// Where the pair made on first start lives.
fn made_pair_dir(config: &Config) -> PathBuf {
    config.database.data_dir.join("tls")
}

/// The made pair's certificate and key files in `dir`.
fn made_pair(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("server.crt"), dir.join("server.key"))
}

fn load_pair(certificate: &Path, private_key: &Path) -> anyhow::Result<Loaded> {
    let mut chain =
        crate::keys::certificates::read_pem_certificates(certificate, "server.tls")?.into_iter();
    let key_pem = std::fs::read(private_key)
        .with_context(|| format!("server.tls: cannot read {}", private_key.display()))?;
    let key = PKey::private_key_from_pem(&key_pem).with_context(|| {
        format!(
            "server.tls: no PEM private key in {}",
            private_key.display()
        )
    })?;
    let leaf = chain
        .next()
        .context("server.tls: the certificate file is empty")?;
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    acceptor.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    acceptor.set_private_key(&key)?;
    acceptor.set_certificate(&leaf)?;
    for intermediate in chain {
        acceptor.add_extra_chain_cert(intermediate)?;
    }
    acceptor.check_private_key().with_context(|| {
        format!(
            "server.tls: {} is not the key of {}",
            private_key.display(),
            certificate.display()
        )
    })?;
    Ok(Loaded {
        acceptor: Arc::new(acceptor.build()),
        fingerprint: fingerprint(&leaf)?,
    })
}

/// `openssl x509 -fingerprint -sha256`'s form.
pub fn fingerprint(certificate: &X509) -> anyhow::Result<String> {
    let digest = certificate.digest(MessageDigest::sha256())?;
    Ok(digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// `dir/server.crt` and `dir/server.key`, made first if either is missing, with the certificate
/// authority that issued them in `dir/ca.crt`: that is the file clients are given to trust (every
/// TLS client accepts a CA; not all accept a self-signed server certificate). The CA's key is
/// not kept. EC P-256, valid for 825 days, for the host of `public_base_url`, `localhost`, the
/// loopback addresses and `bind`'s address when it is a specific one.
fn self_signed(
    dir: &Path,
    public_base_url: &str,
    bind: IpAddr,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (certificate_path, key_path) = made_pair(dir);
    let ca_path = dir.join("ca.crt");
    if certificate_path.exists() && key_path.exists() {
        return Ok((certificate_path, key_path));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let host = url::Url::parse(public_base_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_else(|| "localhost".to_owned());
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let ca_key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let name = |common_name: &str| -> anyhow::Result<openssl::x509::X509Name> {
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_text("CN", common_name)?;
        name.append_entry_by_text("O", "Grantor (self-signed)")?;
        Ok(name.build())
    };
    let started = |subject: &openssl::x509::X509NameRef,
                   key: &PKey<openssl::pkey::Private>|
     -> anyhow::Result<openssl::x509::X509Builder> {
        let mut builder = X509::builder()?;
        builder.set_version(2)?;
        let mut serial = BigNum::new()?;
        serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
        let serial = serial.to_asn1_integer()?;
        builder.set_serial_number(&serial)?;
        builder.set_subject_name(subject)?;
        builder.set_pubkey(key)?;
        let (not_before, not_after) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(825)?);
        builder.set_not_before(&not_before)?;
        builder.set_not_after(&not_after)?;
        Ok(builder)
    };
    let ca_name = name(&format!("Grantor local CA for {host}"))?;
    let mut ca = started(&ca_name, &ca_key)?;
    ca.set_issuer_name(&ca_name)?;
    ca.append_extension(BasicConstraints::new().critical().ca().pathlen(0).build()?)?;
    ca.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    ca.sign(&ca_key, MessageDigest::sha256())?;
    let ca = ca.build();

    let server_name = name(&host)?;
    let mut builder = started(&server_name, &key)?;
    builder.set_issuer_name(ca.subject_name())?;
    let mut ips: Vec<String> = vec!["127.0.0.1".into(), "::1".into()];
    let mut dns: Vec<String> = vec!["localhost".into()];
    match host.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(ip) => ips.push(ip.to_string()),
        Err(_) => dns.push(host.clone()),
    }
    if !bind.is_unspecified() {
        ips.push(bind.to_string());
    }
    ips.sort();
    ips.dedup();
    dns.sort();
    dns.dedup();
    let mut san = SubjectAlternativeName::new();
    for name in &dns {
        san.dns(name);
    }
    for ip in &ips {
        san.ip(ip);
    }
    let san = san.build(&builder.x509v3_context(Some(&ca), None))?;
    builder.append_extension(BasicConstraints::new().build()?)?;
    builder.append_extension(san)?;
    builder.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    builder.sign(&ca_key, MessageDigest::sha256())?;
    let certificate = builder.build();
    write_private(&key_path, &key.private_key_to_pem_pkcs8()?)?;
    std::fs::write(&ca_path, ca.to_pem()?)
        .with_context(|| format!("cannot write {}", ca_path.display()))?;
    std::fs::write(&certificate_path, certificate.to_pem()?)
        .with_context(|| format!("cannot write {}", certificate_path.display()))?;
    tracing::warn!(
        ca = %ca_path.display(),
        ca_sha256 = %fingerprint(&ca)?,
        names = %dns.iter().chain(&ips).cloned().collect::<Vec<_>>().join(" "),
        "made a self-signed TLS certificate: give clients the CA file to trust"
    );
    Ok((certificate_path, key_path))
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = crate::secrets::open_owner_only(path, true)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> Config {
        let mut config = Config::default();
        config.database.data_dir = dir.to_owned();
        config.server.public_base_url = "https://id.example.com:9443".into();
        config.server.tls.enabled = true;
        config
    }

    #[test]
    fn a_self_signed_pair_is_made_once_for_the_public_host() {
        let dir = tempfile::tempdir().unwrap();
        let tls = ServerTls::load(&config(dir.path())).unwrap();
        let certificate_pem = std::fs::read(dir.path().join("tls/server.crt")).unwrap();
        let certificate = X509::from_pem(&certificate_pem).unwrap();
        assert_eq!(fingerprint(&certificate).unwrap(), tls.fingerprint());
        let names: Vec<String> = certificate
            .subject_alt_names()
            .unwrap()
            .iter()
            .map(|n| {
                n.dnsname()
                    .map(str::to_owned)
                    .or_else(|| n.ipaddress().map(|ip| format!("{ip:?}")))
                    .unwrap()
            })
            .collect();
        assert!(names.contains(&"id.example.com".to_owned()), "{names:?}");
        assert!(names.contains(&"localhost".to_owned()), "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("tls/server.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second start reads the same pair.
        let again = ServerTls::load(&config(dir.path())).unwrap();
        assert_eq!(again.fingerprint(), tls.fingerprint());
    }

    #[test]
    fn a_broken_reload_keeps_the_old_pair() {
        let dir = tempfile::tempdir().unwrap();
        let tls = ServerTls::load(&config(dir.path())).unwrap();
        let before = tls.fingerprint();
        std::fs::write(dir.path().join("tls/server.crt"), "not a certificate").unwrap();
        let error = format!("{:#}", tls.reload().unwrap_err());
        assert!(error.contains("no PEM certificate"), "{error}");
        assert_eq!(tls.fingerprint(), before);
        // A key that is not the certificate's.
        let other = tempfile::tempdir().unwrap();
        ServerTls::load(&config(other.path())).unwrap();
        std::fs::copy(
            other.path().join("tls/server.crt"),
            dir.path().join("tls/server.crt"),
        )
        .unwrap();
        let error = format!("{:#}", tls.reload().unwrap_err());
        assert!(error.contains("is not the key of"), "{error}");
        assert_eq!(tls.fingerprint(), before);
    }
}
