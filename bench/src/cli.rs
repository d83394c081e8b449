//! The command line: what to measure (grant mode), against what (a server the harness starts, a
//! running Grantor it attaches to, or a peer server), and how hard. Parsing only; nothing here
//! starts, provisions or sends anything.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::codes::{CODE_LIFETIME_SECONDS, EXPIRY_MARGIN};

/// authorization-code: codes made per second of warm-up and run unless --codes says, with RS256
/// ID tokens and with the cheaper ES256 and EdDSA signatures.
const CODES_PER_SECOND_RS256: u64 = 3_000;
const CODES_PER_SECOND_OTHERS: u64 = 6_000;
/// token-exchange: subject tokens obtained before the clock unless --subject-tokens says.
const DEFAULT_SUBJECT_TOKENS: u32 = 256;

#[derive(Debug, Parser)]
#[command(
    name = "grantor-bench",
    version,
    about = "Closed-loop load on Grantor's token and introspection endpoints, with the RS256, signing and HTTP floors measured in the same run",
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

    /// The tenant's signing key type where access tokens are JWTs (jwt-access-token, introspect
    /// with --introspect-format jwt) or ID tokens are issued (authorization-code): written as
    /// `[oauth.signing] algorithm` into the config of the server the harness starts, and the key
    /// type of the signing floor. Default RS256.
    /// Against a running server or a peer the algorithm is read from the tokens' header instead.
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        value_name = "ALG",
        conflicts_with_all = ["url", "target"]
    )]
    pub signing_alg: Option<SigningAlg>,
    /// introspect: whether the tokens introspected are opaque or JWT access tokens (the client is
    /// registered with --token-format accordingly). Default opaque.
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "target")]
    pub introspect_format: Option<TokenFormat>,
    /// introspect: access tokens obtained (client_credentials) before the clock starts; the
    /// requests go round them in turn.
    #[arg(
        long,
        default_value_t = 256,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    pub introspect_tokens: u32,
    /// gateway: how the gateway passes the validated claims to the upstream (`[gateway]
    /// backend_claims`): `jwt` (an X-JWT-Assertion the gateway signs, ES256, once per token),
    /// `headers` (one X-Claim-* header per claim) or `none`. Default jwt.
    #[arg(long, value_enum, value_name = "HOW")]
    pub backend_claims: Option<BackendClaims>,
    /// authorization-code: codes made before the clock starts (one sign-in, then single sign-on),
    /// each exchanged once at most; when the run uses them all it stops sending and says so.
    /// Default: 3,000 per second of warm-up and run (36,000) with RS256 ID tokens, above what two
    /// cores can exchange when each exchange signs one (about 2,400 signatures/s a core, before
    /// the rest of the request); 6,000 with ES256 or EdDSA, whose signatures cost a tenth.
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(1..=1_000_000)
    )]
    pub codes: Option<u64>,
    /// gateway: the gateway's worker threads (`[gateway] workers`; 0: one per core). Default 1:
    /// the load generator and the upstream run on the same machine and need the other core(s).
    #[arg(long, value_name = "N")]
    pub gateway_workers: Option<usize>,
    /// token-exchange: the user access tokens (jwt-bearer, one assertion each) obtained before the
    /// clock starts as subject tokens; exchanging one does not spend it, so the requests go
    /// round them in turn.
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    pub subject_tokens: Option<u32>,
    /// token-exchange: what each exchange asks for (`requested_token_type`): an access token of
    /// the client's format (opaque), or a JWT authorization grant for another domain (identity
    /// chaining), signed with the tenant's key (--signing-alg). Default access-token.
    #[arg(long, value_enum, value_name = "TYPE")]
    pub requested_token_type: Option<RequestedTokenType>,
    /// The token exchange plugin library the started server loads (token-exchange; default: the
    /// one next to this executable).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["url", "target"])]
    pub exchange_plugin: Option<PathBuf>,
}

impl Cli {
    /// The key type of the tenant's signing key in a server the harness starts.
    pub fn signing_alg(&self) -> SigningAlg {
        self.signing_alg.unwrap_or(SigningAlg::RS256)
    }

    pub fn introspect_format(&self) -> TokenFormat {
        self.introspect_format.unwrap_or(TokenFormat::Opaque)
    }

    pub fn backend_claims(&self) -> BackendClaims {
        self.backend_claims.unwrap_or(BackendClaims::Jwt)
    }

    pub fn gateway_workers(&self) -> usize {
        self.gateway_workers.unwrap_or(1)
    }

    /// token-exchange: the subject tokens to obtain before the clock starts.
    pub fn subject_tokens(&self) -> u32 {
        self.subject_tokens.unwrap_or(DEFAULT_SUBJECT_TOKENS)
    }

    pub fn requested_token_type(&self) -> RequestedTokenType {
        self.requested_token_type
            .unwrap_or(RequestedTokenType::AccessToken)
    }

    /// Whether each response carries a token signed with the tenant's key: a JWT access token,
    /// or the JWT authorization grant a token exchange asks for.
    pub fn issues_jwts(&self) -> bool {
        self.token_format() == TokenFormat::Jwt
            || (self.mode == Mode::TokenExchange
                && self.requested_token_type() == RequestedTokenType::Jwt)
    }

    /// authorization-code: the codes to make before the clock starts.
    pub fn codes(&self) -> u64 {
        let per_second = match self.signing_alg() {
            SigningAlg::RS256 => CODES_PER_SECOND_RS256,
            SigningAlg::ES256 | SigningAlg::EdDSA => CODES_PER_SECOND_OTHERS,
        };
        self.codes
            .unwrap_or(per_second * (self.warmup + self.duration).max(1))
    }

    /// What clap cannot say: combinations that depend on the mode.
    pub fn check(&self) -> Result<(), String> {
        if self.mode == Mode::AuthorizationCode {
            if self.url.is_some() || self.target.is_some() {
                return Err(
                    "--mode authorization-code starts its own Grantor (it registers a user and \
                     sets the codes' lifetime in the deployment it writes): not with --url or \
                     --target"
                        .to_owned(),
                );
            }
            if self.scope.is_some() {
                return Err(
                    "--mode authorization-code: the authorization requests ask for scope openid; \
                     no --scope"
                        .to_owned(),
                );
            }
            // The codes are made before the run; they must outlive it (checked again, with
            // the time making them took, once they are made).
            let run = self.warmup.saturating_add(self.duration);
            let longest = CODE_LIFETIME_SECONDS - EXPIRY_MARGIN.as_secs();
            if run > longest {
                return Err(format!(
                    "--mode authorization-code: the codes live {CODE_LIFETIME_SECONDS} s, made \
                     before the run; --warmup + --duration ({run} s) must be at most {longest} s, \
                     less the time making them takes"
                ));
            }
        } else if self.codes.is_some() {
            return Err("--codes applies to --mode authorization-code only".to_owned());
        }
        if self.mode == Mode::Gateway {
            if self.url.is_some() || self.target.is_some() {
                return Err(
                    "--mode gateway starts its own Grantor (the gateway trusts it by its \
                            JWKS URL): not with --url or --target"
                        .to_owned(),
                );
            }
            if self.signing_alg() != SigningAlg::RS256 {
                return Err(
                    "--mode gateway: the tokens are RS256 (its target is one RS256 \
                            verification + 30 us a request); no --signing-alg other than RS256"
                        .to_owned(),
                );
            }
        } else if self.backend_claims.is_some() || self.gateway_workers.is_some() {
            return Err(
                "--backend-claims and --gateway-workers apply to --mode gateway only".to_owned(),
            );
        }
        if self.mode == Mode::TokenExchange {
            if self.url.is_some() || self.target.is_some() {
                return Err(
                    "--mode token-exchange starts its own Grantor (it registers the token \
                     exchange plugin in the deployment it writes): not with --url or --target"
                        .to_owned(),
                );
            }
        } else if self.subject_tokens.is_some()
            || self.requested_token_type.is_some()
            || self.exchange_plugin.is_some()
        {
            return Err(
                "--subject-tokens, --requested-token-type and --exchange-plugin apply to --mode \
                 token-exchange only"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// The `--token-format` the client is registered with.
    pub fn token_format(&self) -> TokenFormat {
        match self.mode {
            Mode::JwtAccessToken | Mode::Gateway => TokenFormat::Jwt,
            Mode::Introspect => self.introspect_format(),
            Mode::JwtBearer
            | Mode::ClientCredentials
            | Mode::RefreshToken
            | Mode::AuthorizationCode
            | Mode::TokenExchange => TokenFormat::Opaque,
        }
    }
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
    /// As jwt-bearer, with the client registered for JWT access tokens (RFC 9068): each
    /// response carries one signed with the tenant's key (--signing-alg).
    JwtAccessToken,
    /// `POST /oauth2/introspect` (RFC 7662) of access tokens obtained before the clock starts.
    Introspect,
    /// `GET /bench/item` through `grantor gateway` with one JWT access token (client_credentials,
    /// obtained before the clock starts), then the same GET straight to the upstream.
    Gateway,
    /// `authorization_code` (with PKCE): each request exchanges one code made through a real
    /// sign-in before the clock starts, never reused; each response carries an ID token.
    AuthorizationCode,
    /// RFC 8693 delegation: each request exchanges one of the user access tokens obtained before
    /// the clock starts (subject tokens, in turn) with the client's own access token as the actor
    /// token.
    TokenExchange,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::JwtBearer => "jwt-bearer",
            Mode::ClientCredentials => "client-credentials",
            Mode::RefreshToken => "refresh-token",
            Mode::JwtAccessToken => "jwt-access-token",
            Mode::Introspect => "introspect",
            Mode::Gateway => "gateway",
            Mode::AuthorizationCode => "authorization-code",
            Mode::TokenExchange => "token-exchange",
        }
    }

    /// Whether a request costs the server one RS256 verification and one signature, the crypto
    /// floor's sum: not an authorization code exchange, which verifies nothing and signs the ID
    /// token, nor a token exchange, which finds its tokens by digest and signs at most the JWT
    /// grant it asks for.
    pub fn verifies_and_signs(self) -> bool {
        !matches!(self, Mode::AuthorizationCode | Mode::TokenExchange)
    }

    /// Whether each request spends a pre-minted assertion, so the server verifies one RS256
    /// signature per request (and the ratio to the RS256 ceiling means something).
    pub fn spends_assertions(self) -> bool {
        matches!(self, Mode::JwtBearer | Mode::JwtAccessToken)
    }
}

/// What a token exchange asks for (`requested_token_type`, RFC 8693 2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RequestedTokenType {
    /// `urn:ietf:params:oauth:token-type:access_token`: an access token of the client's format.
    AccessToken,
    /// `urn:ietf:params:oauth:token-type:jwt`: a JWT authorization grant for another domain.
    Jwt,
}

impl RequestedTokenType {
    /// The flag's value.
    pub fn name(self) -> &'static str {
        match self {
            RequestedTokenType::AccessToken => "access-token",
            RequestedTokenType::Jwt => "jwt",
        }
    }

    /// The token type URI sent as `requested_token_type`.
    pub fn uri(self) -> &'static str {
        match self {
            RequestedTokenType::AccessToken => "urn:ietf:params:oauth:token-type:access_token",
            RequestedTokenType::Jwt => "urn:ietf:params:oauth:token-type:jwt",
        }
    }
}

/// The JWS algorithm of the tenant's signing key (`[oauth.signing] algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SigningAlg {
    /// RSA 2048, PKCS#1 v1.5 with SHA-256.
    #[value(name = "RS256")]
    RS256,
    /// ECDSA on P-256 with SHA-256.
    #[value(name = "ES256")]
    ES256,
    /// Ed25519.
    #[value(name = "EdDSA")]
    EdDSA,
}

impl SigningAlg {
    /// The JWS `alg` name, which is also the config value.
    pub fn name(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }

    /// The algorithm a JWS header names, when it is one of these.
    pub fn from_jws(alg: &str) -> Option<SigningAlg> {
        [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA]
            .into_iter()
            .find(|a| a.name() == alg)
    }
}

/// How the gateway passes the validated claims on (`[gateway] backend_claims`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendClaims {
    Jwt,
    Headers,
    None,
}

impl BackendClaims {
    /// The config value (and the flag's).
    pub fn name(self) -> &'static str {
        match self {
            BackendClaims::Jwt => "jwt",
            BackendClaims::Headers => "headers",
            BackendClaims::None => "none",
        }
    }
}

/// How the client's access tokens are issued (`grantor client add --token-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenFormat {
    Opaque,
    Jwt,
}

impl TokenFormat {
    pub fn name(self) -> &'static str {
        match self {
            TokenFormat::Opaque => "opaque",
            TokenFormat::Jwt => "jwt",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The command line `grantor-bench ARGS`, parsed and checked as `main` does.
    fn parse(args: &[&str]) -> Result<Cli, String> {
        let cli = Cli::try_parse_from(std::iter::once("grantor-bench").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.check()?;
        Ok(cli)
    }

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

    #[test]
    fn jwt_access_token_mode_takes_a_signing_algorithm() {
        let cli = Cli::try_parse_from(["grantor-bench", "--mode", "jwt-access-token"])
            .expect("valid command line");
        assert_eq!(cli.mode, Mode::JwtAccessToken);
        assert_eq!(cli.signing_alg, None);
        assert_eq!(cli.signing_alg(), SigningAlg::RS256);
        assert_eq!(cli.token_format(), TokenFormat::Jwt);
        assert!(cli.mode.spends_assertions());
        for (given, expected) in [
            ("RS256", SigningAlg::RS256),
            ("ES256", SigningAlg::ES256),
            ("EdDSA", SigningAlg::EdDSA),
            ("eddsa", SigningAlg::EdDSA),
            ("es256", SigningAlg::ES256),
        ] {
            let cli = Cli::try_parse_from([
                "grantor-bench",
                "--mode",
                "jwt-access-token",
                "--signing-alg",
                given,
            ])
            .expect("valid algorithm");
            assert_eq!(cli.signing_alg(), expected, "{given}");
        }
        assert!(Cli::try_parse_from(["grantor-bench", "--signing-alg", "HS256"]).is_err());
        // A running server or a peer has its own key; the algorithm is read from its tokens.
        assert!(Cli::try_parse_from([
            "grantor-bench",
            "--signing-alg",
            "ES256",
            "--target",
            "http://127.0.0.1:3000/oauth2/token",
        ])
        .is_err());
    }

    #[test]
    fn signing_algorithms_round_trip_through_their_jws_names() {
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            assert_eq!(SigningAlg::from_jws(alg.name()), Some(alg));
        }
        assert_eq!(SigningAlg::from_jws("none"), None);
        assert_eq!(SigningAlg::from_jws("eddsa"), None);
    }

    #[test]
    fn introspect_mode_chooses_the_token_format() {
        let cli = Cli::try_parse_from(["grantor-bench", "--mode", "introspect"])
            .expect("valid command line");
        assert_eq!(cli.mode, Mode::Introspect);
        assert_eq!(cli.token_format(), TokenFormat::Opaque);
        assert_eq!(cli.introspect_tokens, 256);
        assert!(!cli.mode.spends_assertions());
        let cli = Cli::try_parse_from([
            "grantor-bench",
            "--mode",
            "introspect",
            "--introspect-format",
            "jwt",
            "--introspect-tokens",
            "32",
            "--signing-alg",
            "ES256",
        ])
        .expect("valid command line");
        assert_eq!(cli.token_format(), TokenFormat::Jwt);
        assert_eq!(cli.introspect_tokens, 32);
        assert_eq!(cli.signing_alg(), SigningAlg::ES256);
        assert!(Cli::try_parse_from(["grantor-bench", "--introspect-format", "paseto"]).is_err());
        assert!(Cli::try_parse_from(["grantor-bench", "--introspect-tokens", "0"]).is_err());
        // Other modes keep opaque tokens.
        let cli = Cli::try_parse_from(["grantor-bench", "--mode", "refresh-token"]).expect("ok");
        assert_eq!(cli.token_format(), TokenFormat::Opaque);
    }

    #[test]
    fn authorization_code_mode_sizes_its_codes_and_fits_in_their_lifetime() {
        let cli = parse(&["--mode", "authorization-code"]).expect("valid");
        assert_eq!(cli.mode, Mode::AuthorizationCode);
        assert_eq!(cli.mode.name(), "authorization-code");
        assert_eq!(cli.codes(), CODES_PER_SECOND_RS256 * 12);
        assert_eq!(cli.token_format(), TokenFormat::Opaque);
        assert!(!cli.mode.spends_assertions());
        assert!(!cli.mode.verifies_and_signs());
        let cli = parse(&[
            "--mode",
            "authorization-code",
            "--duration",
            "5",
            "--warmup",
            "0",
        ])
        .expect("valid");
        assert_eq!(cli.codes(), CODES_PER_SECOND_RS256 * 5);
        let cli = parse(&["--mode", "authorization-code", "--codes", "500"]).expect("valid");
        assert_eq!(cli.codes(), 500);
        assert!(parse(&["--mode", "authorization-code", "--codes", "0"]).is_err());
        // The codes are made before the run and live CODE_LIFETIME_SECONDS.
        let e = parse(&["--mode", "authorization-code", "--duration", "594"]).unwrap_err();
        assert!(e.contains("must be at most 595 s"), "{e}");
        assert!(parse(&["--mode", "authorization-code", "--duration", "593"]).is_ok());
        // It registers a user and sets the lifetime: only in a server the harness starts.
        for args in [
            &["--target", "http://127.0.0.1:3000/oauth2/token"][..],
            &["--url", "http://127.0.0.1:1", "--config", "c.toml"],
        ] {
            let mut all = vec!["--mode", "authorization-code"];
            all.extend_from_slice(args);
            let e = parse(&all).unwrap_err();
            assert!(e.contains("starts its own Grantor"), "{e}");
        }
        let e = parse(&["--mode", "authorization-code", "--scope", "read"]).unwrap_err();
        assert!(e.contains("openid"), "{e}");
        // Other modes have no codes.
        let e = parse(&["--mode", "client-credentials", "--codes", "10"]).unwrap_err();
        assert!(e.contains("--mode authorization-code only"), "{e}");
        // The ID tokens' key type.
        let cli = parse(&["--mode", "authorization-code", "--signing-alg", "ES256"]).expect("ok");
        assert_eq!(cli.signing_alg(), SigningAlg::ES256);
        assert_eq!(cli.codes(), CODES_PER_SECOND_OTHERS * 12);
    }

    #[test]
    fn token_exchange_mode_asks_for_an_access_token_or_a_jwt_grant() {
        let cli = parse(&["--mode", "token-exchange"]).expect("valid");
        assert_eq!(cli.mode, Mode::TokenExchange);
        assert_eq!(cli.mode.name(), "token-exchange");
        assert_eq!(cli.subject_tokens(), 256);
        assert_eq!(cli.requested_token_type(), RequestedTokenType::AccessToken);
        assert_eq!(cli.token_format(), TokenFormat::Opaque);
        assert!(!cli.issues_jwts());
        assert!(!cli.mode.spends_assertions());
        assert!(!cli.mode.verifies_and_signs());
        let cli = parse(&[
            "--mode",
            "token-exchange",
            "--requested-token-type",
            "jwt",
            "--subject-tokens",
            "16",
            "--signing-alg",
            "ES256",
        ])
        .expect("valid");
        assert_eq!(cli.requested_token_type(), RequestedTokenType::Jwt);
        assert_eq!(
            cli.requested_token_type().uri(),
            "urn:ietf:params:oauth:token-type:jwt"
        );
        assert_eq!(cli.subject_tokens(), 16);
        assert_eq!(cli.signing_alg(), SigningAlg::ES256);
        // The client keeps opaque access tokens; the grant it asks for is a JWT.
        assert_eq!(cli.token_format(), TokenFormat::Opaque);
        assert!(cli.issues_jwts());
        assert!(parse(&["--mode", "token-exchange", "--subject-tokens", "0"]).is_err());
        assert!(parse(&[
            "--mode",
            "token-exchange",
            "--requested-token-type",
            "saml2"
        ])
        .is_err());
        // It registers the plugin in the deployment it writes.
        for args in [
            &["--target", "http://127.0.0.1:3000/oauth2/token"][..],
            &["--url", "http://127.0.0.1:1", "--config", "c.toml"],
        ] {
            let mut all = vec!["--mode", "token-exchange"];
            all.extend_from_slice(args);
            let e = parse(&all).unwrap_err();
            assert!(e.contains("starts its own Grantor"), "{e}");
        }
        // Its flags belong to it alone.
        for args in [
            &["--subject-tokens", "8"][..],
            &["--requested-token-type", "jwt"],
            &["--exchange-plugin", "x.so"],
        ] {
            let e = parse(args).unwrap_err();
            assert!(e.contains("--mode token-exchange only"), "{e}");
        }
        // Other modes issue JWTs exactly where their access tokens are JWTs.
        assert!(parse(&["--mode", "jwt-access-token"])
            .expect("ok")
            .issues_jwts());
        assert!(!parse(&["--mode", "jwt-bearer"]).expect("ok").issues_jwts());
    }

    #[test]
    fn gateway_mode_takes_how_claims_reach_the_backend() {
        let cli = parse(&["--mode", "gateway"]).expect("valid");
        assert_eq!(cli.mode, Mode::Gateway);
        assert_eq!(cli.mode.name(), "gateway");
        assert_eq!(cli.backend_claims(), BackendClaims::Jwt);
        assert_eq!(cli.token_format(), TokenFormat::Jwt);
        assert_eq!(cli.connections, 32);
        assert!(!cli.mode.spends_assertions());
        for (given, expected) in [
            ("jwt", BackendClaims::Jwt),
            ("headers", BackendClaims::Headers),
            ("none", BackendClaims::None),
        ] {
            let cli = parse(&["--mode", "gateway", "--backend-claims", given]).expect(given);
            assert_eq!(cli.backend_claims(), expected);
            assert_eq!(expected.name(), given);
        }
        assert!(parse(&["--mode", "gateway", "--backend-claims", "cookies"]).is_err());
        // Only the gateway has backend claims.
        let e = parse(&["--backend-claims", "none"]).unwrap_err();
        assert!(e.contains("--mode gateway only"), "{e}");
        // The gateway trusts the Grantor the harness starts, and the target is RS256's.
        assert!(parse(&[
            "--mode",
            "gateway",
            "--target",
            "http://127.0.0.1:3000/oauth2/token"
        ])
        .is_err());
        assert!(parse(&[
            "--mode",
            "gateway",
            "--url",
            "http://127.0.0.1:1",
            "--config",
            "c.toml"
        ])
        .is_err());
        assert!(parse(&["--mode", "gateway", "--signing-alg", "ES256"]).is_err());
        assert!(parse(&["--mode", "gateway", "--signing-alg", "rs256"]).is_ok());
        // Other modes pass the check as before.
        assert!(parse(&["--mode", "jwt-access-token", "--signing-alg", "ES256"]).is_ok());
    }
}
