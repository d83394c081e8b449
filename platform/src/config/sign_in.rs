//! `[oauth.sign_in]`: the browser sign-in of the authorization endpoint: its pages' theme, its
//! sessions' lifetimes and its authorization codes' lifetime.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Check;

/// `[oauth.sign_in]`. Failed sign-ins on the login page are limited by `[oauth.password_grant]`'s
/// counters, the same ones the password grant counts in: one allowance per user and address,
/// whichever way the password is sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SignInConfig {
    /// A directory of templates replacing the built-in theme's files of the same name
    /// (`base.html`, `login.html`, `consent.html`, `error.html`, `logout.html`,
    /// `logged_out.html`, `form_post.html`), and in its `console/` subdirectory the console's
    /// (`platform/themes/default/console/`); unset: the built-in theme.
    pub theme_dir: Option<PathBuf>,
    /// A session ends this many seconds after the sign-in that started it, however active.
    pub session_lifetime_seconds: u64,
    /// A session ends after this many seconds without a request from its browser.
    pub session_idle_timeout_seconds: u64,
    /// How long an authorization code may wait for its exchange.
    pub authorization_code_lifetime_seconds: u64,
}

impl Default for SignInConfig {
    fn default() -> Self {
        SignInConfig {
            theme_dir: None,
            session_lifetime_seconds: 10 * 3600,
            session_idle_timeout_seconds: 30 * 60,
            authorization_code_lifetime_seconds: 60,
        }
    }
}

impl SignInConfig {
    pub(super) fn validate(&self) -> Check {
        let invalid = |key, why| Err((key, why));
        // Each named for itself: the error points at the setting (and the file) to change.
        if self.session_lifetime_seconds == 0 {
            return invalid(
                "oauth.sign_in.session_lifetime_seconds",
                "must be a positive number of seconds",
            );
        }
        if self.session_idle_timeout_seconds == 0 {
            return invalid(
                "oauth.sign_in.session_idle_timeout_seconds",
                "must be a positive number of seconds",
            );
        }
        // RFC 6749 4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED."
        if !(1..=600).contains(&self.authorization_code_lifetime_seconds) {
            return invalid(
                "oauth.sign_in.authorization_code_lifetime_seconds",
                "must be between 1 and 600 (RFC 6749 4.1.2 recommends at most 10 minutes)",
            );
        }
        Ok(())
    }

    /// The session lifetimes as the store takes them.
    pub fn session_lifetime(&self) -> i64 {
        i64::try_from(self.session_lifetime_seconds).unwrap_or(i64::MAX)
    }

    pub fn session_idle_timeout(&self) -> i64 {
        i64::try_from(self.session_idle_timeout_seconds).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_toml;

    #[test]
    fn defaults_and_checks() {
        let config = load_toml("").unwrap();
        assert_eq!(config.oauth.sign_in.authorization_code_lifetime_seconds, 60);
        assert_eq!(config.oauth.sign_in.session_idle_timeout_seconds, 1800);
        let err =
            load_toml("[oauth.sign_in]\nauthorization_code_lifetime_seconds = 3600\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("oauth.sign_in.authorization_code_lifetime_seconds"),
            "{err}"
        );
        for key in ["session_idle_timeout_seconds", "session_lifetime_seconds"] {
            let err = load_toml(&format!("[oauth.sign_in]\n{key} = 0\n")).unwrap_err();
            assert!(
                err.to_string().contains(&format!("oauth.sign_in.{key}")),
                "{err}"
            );
        }
        let config = load_toml("[oauth.sign_in]\ntheme_dir = \"themes/mine\"\n").unwrap();
        assert_eq!(
            config.oauth.sign_in.theme_dir.as_deref(),
            Some(std::path::Path::new("themes/mine"))
        );
    }
}
