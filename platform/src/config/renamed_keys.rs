//! Keys renamed to say their unit, read under their former names too, so that an operator's
//! existing `deployment.toml` and `GRANTOR_*` variables keep working. Each section lists its own
//! renames beside its struct (`RENAMED_KEYS`); this module applies them to what a source gives.
//!
//! The renaming happens on each source (the file, the environment) before figment merges it over
//! the built-in defaults: those always carry the new key, so a serde alias would see both names and
//! refuse the old one as a duplicate. One source giving both names is refused: which one was meant
//! would be a guess. A former key in minutes is converted to seconds.

use figment::value::{Dict, Map, Num, Value};
use figment::{Error, Metadata, Profile, Provider};

/// A key's former name in its section, and how its value converts.
#[derive(Debug, Clone, Copy)]
pub(super) struct RenamedKey {
    /// The section's dotted path, e.g. `oauth.token`.
    section: &'static str,
    old: &'static str,
    new: &'static str,
    /// What one unit of the former key is in the new one (1: same unit).
    factor: u64,
    /// The former key's unit, named in refusals when it differs.
    old_unit: Option<&'static str>,
}

impl RenamedKey {
    /// A key that only gained its unit in its name.
    pub(super) const fn same_unit(
        section: &'static str,
        old: &'static str,
        new: &'static str,
    ) -> RenamedKey {
        RenamedKey {
            section,
            old,
            new,
            factor: 1,
            old_unit: None,
        }
    }

    /// A key that was in minutes and is now in seconds.
    pub(super) const fn minutes_to_seconds(
        section: &'static str,
        old: &'static str,
        new: &'static str,
    ) -> RenamedKey {
        RenamedKey {
            section,
            old,
            new,
            factor: 60,
            old_unit: Some("minutes"),
        }
    }

    /// Moves the former key of one source's data to its new name, converted; or why it cannot.
    fn apply(&self, data: &mut Dict) -> Result<(), String> {
        let Some(section) = section_mut(data, self.section) else {
            return Ok(());
        };
        let Some(value) = section.remove(self.old) else {
            return Ok(());
        };
        let (section_name, old, new) = (self.section, self.old, self.new);
        let old_unit = self
            .old_unit
            .map(|u| format!(", in {u}"))
            .unwrap_or_default();
        if section.contains_key(new) {
            return Err(format!(
                "{section_name}.{old} (the former name of {new}{old_unit}) and {new} are both set: \
                 keep {new} only"
            ));
        }
        let value = if self.factor == 1 {
            value
        } else {
            let converted = value
                .to_num()
                .and_then(Num::to_u128_lossy)
                .and_then(|v| v.checked_mul(u128::from(self.factor)))
                .and_then(|v| u64::try_from(v).ok());
            match converted {
                Some(v) => Value::from(v),
                None => {
                    return Err(format!(
                        "{section_name}.{old} (the former name of {new}{old_unit}) must be a \
                         whole number that fits in {new}"
                    ))
                }
            }
        };
        section.insert(new.to_owned(), value);
        Ok(())
    }
}

/// The dictionary at a dotted path, if every step is one (anything else is left to serde).
fn section_mut<'a>(data: &'a mut Dict, path: &str) -> Option<&'a mut Dict> {
    path.split('.')
        .try_fold(data, |dict, step| match dict.get_mut(step) {
            Some(Value::Dict(_, inner)) => Some(inner),
            _ => None,
        })
}

/// Every section's renamed keys.
const RENAMED_KEYS: &[&[RenamedKey]] = &[
    super::token::RENAMED_KEYS,
    super::jwks_endpoint::RENAMED_KEYS,
    super::signing::RENAMED_KEYS,
    super::grant_type::RENAMED_KEYS,
];

/// A source (the file, the environment) whose former keys are read under their new names.
pub(super) struct WithRenamedKeys<P>(pub(super) P);

impl<P: Provider> Provider for WithRenamedKeys<P> {
    fn metadata(&self) -> Metadata {
        self.0.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut data = self.0.data()?;
        for dict in data.values_mut() {
            for key in RENAMED_KEYS.iter().copied().flatten() {
                key.apply(dict).map_err(Error::from)?;
            }
        }
        Ok(data)
    }

    fn profile(&self) -> Option<Profile> {
        self.0.profile()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::tests::load_toml;
    use super::super::Config;
    use super::RENAMED_KEYS;

    /// The value at a dotted path of the loaded configuration.
    fn setting(config: &Config, section: &str, key: &str) -> serde_json::Value {
        let pointer = format!("/{}/{key}", section.replace('.', "/"));
        serde_json::to_value(config)
            .unwrap()
            .pointer(&pointer)
            .cloned()
            .unwrap()
    }

    #[test]
    fn every_former_key_is_read_under_its_new_name() {
        for key in RENAMED_KEYS.iter().copied().flatten() {
            // One unit of the former key more than the default: a value every check accepts.
            let default = setting(&Config::default(), key.section, key.new);
            let old_value = default.as_u64().unwrap() / key.factor + 1;
            let config =
                load_toml(&format!("[{}]\n{} = {old_value}\n", key.section, key.old)).unwrap();
            assert_eq!(
                setting(&config, key.section, key.new),
                serde_json::json!(old_value * key.factor),
                "{}.{}",
                key.section,
                key.old
            );
            let written_anew = load_toml(&format!(
                "[{}]\n{} = {}\n",
                key.section,
                key.new,
                old_value * key.factor
            ))
            .unwrap();
            assert_eq!(config, written_anew, "{}.{}", key.section, key.old);
        }
    }

    #[test]
    fn both_names_in_one_source_are_refused() {
        for key in RENAMED_KEYS.iter().copied().flatten() {
            let err = load_toml(&format!(
                "[{}]\n{} = 7\n{} = 420\n",
                key.section, key.old, key.new
            ))
            .unwrap_err()
            .to_string();
            assert!(
                err.contains(&format!("{}.{}", key.section, key.old))
                    && err.contains(&format!("keep {} only", key.new)),
                "{err}"
            );
        }
    }

    #[test]
    fn the_former_assertion_lifetime_in_minutes_becomes_seconds() {
        let config = load_toml("[oauth.grant_type.jwt]\nmax_assertion_lifetime = 180\n").unwrap();
        assert_eq!(
            config.oauth.grant_type.jwt.max_assertion_lifetime_seconds,
            10_800
        );
        let err = load_toml("[oauth.grant_type.jwt]\nmax_assertion_lifetime = 5\nmax_assertion_lifetime_seconds = 300\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("in minutes") && err.contains("both set"),
            "{err}"
        );
        for bad in ["\"soon\"", "-1", "1.5", "307445734561825861"] {
            let err = load_toml(&format!(
                "[oauth.grant_type.jwt]\nmax_assertion_lifetime = {bad}\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("oauth.grant_type.jwt.max_assertion_lifetime")
                    && err.contains("whole number"),
                "{bad}: {err}"
            );
        }
        // The checks apply to the converted value, under the new name.
        let err = load_toml("[oauth.grant_type.jwt]\nmax_assertion_lifetime = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("oauth.grant_type.jwt.max_assertion_lifetime_seconds: must be positive"),
            "{err}"
        );
    }

    #[test]
    fn checks_name_the_new_key_and_the_file_that_set_the_former_one() {
        // load_toml also asserts that the error names the file.
        let err = load_toml("[oauth.token]\naccess_token_lifetime = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("oauth.token.access_token_lifetime_seconds: must be positive (set in"),
            "{err}"
        );
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn former_names_work_in_the_environment_too() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "deployment.toml",
                "[oauth.token]\naccess_token_lifetime_seconds = 1000\n\
                 [oauth.grant_type.jwt]\nmax_assertion_lifetime = 2\n",
            )?;
            jail.set_env("GRANTOR_OAUTH__TOKEN__ACCESS_TOKEN_LIFETIME", "600");
            jail.set_env("GRANTOR_OAUTH__SIGNING__ROTATION_MARGIN", "5");
            let config = Config::load(Some(Path::new("deployment.toml"))).unwrap();
            // The environment overrides the file, whichever name either uses.
            assert_eq!(config.oauth.token.access_token_lifetime_seconds, 600);
            assert_eq!(config.oauth.signing.rotation_margin_seconds, 5);
            assert_eq!(
                config.oauth.grant_type.jwt.max_assertion_lifetime_seconds,
                120
            );
            jail.set_env("GRANTOR_OAUTH__SIGNING__ROTATION_MARGIN_SECONDS", "6");
            let err = Config::load(Some(Path::new("deployment.toml"))).unwrap_err();
            assert!(err.to_string().contains("rotation_margin"), "{err}");
            Ok(())
        });
    }
}
