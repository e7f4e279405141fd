use grantor_domain::Timestamp;
use sqlx::FromRow;

use super::Backend;
use crate::{AuthorizationCodeRecord, CodeRedemption, StoreResult};

#[derive(FromRow)]
struct CodeRow {
    code_hash: String,
    client_id: String,
    user_id: String,
    session_id: Option<String>,
    grant_id: String,
    redirect_uri: String,
    audience: String,
    scope: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    device_name: Option<String>,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    issued_family_id: Option<String>,
    issued_jti: Option<String>,
}

impl Backend {
    pub async fn insert_authorization_code(&self, c: &AuthorizationCodeRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, user_id, session_id, grant_id, redirect_uri, audience, scope, nonce, code_challenge, device_name, auth_time, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&c.code_hash)
        .bind(&c.client_id)
        .bind(&c.user_id)
        .bind(&c.session_id)
        .bind(&c.grant_id)
        .bind(&c.redirect_uri)
        .bind(&c.audience)
        .bind(&c.scope)
        .bind(&c.nonce)
        .bind(&c.code_challenge)
        .bind(&c.device_name)
        .bind(c.auth_time.0)
        .bind(c.created_at.0)
        .bind(c.expires_at.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Spends a code exactly once: the conditional update is the latch, so of
    /// two concurrent redemptions one gets `Redeemed` and one `Replayed`.
    pub async fn redeem_authorization_code(
        &self,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<CodeRedemption> {
        let mut tx = self.begin_write().await?;
        let spent = sqlx::query(
            "UPDATE authorization_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(code_hash)
        .bind(now.0)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let row: Option<CodeRow> =
            sqlx::query_as("SELECT * FROM authorization_codes WHERE code_hash = $1")
                .bind(code_hash)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        let Some(r) = row else {
            return Ok(CodeRedemption::Invalid);
        };
        if !spent {
            return Ok(if r.used_at.is_some() {
                CodeRedemption::Replayed {
                    issued_family_id: r.issued_family_id,
                    issued_jti: r.issued_jti,
                }
            } else {
                CodeRedemption::Invalid
            });
        }
        Ok(CodeRedemption::Redeemed(Box::new(
            AuthorizationCodeRecord {
                code_hash: r.code_hash,
                client_id: r.client_id,
                user_id: r.user_id,
                session_id: r.session_id,
                grant_id: r.grant_id,
                redirect_uri: r.redirect_uri,
                audience: r.audience,
                scope: r.scope,
                nonce: r.nonce,
                code_challenge: r.code_challenge,
                device_name: r.device_name,
                auth_time: Timestamp(r.auth_time),
                created_at: Timestamp(r.created_at),
                expires_at: Timestamp(r.expires_at),
            },
        )))
    }
}
