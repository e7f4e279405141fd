//! What `GET /readyz` asks of the database: whether the migrations applied
//! are exactly the ones this binary embeds.

/// How the database's applied migrations compare with this binary's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Versions this binary embeds that the database has not applied (or
    /// recorded as failed).
    pub pending: Vec<i64>,
    /// Versions the database applied that this binary does not know: a
    /// newer release migrated it.
    pub unknown: Vec<i64>,
}

impl MigrationStatus {
    /// No pending and no unknown version.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty()
    }
}
