//! The audit log's rows (issue 25, item 3): appended one at a time, listed newest first, never
//! changed or deleted here. What an entry says (who, which action, what detail) is decided by
//! `crate::audit`; this module only stores and reads it, and refuses to read back a `via` or a
//! `detail` it cannot understand (`CorruptValue`) rather than guess.

use diesel::prelude::*;

use super::schema::audit_log;
use super::{CorruptValue, DbConnection, Store, StoreError};
use crate::audit::Via;

/// Most entries one listing returns, whatever the caller asks.
pub const MAX_AUDIT_PAGE: usize = 1000;

/// One entry as read back.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    /// Increases with each entry: the order of the log, and what `before_id` pages by.
    pub id: i64,
    /// When the change was made (Unix seconds).
    pub at: i64,
    pub actor: String,
    pub via: Via,
    pub from_address: Option<String>,
    pub action: String,
    pub tenant_domain: Option<String>,
    pub target: String,
    /// A JSON object of what changed.
    pub detail: serde_json::Value,
}

/// Which entries to list: the newest `limit` (at most `MAX_AUDIT_PAGE`), of one tenant or all,
/// older than the entry `before_id` when given (the next page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub tenant: Option<String>,
    pub before_id: Option<i64>,
    pub limit: usize,
}

/// An entry to append (`crate::audit::record` builds it).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_log)]
pub(crate) struct NewAuditEntry<'a> {
    pub at: i64,
    pub actor: &'a str,
    pub via: &'a str,
    pub from_address: Option<&'a str>,
    pub action: &'a str,
    pub tenant_domain: Option<&'a str>,
    pub target: &'a str,
    /// JSON text.
    pub detail: &'a str,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    via: String,
    from_address: Option<String>,
    action: String,
    tenant_domain: Option<String>,
    target: String,
    detail: String,
}

impl AuditRow {
    fn decode(self) -> Result<AuditEntry, CorruptValue> {
        let corrupt = |column: &'static str, reason: String| CorruptValue {
            table: "audit_log",
            column,
            row: self.id.to_string(),
            reason,
        };
        let via = Via::parse(&self.via)
            .ok_or_else(|| corrupt("via", format!("'{}' is not cli, api or console", self.via)))?;
        let detail = serde_json::from_str(&self.detail)
            .map_err(|e| corrupt("detail", format!("not JSON: {e}")))?;
        Ok(AuditEntry {
            id: self.id,
            at: self.at,
            actor: self.actor,
            via,
            from_address: self.from_address,
            action: self.action,
            tenant_domain: self.tenant_domain,
            target: self.target,
            detail,
        })
    }
}

/// Appends `entry` on `conn`, inside whatever transaction the caller has open.
pub(super) fn insert_audit(
    conn: &mut DbConnection,
    entry: &NewAuditEntry<'_>,
) -> Result<(), StoreError> {
    diesel::insert_into(audit_log::table)
        .values(entry)
        .execute(conn)?;
    Ok(())
}

impl Store {
    /// Appends one entry to the audit log.
    pub(crate) fn append_audit(&self, entry: &NewAuditEntry<'_>) -> Result<(), StoreError> {
        self.with_conn(|conn| insert_audit(conn, entry))
    }

    /// The entries `filter` selects, newest first. A limit of 0 or above `MAX_AUDIT_PAGE` lists
    /// `MAX_AUDIT_PAGE`.
    pub fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = match filter.limit {
            0 => MAX_AUDIT_PAGE,
            n => n.min(MAX_AUDIT_PAGE),
        };
        // At most MAX_AUDIT_PAGE, so the conversion cannot fail.
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<AuditRow> = self.with_conn(|conn| {
            let mut query = audit_log::table
                .select(AuditRow::as_select())
                .order(audit_log::id.desc())
                .limit(limit)
                .into_boxed();
            if let Some(tenant) = &filter.tenant {
                query = query.filter(audit_log::tenant_domain.eq(tenant.clone()));
            }
            if let Some(before) = filter.before_id {
                query = query.filter(audit_log::id.lt(before));
            }
            Ok(query.load(conn)?)
        })?;
        Ok(rows
            .into_iter()
            .map(AuditRow::decode)
            .collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::for_each_backend;

    fn append(store: &Store, at: i64, tenant: Option<&str>, action: &str) {
        store
            .append_audit(&NewAuditEntry {
                at,
                actor: "alice",
                via: "cli",
                from_address: Some("host-1"),
                action,
                tenant_domain: tenant,
                target: "target",
                detail: r#"{"n":1}"#,
            })
            .unwrap();
    }

    fn actions(entries: &[AuditEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.action.as_str()).collect()
    }

    #[test]
    fn entries_are_listed_newest_first_by_tenant_and_paged() {
        for_each_backend(|store| {
            append(store, 10, Some("acme"), "tenant.add");
            append(store, 11, Some("other"), "tenant.add");
            append(store, 12, Some("acme"), "client.add");
            append(store, 13, None, "plugins.reload");
            let all = store
                .list_audit(&AuditFilter {
                    limit: 10,
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(
                actions(&all),
                ["plugins.reload", "client.add", "tenant.add", "tenant.add"]
            );
            let first = &all[3];
            assert_eq!(first.at, 10);
            assert_eq!(first.actor, "alice");
            assert_eq!(first.via, Via::Cli);
            assert_eq!(first.from_address.as_deref(), Some("host-1"));
            assert_eq!(first.tenant_domain.as_deref(), Some("acme"));
            assert_eq!(first.target, "target");
            assert_eq!(first.detail, serde_json::json!({"n": 1}));
            assert!(all.windows(2).all(|w| w[0].id > w[1].id), "{all:?}");

            let acme = store
                .list_audit(&AuditFilter {
                    tenant: Some("acme".into()),
                    limit: 10,
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(actions(&acme), ["client.add", "tenant.add"]);

            let page = store
                .list_audit(&AuditFilter {
                    limit: 2,
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(actions(&page), ["plugins.reload", "client.add"]);
            let next = store
                .list_audit(&AuditFilter {
                    before_id: Some(page[1].id),
                    limit: 2,
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(next.iter().map(|e| e.at).collect::<Vec<_>>(), [11, 10]);
        });
    }

    #[test]
    fn entries_outlive_their_tenant() {
        for_each_backend(|store| {
            store.add_tenant("gone.example", "Gone", 1).unwrap();
            append(store, 2, Some("gone.example"), "tenant.add");
            store.remove_tenant("gone.example").unwrap();
            append(store, 3, Some("gone.example"), "tenant.remove");
            let entries = store
                .list_audit(&AuditFilter {
                    tenant: Some("gone.example".into()),
                    limit: 10,
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(actions(&entries), ["tenant.remove", "tenant.add"]);
        });
    }

    #[test]
    fn an_unreadable_entry_is_an_error_not_skipped() {
        for_each_backend(|store| {
            store
                .append_audit(&NewAuditEntry {
                    at: 1,
                    actor: "alice",
                    via: "telnet",
                    from_address: None,
                    action: "tenant.add",
                    tenant_domain: None,
                    target: "x",
                    detail: "{}",
                })
                .unwrap();
            let error = store.list_audit(&AuditFilter::default()).unwrap_err();
            assert!(matches!(error, StoreError::Corrupt(_)), "{error}");
            assert!(error.to_string().contains("telnet"), "{error}");
        });
    }
}
