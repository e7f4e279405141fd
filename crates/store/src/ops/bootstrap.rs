use grantor_domain::Timestamp;

use super::client_grants::insert_client_grant_in;
use super::clients::insert_client_in;
use super::resource_servers::insert_resource_server_in;
use super::Backend;
use crate::{BootstrapPlan, StoreResult};

impl Backend {
    /// The tenant row is the latch: the first transaction to insert it writes
    /// the rest; a concurrent one waits on the primary key, then does nothing.
    pub async fn bootstrap(&self, plan: &BootstrapPlan) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let t = &plan.tenant;
        let inserted = sqlx::query(
            "INSERT INTO tenant (id, friendly_name, revoke_refresh_token_grant, default_audience, session_lifetime, idle_session_lifetime, created_at) VALUES (1, $1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&t.friendly_name)
        .bind(t.revoke_refresh_token_grant)
        .bind(&t.default_audience)
        .bind(t.session_lifetime)
        .bind(t.idle_session_lifetime)
        .bind(plan.now.0)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !inserted {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_resource_server_in(&mut tx, &plan.management_api).await?;
        insert_client_in(&mut tx, &plan.management_client).await?;
        insert_client_grant_in(&mut tx, &plan.management_grant).await?;
        sqlx::query("INSERT INTO admins (email, password_hash, created_at) VALUES ($1, $2, $3)")
            .bind(&plan.admin_email)
            .bind(&plan.admin_password_hash)
            .bind(plan.now.0)
            .execute(&mut *tx)
            .await?;
        for key in &plan.signing_keys {
            super::signing_keys::insert_key_in(&mut tx, key, key.state).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn sync_management_api_identifier(
        &self,
        identifier: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE resource_servers SET identifier = $1, updated_at = $2 WHERE is_system = TRUE AND identifier <> $1")
            .bind(identifier)
            .bind(now.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn refresh_token_mac_key(
        &self,
        candidate: &[u8],
        now: Timestamp,
    ) -> StoreResult<Vec<u8>> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO token_mac_keys (id, secret, created_at) VALUES ('refresh', $1, $2) ON CONFLICT (id) DO NOTHING")
            .bind(candidate)
            .bind(now.0)
            .execute(&mut *tx)
            .await?;
        let key: Vec<u8> =
            sqlx::query_scalar("SELECT secret FROM token_mac_keys WHERE id = 'refresh'")
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(key)
    }

    pub async fn admin_password_hash(&self, email: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT password_hash FROM admins WHERE email = $1")
                .bind(email)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
