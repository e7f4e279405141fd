//! Bulk import: users, their grants and refresh tokens made elsewhere (a
//! migration from another server, a load test's fixture), in one
//! transaction, hundreds of rows per statement.

use super::refresh_tokens::insert_families_in;
use super::users::insert_users_in;
use super::{to_json, Backend, Conn};
use crate::{ImportBatch, StoreResult, UserGrant};

/// Rows per statement when inserting grants (8 parameters a row): about
/// [`super::MAX_BINDS`] parameters.
const GRANT_CHUNK: usize = super::MAX_BINDS / 8;

async fn insert_grants_in(conn: &mut Conn, grants: &[UserGrant]) -> StoreResult<()> {
    for chunk in grants.chunks(GRANT_CHUNK) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p: Vec<String> = (1..=8).map(|k| format!("${}", i * 8 + k)).collect();
                format!("({})", p.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO grants (id, user_id, client_id, audience, scope, token_epoch, created_at, updated_at) VALUES {}",
            rows.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for g in chunk {
            q = q
                .bind(g.id.as_str())
                .bind(g.user_id.as_str())
                .bind(g.client_id.as_str())
                .bind(&g.audience)
                .bind(to_json(&g.scope.to_vec()))
                .bind(g.token_epoch)
                .bind(g.created_at.0)
                .bind(g.updated_at.0);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

impl Backend {
    /// Imports users, then grants, then refresh-token families, in one
    /// transaction: all of it or none. Families take their user's current
    /// epoch; the 200-per-client cap is not applied (the tokens already
    /// exist). Call [`Backend::analyze`] after a large import.
    pub async fn import(&self, batch: &ImportBatch) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_users_in(&mut tx, &batch.users).await?;
        insert_grants_in(&mut tx, &batch.grants).await?;
        insert_families_in(&mut tx, &batch.families, false).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Refreshes the planner's statistics after a bulk load changed the
    /// tables' shape (see `analyze_tables` in each backend module).
    pub async fn analyze(&self) -> StoreResult<()> {
        super::analyze_tables(
            self,
            &[
                "users",
                "grants",
                "refresh_token_families",
                "refresh_token_secrets",
            ],
        )
        .await
    }
}
