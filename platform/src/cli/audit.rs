//! `grantor audit`: the audit log (`crate::audit`), newest first: one line per entry (time in UTC,
//! who, via, from, action, tenant, target, detail), or one JSON object per line with `--json`, the
//! same objects `GET /api/server/v1/audit` lists. It only reads; entries hold no secret to hide.

use clap::Args;

use crate::app::App;
use crate::audit::one_line;
use crate::store::{AuditEntry, AuditFilter, MAX_AUDIT_PAGE};

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this tenant's entries (a removed tenant's too); default: every tenant's and those of
    /// no tenant (plugin reloads, key rewraps).
    #[arg(long)]
    pub tenant: Option<String>,
    /// At most this many entries, the newest.
    #[arg(long, default_value_t = 100, value_parser = parse_limit)]
    pub limit: usize,
    /// Only entries older than the entry with this id (the next page).
    #[arg(long, value_name = "ID")]
    pub before: Option<i64>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

fn parse_limit(text: &str) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_AUDIT_PAGE).contains(n))
        .ok_or_else(|| format!("'{text}': give 1 to {MAX_AUDIT_PAGE}"))
}

pub(super) fn run_audit(app: App, args: AuditArgs) -> anyhow::Result<()> {
    let entries = app.oauth.store.list_audit(&AuditFilter {
        tenant: args.tenant,
        before_id: args.before,
        limit: args.limit,
    })?;
    for entry in &entries {
        if args.json {
            println!("{}", serde_json::to_string(entry)?);
        } else {
            println!("{}", line(entry));
        }
    }
    Ok(())
}

/// One entry on one line, fields separated by tabs; what is unknown or spans tenants is `-`.
fn line(entry: &AuditEntry) -> String {
    [
        rfc3339(entry.at),
        one_line(&entry.actor),
        entry.via.to_string(),
        one_line(entry.from_address.as_deref().unwrap_or("-")),
        one_line(&entry.action),
        one_line(entry.tenant_domain.as_deref().unwrap_or("-")),
        one_line(&entry.target),
        // Compact JSON escapes its control characters: it is one line already.
        entry.detail.to_string(),
    ]
    .join("\t")
}

/// Unix seconds as RFC 3339 in UTC (`2026-12-04T10:00:00Z`), by the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let seconds = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Via;

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_385_600), "2026-12-04T12:00:00Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn an_entry_is_one_line_whatever_it_holds() {
        let entry = AuditEntry {
            id: 7,
            at: 1_796_385_600,
            actor: "eve\nforged\tline".into(),
            via: Via::Cli,
            from_address: None,
            action: "user.add".into(),
            tenant_domain: Some("acme.com".into()),
            target: "bob".into(),
            detail: serde_json::json!({"claims": ["a\nb"]}),
        };
        assert_eq!(
            line(&entry),
            "2026-12-04T12:00:00Z\teve\\nforged\\tline\tcli\t-\tuser.add\tacme.com\tbob\t\
             {\"claims\":[\"a\\nb\"]}"
        );
    }

    #[test]
    fn the_limit_is_bounded() {
        assert_eq!(parse_limit("5"), Ok(5));
        assert!(parse_limit("0").is_err());
        assert!(parse_limit("1001").is_err());
        assert!(parse_limit("many").is_err());
    }
}
