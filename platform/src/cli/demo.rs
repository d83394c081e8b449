//! `grantor demo`: reference 000 on an empty data directory, step by step.
//!
//! It starts `grantor serve` and provisions two tenants, a user, two clients and a trusted issuer,
//! using the same commands an operator would type. Each command is printed with its output. Then
//! it runs the flow against the server: alice signs in to the web app at one tenant with the
//! authorization code flow (PKCE), as a browser would, and her ID token is exchanged by the JWT
//! bearer grant at the other. It prints a URL to do the sign-in in a browser, with the exchange to
//! run after it, and the reference as written (the legacy password grant) as a bash snippet of curl
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
/// Where the web app's sign-ins return: nothing listens there; a browser shows the code in its
/// address bar.
const REDIRECT_URI: &str = "http://127.0.0.1:8400/callback";
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
            "authorization_code,password",
            "--scopes",
            "openid",
            "--audience",
            &api_issuer,
            "--redirect-uri",
            REDIRECT_URI,
            "--consent",
            "skip",
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

    // The sign-in's redirect goes to the web app, which is not running: it is read, not followed.
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    wait_for_tenant(&http, url)?;
    println!(
        "\n# Step 4: alice signs in to the web app with the authorization code flow (PKCE), on the"
    );
    println!("# login page a browser would show; the code is exchanged for an ID token.");
    let signed_in = sign_in_with_code(&http, url, &webapp_id, &webapp_secret)?;
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

    let (verifier, challenge) = pkce_pair()?;
    let authorize = authorization_url(base, &webapp_id, &challenge);
    println!("\n# The same sign-in in a browser: open this URL and sign in as alice / {PASSWORD}.");
    println!("#   {authorize}");
    println!("# The browser lands on {REDIRECT_URI}?code=...: nothing listens there. Copy the");
    println!("# code from the address bar, then exchange it (within a minute) and the ID token:");
    println!("#   CODE=<the code>");
    println!(
        "#   ID_TOKEN=$(curl -s -u \"{webapp_id}:{webapp_secret}\" -d grant_type=authorization_code \
         -d code=\"$CODE\" -d redirect_uri={REDIRECT_URI} -d code_verifier={verifier} \
         {url}/t/{IDP}/oauth2/token | sed -n 's/.*\"id_token\":\"\\([^\"]*\\)\".*/\\1/p')"
    );
    println!(
        "#   curl -s -u \"{api_id}:{api_secret}\" -d grant_type={JWT_BEARER} \
         -d assertion=\"$ID_TOKEN\" -d scope=orders {url}/t/{API}/oauth2/token; echo"
    );
    println!("\n# Reference 000 as written: the legacy password grant in place of the browser.");
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

/// A PKCE verifier and its S256 challenge (RFC 7636 4.1, 4.2).
fn pkce_pair() -> anyhow::Result<(String, String)> {
    use base64::Engine as _;
    let verifier = crate::secrets::random_token(32)?;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(openssl::sha::sha256(verifier.as_bytes()));
    Ok((verifier, challenge))
}

/// The web app's authorization request at the identity tenant.
fn authorization_url(base: &str, client_id: &str, challenge: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
            ("state", "demo"),
            ("nonce", "demo-nonce"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    format!("{base}/t/{IDP}/oauth2/authorize?{query}")
}

/// Signs alice in as a browser would: the authorization request, the login form posted back with
/// its hidden fields and the cookie the page set, the code from the redirect; then the code
/// exchanged for tokens.
fn sign_in_with_code(
    http: &reqwest::blocking::Client,
    url: &str,
    client_id: &str,
    client_secret: &str,
) -> anyhow::Result<Value> {
    let (verifier, challenge) = pkce_pair()?;
    let authorize = authorization_url(url, client_id, &challenge);
    let page = http.get(&authorize).send()?;
    let cookies: Vec<String> = page
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect();
    let html = page.text()?;
    let mut form = hidden_fields(&html);
    form.push(("username".into(), "alice".into()));
    form.push(("password".into(), PASSWORD.into()));
    let signed_in = http
        .post(format!("{url}/t/{IDP}/oauth2/authorize"))
        .header(reqwest::header::COOKIE, cookies.join("; "))
        .form(&form)
        .send()?;
    let location = signed_in
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .with_context(|| format!("the sign-in did not redirect ({})", signed_in.status()))?
        .to_owned();
    let code = url::Url::parse(&location)?
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .with_context(|| format!("no code in {location}"))?;
    println!("  signed in; the redirect carries a code, state=demo and iss");
    Ok(http
        .post(format!("{url}/t/{IDP}/oauth2/token"))
        .basic_auth(client_id, Some(client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ])
        .send()?
        .json()?)
}

/// The hidden fields of the page's form, unescaped.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = tag[start..].find('"')? + start;
        Some(unescape_html(&tag[start..end]))
    };
    html.split("<input")
        .skip(1)
        .filter(|tag| tag.contains(r#"type="hidden""#))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect()
}

/// Undoes the escaping of the page's attribute values (minijinja's HTML escaping).
fn unescape_html(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
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
