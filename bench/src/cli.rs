//! The command line: what to measure (grant mode), against what (a server the harness starts, a
//! running Grantor it attaches to, or a peer server), and how hard. Parsing only; nothing here
//! starts, provisions or sends anything.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "grantor-bench",
    version,
    about = "Closed-loop load on Grantor's token endpoint, with the RS256 and HTTP floors measured in the same run",
    after_help = "Targets: by default the harness starts target/<profile>/grantor itself on a fresh \
                  SQLite database (or --database postgres://...). --url BASE --config FILE attaches \
                  to a running Grantor. --target URL drives a peer server (see bench/README.md)."
)]
pub struct Cli {
    /// The grant each request exercises.
    #[arg(long, value_enum, default_value_t = Mode::JwtBearer)]
    pub mode: Mode,
    /// Keep-alive connections, each with one request in flight (closed loop).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub connections: u32,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration: u64,
    /// Seconds of load before measuring; their results are discarded.
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// Database of the server the harness starts (default: a fresh SQLite file in a temporary
    /// directory). A postgres:// database is used as is, under a tenant of its own.
    #[arg(long, value_name = "URL", conflicts_with_all = ["url", "target"])]
    pub database: Option<String>,
    /// The `grantor` binary (default: the one next to this executable).
    #[arg(long, value_name = "PATH")]
    pub grantor: Option<PathBuf>,
    /// The JWT bearer plugin library the started server loads (default: the one next to this
    /// executable).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["url", "target"])]
    pub plugin: Option<PathBuf>,
    /// Also print a machine-readable JSON summary (after the text report).
    #[arg(long)]
    pub json: bool,
    /// Where the started server's log (stderr) goes (default: its temporary directory, gone after
    /// the run).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["url", "target"])]
    pub server_log: Option<PathBuf>,

    /// Attach to a running Grantor at this base URL (e.g. http://127.0.0.1:9443) instead of
    /// starting one; provisioning goes through the CLI with --config.
    #[arg(
        long,
        value_name = "BASE",
        requires = "config",
        conflicts_with = "target"
    )]
    pub url: Option<String>,
    /// The configuration file of the server given with --url.
    #[arg(long, value_name = "FILE", requires = "url")]
    pub config: Option<PathBuf>,

    /// Fail (exit status 1) unless every request in the window succeeded and there was at least
    /// one: for smoke runs in CI.
    #[arg(long)]
    pub require_success: bool,
    /// Assertions signed before the clock starts; each is sent once at most. When the run uses
    /// them all it stops sending and says so. Default: 8,000 per second of warm-up and run (an
    /// RSA signature costs ~0.4 ms a core, so minting is the slow part of a short run).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub assertions: Option<u64>,
    /// The `scope` parameter of each request (default: `read` against Grantor, none against a
    /// peer).
    #[arg(long)]
    pub scope: Option<String>,

    /// Seconds the HTTP floor (an in-process server answering a fixed body) is measured.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub floor_duration: u64,
    /// Do not measure the RS256 and HTTP floors.
    #[arg(long)]
    pub skip_floors: bool,

    /// Peer mode: the full token endpoint URL of another server (e.g.
    /// http://127.0.0.1:3000/oauth2/token). Nothing is provisioned or started; aud = this URL.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Peer mode: HTTP Basic client credentials, `ID:SECRET`; empty for none.
    #[arg(long, value_name = "ID:SECRET", requires = "target")]
    pub auth: Option<String>,
    /// Issuer (`iss`) of the minted assertions.
    #[arg(long, default_value = "https://idp.bench")]
    pub iss: String,
    /// Subject (`sub`) of the minted assertions.
    #[arg(long, default_value = "alice")]
    pub sub: String,
    /// Write a new identity provider key set to DIR (idp.key.pem, idp.cert.pem, idp.jwks.json)
    /// and exit, so a peer can be started with it before the run.
    #[arg(long, value_name = "DIR", conflicts_with = "key")]
    pub keys_out: Option<PathBuf>,
    /// Sign with the key set written earlier by --keys-out (default: a new key per run).
    #[arg(long, value_name = "DIR")]
    pub key: Option<PathBuf>,
}

/// Which grant the load exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// RFC 7523: one pre-minted assertion per request, never reused.
    JwtBearer,
    /// `client_credentials` with HTTP Basic client authentication.
    ClientCredentials,
    /// `refresh_token`, each connection following its own rotation chain.
    RefreshToken,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::JwtBearer => "jwt-bearer",
            Mode::ClientCredentials => "client-credentials",
            Mode::RefreshToken => "refresh-token",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn attach_mode_needs_both_url_and_config() {
        assert!(Cli::try_parse_from(["grantor-bench", "--url", "http://127.0.0.1:1"]).is_err());
        let cli = Cli::try_parse_from([
            "grantor-bench",
            "--url",
            "http://127.0.0.1:1",
            "--config",
            "c.toml",
            "--mode",
            "refresh-token",
        ])
        .expect("valid attach command line");
        assert_eq!(cli.mode, Mode::RefreshToken);
        assert_eq!(cli.connections, 32);
    }
}
