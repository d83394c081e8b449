//! `grantor demo`: reference 000 on an empty data directory, step by step.
//!
//! It starts `grantor serve` and provisions two tenants, a user, two clients and a trusted issuer,
//! using the same commands an operator would type. Each command is printed with its output. Then
//! it runs the flow against the server: the password grant at one tenant, and the ID token
//! exchanged by the JWT bearer grant at the other. It prints that flow as a bash snippet of curl
//! commands to paste into another terminal. The server keeps running until Ctrl-C.
//!
//! The commands run as child processes of this binary, so every value goes through the CLI's own
//! validation, and what is printed is exactly what ran.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use crate::config::Config;

const IDP: &str = "idp.example";
const API: &str = "apis.example";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The demo user's password: a demo value, printed on purpose.
const PASSWORD: &str = "alice-password";
/// Marks the snippet's first and last line, for people and for the e2e test.
pub const SNIPPET_START: &str = "# --- paste into bash (the server keeps running) ---";
pub const SNIPPET_END: &str = "# --- end ---";

pub(super) fn demo(config_path: Option<&Path>, config: &Config) -> anyhow::Result<()> {
    let grantor = Grantor {
        exe: std::env::current_exe().context("cannot find this program's path")?,
        config: config_path.map(Path::to_owned),
    };
    let tenants = grantor.run(&["tenant", "list"], None)?;
    if tenants
        .lines()
        .any(|l| l.starts_with(IDP) || l.starts_with(API))
    {
        bail!(
            "the demo's tenants ({IDP}, {API}) exist already: run it on an empty data directory \
             (for example GRANTOR_DATABASE__DATA_DIR=/tmp/grantor-demo grantor demo)"
        );
    }
    if !grantor
        .run(&["plugins", "list"], None)?
        .contains(JWT_BEARER)
    {
        bail!("the demo needs the JWT bearer plugin: register it and drop it in the plugin directory (`cargo serve` does both)");
    }
    let mut server = grantor.serve()?;
    let outcome = provision_and_run(&grantor, config, &server.url);
    if let Err(e) = outcome {
        let _ = server.child.kill();
        let _ = server.child.wait();
        return Err(e);
    }
    println!("Ctrl-C stops the server.");
    let status = until_stopped(&mut server.child)?;
    if !status.success() {
        bail!("the server exited with {status}");
    }
    Ok(())
}

/// Waits for the server to exit; on Ctrl-C or SIGTERM to the demo, passes SIGTERM on to it (a
/// terminal's Ctrl-C reaches both; a `kill` of the demo alone must stop the server too).
fn until_stopped(child: &mut Child) -> anyhow::Result<std::process::ExitStatus> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let pid = child.id();
    runtime.block_on(async {
        let mut ticks = tokio::time::interval(Duration::from_millis(200));
        let mut stop = std::pin::pin!(crate::server::shutdown_signal());
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = ticks.tick() => {
                    if let Some(status) = child.try_wait()? {
                        return Ok(status);
                    }
                }
            }
        }
        #[cfg(unix)]
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: sends a signal to our own child process.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        #[cfg(not(unix))]
        let _ = (pid, child.kill());
        Ok(child.wait()?)
    })
}

struct Grantor {
    exe: PathBuf,
    config: Option<PathBuf>,
}

struct Running {
    child: Child,
    url: String,
}

impl Grantor {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.exe);
        if let Some(config) = &self.config {
            command.arg("--config").arg(config);
        }
        command
    }

    /// Runs `grantor ARGS` (with `stdin`), returns its stdout; its stderr is the error.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
        let mut child = self
            .command()
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("RUST_LOG", "warn")
            .spawn()
            .with_context(|| format!("cannot run grantor {}", args.join(" ")))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write;
            pipe.write_all(text.as_bytes())?;
        }
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!(
                "grantor {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Prints `$ grantor ARGS`, runs it, prints its output.
    fn step(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
        let shown: Vec<String> = args.iter().map(|a| shell_word(a)).collect();
        match stdin {
            Some(text) => println!(
                "$ printf '%s\\n' {} | grantor {}",
                shell_word(text.trim_end()),
                shown.join(" ")
            ),
            None => println!("$ grantor {}", shown.join(" ")),
        }
        let out = self.run(args, stdin)?;
        for line in out.lines() {
            println!("  {line}");
        }
        Ok(out)
    }

    /// `grantor serve` in the background; its URL from its first line.
    fn serve(&self) -> anyhow::Result<Running> {
        let mut server = self.command();
        server.arg("serve").stdout(Stdio::piped());
        // Its log would drown the steps; RUST_LOG still chooses when given.
        if std::env::var_os("RUST_LOG").is_none() {
            server.env("RUST_LOG", "warn");
        }
        let mut child = server.spawn().context("cannot start grantor serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first)?;
        let Some(url) = first.trim().strip_prefix("grantor listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the server did not start (see its log above)");
        };
        println!("$ grantor serve &\n  {}", first.trim());
        Ok(Running {
            url: url.to_owned(),
            child,
        })
    }
}

/// A word as bash reads it: quoted unless it is plain.
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn field(output: &str, name: &str) -> anyhow::Result<String> {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
        .with_context(|| format!("no {name} in: {output}"))
}

fn provision_and_run(grantor: &Grantor, config: &Config, url: &str) -> anyhow::Result<()> {
    let base = &config.server.public_base_url;
    let api_issuer = format!("{base}/t/{API}/oauth2/token");
    println!("\n# The identity server's tenant, its user and the web app that signs users in.");
    grantor.step(&["tenant", "add", IDP], None)?;
    grantor.step(
        &[
            "user",
            "add",
            "--tenant",
            IDP,
            "--username",
            "alice",
            "--claim",
            "email=alice@idp.example",
            "--claim-json",
            r#"groups=["sales"]"#,
        ],
        Some(&format!("{PASSWORD}\n")),
    )?;
    let webapp = grantor.step(
        &[
            "client",
            "add",
            "--tenant",
            IDP,
            "--name",
            "webapp",
            "--grant-types",
            "password",
            "--scopes",
            "openid",
            "--audience",
            &api_issuer,
        ],
        None,
    )?;
    println!(
        "\n# The API tenant trusts the identity tenant by its JWKS URL, and has an application"
    );
    println!("# allowed the JWT bearer grant, which gets JWT access tokens.");
    grantor.step(&["tenant", "add", API], None)?;
    grantor.step(
        &[
            "idp",
            "add",
            "--tenant",
            API,
            "--name",
            "idp-example",
            "--issuer",
            &format!("{base}/t/{IDP}/oauth2/token"),
            "--jwks-uri",
            &format!("{url}/t/{IDP}/oauth2/jwks"),
            "--claim-mapping",
            "groups=roles",
        ],
        None,
    )?;
    let apiapp = grantor.step(
        &[
            "client",
            "add",
            "--tenant",
            API,
            "--name",
            "apiapp",
            "--grant-types",
            JWT_BEARER,
            "--scopes",
            "orders",
            "--token-format",
            "jwt",
        ],
        None,
    )?;
    let (webapp_id, webapp_secret) = (
        field(&webapp, "client_id:")?,
        field(&webapp, "client_secret:")?,
    );
    let (api_id, api_secret) = (
        field(&apiapp, "client_id:")?,
        field(&apiapp, "client_secret:")?,
    );

    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    wait_for_tenant(&http, url)?;
    println!("\n# Step 4: alice signs in with the password grant; scope=openid adds an ID token.");
    let signed_in: Value = http
        .post(format!("{url}/t/{IDP}/oauth2/token"))
        .basic_auth(&webapp_id, Some(&webapp_secret))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
            ("scope", "openid"),
        ])
        .send()?
        .json()?;
    let id_token = signed_in["id_token"]
        .as_str()
        .with_context(|| format!("no ID token: {signed_in}"))?;
    println!("  the ID token's claims: {}", claims(id_token)?);
    println!("\n# Step 5: the ID token exchanged at the API tenant for a JWT access token.");
    let exchanged: Value = http
        .post(format!("{url}/t/{API}/oauth2/token"))
        .basic_auth(&api_id, Some(&api_secret))
        .form(&[
            ("grant_type", JWT_BEARER),
            ("assertion", id_token),
            ("scope", "orders"),
        ])
        .send()?
        .json()?;
    let access_token = exchanged["access_token"]
        .as_str()
        .with_context(|| format!("the exchange was refused: {exchanged}"))?;
    println!("  the access token's claims: {}", claims(access_token)?);

    println!("\n{SNIPPET_START}");
    println!("WEBAPP_ID={webapp_id} WEBAPP_SECRET={webapp_secret}");
    println!("API_ID={api_id} API_SECRET={api_secret}");
    println!(
        "ID_TOKEN=$(curl -s -u \"$WEBAPP_ID:$WEBAPP_SECRET\" -d grant_type=password \
         -d username=alice -d password={PASSWORD} -d scope=openid \
         {url}/t/{IDP}/oauth2/token | sed -n 's/.*\"id_token\":\"\\([^\"]*\\)\".*/\\1/p')"
    );
    println!(
        "curl -s -u \"$API_ID:$API_SECRET\" -d grant_type={JWT_BEARER} \
         -d assertion=\"$ID_TOKEN\" -d scope=orders {url}/t/{API}/oauth2/token; echo"
    );
    println!("{SNIPPET_END}");
    Ok(())
}

/// A running server sees CLI changes within `database.cache_refresh_interval_ms`: waits (with a
/// deadline) until the identity tenant answers.
fn wait_for_tenant(http: &reqwest::blocking::Client, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = http
            .get(format!("{url}/t/{IDP}/oauth2/jwks"))
            .send()
            .map(|r| r.status().is_success());
        if matches!(answer, Ok(true)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the server never saw the new tenant {IDP}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A JWT's claims, for showing (the token was checked by the server that issued it).
fn claims(jwt: &str) -> anyhow::Result<String> {
    let jws =
        grantor_jose::Jws::parse(jwt, jwt.len()).map_err(|e| anyhow::anyhow!("not a JWT: {e}"))?;
    Ok(serde_json::to_string(&jws.claims)?)
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn words_are_quoted_for_bash_when_they_need_it() {
        assert_eq!(shell_word("idp.example"), "idp.example");
        assert_eq!(shell_word(r#"groups=["sales"]"#), r#"'groups=["sales"]'"#);
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
