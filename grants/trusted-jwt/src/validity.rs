//! Rule 6 of the grant: the assertion's time window (RFC 7523 3, items 4-6). The identity
//! provider's clock skew is applied leniently (in the assertion's favour) to `exp`, `nbf` and
//! `iat` (`grantor_jose`'s time policy); the lifetime bound and the `iat` age are this grant's
//! policy limits, measured without it.

pub use grantor_jose::TimeClaims;
use grantor_jose::{TimeError, TimePolicy};

use crate::settings::Settings;

fn policy(skew: i64) -> TimePolicy {
    TimePolicy {
        leeway_seconds: skew,
        require_iat: false,
    }
}

fn describe(error: TimeError, now: i64, skew: i64) -> String {
    match error {
        TimeError::Missing(claim) => format!("the assertion has no {claim} claim"),
        TimeError::NotNumericDate(claim) => {
            format!("the assertion's {claim} claim must be a NumericDate (seconds since 1970)")
        }
        TimeError::Expired { exp } => format!(
            "the assertion expired at {exp} (Unix time), {} seconds ago (allowed clock skew: {skew} s)",
            now.saturating_sub(exp)
        ),
        TimeError::NotYetValid { nbf } => format!(
            "the assertion is not valid before {nbf} (Unix time), {} seconds from now (allowed clock skew: {skew} s)",
            nbf.saturating_sub(now)
        ),
        TimeError::IssuedInFuture { iat } => format!(
            "the assertion's iat ({iat}) is {} seconds in the future (allowed clock skew: {skew} s)",
            iat.saturating_sub(now)
        ),
    }
}

/// `exp` is required and must not have passed (plus skew). Cheap and independent of keys, so it
/// runs before the signature: an expired assertion is refused whoever signed it.
pub fn check_expiry(exp: Option<i64>, now: i64, skew: i64) -> Result<i64, String> {
    policy(skew)
        .check_expiry(exp, now)
        .map_err(|e| describe(e, now, skew))
}

/// The rest of the window: `nbf`, `iat`, and the longest lifetime an assertion may claim.
pub fn check_window(
    claims: TimeClaims,
    now: i64,
    skew: i64,
    settings: &Settings,
) -> Result<(), String> {
    let exp = policy(skew)
        .check(claims, now)
        .map_err(|e| describe(e, now, skew))?;
    if let Some(iat) = claims.iat {
        let period = minutes(settings.iat_validity_period);
        if settings.enable_iat_validation && now.saturating_sub(iat) > period.saturating_add(skew) {
            return Err(format!(
                "the assertion was issued {} seconds ago; assertions older than {} minutes (iat_validity_period) are refused",
                now.saturating_sub(iat),
                settings.iat_validity_period
            ));
        }
    }
    let start = claims.iat.unwrap_or(now);
    let lifetime = exp.saturating_sub(start);
    let limit_seconds = settings.max_assertion_lifetime_seconds;
    let limit = i64::try_from(limit_seconds).unwrap_or(i64::MAX);
    if lifetime > limit {
        let measured = if claims.iat.is_some() {
            "exp - iat"
        } else {
            "exp - now"
        };
        // A limit in whole minutes is told as it always was (the setting was in minutes).
        let allowed = if limit_seconds % 60 == 0 {
            format!(
                "at most {} minutes (max_assertion_lifetime)",
                limit_seconds / 60
            )
        } else {
            format!("at most {limit_seconds} seconds (max_assertion_lifetime_seconds)")
        };
        return Err(format!(
            "the assertion's lifetime ({measured}) is {lifetime} seconds; {allowed} are accepted"
        ));
    }
    Ok(())
}

fn minutes(m: u64) -> i64 {
    i64::try_from(m.saturating_mul(60)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn window(exp: Option<i64>, nbf: Option<i64>, iat: Option<i64>) -> Result<(), String> {
        check_window(TimeClaims { exp, nbf, iat }, NOW, 60, &Settings::default())
    }

    #[test]
    fn a_fresh_assertion_passes() {
        assert!(window(Some(NOW + 300), Some(NOW - 10), Some(NOW - 10)).is_ok());
        // Skew is applied in the assertion's favour.
        assert!(window(Some(NOW - 59), Some(NOW + 59), Some(NOW + 59)).is_ok());
    }

    #[test]
    fn each_bound_is_enforced() {
        assert!(window(None, None, None).unwrap_err().contains("no exp"));
        assert!(window(Some(NOW - 61), None, None)
            .unwrap_err()
            .contains("expired at"));
        assert!(window(Some(NOW + 300), Some(NOW + 61), None)
            .unwrap_err()
            .contains("not valid before"));
        assert!(window(Some(NOW + 300), None, Some(NOW + 61))
            .unwrap_err()
            .contains("in the future"));
        assert!(window(Some(NOW + 300), None, Some(NOW - 30 * 60 - 61))
            .unwrap_err()
            .contains("iat_validity_period"));
        assert!(window(Some(NOW + 3600 + 1), None, None)
            .unwrap_err()
            .contains("exp - now"));
    }

    #[test]
    fn an_assertion_is_expired_on_the_second_of_exp_plus_skew() {
        // RFC 7519 4.1.4: "on or after".
        assert!(check_expiry(Some(NOW - 60), NOW, 60)
            .unwrap_err()
            .contains("expired at"));
        assert!(check_expiry(Some(NOW), NOW, 0).is_err());
        assert_eq!(check_expiry(Some(NOW - 59), NOW, 60), Ok(NOW - 59));
        assert_eq!(check_expiry(Some(NOW + 1), NOW, 0), Ok(NOW + 1));
    }

    #[test]
    fn iat_age_is_only_checked_when_enabled() {
        let settings = Settings {
            enable_iat_validation: false,
            ..Settings::default()
        };
        // 50 minutes old: past iat_validity_period (30), within max_assertion_lifetime (60).
        let old = TimeClaims {
            exp: Some(NOW + 60),
            nbf: None,
            iat: Some(NOW - 3000),
        };
        assert!(check_window(old, NOW, 0, &settings).is_ok());
        assert!(check_window(old, NOW, 0, &Settings::default()).is_err());
    }

    #[test]
    fn the_lifetime_limit_is_told_in_minutes_when_it_is_whole_minutes() {
        let claims = TimeClaims {
            exp: Some(NOW + 3 * 3600),
            nbf: None,
            iat: None,
        };
        // The default, 3600 s: the wording clients have always seen.
        assert_eq!(
            check_window(claims, NOW, 0, &Settings::default()).unwrap_err(),
            "the assertion's lifetime (exp - now) is 10800 seconds; at most 60 minutes \
             (max_assertion_lifetime) are accepted"
        );
        let settings = Settings {
            max_assertion_lifetime_seconds: 90,
            ..Settings::default()
        };
        assert_eq!(
            check_window(claims, NOW, 0, &settings).unwrap_err(),
            "the assertion's lifetime (exp - now) is 10800 seconds; at most 90 seconds \
             (max_assertion_lifetime_seconds) are accepted"
        );
        let within = TimeClaims {
            exp: Some(NOW + 90),
            ..claims
        };
        assert!(check_window(within, NOW, 0, &settings).is_ok());
        let beyond = TimeClaims {
            exp: Some(NOW + 91),
            ..claims
        };
        assert!(check_window(beyond, NOW, 0, &settings).is_err());
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        assert!(window(Some(i64::MAX), None, Some(i64::MIN)).is_err());
        assert!(window(Some(i64::MIN), None, None).is_err());
    }
}
