//! `grantor assertion mint`: signs a test assertion (a JWT for the JWT bearer grant) with an
//! identity provider's private key, for trying the grant out and for scripts. It touches no
//! database; the key is read from a file and never printed.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use serde_json::{Map, Value};

/// Default assertion lifetime, in seconds: long enough to paste into a curl command.
const DEFAULT_LIFETIME_SECONDS: u32 = 300;

#[derive(Debug, Subcommand)]
pub enum AssertionCommand {
    /// Sign an assertion and print it (one line, nothing else).
    Mint {
        /// The identity provider's private key, PEM (RSA, EC P-256/P-384 or Ed25519).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// `iss`: the identity provider's issuer, as registered with `grantor idp add`.
        #[arg(long)]
        issuer: String,
        /// `sub`: the user (or service) the token will be issued for.
        #[arg(long)]
        subject: String,
        /// `aud`: the token endpoint URL or an alias of the identity provider. Repeatable.
        #[arg(long = "audience", value_name = "AUD", required = true)]
        audiences: Vec<String>,
        /// Seconds until `exp`.
        #[arg(long, default_value_t = DEFAULT_LIFETIME_SECONDS)]
        lifetime: u32,
        /// Signing algorithm (default: RS256, ES256, ES384 or EdDSA after the key).
        #[arg(long)]
        alg: Option<String>,
        /// `kid` header.
        #[arg(long)]
        kid: Option<String>,
        /// Leave out `jti` (by default a random one is set).
        #[arg(long)]
        no_jti: bool,
        /// An extra claim, `name=value`; a value that is valid JSON is taken as JSON. Repeatable.
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
    },
}

pub fn run_assertion(command: AssertionCommand) -> anyhow::Result<()> {
    let AssertionCommand::Mint {
        key,
        issuer,
        subject,
        audiences,
        lifetime,
        alg,
        kid,
        no_jti,
        claims,
    } = command;
    let pem = std::fs::read(&key).with_context(|| format!("cannot read {}", key.display()))?;
    let private = PKey::private_key_from_pem(&pem)
        .with_context(|| format!("{}: not a PEM private key", key.display()))?;
    let algorithm = choose_algorithm(&private, alg.as_deref())?;
    let encoding_key = encoding_key(&private, algorithm)?;

    let now = crate::clock::now_unix();
    let mut body = Map::new();
    body.insert("iss".into(), issuer.into());
    body.insert("sub".into(), subject.into());
    body.insert(
        "aud".into(),
        if audiences.len() == 1 {
            Value::from(audiences[0].clone())
        } else {
            Value::from(audiences)
        },
    );
    body.insert("iat".into(), now.into());
    body.insert("exp".into(), (now + i64::from(lifetime)).into());
    if !no_jti {
        body.insert("jti".into(), crate::secrets::random_token(16)?.into());
    }
    for claim in &claims {
        let (name, value) = claim
            .split_once('=')
            .with_context(|| format!("--claim '{claim}': expected NAME=VALUE"))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::from(value));
        body.insert(name.to_owned(), value);
    }
    let mut header = Header::new(algorithm);
    header.typ = Some("JWT".into());
    header.kid = kid;
    let token = jsonwebtoken::encode(&header, &body, &encoding_key).context("cannot sign")?;
    println!("{token}");
    Ok(())
}

fn choose_algorithm(key: &PKey<Private>, requested: Option<&str>) -> anyhow::Result<Algorithm> {
    let curve = || key.ec_key().ok().and_then(|k| k.group().curve_name());
    let (default, fits): (Algorithm, &[&str]) = match key.id() {
        Id::RSA => (
            Algorithm::RS256,
            &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
        ),
        Id::EC if curve() == Some(Nid::X9_62_PRIME256V1) => (Algorithm::ES256, &["ES256"]),
        Id::EC if curve() == Some(Nid::SECP384R1) => (Algorithm::ES384, &["ES384"]),
        Id::ED25519 => (Algorithm::EdDSA, &["EdDSA"]),
        _ => bail!("unsupported key: RSA, EC P-256/P-384 or Ed25519 required"),
    };
    match requested {
        None => Ok(default),
        Some(name) if fits.contains(&name) => name
            .parse()
            .with_context(|| format!("unknown algorithm {name}")),
        Some(name) => bail!(
            "--alg {name} does not fit this key (use one of: {})",
            fits.join(", ")
        ),
    }
}

/// jsonwebtoken wants PKCS#8 for EC and Ed25519 keys; openssl reads every PEM form and writes it.
fn encoding_key(key: &PKey<Private>, algorithm: Algorithm) -> anyhow::Result<EncodingKey> {
    let pkcs8 = key.private_key_to_pem_pkcs8()?;
    let encoding = match algorithm {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pkcs8),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pkcs8),
        _ => EncodingKey::from_rsa_pem(&pkcs8),
    };
    encoding.context("cannot use the key for signing")
}
