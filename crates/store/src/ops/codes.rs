use grantor_domain::{FamilyId, SessionId, Timestamp, TokenHash};
use sqlx::FromRow;

use super::Backend;
use crate::{AuthorizationCodeRecord, CodeRedemption, StoreResult, StoredCode};

#[derive(FromRow)]
struct CodeRow {
    code_hash: String,
    client_id: String,
    user_id: String,
    session_id: Option<String>,
    grant_id: String,
    redirect_uri: String,
    redirect_uri_sent: bool,
    audience: String,
    scope: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    device_name: Option<String>,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    dpop_jkt: Option<String>,
}

impl From<CodeRow> for StoredCode {
    fn from(r: CodeRow) -> Self {
        StoredCode {
            used_at: r.used_at.map(Timestamp),
            record: AuthorizationCodeRecord {
                code_hash: TokenHash::from_stored(r.code_hash),
                client_id: r.client_id.into(),
                user_id: r.user_id.into(),
                session_id: r.session_id.map(SessionId::from),
                grant_id: r.grant_id.into(),
                redirect_uri: r.redirect_uri,
                redirect_uri_sent: r.redirect_uri_sent,
                audience: r.audience,
                scope: r.scope,
                nonce: r.nonce,
                code_challenge: r.code_challenge,
                device_name: r.device_name,
                auth_time: Timestamp(r.auth_time),
                created_at: Timestamp(r.created_at),
                expires_at: Timestamp(r.expires_at),
                dpop_jkt: r.dpop_jkt,
            },
        }
    }
}

impl Backend {
    pub async fn insert_authorization_code(&self, c: &AuthorizationCodeRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, user_id, session_id, grant_id, redirect_uri, redirect_uri_sent, audience, scope, nonce, code_challenge, device_name, auth_time, created_at, expires_at, dpop_jkt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(c.code_hash.as_str())
        .bind(c.client_id.as_str())
        .bind(c.user_id.as_str())
        .bind(c.session_id.as_ref().map(SessionId::as_str))
        .bind(c.grant_id.as_str())
        .bind(&c.redirect_uri)
        .bind(c.redirect_uri_sent)
        .bind(&c.audience)
        .bind(&c.scope)
        .bind(&c.nonce)
        .bind(&c.code_challenge)
        .bind(&c.device_name)
        .bind(c.auth_time.0)
        .bind(c.created_at.0)
        .bind(c.expires_at.0)
        .bind(&c.dpop_jkt)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Reads a code, used or not, without writing: what it was issued for
    /// never changes, so the caller's checks against it cannot go stale.
    pub async fn authorization_code(
        &self,
        code_hash: &TokenHash,
    ) -> StoreResult<Option<StoredCode>> {
        let row: Option<CodeRow> = sqlx::query_as(
            "SELECT code_hash, client_id, user_id, session_id, grant_id, redirect_uri, redirect_uri_sent, audience, scope, nonce, code_challenge, device_name, auth_time, created_at, expires_at, used_at, dpop_jkt FROM authorization_codes WHERE code_hash = $1",
        )
        .bind(code_hash.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// Spends a code exactly once: the conditional update is the latch, so of
    /// two concurrent redemptions one gets `Redeemed` and one `Replayed`.
    pub async fn redeem_authorization_code(
        &self,
        code_hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<CodeRedemption> {
        let mut tx = self.begin_write().await?;
        let spent = sqlx::query(
            "UPDATE authorization_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(code_hash.as_str())
        .bind(now.0)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if spent {
            tx.commit().await?;
            return Ok(CodeRedemption::Redeemed);
        }
        let row: Option<(Option<i64>, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT used_at, issued_family_id, issued_jti FROM authorization_codes WHERE code_hash = $1",
        )
        .bind(code_hash.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(match row {
            Some((Some(_), issued_family_id, issued_jti)) => CodeRedemption::Replayed {
                issued_family_id: issued_family_id.map(FamilyId::from),
                issued_jti,
            },
            _ => CodeRedemption::Invalid,
        })
    }
}
