//! `grantor keys list|rotate|rewrap`: tenants' signing keys, their states and rotations, and the
//! key-encryption key they are sealed under. Private keys are never printed.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use super::{tenant_or_default, ForCommandLine, TenantArg};
use crate::app::App;
use crate::audit::{Actor, Change};
use crate::keys::encryption_key::KeyEncryptionKey;
use crate::oauth::context::OAuthContext;
use crate::oauth::tenant_keys::{rotation_delay, Rotated};
use crate::provisioning::keys;
use crate::store::KeyState;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List a tenant's signing keys with their states (next, current, retiring, retired) and
    /// when each changes.
    List {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long)]
        json: bool,
    },
    /// Publish a new key now; it signs once readers that cache the key set have fetched it
    /// again (oauth.signing.jwks_max_age_seconds plus rotation_margin_seconds). The old key signs
    /// until then and stays published until the tokens it signed expire.
    Rotate {
        #[command(flatten)]
        tenant: TenantArg,
        /// For a compromised key: the new key signs at once and every other key of the tenant is
        /// withdrawn from its JWKS at once (their tokens stop verifying, forgeries included).
        #[arg(long)]
        now: bool,
    },
    /// Move every stored private key (all tenants, and the gateway's key file if there is one) to
    /// a new key-encryption key in one transaction; then configure the new key on every node.
    #[command(group(clap::ArgGroup::new("new_key").required(true)))]
    Rewrap {
        /// File holding the new key (base64 of 32 random bytes: openssl rand -base64 32).
        #[arg(long, value_name = "FILE", group = "new_key")]
        new_key_file: Option<PathBuf>,
        /// Environment variable holding the new key.
        #[arg(long, value_name = "NAME", group = "new_key")]
        new_key_env: Option<String>,
    },
}

pub(super) fn run_keys(app: App, command: KeysCommand) -> anyhow::Result<()> {
    let now = crate::clock::now_unix();
    let actor = Actor::command_line();
    match command {
        KeysCommand::List { tenant, json } => {
            let tenant = tenant_or_default(&app.oauth, &tenant).to_owned();
            let rows = keys::list(&app.oauth, &tenant, now).for_cli()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("tenant '{tenant}' has no signing key yet (one is made on first use)");
            } else {
                for row in rows {
                    println!(
                        "{}\t{}\t{}\t{}",
                        row.kid,
                        row.algorithm,
                        row.state.as_str(),
                        describe_row(&row, now)
                    );
                }
            }
        }
        KeysCommand::Rotate {
            tenant,
            now: at_once,
        } => {
            let tenant = tenant_or_default(&app.oauth, &tenant).to_owned();
            let rotated = keys::rotate(&app.oauth, &tenant, now, at_once, &actor).for_cli()?;
            if at_once {
                println!(
                    "{}",
                    describe_immediate_rotation(&tenant, &rotated, &app.oauth)
                );
            } else {
                println!("{}", describe_rotation(&tenant, &rotated, &app.oauth, now));
            }
        }
        KeysCommand::Rewrap {
            new_key_file,
            new_key_env,
        } => {
            let new = match (new_key_file, new_key_env) {
                (Some(path), _) => KeyEncryptionKey::from_file(&path).context("--new-key-file")?,
                (None, Some(variable)) => {
                    KeyEncryptionKey::from_env(&variable).context("--new-key-env")?
                }
                (None, None) => anyhow::bail!("give --new-key-file or --new-key-env"),
            };
            rewrap(&app, &new, &actor)?;
        }
    }
    Ok(())
}

/// What a row's state means and when it changes.
fn describe_row(row: &keys::KeyRow, now: i64) -> String {
    match (row.state, row.changes_at) {
        (KeyState::Next, _) => format!("published; signs from {}", when(row.activates_at, now)),
        (KeyState::Current, Some(until)) => format!("signs until {}", when(until, now)),
        (KeyState::Current, None) => "signs".to_owned(),
        (KeyState::Retiring, Some(until)) => {
            format!("signs no more; published until {}", when(until, now))
        }
        (KeyState::Retiring, None) => "signs no more".to_owned(),
        (KeyState::Retired, _) => "not published".to_owned(),
    }
}

/// `T (Dec  3 10:00:00 2026 GMT, in 360 s)`.
pub(super) fn when(at: i64, now: i64) -> String {
    let date = openssl::asn1::Asn1Time::from_unix(at)
        .map(|t| format!("{}, ", &*t))
        .unwrap_or_default();
    let relative = if at >= now {
        format!("in {} s", at - now)
    } else {
        format!("{} s ago", now - at)
    };
    format!("{at} ({date}{relative})")
}

fn describe_rotation(tenant: &str, rotated: &Rotated, ctx: &OAuthContext, now: i64) -> String {
    let signing = &ctx.settings.signing;
    if rotated.replaced.is_empty() {
        return format!(
            "tenant '{tenant}' had no signing key: key {} signs now",
            rotated.kid
        );
    }
    let mut text = format!(
        "tenant '{tenant}': key {} is published now and signs from {}, once readers that cache \
         the key set have fetched it again (oauth.signing.jwks_max_age {} s + rotation_margin {} s \
         = {} s)",
        rotated.kid,
        when(rotated.activates_at, now),
        signing.jwks_max_age_seconds,
        signing.rotation_margin_seconds,
        rotation_delay(signing)
    );
    for (kid, published_until) in &rotated.replaced {
        text.push_str(&format!(
            "\nkey {kid} signs until then and stays published until {}, when every token it \
             signed has expired",
            when(*published_until, now)
        ));
    }
    text
}

/// What an immediate rotation breaks, said plainly.
fn describe_immediate_rotation(tenant: &str, rotated: &Rotated, ctx: &OAuthContext) -> String {
    let mut text = format!(
        "tenant '{tenant}': key {} signs now.\nVerifiers that cached the tenant's key set refuse \
         tokens signed by it until they fetch the key set again (at most \
         oauth.signing.jwks_max_age = {} s after their last fetch; sooner for those that refetch \
         on an unknown kid).",
        rotated.kid, ctx.settings.signing.jwks_max_age_seconds
    );
    if rotated.withdrawn.is_empty() {
        return text;
    }
    text.push_str(&format!(
        "\nWithdrawn from the JWKS now: {}. Tokens they signed (and anything forged with them) \
         stop verifying once verifiers fetch the key set again; clients holding such tokens must \
         get new ones.",
        rotated.withdrawn.join(", ")
    ));
    text
}

/// `grantor keys rewrap`: the gateway's key file is staged first, the database's keys move in
/// one transaction, then the staged file replaces the old one. What to do next is printed before
/// the move is recorded in the audit log, so that a failure to record it hides nothing.
fn rewrap(app: &App, new: &KeyEncryptionKey, actor: &Actor) -> anyhow::Result<()> {
    let old = &app.oauth.kek;
    if new.id() == old.id() {
        anyhow::bail!(
            "the new key-encryption key is the one configured now ({}): nothing to move",
            old.id()
        );
    }
    let gateway_file = crate::gateway::signing_key::configured_path(&app.config);
    let staged = crate::gateway::signing_key::prepare_rewrap(&gateway_file, old, new)
        .context("gateway.signing_key_file")?;
    let moved = crate::oauth::tenant_keys::rewrap_stored_keys(&app.oauth.store, old, new)?;
    let gateway_key_file = staged.is_some();
    let gateway_note = match staged {
        Some(file) => {
            let note = format!(" and the gateway's key file {}", file.path().display());
            file.install()?;
            note
        }
        None => String::new(),
    };
    println!(
        "moved {moved} signing keys (all tenants){gateway_note} from key-encryption key {} to {} \
         (from {}).\nThey no longer open with {}: configure the new key on every node now ([keys] \
         encryption_key_file = \"FILE\", or encryption_key_env = \"NAME\"; or put it in {} where \
         nothing is configured) and restart them. Until then a running server cannot open a key \
         it has not opened yet.",
        old.id(),
        new.id(),
        new.source(),
        old.id(),
        crate::keys::encryption_key::generated_path(&app.config).display()
    );
    let change = Change {
        action: "keys.rewrap",
        tenant: None,
        target: new.id().to_owned(),
        detail: serde_json::json!({
            "from": old.id(),
            "signing_keys_moved": moved,
            "gateway_key_file": gateway_key_file,
        }),
    };
    crate::audit::record(&app.oauth.store, actor, change, crate::clock::now_unix()).context(
        "the keys were moved (above) but the move could not be recorded in the audit log",
    )?;
    Ok(())
}
