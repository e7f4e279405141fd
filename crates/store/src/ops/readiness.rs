//! Readiness: one read of sqlx's migration table, compared with the
//! migrations this backend embeds (`MIGRATOR` in `sqlite/mod.rs` and
//! `postgres/mod.rs`).

use super::Backend;
use crate::{MigrationStatus, StoreResult};

impl Backend {
    /// Answers only if the database does; the versions it applied against
    /// those this binary embeds.
    pub async fn migration_status(&self) -> StoreResult<MigrationStatus> {
        let applied: Vec<(i64, bool)> =
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&self.pool)
                .await?;
        let embedded: Vec<i64> = super::super::MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| m.version)
            .collect();
        let pending = embedded
            .iter()
            .copied()
            .filter(|v| !applied.iter().any(|(a, ok)| a == v && *ok))
            .collect();
        let unknown = applied
            .iter()
            .map(|(v, _)| *v)
            .filter(|v| !embedded.contains(v))
            .collect();
        Ok(MigrationStatus { pending, unknown })
    }
}
