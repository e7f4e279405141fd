use grantor_domain::TenantSettings;
use sqlx::FromRow;

use super::Backend;
use crate::{LogEvent, StoreResult};

#[derive(FromRow)]
struct TenantRow {
    friendly_name: String,
    revoke_refresh_token_grant: bool,
    default_audience: String,
    session_lifetime: i64,
    idle_session_lifetime: i64,
}

impl Backend {
    pub async fn tenant_settings(&self) -> StoreResult<TenantSettings> {
        let row: TenantRow = sqlx::query_as(
            "SELECT friendly_name, revoke_refresh_token_grant, default_audience, session_lifetime, idle_session_lifetime FROM tenant WHERE id = 1",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(TenantSettings {
            friendly_name: row.friendly_name,
            revoke_refresh_token_grant: row.revoke_refresh_token_grant,
            default_audience: row.default_audience,
            session_lifetime: row.session_lifetime,
            idle_session_lifetime: row.idle_session_lifetime,
        })
    }

    pub async fn update_tenant_settings(
        &self,
        s: &TenantSettings,
        event: Option<&LogEvent>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE tenant SET friendly_name = $1, revoke_refresh_token_grant = $2, default_audience = $3, session_lifetime = $4, idle_session_lifetime = $5 WHERE id = 1",
        )
        .bind(&s.friendly_name)
        .bind(s.revoke_refresh_token_grant)
        .bind(&s.default_audience)
        .bind(s.session_lifetime)
        .bind(s.idle_session_lifetime)
        .execute(&mut *tx)
        .await?;
        if let Some(event) = event {
            super::logs::insert_event_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
