//! `grantor backup`: a consistent copy of the SQLite database, made while servers keep serving.
//! `VACUUM INTO` reads the database in one read transaction (writers go on; the copy is of one
//! moment) and writes a compacted copy, which is a database file ready to start from. PostgreSQL
//! has its own tools (`pg_dump`), so the store refuses to back it up.

use std::path::Path;

use diesel::sql_types::Text;
use diesel::RunQueryDsl;

use super::connection::{Backend, DbConnection};
use super::{Invalid, Store, StoreError};

impl Store {
    /// Copies the database to `path`, which must not exist yet.
    pub fn backup_to(&self, path: &Path) -> Result<(), StoreError> {
        if self.backend() != Backend::Sqlite {
            return Err(Invalid::BackupOfPostgres.into());
        }
        if path.exists() {
            return Err(Invalid::BackupTargetExists(path.to_owned()).into());
        }
        let target = path.to_str().ok_or(Invalid::BackupPathNotUtf8)?.to_owned();
        self.with_conn(|conn| match conn {
            DbConnection::Sqlite(c) => {
                diesel::sql_query("VACUUM INTO ?")
                    .bind::<Text, _>(target)
                    .execute(c)?;
                Ok(())
            }
            DbConnection::Postgres(_) => Err(Invalid::BackupOfPostgres.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_is_a_database_to_start_from_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("grantor.db").display());
        let store = Store::open(&url, &Default::default(), "carbon.super").unwrap();
        store
            .ensure_tenant("backup.example", crate::clock::now_unix())
            .unwrap();
        let copy = dir.path().join("copy.db");
        store.backup_to(&copy).unwrap();
        let error = store.backup_to(&copy).unwrap_err().to_string();
        assert!(error.contains("never overwrites"), "{error}");
        let restored = Store::open(
            &format!("sqlite://{}", copy.display()),
            &Default::default(),
            "carbon.super",
        )
        .unwrap();
        let tenants: Vec<String> = restored
            .list_tenants()
            .unwrap()
            .into_iter()
            .map(|t| t.domain)
            .collect();
        assert!(
            tenants.contains(&"backup.example".to_owned()),
            "{tenants:?}"
        );
    }
}
