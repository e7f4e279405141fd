//! Signing keys and their rotation. Every change bumps the one row of
//! `signing_key_version` first: on PostgreSQL that row lock orders
//! concurrent rotations and revocations (each statement after it sees what
//! the one before it committed), and every process polls the version to
//! know when to reload its keys.

use grantor_domain::Timestamp;
use sqlx::FromRow;

use super::{Backend, Conn, FOR_UPDATE};
use crate::{
    LogEvent, SigningKeyRecord, SigningKeyRevocation, SigningKeySet, SigningKeyState, StoreError,
    StoreResult,
};

const KEY_COLUMNS: &str =
    "kid, alg, private_pkcs8, created_at, state, current_since, current_until, revoked_at";

#[derive(FromRow)]
struct KeyRow {
    kid: String,
    alg: String,
    private_pkcs8: Vec<u8>,
    created_at: i64,
    state: String,
    current_since: Option<i64>,
    current_until: Option<i64>,
    revoked_at: Option<i64>,
}

#[derive(FromRow)]
struct VersionedKeyRow {
    #[sqlx(flatten)]
    key: KeyRow,
    set_version: i64,
}

impl TryFrom<KeyRow> for SigningKeyRecord {
    type Error = StoreError;

    fn try_from(r: KeyRow) -> StoreResult<Self> {
        let state = SigningKeyState::parse(&r.state).ok_or_else(|| {
            StoreError::Unavailable(anyhow::anyhow!(
                "signing key {} has an unknown state {:?}",
                r.kid,
                r.state
            ))
        })?;
        Ok(SigningKeyRecord {
            kid: r.kid,
            alg: r.alg,
            private_pkcs8: r.private_pkcs8,
            created_at: Timestamp(r.created_at),
            state,
            current_since: r.current_since.map(Timestamp),
            current_until: r.current_until.map(Timestamp),
            revoked_at: r.revoked_at.map(Timestamp),
        })
    }
}

/// Stores `key` in `state` (its own `state` field is not consulted, so a
/// rotation can store freshly made keys as next).
pub(super) async fn insert_key_in(
    conn: &mut Conn,
    key: &SigningKeyRecord,
    state: SigningKeyState,
) -> StoreResult<()> {
    let current_since = if state == SigningKeyState::Current {
        Some(key.current_since.unwrap_or(key.created_at).0)
    } else {
        None
    };
    sqlx::query("INSERT INTO signing_keys (kid, alg, private_pkcs8, created_at, state, current_since) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.private_pkcs8)
        .bind(key.created_at.0)
        .bind(state.as_str())
        .bind(current_since)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Bumps the version; taken first, it is the lock of every key change.
async fn bump_version_in(conn: &mut Conn) -> StoreResult<()> {
    sqlx::query("UPDATE signing_key_version SET version = version + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn keys_in_state_in(
    conn: &mut Conn,
    state: SigningKeyState,
) -> StoreResult<Vec<SigningKeyRecord>> {
    let rows: Vec<KeyRow> = sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS} FROM signing_keys WHERE state = $1 ORDER BY created_at, kid"
    ))
    .bind(state.as_str())
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(SigningKeyRecord::try_from).collect()
}

impl Backend {
    pub async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows: Vec<KeyRow> = sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY created_at, kid"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(SigningKeyRecord::try_from).collect()
    }

    pub async fn signing_key_set(&self) -> StoreResult<SigningKeySet> {
        // One statement, so the version and the keys are one snapshot.
        let rows: Vec<VersionedKeyRow> = sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS}, (SELECT version FROM signing_key_version WHERE id = 1) AS set_version FROM signing_keys ORDER BY created_at, kid"
        ))
        .fetch_all(&self.pool)
        .await?;
        let version = match rows.first() {
            Some(row) => row.set_version,
            None => self.signing_key_version().await?,
        };
        let keys = rows
            .into_iter()
            .map(|r| SigningKeyRecord::try_from(r.key))
            .collect::<StoreResult<_>>()?;
        Ok(SigningKeySet { version, keys })
    }

    pub async fn signing_key_version(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT version FROM signing_key_version WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn ensure_next_signing_keys(
        &self,
        fresh: &[SigningKeyRecord],
        _now: Timestamp,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        // Lock first (a concurrent first start waits here, then sees ours).
        sqlx::query(&format!(
            "SELECT version FROM signing_key_version WHERE id = 1{FOR_UPDATE}"
        ))
        .execute(&mut *tx)
        .await?;
        let have: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT alg FROM signing_keys WHERE state = 'next'")
                .fetch_all(&mut *tx)
                .await?;
        let mut added = 0;
        for key in fresh.iter().filter(|k| !have.contains(&k.alg)) {
            insert_key_in(&mut tx, key, SigningKeyState::Next).await?;
            added += 1;
        }
        if added == 0 {
            tx.rollback().await?;
            return Ok(0);
        }
        bump_version_in(&mut tx).await?;
        tx.commit().await?;
        Ok(added)
    }

    pub async fn rotate_signing_keys(
        &self,
        fresh: &[SigningKeyRecord],
        now: Timestamp,
        event: &LogEvent,
    ) -> StoreResult<Vec<SigningKeyRecord>> {
        let mut tx = self.begin_write().await?;
        bump_version_in(&mut tx).await?;
        // Every algorithm rotated must have a next key to promote, or it
        // would be left without a current one.
        let next: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT alg FROM signing_keys WHERE state = 'next'")
                .fetch_all(&mut *tx)
                .await?;
        if let Some(missing) = fresh.iter().find(|k| !next.contains(&k.alg)) {
            tx.rollback().await?;
            return Err(StoreError::Conflict(format!(
                "no next {} signing key to rotate to",
                missing.alg
            )));
        }
        // The keys this rotation demotes, read under the version's lock: the
        // audit event names them (the caller's cached set may be stale).
        let demoted: Vec<String> =
            sqlx::query_scalar("SELECT kid FROM signing_keys WHERE state = 'current' ORDER BY alg")
                .fetch_all(&mut *tx)
                .await?;
        let mut event = event.clone();
        if let Some(details) = event
            .details
            .get_mut("signing_keys")
            .and_then(serde_json::Value::as_object_mut)
        {
            details.insert("previous".to_owned(), serde_json::json!(demoted));
        }
        sqlx::query("UPDATE signing_keys SET state = 'previous', current_until = $1 WHERE state = 'current'")
            .bind(now.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE signing_keys SET state = 'current', current_since = $1 WHERE state = 'next'",
        )
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
        for key in fresh {
            insert_key_in(&mut tx, key, SigningKeyState::Next).await?;
        }
        super::logs::insert_event_in(&mut tx, &event).await?;
        let current = keys_in_state_in(&mut tx, SigningKeyState::Current).await?;
        tx.commit().await?;
        Ok(current)
    }

    pub async fn revoke_signing_key(
        &self,
        kid: &str,
        now: Timestamp,
        event: &LogEvent,
    ) -> StoreResult<SigningKeyRevocation> {
        let mut tx = self.begin_write().await?;
        bump_version_in(&mut tx).await?;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM signing_keys WHERE kid = $1")
                .bind(kid)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(state) = state else {
            tx.rollback().await?;
            return Ok(SigningKeyRevocation::NotFound);
        };
        let state = SigningKeyState::parse(&state).ok_or_else(|| {
            StoreError::Unavailable(anyhow::anyhow!("signing key {kid} has an unknown state"))
        })?;
        if state != SigningKeyState::Previous {
            tx.rollback().await?;
            return Ok(SigningKeyRevocation::NotPrevious(state));
        }
        sqlx::query("UPDATE signing_keys SET state = 'revoked', revoked_at = $1 WHERE kid = $2")
            .bind(now.0)
            .bind(kid)
            .execute(&mut *tx)
            .await?;
        super::logs::insert_event_in(&mut tx, event).await?;
        let row: KeyRow = sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys WHERE kid = $1"
        ))
        .bind(kid)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(SigningKeyRevocation::Revoked(row.try_into()?))
    }
}
