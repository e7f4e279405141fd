use grantor_domain::refresh_token::{FamilySnapshot, MAX_ACTIVE_PER_USER_AND_CLIENT};
use grantor_domain::{FamilyId, SessionId, Timestamp, TokenHash};
use sqlx::FromRow;

use super::batch::{params, Batch, Param, Statement};
use super::logs::event_statements;
use super::resource_servers::{joined_api, API_COLUMNS};
use super::users::{joined_user, USER_COLUMNS};
use super::{prefixed, Backend, Conn};
use crate::{
    AccessTokenRecord, ExchangeWrite, FamilyRecord, FamilyResource, IssueBatch, NewFamily,
    PresentedExchange, PresentedRefreshToken, StoreResult,
};

pub(super) const FAMILY_COLUMNS: &str = "f.id, f.user_id, f.client_id, f.grant_id, f.grant_epoch, f.user_epoch, f.session_id, f.audience, f.scope, f.rotating, f.device_name, f.initial_ip, f.initial_user_agent, f.last_ip, f.last_user_agent, f.auth_time, f.created_at, f.expires_at, f.idle_expires_at, f.last_exchanged_at, f.current_generation, f.last_rotated_at, f.revoked_at, f.dpop_jkt";

#[derive(FromRow)]
pub(super) struct FamilyRow {
    id: String,
    user_id: String,
    client_id: String,
    grant_id: String,
    grant_epoch: i64,
    user_epoch: i64,
    session_id: Option<String>,
    audience: String,
    scope: String,
    rotating: bool,
    device_name: Option<String>,
    initial_ip: String,
    initial_user_agent: String,
    last_ip: String,
    last_user_agent: String,
    auth_time: i64,
    created_at: i64,
    expires_at: Option<i64>,
    idle_expires_at: Option<i64>,
    last_exchanged_at: Option<i64>,
    current_generation: i64,
    last_rotated_at: Option<i64>,
    revoked_at: Option<i64>,
    dpop_jkt: Option<String>,
}

impl From<FamilyRow> for FamilyRecord {
    fn from(r: FamilyRow) -> Self {
        FamilyRecord {
            id: r.id.into(),
            user_id: r.user_id.into(),
            client_id: r.client_id.into(),
            grant_id: r.grant_id.into(),
            grant_epoch: r.grant_epoch,
            user_epoch: r.user_epoch,
            session_id: r.session_id.map(SessionId::from),
            audience: r.audience,
            scope: r.scope,
            rotating: r.rotating,
            device_name: r.device_name,
            initial_ip: r.initial_ip,
            initial_user_agent: r.initial_user_agent,
            last_ip: r.last_ip,
            last_user_agent: r.last_user_agent,
            auth_time: Timestamp(r.auth_time),
            created_at: Timestamp(r.created_at),
            expires_at: r.expires_at.map(Timestamp),
            idle_expires_at: r.idle_expires_at.map(Timestamp),
            last_exchanged_at: r.last_exchanged_at.map(Timestamp),
            current_generation: r.current_generation,
            last_rotated_at: r.last_rotated_at.map(Timestamp),
            revoked_at: r.revoked_at.map(Timestamp),
            dpop_jkt: r.dpop_jkt,
        }
    }
}

/// What a family's validity needs besides its own columns (grant epoch,
/// user epoch, session), and the joins that read it.
macro_rules! validity_columns {
    () => {
        "g.token_epoch AS grant_epoch_now, u.refresh_token_epoch AS user_epoch_now, se.id AS session_found, se.revoked_at AS session_revoked_at"
    };
}
macro_rules! validity_joins {
    () => {
        " LEFT JOIN grants g ON g.id = f.grant_id \
         LEFT JOIN users u ON u.user_id = f.user_id \
         LEFT JOIN sessions se ON se.id = f.session_id"
    };
}

/// A presented token, found by the hash of its secret.
const PRESENTED_EXTRA: &str = concat!("s.generation, ", validity_columns!());
const PRESENTED_FROM: &str = concat!(
    "FROM refresh_token_secrets s JOIN refresh_token_families f ON f.id = s.family_id",
    validity_joins!()
);
/// A family found by id, for a token of the generation given as `$2` whose
/// secret is no longer stored.
const PRUNED_EXTRA: &str = concat!("CAST($2 AS BIGINT) AS generation, ", validity_columns!());
const PRUNED_FROM: &str = concat!("FROM refresh_token_families f", validity_joins!());

#[derive(FromRow)]
struct PresentedRow {
    #[sqlx(flatten)]
    family: FamilyRow,
    generation: i64,
    grant_epoch_now: Option<i64>,
    user_epoch_now: Option<i64>,
    session_found: Option<String>,
    session_revoked_at: Option<i64>,
}

impl PresentedRow {
    fn into_presented(self) -> PresentedRefreshToken {
        let family: FamilyRecord = self.family.into();
        let snapshot = FamilySnapshot {
            revoked: family.revoked_at.is_some(),
            grant_current: self.grant_epoch_now == Some(family.grant_epoch),
            user_current: self.user_epoch_now == Some(family.user_epoch),
            session_current: family.session_id.is_none()
                || (self.session_found.is_some() && self.session_revoked_at.is_none()),
            rotating: family.rotating,
            expires_at: family.expires_at,
            idle_expires_at: family.idle_expires_at,
            current_generation: family.current_generation,
            last_rotated_at: family.last_rotated_at,
        };
        PresentedRefreshToken {
            family,
            generation: self.generation,
            snapshot,
        }
    }
}

/// Rows per statement when inserting families (17 parameters a row): about
/// [`super::MAX_BINDS`] parameters.
const INSERT_CHUNK: usize = super::MAX_BINDS / 17;

/// Inserts new families with their first secrets, a few hundred rows per
/// statement. `carries_mac`: the secrets are grantor's MAC-carrying strings
/// (issued here), so rotation may delete them once they are two generations
/// old; imported ones are kept until their family is purged.
pub(super) async fn insert_families_in(
    conn: &mut Conn,
    families: &[NewFamily],
    carries_mac: bool,
) -> StoreResult<()> {
    for chunk in families.chunks(INSERT_CHUNK) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p: Vec<String> = (1..=17).map(|k| format!("${}", i * 17 + k)).collect();
                format!(
                    "({}, {}, {}, {}, {}, COALESCE((SELECT refresh_token_epoch FROM users WHERE user_id = {}), -1), {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 0, {})",
                    p[0], p[1], p[2], p[3], p[4], p[1], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[10], p[11], p[12], p[13], p[14], p[15], p[16]
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO refresh_token_families (id, user_id, client_id, grant_id, grant_epoch, user_epoch, session_id, audience, scope, rotating, device_name, initial_ip, initial_user_agent, last_ip, last_user_agent, auth_time, created_at, expires_at, idle_expires_at, current_generation, dpop_jkt) VALUES {}",
            rows.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for f in chunk {
            q = q
                .bind(f.id.as_str())
                .bind(f.user_id.as_str())
                .bind(f.client_id.as_str())
                .bind(f.grant_id.as_str())
                .bind(f.grant_epoch)
                .bind(f.session_id.as_ref().map(SessionId::as_str))
                .bind(&f.audience)
                .bind(&f.scope)
                .bind(f.rotating)
                .bind(&f.device_name)
                .bind(&f.ip)
                .bind(&f.user_agent)
                .bind(f.auth_time.0)
                .bind(f.created_at.0)
                .bind(f.expires_at.map(|t| t.0))
                .bind(f.idle_expires_at.map(|t| t.0))
                .bind(&f.dpop_jkt);
        }
        q.execute(&mut *conn).await?;
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                format!(
                    "(${}, ${}, 0, ${}, ${})",
                    i * 4 + 1,
                    i * 4 + 2,
                    i * 4 + 3,
                    i * 4 + 4
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO refresh_token_secrets (token_hash, family_id, generation, created_at, carries_mac) VALUES {}",
            rows.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for f in chunk {
            q = q
                .bind(f.secret_hash.as_str())
                .bind(f.id.as_str())
                .bind(f.created_at.0)
                .bind(carries_mac);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

fn secret_statement<'a>(
    hash: &'a TokenHash,
    family_id: &'a FamilyId,
    generation: i64,
    now: Timestamp,
) -> Statement<'a> {
    Statement::new(
        "INSERT INTO refresh_token_secrets (token_hash, family_id, generation, created_at, carries_mac) VALUES ($1, $2, $3, $4, TRUE)",
        params![hash, family_id, generation, now.0],
    )
}

fn access_token_statement(a: &AccessTokenRecord) -> Statement<'_> {
    Statement::new(
        "INSERT INTO access_tokens (jti, client_id, user_id, grant_id, grant_epoch, user_epoch, family_id, session_id, expires_at) VALUES ($1, $2, $3, $4, $5, COALESCE($6, (SELECT refresh_token_epoch FROM users WHERE user_id = $3), -1), $7, $8, $9)",
        params![
            &a.jti,
            &a.client_id,
            &a.user_id,
            &a.grant_id,
            a.grant_epoch,
            a.user_epoch,
            &a.family_id,
            &a.session_id,
            a.expires_at.0,
        ],
    )
}

impl Backend {
    /// Writes one token response: the new family (if a refresh token is
    /// issued), the access-token record, what a redeemed code issued, and the
    /// per-user-and-client cap (the oldest active family beyond 200 is revoked).
    pub async fn issue_tokens(&self, batch: &IssueBatch, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        if let Some(f) = &batch.family {
            insert_families_in(&mut tx, std::slice::from_ref(f), true).await?;
            // Families beyond the cap, oldest first; expired ones do not count.
            let over: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM refresh_token_families WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3) AND (idle_expires_at IS NULL OR idle_expires_at > $3) ORDER BY created_at DESC, id DESC LIMIT 100 OFFSET $4",
            )
            .bind(f.user_id.as_str())
            .bind(f.client_id.as_str())
            .bind(now.0)
            .bind(MAX_ACTIVE_PER_USER_AND_CLIENT)
            .fetch_all(&mut *tx)
            .await?;
            for id in over {
                sqlx::query("UPDATE refresh_token_families SET revoked_at = $2, revoked_reason = 'limit' WHERE id = $1 AND revoked_at IS NULL")
                    .bind(&id)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        // The rest in one trip on SQLite (`ops/batch.rs`).
        let mut rest = Batch::default();
        if let Some(f) = &batch.family {
            for binding in &batch.resources {
                rest.push(Statement::new(
                    "INSERT INTO grants (id, user_id, client_id, audience, scope, token_epoch, created_at, updated_at) VALUES ($1, $2, $3, $4, '', 0, $5, $5) ON CONFLICT (user_id, client_id, audience) DO NOTHING",
                    params![&binding.grant_id, &f.user_id, &f.client_id, &binding.audience, now.0],
                ));
                rest.push(Statement::new(
                    "INSERT INTO family_resources (family_id, audience, grant_id, grant_epoch) SELECT $1, audience, id, token_epoch FROM grants WHERE user_id = $2 AND client_id = $3 AND audience = $4",
                    params![&f.id, &f.user_id, &f.client_id, &binding.audience],
                ));
            }
            if let Some(old) = &batch.resources_of {
                rest.push(Statement::new(
                    "INSERT INTO family_resources (family_id, audience, grant_id, grant_epoch) SELECT $1, audience, grant_id, grant_epoch FROM family_resources WHERE family_id = $2",
                    params![&f.id, old],
                ));
            }
        }
        rest.push(access_token_statement(&batch.access_token));
        if let Some(code_hash) = &batch.code_hash {
            rest.push(Statement::new(
                "UPDATE authorization_codes SET issued_family_id = $2, issued_jti = $3 WHERE code_hash = $1",
                params![code_hash, batch.family.as_ref().map(|f| &f.id), &batch.access_token.jti],
            ));
        }
        if let Some(event) = &batch.event {
            for statement in event_statements(event) {
                rest.push(statement);
            }
        }
        rest.run(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Finds a presented refresh token by hash with everything its validity
    /// depends on (family, grant epoch, user epoch, session), in one query.
    pub async fn load_refresh_token(
        &self,
        token_hash: &TokenHash,
    ) -> StoreResult<Option<PresentedRefreshToken>> {
        let row: Option<PresentedRow> = sqlx::query_as(&format!(
            "SELECT {FAMILY_COLUMNS}, {PRESENTED_EXTRA} {PRESENTED_FROM} WHERE s.token_hash = $1"
        ))
        .bind(token_hash.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(PresentedRow::into_presented))
    }

    /// What a refresh exchange reads before it decides, in one query: the
    /// presented token as [`Backend::load_refresh_token`] finds it, the user
    /// and the API its family's audience names.
    pub async fn load_exchange(
        &self,
        token_hash: &TokenHash,
    ) -> StoreResult<Option<PresentedExchange>> {
        let sql = format!(
            "SELECT {FAMILY_COLUMNS}, {PRESENTED_EXTRA}, {}, {} {PRESENTED_FROM} \
             LEFT JOIN resource_servers r ON r.identifier = f.audience \
             WHERE s.token_hash = $1",
            prefixed("u", USER_COLUMNS),
            prefixed("r", API_COLUMNS)
        );
        let Some(row) = sqlx::query(&sql)
            .bind(token_hash.as_str())
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(PresentedExchange {
            token: PresentedRow::from_row(&row)?.into_presented(),
            user: joined_user(&row)?,
            api: joined_api(&row)?,
        }))
    }

    /// A family read as [`Backend::load_refresh_token`] reads it, for a token
    /// of `generation` whose secret rotation already removed.
    pub async fn load_pruned_refresh_token(
        &self,
        family_id: &FamilyId,
        generation: i64,
    ) -> StoreResult<Option<PresentedRefreshToken>> {
        let row: Option<PresentedRow> = sqlx::query_as(&format!(
            "SELECT {FAMILY_COLUMNS}, {PRUNED_EXTRA} {PRUNED_FROM} WHERE f.id = $1"
        ))
        .bind(family_id.as_str())
        .bind(generation)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(PresentedRow::into_presented))
    }

    /// Applies one refresh exchange if the family is still where the caller
    /// saw it (compare-and-set on `current_generation`); returns whether it did.
    pub async fn apply_exchange(&self, w: &ExchangeWrite) -> StoreResult<bool> {
        let mut batch = Batch::default();
        batch.guard(Statement::new(
            "UPDATE refresh_token_families SET current_generation = $3, last_rotated_at = CASE WHEN $4 THEN $5 ELSE last_rotated_at END, last_exchanged_at = $5, expires_at = $6, idle_expires_at = $7, last_ip = $8, last_user_agent = $9, rotating = $10 WHERE id = $1 AND current_generation = $2 AND revoked_at IS NULL",
            params![
                &w.family_id,
                w.expected_generation,
                w.new_generation,
                w.rotated,
                w.now.0,
                w.expires_at.map(|t| t.0),
                w.idle_expires_at.map(|t| t.0),
                &w.ip,
                &w.user_agent,
                w.rotating,
            ],
        ));
        if let Some(hash) = &w.new_secret_hash {
            batch.push(secret_statement(
                hash,
                &w.family_id,
                w.secret_generation,
                w.now,
            ));
        }
        if w.new_generation > w.expected_generation {
            // Only the new generation and the previous one (the leeway) can
            // still be honoured; older tokens are recognised by their MAC.
            batch.push(Statement::new(
                "DELETE FROM refresh_token_secrets WHERE family_id = $1 AND generation < $2 AND carries_mac",
                params![&w.family_id, w.new_generation - 1],
            ));
        }
        if w.revoke_other_non_rotating {
            batch.push(Statement::new(
                "UPDATE refresh_token_families SET revoked_at = $2, revoked_reason = 'rotation-enabled' WHERE id IN (SELECT o.id FROM refresh_token_families o JOIN refresh_token_families f ON f.id = $1 WHERE o.user_id = f.user_id AND o.client_id = f.client_id AND o.audience = f.audience AND o.rotating = FALSE AND o.id <> f.id AND o.revoked_at IS NULL)",
                params![&w.family_id, w.now.0],
            ));
        }
        if let Some((grant_id, epoch)) = &w.resource_guard {
            // The policy API's grant is still the one the exchange read.
            batch.guard(Statement::new(
                "UPDATE grants SET token_epoch = token_epoch WHERE id = $1 AND token_epoch = $2",
                params![grant_id, *epoch],
            ));
        }
        batch.push(access_token_statement(&w.access_token));
        for statement in event_statements(&w.event) {
            batch.push(statement);
        }
        // One trip on SQLite (`ops/batch.rs`); when the compare-and-set
        // missed, whatever else ran is rolled back with the write.
        let mut tx = self.begin_write().await?;
        if !batch.run(&mut tx).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn refresh_token_family(&self, id: &FamilyId) -> StoreResult<Option<FamilyRecord>> {
        let row: Option<FamilyRow> = sqlx::query_as(&format!(
            "SELECT {FAMILY_COLUMNS} FROM refresh_token_families f WHERE f.id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }
}

#[derive(FromRow)]
struct FamilyResourceRow {
    grant_id: String,
    grant_epoch: i64,
    grant_epoch_now: Option<i64>,
    grant_scope: Option<String>,
    created_at: Option<i64>,
}

#[derive(FromRow)]
struct AccessStateRow {
    client_id: String,
    user_id: String,
    grant_epoch: i64,
    user_epoch: i64,
    family_id: Option<String>,
    session_id: Option<String>,
    expires_at: i64,
    revoked_at: Option<i64>,
    grant_epoch_now: Option<i64>,
    user_epoch_now: Option<i64>,
    family_revoked_at: Option<i64>,
    family_found: Option<String>,
    family_grant_epoch: Option<i64>,
    family_grant_epoch_now: Option<i64>,
    family_audience: Option<String>,
    session_found: Option<String>,
    session_revoked_at: Option<i64>,
}

impl Backend {
    /// Whether a recorded user access token is still live: not revoked itself,
    /// and its grant, user, family and session all still current. One query.
    pub async fn access_token_state(
        &self,
        jti: &str,
        now: Timestamp,
    ) -> StoreResult<Option<crate::AccessTokenState>> {
        let row: Option<AccessStateRow> = sqlx::query_as(
            "SELECT a.client_id, a.user_id, a.grant_epoch, a.user_epoch, a.family_id, a.session_id, a.expires_at, a.revoked_at, \
             g.token_epoch AS grant_epoch_now, u.refresh_token_epoch AS user_epoch_now, \
             f.revoked_at AS family_revoked_at, f.id AS family_found, se.id AS session_found, se.revoked_at AS session_revoked_at, \
             f.grant_epoch AS family_grant_epoch, fg.token_epoch AS family_grant_epoch_now, f.audience AS family_audience \
             FROM access_tokens a \
             LEFT JOIN grants g ON g.id = a.grant_id \
             LEFT JOIN users u ON u.user_id = a.user_id \
             LEFT JOIN refresh_token_families f ON f.id = a.family_id \
             LEFT JOIN grants fg ON fg.id = f.grant_id \
             LEFT JOIN sessions se ON se.id = a.session_id \
             WHERE a.jti = $1",
        )
        .bind(jti)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| {
            let active = r.revoked_at.is_none()
                && r.expires_at > now.0
                && r.grant_epoch_now == Some(r.grant_epoch)
                && r.user_epoch_now == Some(r.user_epoch)
                // The family's own grant too: an access token for a policy
                // API is issued under that API's grant, and ends with the
                // refresh token's grant as well.
                && (r.family_id.is_none()
                    || (r.family_found.is_some()
                        && r.family_revoked_at.is_none()
                        && r.family_grant_epoch_now.is_some()
                        && r.family_grant_epoch_now == r.family_grant_epoch))
                && (r.session_id.is_none()
                    || (r.session_found.is_some() && r.session_revoked_at.is_none()));
            crate::AccessTokenState {
                client_id: r.client_id.into(),
                user_id: r.user_id.into(),
                active,
                family_audience: r.family_audience,
            }
        }))
    }

    /// A family's binding to the policy API `audience`, with its grant now.
    pub async fn family_resource(
        &self,
        family_id: &FamilyId,
        audience: &str,
    ) -> StoreResult<Option<FamilyResource>> {
        let row: Option<FamilyResourceRow> = sqlx::query_as(
            "SELECT r.grant_id, r.grant_epoch, g.token_epoch AS grant_epoch_now, g.scope AS grant_scope, g.created_at \
             FROM family_resources r LEFT JOIN grants g ON g.id = r.grant_id \
             WHERE r.family_id = $1 AND r.audience = $2",
        )
        .bind(family_id.as_str())
        .bind(audience)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| FamilyResource {
            grant_id: r.grant_id.into(),
            grant_epoch: r.grant_epoch,
            grant_epoch_now: r.grant_epoch_now,
            grant_scope: r.grant_scope,
            created_at: r.created_at.map(Timestamp),
        }))
    }

    /// The policy APIs these families are bound to through a grant that is
    /// still unrevoked: `(family id, audience)`, one query.
    pub async fn family_resources(
        &self,
        family_ids: &[FamilyId],
    ) -> StoreResult<Vec<(FamilyId, String)>> {
        if family_ids.is_empty() {
            return Ok(vec![]);
        }
        let sql = format!(
            "SELECT r.family_id, r.audience FROM family_resources r \
             JOIN grants g ON g.id = r.grant_id AND g.token_epoch = r.grant_epoch \
             WHERE r.family_id IN ({}) ORDER BY r.family_id, r.audience",
            super::placeholders(1, family_ids.len())
        );
        let mut query = sqlx::query_as::<_, (String, String)>(&sql);
        for id in family_ids {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|(id, audience)| (FamilyId::from(id), audience))
            .collect())
    }
}

impl Backend {
    /// Imports refresh tokens made elsewhere (a migration from another
    /// server, or a load test's fixture) in one transaction. The
    /// 200-per-client cap is not applied: the tokens already exist. Their user
    /// epoch is the user's current one.
    pub async fn import_refresh_tokens(&self, families: &[NewFamily]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_families_in(&mut tx, families, false).await?;
        tx.commit().await?;
        // A bulk load changes the table's shape at once; fresh statistics let
        // the planner pick good plans for the next large revocation's receipt
        // (PostgreSQL's autovacuum would get there, but later).
        super::analyze_tables(self, &["refresh_token_families"]).await
    }
}
