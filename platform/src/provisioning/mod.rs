//! What operators provision (tenants, clients, identity providers, users, signing keys), with the
//! validation the command line and the admin API share: both call these functions, so a value
//! one refuses the other refuses too, with the same reason.
//!
//! Each change is recorded in the audit log (`crate::audit`) with the `Actor` its caller names,
//! right after it succeeded: the store's changes commit on their own, so the entry is a second
//! write. If that write fails the change stands, and the caller gets `NotAudited`, which says so,
//! rather than a silent gap in the log.

pub mod clients;
pub mod identity_providers;
pub mod keys;
pub mod redirect_uris;
pub mod tenants;
pub mod users;

use crate::audit::{Actor, Change};
use crate::oauth::context::OAuthContext;
use crate::store::StoreError;

/// A field of a provisioning request, as the admin API's JSON and the command line name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub flag: &'static str,
}

macro_rules! fields {
    ($($constant:ident = $name:literal, $flag:literal;)*) => {
        $(pub const $constant: Field = Field { name: $name, flag: $flag };)*
    };
}

pub mod field {
    use super::Field;
    fields! {
        DOMAIN = "domain", "DOMAIN";
        NAME = "name", "--name";
        GRANT_TYPES = "grant_types", "--grant-types";
        SCOPES = "scopes", "--scopes";
        AUDIENCES = "audiences", "--audience";
        TOKEN_FORMAT = "token_format", "--token-format";
        CERTIFICATES = "certificates", "--certificate";
        JWKS_URI = "jwks_uri", "--jwks-uri";
        REDIRECT_URIS = "redirect_uris", "--redirect-uri";
        POST_LOGOUT_REDIRECT_URIS = "post_logout_redirect_uris", "--post-logout-redirect-uri";
        CONSENT = "consent", "--consent";
        ISSUER = "issuer", "--issuer";
        ALIASES = "aliases", "--alias";
        CLOCK_SKEW = "clock_skew", "--clock-skew";
        ALLOWED_SCOPES = "allowed_scopes", "--allowed-scope";
        CLAIM_MAPPINGS = "claim_mappings", "--claim-mapping";
        TRANSFORMER = "transformer", "--transformer";
        SCOPE_CLAIM = "scope_claim", "--scope-claim";
        ALLOWED_SUBJECTS = "allowed_subjects", "--allowed-subject";
        SERVICE_ACCOUNT_CLIENT = "service_account_client", "--service-account-client";
        USERNAME = "username", "--username";
        PASSWORD = "password", "the password";
        CLAIMS = "claims", "--claim/--claim-json";
        CHANGES = "changes", "the options";
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    /// The request is wrong; `message` says how.
    #[error("{}: {message}", field.name)]
    Invalid { field: Field, message: String },
    /// The store refused (a duplicate, an unknown tenant) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server is too busy for this now (no turn to hash a password); retrying may succeed.
    #[error("{0}")]
    Busy(String),
    /// The change was made, but its audit entry could not be written.
    #[error(
        "{action} of '{target}' was made but could not be recorded in the audit log: {source}"
    )]
    NotAudited {
        action: &'static str,
        target: String,
        source: StoreError,
    },
}

impl ProvisioningError {
    pub fn invalid(field: Field, message: impl Into<String>) -> ProvisioningError {
        ProvisioningError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// The message with the command line's name for the field.
    pub fn for_command_line(&self) -> String {
        match self {
            ProvisioningError::Invalid { field, message } => format!("{}: {message}", field.flag),
            ProvisioningError::Store(e) => e.to_string(),
            ProvisioningError::Busy(why) => why.clone(),
            e @ ProvisioningError::NotAudited { .. } => e.to_string(),
        }
    }
}

pub type Result<T> = std::result::Result<T, ProvisioningError>;

/// Records `change`, made by `actor`, in the audit log; `NotAudited` if that fails.
fn audited(app: &OAuthContext, actor: &Actor, change: Change, now: i64) -> Result<()> {
    let (action, target) = (change.action, change.target.clone());
    crate::audit::record(&app.store, actor, change, now).map_err(|source| {
        ProvisioningError::NotAudited {
            action,
            target,
            source,
        }
    })
}

/// Trims, splits on white space, drops empties and duplicates, keeps order.
pub fn normalise_list(values: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values.iter().flat_map(|v| v.split_whitespace()) {
        if !out.iter().any(|o| o == v) {
            out.push(v.to_owned());
        }
    }
    out
}

/// A name or value stored as text: not empty, no control characters (PostgreSQL refuses NUL).
fn check_text(field: Field, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(ProvisioningError::invalid(field, "must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(ProvisioningError::invalid(
            field,
            format!(
                "'{}' must not contain control characters",
                value.escape_default()
            ),
        ));
    }
    Ok(())
}

/// Each scope's shape (RFC 6749 3.3).
fn check_scopes(field: Field, scopes: &[String]) -> Result<()> {
    if scopes.is_empty() {
        return Ok(());
    }
    crate::oauth::scopes::parse_scope(&scopes.join(" "))
        .map(|_| ())
        .map_err(|e| ProvisioningError::invalid(field, e.description))
}

fn check_jwks_uri(uri: &str) -> Result<()> {
    crate::keys::remote_jwks::check_jwks_uri(uri)
        .map(|_| ())
        .map_err(|reason| ProvisioningError::invalid(field::JWKS_URI, format!("{uri}: {reason}")))
}

/// Verification keys as given (PEM text from JSON, then PEM or DER bytes from files), each
/// normalised to PEM; the error names which one.
fn normalise_keys(texts: Vec<String>, files: Vec<Vec<u8>>) -> Result<Vec<String>> {
    texts
        .into_iter()
        .map(String::into_bytes)
        .chain(files)
        .collect::<Vec<_>>()
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            crate::keys::certificates::normalise_verification_key(bytes)
                .map(|key| key.pem)
                .map_err(|e| {
                    ProvisioningError::invalid(field::CERTIFICATES, format!("key {}: {e}", i + 1))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::App;
    use crate::store::AuditFilter;
    use diesel::connection::SimpleConnection;
    use diesel::Connection;

    /// The application on a SQLite database in `dir`.
    fn app(dir: &std::path::Path) -> (App, String) {
        let mut config = crate::config::Config::default();
        let path = dir.join("grantor.db").display().to_string();
        config.database.url = format!("sqlite://{path}");
        let kek = crate::keys::encryption_key::KeyEncryptionKey::from_bytes([7; 32], "test");
        (
            App::open_with(config, kek, Default::default()).unwrap(),
            path,
        )
    }

    fn new_tenant(domain: &str) -> tenants::NewTenant {
        tenants::NewTenant {
            domain: domain.to_owned(),
            name: None,
            qualified_subjects: false,
        }
    }

    #[test]
    fn a_change_is_audited_and_one_that_cannot_be_says_it_was_made() {
        let dir = tempfile::tempdir().unwrap();
        let (app, path) = app(dir.path());
        let actor = Actor::api(Some("192.0.2.1".parse().unwrap()));
        tenants::add(&app.oauth, new_tenant("acme.com"), 10, &actor).unwrap();
        let entries = app.oauth.store.list_audit(&AuditFilter::default()).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].action.as_str(), entries[0].target.as_str()),
            ("tenant.add", "acme.com")
        );
        assert_eq!(entries[0].actor, actor.who);

        // The log cannot be written: the change stands, and the caller is told so.
        diesel::SqliteConnection::establish(&path)
            .unwrap()
            .batch_execute("DROP TABLE audit_log")
            .unwrap();
        let error = tenants::add(&app.oauth, new_tenant("beta.example"), 11, &actor).unwrap_err();
        assert!(
            matches!(
                error,
                ProvisioningError::NotAudited {
                    action: "tenant.add",
                    ..
                }
            ),
            "{error}"
        );
        assert!(
            error
                .for_command_line()
                .contains("'beta.example' was made but could not be recorded in the audit log"),
            "{error}"
        );
        assert!(app
            .oauth
            .store
            .find_active_tenant("beta.example")
            .unwrap()
            .is_some());
        // A client's registration is answered all the same, with the warning: its secret is
        // in the answer only, and a refusal would lose it.
        let registered = clients::add(
            &app.oauth,
            "acme.com",
            clients::ClientRegistration {
                name: "web".into(),
                grant_types: vec!["client_credentials".into()],
                ..clients::ClientRegistration::default()
            },
            Vec::new(),
            12,
            &actor,
        )
        .unwrap();
        assert!(registered.client_secret.is_some());
        assert!(
            registered
                .warnings
                .iter()
                .any(|w| w.contains("could not be recorded in the audit log")),
            "{:?}",
            registered.warnings
        );
    }

    #[test]
    fn lists_are_normalised() {
        assert_eq!(
            normalise_list(vec!["a".into(), " b ".into(), "a".into(), "".into()]),
            ["a", "b"]
        );
    }

    #[test]
    fn errors_name_the_field_for_each_audience() {
        let e = ProvisioningError::invalid(field::CLAIM_MAPPINGS, "'aud' cannot be mapped");
        assert_eq!(e.to_string(), "claim_mappings: 'aud' cannot be mapped");
        assert_eq!(
            e.for_command_line(),
            "--claim-mapping: 'aud' cannot be mapped"
        );
    }
}
