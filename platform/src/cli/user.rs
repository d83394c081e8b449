//! `grantor user add|list|remove|consents`: a tenant's users, and what they consented to on the
//! consent page. The password comes from standard input (first line) or, on a terminal, from a
//! prompt without echo; never from the command line, where other users of the machine and the
//! shell history would see it.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::{Map, Value};

use super::{tenant_or_default, ForCommandLine, TenantArg};
use crate::app::App;
use crate::audit::Actor;
use crate::blocking::OnBlockingThread;
use crate::http::admin::user_consents::{self, ListedConsent};
use crate::provisioning::users::{self, described, NewUser};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from stdin or a prompt.
    Add {
        #[command(flatten)]
        tenant: TenantArg,
        /// Username, unique in the tenant: the `sub` of the user's tokens.
        #[arg(long)]
        username: String,
        /// A string claim the user's tokens carry, `NAME=VALUE` (repeatable), e.g.
        /// `--claim email=alice@example.com`.
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
        /// A claim with a JSON value, `NAME=JSON` (repeatable), e.g.
        /// `--claim-json 'groups=["admin","dev"]'`.
        #[arg(long = "claim-json", value_name = "NAME=JSON")]
        json_claims: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's users and their claims (never a password or its hash).
    List {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long)]
        json: bool,
    },
    /// Remove a user.
    Remove {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long)]
        username: String,
    },
    /// List what a user consented to (client, scopes, when), or withdraw one client's consent.
    Consents {
        #[command(flatten)]
        tenant: TenantArg,
        #[arg(long)]
        username: String,
        /// Withdraw the consent given to this client (client_id or name): the next sign-in to
        /// it asks again.
        #[arg(long, value_name = "CLIENT")]
        withdraw: Option<String>,
        #[arg(long, conflicts_with = "withdraw")]
        json: bool,
    },
}

pub(super) fn run_user(app: App, command: UserCommand) -> anyhow::Result<()> {
    let actor = Actor::command_line();
    match command {
        UserCommand::Add {
            tenant,
            username,
            claims,
            json_claims,
            json,
        } => {
            let tenant = tenant_or_default(&app.oauth, &tenant).to_owned();
            let claims = parse_claims(&claims, &json_claims)?;
            users::check(&username, &claims).for_cli()?;
            let password = read_password(&username)?;
            let on = OnBlockingThread::outside_runtime()
                .ok_or_else(|| anyhow::anyhow!("a command runs outside the server's runtime"))?;
            let user = users::add(
                &app.oauth,
                on,
                &tenant,
                NewUser {
                    username,
                    password,
                    claims,
                },
                crate::clock::now_unix(),
                &actor,
            )
            .for_cli()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&described(&user))?);
            } else {
                println!(
                    "user '{}' added to tenant '{}'",
                    user.username, user.tenant_domain
                );
            }
        }
        UserCommand::List { tenant, json } => {
            let tenant = tenant_or_default(&app.oauth, &tenant).to_owned();
            let users = users::list(&app.oauth, &tenant).for_cli()?;
            if json {
                let users: Vec<Value> = users.iter().map(described).collect();
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                for user in users {
                    println!("{}\t{}", user.username, Value::Object(user.claims));
                }
            }
        }
        UserCommand::Remove { tenant, username } => {
            let tenant = tenant_or_default(&app.oauth, &tenant).to_owned();
            users::remove(&app.oauth, &tenant, &username, &actor).for_cli()?;
            println!("user '{username}' removed from tenant '{tenant}'");
        }
        UserCommand::Consents {
            tenant,
            username,
            withdraw: Some(client),
            json: _,
        } => {
            let tenant = tenant_or_default(&app.oauth, &tenant).to_owned();
            let client =
                user_consents::withdraw(&app.oauth.store, &tenant, &username, &client, &actor)?;
            println!(
                "consent of user '{username}' to client '{}' ({}) withdrawn in tenant '{tenant}'",
                client.name, client.client_id
            );
        }
        UserCommand::Consents {
            tenant,
            username,
            withdraw: None,
            json,
        } => {
            let tenant = tenant_or_default(&app.oauth, &tenant).to_owned();
            let consents = user_consents::list(&app.oauth.store, &tenant, &username)?;
            if json {
                let consents: Vec<Value> = consents.iter().map(ListedConsent::described).collect();
                println!("{}", serde_json::to_string_pretty(&consents)?);
            } else if consents.is_empty() {
                println!("user '{username}' has no consent in tenant '{tenant}'");
            } else {
                let now = crate::clock::now_unix();
                for listed in consents {
                    println!(
                        "{}\t{}\tscopes={}\tgranted_at={}",
                        listed.consent.client_id,
                        listed.client_name,
                        listed.consent.scopes.join(","),
                        super::keys::when(listed.consent.granted_at, now)
                    );
                }
            }
        }
    }
    Ok(())
}

fn parse_claims(strings: &[String], json: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut claims = Map::new();
    let split = |item: &str, flag: &str| -> anyhow::Result<(String, String)> {
        let (name, value) = item
            .split_once('=')
            .with_context(|| format!("{flag} '{item}' must be NAME=VALUE"))?;
        let name = name.trim();
        if name.is_empty() {
            bail!("{flag} '{item}' has no name");
        }
        Ok((name.to_owned(), value.to_owned()))
    };
    for item in strings {
        let (name, value) = split(item, "--claim")?;
        claims.insert(name, Value::String(value));
    }
    for item in json {
        let (name, value) = split(item, "--claim-json")?;
        let value: Value = serde_json::from_str(&value)
            .with_context(|| format!("--claim-json {name}: not JSON"))?;
        claims.insert(name, value);
    }
    Ok(claims)
}

/// The first line of stdin, or a prompt when stdin is a terminal.
fn read_password(username: &str) -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("password for {username}: "))?;
        let again = rpassword::prompt_password("again: ")?;
        if first != again {
            bail!("the passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    if password.is_empty() {
        bail!("no password given (pipe it on stdin, or run on a terminal to be prompted)");
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_from_flags() {
        let claims = parse_claims(
            &["email=a@b.example".into(), "note=x=y".into()],
            &[r#"groups=["admin","dev"]"#.into()],
        )
        .unwrap();
        assert_eq!(claims["email"], "a@b.example");
        assert_eq!(claims["note"], "x=y");
        assert_eq!(claims["groups"], serde_json::json!(["admin", "dev"]));
        assert!(parse_claims(&["novalue".into()], &[]).is_err());
        assert!(parse_claims(&[], &["groups=[oops".into()]).is_err());
    }
}
