//! One time policy for the registered time claims (RFC 7519 4.1.4-4.1.6): `exp` required and not
//! reached ("on or after" it the token is expired), `nbf` not ahead, `iat` not ahead (and required
//! when the caller says so), each with the caller's leeway in the token's favour. The leeway and
//! the requirements are data; the limits a caller adds (a longest lifetime, an `iat` age) stay
//! with the caller.

use serde_json::{Map, Value};

/// The time claims as NumericDates (seconds since 1970; a fraction is truncated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeClaims {
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimePolicy {
    /// Clock skew allowed, in seconds, on each of `exp`, `nbf` and `iat`.
    pub leeway_seconds: i64,
    pub require_iat: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The claim is present and not a NumericDate.
    #[error("{0} is not a NumericDate")]
    NotNumericDate(&'static str),
    #[error("no {0}")]
    Missing(&'static str),
    #[error("expired at {exp}")]
    Expired { exp: i64 },
    #[error("not valid before {nbf}")]
    NotYetValid { nbf: i64 },
    #[error("issued in the future ({iat})")]
    IssuedInFuture { iat: i64 },
}

impl TimeClaims {
    /// Reads `exp`, `nbf` and `iat` (in this order), refusing a present value of the wrong type.
    pub fn read(claims: &Map<String, Value>) -> Result<TimeClaims, TimeError> {
        Ok(TimeClaims {
            exp: numeric_date(claims, "exp")?,
            nbf: numeric_date(claims, "nbf")?,
            iat: numeric_date(claims, "iat")?,
        })
    }
}

/// A NumericDate claim (RFC 7519 2): seconds since the epoch, possibly fractional (truncated).
pub fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, TimeError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(i));
            }
            match n.as_f64() {
                // Far beyond any real date, but within i64, so arithmetic cannot overflow.
                Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f.trunc() as i64)),
                _ => Err(TimeError::NotNumericDate(name)),
            }
        }
        Some(_) => Err(TimeError::NotNumericDate(name)),
    }
}

impl TimePolicy {
    /// `exp` alone: required and not reached. Cheap and independent of keys, so a caller may run it
    /// before the signature.
    pub fn check_expiry(&self, exp: Option<i64>, now: i64) -> Result<i64, TimeError> {
        let exp = exp.ok_or(TimeError::Missing("exp"))?;
        if now >= exp.saturating_add(self.leeway_seconds) {
            return Err(TimeError::Expired { exp });
        }
        Ok(exp)
    }

    /// The whole window, in this order: `exp`, `nbf`, `iat`. Returns `exp`.
    pub fn check(&self, claims: TimeClaims, now: i64) -> Result<i64, TimeError> {
        let exp = self.check_expiry(claims.exp, now)?;
        let ahead = now.saturating_add(self.leeway_seconds);
        if let Some(nbf) = claims.nbf.filter(|nbf| *nbf > ahead) {
            return Err(TimeError::NotYetValid { nbf });
        }
        match claims.iat {
            Some(iat) if iat > ahead => Err(TimeError::IssuedInFuture { iat }),
            None if self.require_iat => Err(TimeError::Missing("iat")),
            _ => Ok(exp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const POLICY: TimePolicy = TimePolicy {
        leeway_seconds: 60,
        require_iat: false,
    };

    fn times(exp: Option<i64>, nbf: Option<i64>, iat: Option<i64>) -> TimeClaims {
        TimeClaims { exp, nbf, iat }
    }

    #[test]
    fn a_fresh_token_passes_with_the_leeway_in_its_favour() {
        assert_eq!(
            POLICY.check(times(Some(NOW + 300), Some(NOW - 10), Some(NOW - 10)), NOW),
            Ok(NOW + 300)
        );
        assert!(POLICY
            .check(times(Some(NOW - 59), Some(NOW + 60), Some(NOW + 60)), NOW)
            .is_ok());
    }

    #[test]
    fn each_bound_is_enforced() {
        assert_eq!(
            POLICY.check(times(None, None, None), NOW),
            Err(TimeError::Missing("exp"))
        );
        assert_eq!(
            POLICY.check(times(Some(NOW - 61), None, None), NOW),
            Err(TimeError::Expired { exp: NOW - 61 })
        );
        assert_eq!(
            POLICY.check(times(Some(NOW + 300), Some(NOW + 61), None), NOW),
            Err(TimeError::NotYetValid { nbf: NOW + 61 })
        );
        assert_eq!(
            POLICY.check(times(Some(NOW + 300), None, Some(NOW + 61)), NOW),
            Err(TimeError::IssuedInFuture { iat: NOW + 61 })
        );
        let strict = TimePolicy {
            require_iat: true,
            ..POLICY
        };
        assert_eq!(
            strict.check(times(Some(NOW + 300), None, None), NOW),
            Err(TimeError::Missing("iat"))
        );
    }

    #[test]
    fn a_token_is_expired_on_the_second_of_exp_plus_leeway() {
        // RFC 7519 4.1.4: "on or after".
        assert!(POLICY.check_expiry(Some(NOW - 60), NOW).is_err());
        let exact = TimePolicy {
            leeway_seconds: 0,
            require_iat: false,
        };
        assert!(exact.check_expiry(Some(NOW), NOW).is_err());
        assert_eq!(POLICY.check_expiry(Some(NOW - 59), NOW), Ok(NOW - 59));
        assert_eq!(exact.check_expiry(Some(NOW + 1), NOW), Ok(NOW + 1));
    }

    #[test]
    fn numeric_dates_are_read_strictly() {
        let claims = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            TimeClaims::read(&claims(json!({"exp": 10, "nbf": 1.9}))),
            Ok(times(Some(10), Some(1), None))
        );
        assert_eq!(
            TimeClaims::read(&claims(json!({"exp": "1700000000"}))),
            Err(TimeError::NotNumericDate("exp"))
        );
        assert_eq!(
            TimeClaims::read(&claims(json!({"iat": 1e300}))),
            Err(TimeError::NotNumericDate("iat"))
        );
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        assert!(POLICY
            .check(times(Some(i64::MIN), None, None), NOW)
            .is_err());
        assert!(POLICY
            .check(times(Some(i64::MAX), Some(i64::MAX), Some(i64::MIN)), NOW)
            .is_err());
        let huge = TimePolicy {
            leeway_seconds: i64::MAX,
            require_iat: false,
        };
        assert!(huge.check(times(Some(0), Some(i64::MAX), None), 0).is_ok());
    }
}
