//! The one write path that invalidates tokens. Each target is a constant
//! number of row writes (a family, a grant epoch, a user epoch, session rows);
//! tokens are never updated one by one, because their validity is decided on
//! use against those rows (`load_refresh_token`, `access_token_state`). The
//! receipt is counted just before the write transaction (so a large count
//! never holds the write lock), and the audit event is written in the write
//! transaction. Account changes that must end a user's access (blocking, a
//! new password, deletion) are written in that same transaction too
//! (`change_user_revoking`).

use grantor_domain::{ClientId, FamilyId, Reason, Timestamp, UserId};
use sqlx::FromRow;

use super::batch::Batch;
use super::logs::event_statements_with;
use super::outbox::announce_session_ends_in;
use super::ssf::{code_issue_user_in, stage_tokens_revoked_statement};
use super::users::{delete_user_in, update_user_in};
use super::{placeholders, Backend, Conn, FAMILY_ROW_KEY};
use crate::{
    DeleteGrant, LogEvent, RevocationReceipt, RevocationTarget, StoreResult, UserChange,
    RECEIPT_COUNT_LIMIT, RECEIPT_ID_LIMIT, RECEIPT_SCAN_LIMIT,
};

/// What makes a family `f` still work: not revoked, not expired, and its
/// grant, user and session still current. `$1` is now; target conditions
/// follow.
macro_rules! live_family_joins {
    () => {
        " JOIN grants g ON g.id = f.grant_id AND g.token_epoch = f.grant_epoch \
         JOIN users u ON u.user_id = f.user_id AND u.refresh_token_epoch = f.user_epoch \
         LEFT JOIN sessions se ON se.id = f.session_id \
         WHERE f.revoked_at IS NULL \
         AND (f.expires_at IS NULL OR f.expires_at > $1) \
         AND (f.idle_expires_at IS NULL OR f.idle_expires_at > $1) \
         AND (f.session_id IS NULL OR (se.id IS NOT NULL AND se.revoked_at IS NULL))"
    };
}

/// `FROM <source> f …`: the families of `source` (a table or CTE with the
/// family columns) that still work (`live_family_joins!`).
macro_rules! live_families_from {
    ($source:literal) => {
        concat!("FROM ", $source, " f", live_family_joins!())
    };
}

/// The live families among all stored ones (see `live_families_from!`).
pub(super) const LIVE_FAMILIES: &str = live_families_from!("refresh_token_families");

/// A target's live-family condition, with its string parameters from `$2` on.
struct Scope<'a> {
    condition: String,
    params: Vec<&'a str>,
}

/// Which live families a target revokes; `None` when it revokes none.
fn token_scope(target: &RevocationTarget) -> Option<Scope<'_>> {
    use RevocationTarget as T;
    let scope = |condition: &str, params| {
        Some(Scope {
            condition: condition.to_owned(),
            params,
        })
    };
    match target {
        T::Family { family_id } => scope("f.id = $2", vec![family_id.as_str()]),
        T::CodeIssue { family_id, .. } => scope("f.id = $2", vec![family_id.as_ref()?.as_str()]),
        T::Families { family_ids } if family_ids.is_empty() => None,
        T::Families { family_ids } => scope(
            &format!("f.id IN ({})", placeholders(2, family_ids.len())),
            family_ids.iter().map(FamilyId::as_str).collect(),
        ),
        T::Grant { grant_id, .. } => scope("f.grant_id = $2", vec![grant_id.as_str()]),
        T::UserGrants { user_id } => scope("f.user_id = $2", vec![user_id.as_str()]),
        T::User {
            user_id,
            client_id,
            audience,
        } => {
            let mut condition = "f.user_id = $2".to_owned();
            let mut params = vec![user_id.as_str()];
            if let Some(c) = client_id {
                params.push(c.as_str());
                condition.push_str(&format!(" AND f.client_id = ${}", params.len() + 1));
            }
            if let Some(a) = audience {
                params.push(a.as_str());
                condition.push_str(&format!(" AND f.audience = ${}", params.len() + 1));
            }
            scope(&condition, params)
        }
        T::Session { tokens: false, .. } | T::UserSessions { tokens: false, .. } => None,
        T::Session { session_id, .. } => scope("f.session_id = $2", vec![session_id.as_str()]),
        T::UserSessions { user_id, .. } => scope(
            "f.session_id IN (SELECT id FROM sessions WHERE user_id = $2)",
            vec![user_id.as_str()],
        ),
        T::UserAccess {
            keep_refresh_tokens: true,
            ..
        } => None,
        T::UserAccess {
            session_id: Some(s),
            ..
        } => scope("f.session_id = $2", vec![s.as_str()]),
        T::UserAccess { user_id, .. } => scope("f.user_id = $2", vec![user_id.as_str()]),
    }
}

/// The users whose families are listed (at most the list's length).
async fn family_users_in(conn: &mut Conn, family_ids: &[FamilyId]) -> StoreResult<Vec<String>> {
    if family_ids.is_empty() {
        return Ok(vec![]);
    }
    let sql = format!(
        "SELECT DISTINCT user_id FROM refresh_token_families WHERE id IN ({}) ORDER BY user_id",
        placeholders(1, family_ids.len())
    );
    let mut query = sqlx::query_scalar(&sql);
    for id in family_ids {
        query = query.bind(id.as_str());
    }
    Ok(query.fetch_all(&mut *conn).await?)
}

/// Whether a target revokes refresh tokens or grants (what an SSF stream
/// hears of as OAuth tokens-revoked); a session that only ends does not.
fn covers_tokens(target: &RevocationTarget) -> bool {
    use RevocationTarget as T;
    match target {
        T::Session { tokens, .. } | T::UserSessions { tokens, .. } => *tokens,
        T::UserAccess {
            keep_refresh_tokens,
            ..
        } => !keep_refresh_tokens,
        T::Families { family_ids } => !family_ids.is_empty(),
        T::Family { .. } | T::Grant { .. } | T::UserGrants { .. } | T::User { .. } => true,
        T::CodeIssue { family_id, jti } => family_id.is_some() || jti.is_some(),
    }
}

/// Whether a revocation of `target` that wrote `receipt` is announced as
/// tokens-revoked (SSF). A target of refresh tokens alone (one or several
/// families, a session's) only when some were live: revoking the same
/// token again announces nothing. A user, grant or code target always
/// (when found): it also ends access tokens (an epoch, a deleted grant, a
/// `jti`), which the receipt does not count.
fn announces_tokens(target: &RevocationTarget, receipt: &RevocationReceipt) -> bool {
    use RevocationTarget as T;
    if !covers_tokens(target) {
        return false;
    }
    match target {
        T::Family { .. } | T::Families { .. } | T::Session { .. } | T::UserSessions { .. } => {
            receipt.refresh_tokens > 0
        }
        _ => true,
    }
}

/// Which sessions a target revokes or ends (condition on `$2`).
fn session_scope(target: &RevocationTarget) -> Option<(&'static str, &str)> {
    use RevocationTarget as T;
    match target {
        T::Session { session_id, .. }
        | T::UserAccess {
            session_id: Some(session_id),
            ..
        } => Some(("id = $2", session_id.as_str())),
        T::UserSessions { user_id, .. } | T::UserAccess { user_id, .. } => {
            Some(("user_id = $2", user_id.as_str()))
        }
        _ => None,
    }
}

/// Reads a target's subject (`None`: it does not exist, and nothing is
/// revoked) and counts the receipt: the live refresh tokens it covers (and
/// lists up to the limit) and its live sessions. Where the subject is one row
/// by one id and the target covers refresh tokens (`/oauth/revoke`'s grant,
/// a family, a session or user's access with its tokens) the subject rides
/// in the count's query: one round trip fewer. A missing subject is known
/// only after the count (a bounded read) in that case.
async fn subject_and_count_in(
    conn: &mut Conn,
    target: &RevocationTarget,
    now: Timestamp,
    receipt: &mut RevocationReceipt,
) -> StoreResult<Option<Subject>> {
    let subject = match (single_subject(target), token_scope(target)) {
        (Some(subject), Some(scope)) => {
            match count_tokens_in(conn, &scope, Some(subject), now, receipt).await? {
                Some(found) => found,
                None => return Ok(None),
            }
        }
        (_, scope) => {
            let Some(found) = subject_in(conn, target).await? else {
                return Ok(None);
            };
            if let Some(scope) = scope {
                count_tokens_in(conn, &scope, None, now, receipt).await?;
            }
            found
        }
    };
    if let Some((condition, id)) = session_scope(target) {
        receipt.sessions = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM sessions WHERE {condition} AND revoked_at IS NULL AND ended_at IS NULL AND expires_at > $1 AND idle_expires_at > $1"
        ))
        .bind(now.0)
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    }
    Ok(Some(subject))
}

/// One count row: a listed id (or NULL), the live count, distinct devices,
/// candidates examined, then the subject's user, client, tenant answer and
/// whether it was found (NULL when not asked or not there).
type CountRow = (
    Option<String>,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<bool>,
    Option<bool>,
);

/// Counts (and lists up to the limit) the live refresh tokens of `scope`,
/// and reads `subject` (a `single_subject` query) in the same statement;
/// returns the subject when one was asked for and found.
async fn count_tokens_in(
    conn: &mut Conn,
    scope: &Scope<'_>,
    subject: Option<(&'static str, &str)>,
    now: Timestamp,
    receipt: &mut RevocationReceipt,
) -> StoreResult<Option<Subject>> {
    // One bounded read. It looks at most at RECEIPT_SCAN_LIMIT of the
    // target's unrevoked families (a user revoked before holds families that
    // are dead by epoch but not purged yet, and would otherwise all be
    // walked) and stops at RECEIPT_COUNT_LIMIT + 1 live ones, so a user with
    // a million tokens is revoked in milliseconds, not seconds. The
    // candidates are named by their row key only (on SQLite the rowid, read
    // from the index without touching the table), and a family's row is read
    // only while `live` is not full: 3.5 ms instead of 9 for a user with a
    // million tokens on SQLite (docs/benchmarks.md). The database counts the
    // live rows and their devices itself and sends back only the ids the
    // receipt lists (one row with a NULL id when there are none): 1,001 rows
    // handed one by one to the caller cost more than reading them.
    let live_in_candidates = format!(
        "FROM candidates c JOIN refresh_token_families f ON f.{FAMILY_ROW_KEY} = c.k{}",
        live_family_joins!()
    );
    // The subject's one parameter follows the scope's.
    let subject_param = format!("${}", scope.params.len() + 2);
    let (subject_cte, subject_columns, subject_join) = match subject {
        Some((sql, _)) => (
            format!("subject AS MATERIALIZED ({}), ", sql.replace("$1", &subject_param)),
            "s.user_id, s.client_id, s.delete_grant, s.present",
            " LEFT JOIN (SELECT user_id, client_id, delete_grant, TRUE AS present FROM subject) s ON TRUE",
        ),
        None => (
            String::new(),
            "CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS BOOLEAN), CAST(NULL AS BOOLEAN)",
            "",
        ),
    };
    let sql = format!(
        "WITH {subject_cte}candidates AS MATERIALIZED (SELECT f.{FAMILY_ROW_KEY} AS k FROM refresh_token_families f WHERE f.revoked_at IS NULL AND {condition} LIMIT {RECEIPT_SCAN_LIMIT}), \
         live AS MATERIALIZED (SELECT f.id, COALESCE(f.device_name, f.initial_user_agent) AS device {live_in_candidates} LIMIT {count_limit}) \
         SELECT l.id, n.found, (SELECT COUNT(DISTINCT device) FROM live) AS devices, (SELECT COUNT(*) FROM candidates) AS examined, {subject_columns} \
         FROM (SELECT COUNT(*) AS found FROM live) n LEFT JOIN (SELECT id FROM live ORDER BY id LIMIT {RECEIPT_ID_LIMIT}) l ON TRUE{subject_join}",
        condition = scope.condition,
        count_limit = RECEIPT_COUNT_LIMIT + 1,
    );
    let mut q = sqlx::query_as::<_, CountRow>(&sql).bind(now.0);
    for p in &scope.params {
        q = q.bind(*p);
    }
    if let Some((_, id)) = subject {
        q = q.bind(id);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    let found_subject = rows.first().and_then(|r| {
        (r.7 == Some(true)).then(|| Subject {
            user_id: r.4.clone(),
            client_id: r.5.clone(),
            delete_grant: r.6,
        })
    });
    let (found, devices, examined) = rows.first().map_or((0, 0, 0), |r| (r.1, r.2, r.3));
    receipt.refresh_tokens = found.min(RECEIPT_COUNT_LIMIT);
    receipt.refresh_tokens_at_least = found > RECEIPT_COUNT_LIMIT || examined >= RECEIPT_SCAN_LIMIT;
    receipt.devices = devices;
    // Byte order, whatever the database's collation.
    let mut ids: Vec<String> = rows.into_iter().filter_map(|r| r.0).collect();
    ids.sort_unstable();
    receipt.refresh_token_ids = ids;
    Ok(found_subject)
}

/// The user and client a target belongs to, if it exists, and for a grant
/// revoked as the tenant says, what the tenant says.
#[derive(FromRow, Default)]
struct Subject {
    user_id: Option<String>,
    client_id: Option<String>,
    #[sqlx(default)]
    delete_grant: Option<bool>,
}

impl Subject {
    /// `target` with a grant's `DeleteGrant::AsTenantSays` replaced by what
    /// the tenant said when the subject was read; `None` for any other.
    fn resolve(&self, target: &RevocationTarget) -> Option<RevocationTarget> {
        match target {
            RevocationTarget::Grant {
                grant_id,
                delete_grant: DeleteGrant::AsTenantSays,
            } => Some(RevocationTarget::Grant {
                grant_id: grant_id.clone(),
                delete_grant: if self.delete_grant == Some(true) {
                    DeleteGrant::Yes
                } else {
                    DeleteGrant::No
                },
            }),
            _ => None,
        }
    }
}

/// The query of a target's subject when it is one row by one id (`$1`), in
/// `Subject`'s three columns; `None` for a list of families, a user's tokens
/// (`RevocationTarget::User`) and a code's issue, which `subject_in` reads
/// otherwise.
fn single_subject(target: &RevocationTarget) -> Option<(&'static str, &str)> {
    use RevocationTarget as T;
    Some(match target {
        T::Family { family_id } => (
            "SELECT user_id, client_id, CAST(NULL AS BOOLEAN) AS delete_grant FROM refresh_token_families WHERE id = $1",
            family_id.as_str(),
        ),
        // The tenant's setting comes with the grant: no read of its own, and
        // on PostgreSQL it is read on the revoking transaction's connection.
        T::Grant {
            grant_id,
            delete_grant: DeleteGrant::AsTenantSays,
        } => (
            "SELECT g.user_id, g.client_id, t.revoke_refresh_token_grant AS delete_grant FROM grants g LEFT JOIN tenant t ON t.id = 1 WHERE g.id = $1",
            grant_id.as_str(),
        ),
        T::Grant { grant_id, .. } => (
            "SELECT user_id, client_id, CAST(NULL AS BOOLEAN) AS delete_grant FROM grants WHERE id = $1",
            grant_id.as_str(),
        ),
        T::UserSessions { user_id, .. }
        | T::UserAccess { user_id, .. }
        | T::UserGrants { user_id } => (
            "SELECT user_id, CAST(NULL AS TEXT) AS client_id, CAST(NULL AS BOOLEAN) AS delete_grant FROM users WHERE user_id = $1",
            user_id.as_str(),
        ),
        T::Session { session_id, .. } => (
            "SELECT user_id, CAST(NULL AS TEXT) AS client_id, CAST(NULL AS BOOLEAN) AS delete_grant FROM sessions WHERE id = $1",
            session_id.as_str(),
        ),
        T::Families { .. } | T::User { .. } | T::CodeIssue { .. } => return None,
    })
}

/// The subject of a target (see `single_subject`), in its own query.
async fn subject_in(conn: &mut Conn, target: &RevocationTarget) -> StoreResult<Option<Subject>> {
    use RevocationTarget as T;
    if let Some((sql, id)) = single_subject(target) {
        return Ok(sqlx::query_as::<_, Subject>(sql)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?);
    }
    match target {
        T::Families { family_ids } => {
            if family_ids.is_empty() {
                return Ok(None);
            }
            let sql = format!(
                "SELECT MIN(user_id) AS user_id, CASE WHEN COUNT(DISTINCT client_id) = 1 THEN MIN(client_id) END AS client_id FROM refresh_token_families WHERE id IN ({}) HAVING COUNT(*) > 0",
                placeholders(1, family_ids.len())
            );
            let mut q = sqlx::query_as::<_, Subject>(&sql);
            for id in family_ids {
                q = q.bind(id.as_str());
            }
            Ok(q.fetch_optional(&mut *conn).await?)
        }
        T::User {
            user_id, client_id, ..
        } => {
            let found: Option<String> =
                sqlx::query_scalar("SELECT user_id FROM users WHERE user_id = $1")
                    .bind(user_id.as_str())
                    .fetch_optional(&mut *conn)
                    .await?;
            Ok(found.map(|user_id| Subject {
                user_id: Some(user_id),
                client_id: client_id.as_ref().map(ClientId::to_string),
                delete_grant: None,
            }))
        }
        // A code's issue is revoked whether or not what it issued is left.
        T::CodeIssue { .. } => Ok(Some(Subject::default())),
        // Read by `single_subject` above.
        _ => Ok(None),
    }
}

/// Which sessions a revocation closes: one, or all of a user's.
#[derive(Clone, Copy)]
enum Sessions {
    One,
    OfUser,
}

impl Sessions {
    /// The `sessions` column the target's id is compared with.
    fn column(self) -> &'static str {
        match self {
            Sessions::One => "id",
            Sessions::OfUser => "user_id",
        }
    }
}

/// Ends (`revoke` false) or revokes the sessions `which` selects for `id`,
/// after announcing the live ones' ends (`announce_session_ends_in`, same
/// transaction).
async fn close_sessions_in(
    conn: &mut Conn,
    which: Sessions,
    id: &str,
    revoke: bool,
    log_id: &str,
    now: Timestamp,
) -> StoreResult<u64> {
    let column = which.column();
    announce_session_ends_in(conn, column, id, log_id, now).await?;
    let sql = if revoke {
        format!("UPDATE sessions SET revoked_at = $1, ended_at = COALESCE(ended_at, $2) WHERE {column} = $3 AND revoked_at IS NULL")
    } else {
        format!("UPDATE sessions SET ended_at = $1, updated_at = $2 WHERE {column} = $3 AND ended_at IS NULL AND revoked_at IS NULL")
    };
    Ok(sqlx::query(&sql)
        .bind(now.0)
        .bind(now.0)
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// Bumps the user's refresh-token epoch; false if the user is gone.
async fn bump_user_epoch_in(conn: &mut Conn, user_id: &UserId) -> StoreResult<bool> {
    let changed = sqlx::query(
        "UPDATE users SET refresh_token_epoch = refresh_token_epoch + 1 WHERE user_id = $1",
    )
    .bind(user_id.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// The rows a write changed are the truth when fewer than were counted
/// (another revocation got there first): the count is then exact.
fn lower_count(receipt: &mut RevocationReceipt, changed: i64) {
    if changed < receipt.refresh_tokens {
        receipt.refresh_tokens = changed;
        receipt.refresh_tokens_at_least = false;
    }
}

async fn revoke_families_in(
    conn: &mut Conn,
    ids: &[FamilyId],
    reason: Reason,
    now: Timestamp,
) -> StoreResult<i64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "UPDATE refresh_token_families SET revoked_at = $1, revoked_reason = $2 WHERE revoked_at IS NULL AND id IN ({})",
        placeholders(3, ids.len())
    );
    let mut q = sqlx::query(&sql).bind(now.0).bind(reason.as_str());
    for id in ids {
        q = q.bind(id.as_str());
    }
    Ok(q.execute(&mut *conn).await?.rows_affected() as i64)
}

/// The writes of one target: a constant number of rows (a family list is
/// bounded by its caller; a user's sessions are one statement).
async fn write_in(
    conn: &mut Conn,
    target: &RevocationTarget,
    reason: Reason,
    log_id: &str,
    now: Timestamp,
    receipt: &mut RevocationReceipt,
) -> StoreResult<()> {
    use RevocationTarget as T;
    match target {
        // Under concurrent revocations (PostgreSQL reads committed state) the
        // count may include a family another transaction revoked first; the
        // rows this one changed are the truth.
        T::Family { family_id } => {
            let changed =
                revoke_families_in(conn, std::slice::from_ref(family_id), reason, now).await?;
            lower_count(receipt, changed);
        }
        T::Families { family_ids } => {
            let changed = revoke_families_in(conn, family_ids, reason, now).await?;
            lower_count(receipt, changed);
        }
        T::Grant {
            grant_id,
            delete_grant,
        } => {
            let delete_grant = *delete_grant == DeleteGrant::Yes;
            let changed = if delete_grant {
                sqlx::query("DELETE FROM grants WHERE id = $1")
                    .bind(grant_id.as_str())
                    .execute(&mut *conn)
                    .await?
            } else {
                sqlx::query(
                    "UPDATE grants SET token_epoch = token_epoch + 1, updated_at = $2 WHERE id = $1",
                )
                .bind(grant_id.as_str())
                .bind(now.0)
                .execute(&mut *conn)
                .await?
            }
            .rows_affected();
            if changed == 0 {
                // Deleted since the receipt was counted: nothing left to revoke.
                *receipt = RevocationReceipt {
                    found: true,
                    ..Default::default()
                };
            } else {
                receipt.grant_ids = vec![grant_id.to_string()];
                receipt.grants_deleted = delete_grant;
            }
        }
        T::UserGrants { user_id } => {
            receipt.grant_ids =
                sqlx::query_scalar("SELECT id FROM grants WHERE user_id = $1 ORDER BY id")
                    .bind(user_id.as_str())
                    .fetch_all(&mut *conn)
                    .await?;
            sqlx::query("DELETE FROM grants WHERE user_id = $1")
                .bind(user_id.as_str())
                .execute(&mut *conn)
                .await?;
            receipt.grants_deleted = !receipt.grant_ids.is_empty();
        }
        T::User {
            user_id,
            client_id: None,
            ..
        } => {
            if !bump_user_epoch_in(conn, user_id).await? {
                lower_count(receipt, 0);
                receipt.devices = 0;
                receipt.refresh_token_ids.clear();
            }
        }
        T::User {
            user_id,
            client_id: Some(client_id),
            audience,
        } => {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM grants WHERE user_id = $1 AND client_id = $2 AND ($3 IS NULL OR audience = $3) ORDER BY id",
            )
            .bind(user_id.as_str())
            .bind(client_id.as_str())
            .bind(audience)
            .fetch_all(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE grants SET token_epoch = token_epoch + 1, updated_at = $4 WHERE user_id = $1 AND client_id = $2 AND ($3 IS NULL OR audience = $3)",
            )
            .bind(user_id.as_str())
            .bind(client_id.as_str())
            .bind(audience)
            .bind(now.0)
            .execute(&mut *conn)
            .await?;
            receipt.grant_ids = ids;
        }
        T::Session { session_id, tokens } => {
            receipt.sessions = close_sessions_in(
                conn,
                Sessions::One,
                session_id.as_str(),
                *tokens,
                log_id,
                now,
            )
            .await? as i64;
        }
        T::UserSessions { user_id, tokens } => {
            receipt.sessions = close_sessions_in(
                conn,
                Sessions::OfUser,
                user_id.as_str(),
                *tokens,
                log_id,
                now,
            )
            .await? as i64;
        }
        T::UserAccess {
            user_id,
            session_id,
            keep_refresh_tokens,
        } => {
            let revoke = !keep_refresh_tokens;
            receipt.sessions = match session_id {
                Some(s) => {
                    close_sessions_in(conn, Sessions::One, s.as_str(), revoke, log_id, now).await?
                        as i64
                }
                None => {
                    close_sessions_in(
                        conn,
                        Sessions::OfUser,
                        user_id.as_str(),
                        revoke,
                        log_id,
                        now,
                    )
                    .await? as i64
                }
            };
            if revoke && session_id.is_none() {
                bump_user_epoch_in(conn, user_id).await?;
            }
        }
        T::CodeIssue { family_id, jti } => {
            if let Some(id) = family_id {
                let changed =
                    revoke_families_in(conn, std::slice::from_ref(id), reason, now).await?;
                lower_count(receipt, changed);
            }
            if let Some(jti) = jti {
                sqlx::query(
                    "UPDATE access_tokens SET revoked_at = $2 WHERE jti = $1 AND revoked_at IS NULL",
                )
                .bind(jti)
                .bind(now.0)
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    Ok(())
}

impl Backend {
    /// Revokes what `target` covers in one transaction, with its audit event
    /// (`event.details.receipt` is filled in, and its user and client when
    /// the caller left them empty). Nothing is written for an unknown target.
    pub async fn revoke(
        &self,
        target: &RevocationTarget,
        reason: Reason,
        event: &LogEvent,
        now: Timestamp,
    ) -> StoreResult<RevocationReceipt> {
        self.revoke_with(target, None, reason, event, now).await
    }

    /// Applies an account change (a blocked user, a new password, a deleted
    /// user) and revokes all of the user's access (every session, every
    /// refresh token through the user's epoch) in one transaction, with its
    /// audit event. `None` when the user does not exist; nothing is written.
    pub async fn change_user_revoking(
        &self,
        change: &UserChange,
        reason: Reason,
        event: &LogEvent,
        now: Timestamp,
    ) -> StoreResult<Option<RevocationReceipt>> {
        let target = RevocationTarget::UserAccess {
            user_id: change.user_id().clone(),
            session_id: None,
            keep_refresh_tokens: false,
        };
        let receipt = self
            .revoke_with(&target, Some(change), reason, event, now)
            .await?;
        Ok(receipt.found.then_some(receipt))
    }

    async fn revoke_with(
        &self,
        target: &RevocationTarget,
        change: Option<&UserChange>,
        reason: Reason,
        event: &LogEvent,
        now: Timestamp,
    ) -> StoreResult<RevocationReceipt> {
        let mut receipt = RevocationReceipt {
            found: true,
            ..Default::default()
        };
        // On SQLite the receipt is counted on a reader before the write
        // transaction, so a large revocation never holds the write lock
        // (database-wide) while it counts; the write itself stays a few
        // rows. PostgreSQL locks rows, not the database, and its reads in
        // the transaction see what they would see outside it (read
        // committed): there the transaction's own connection counts, one
        // checkout from the pool (and its two pings) fewer.
        let (mut tx, subject) = if self.writer.is_some() {
            let mut conn = self.pool.acquire().await?;
            let Some(subject) = subject_and_count_in(&mut conn, target, now, &mut receipt).await?
            else {
                return Ok(RevocationReceipt::default());
            };
            drop(conn);
            (self.begin_write().await?, subject)
        } else {
            let mut tx = self.begin_write().await?;
            let Some(subject) = subject_and_count_in(&mut tx, target, now, &mut receipt).await?
            else {
                tx.rollback().await?;
                return Ok(RevocationReceipt::default());
            };
            (tx, subject)
        };
        let resolved = subject.resolve(target);
        let target = resolved.as_ref().unwrap_or(target);
        write_in(&mut tx, target, reason, &event.log_id, now, &mut receipt).await?;
        match change {
            None => {}
            Some(UserChange::Update(user)) => update_user_in(&mut tx, user).await?,
            Some(UserChange::Delete { user_id }) if !delete_user_in(&mut tx, user_id).await? => {
                return Ok(RevocationReceipt::default());
            }
            Some(UserChange::Delete { .. }) => {}
        }
        let mut event = event.clone();
        if resolved.is_some() && receipt.grants_deleted {
            // The flow described the target before the tenant was read.
            event.description.push_str(
                "; the grant was deleted too (tenant setting revoke_refresh_token_grant)",
            );
        }
        event.user_id = event.user_id.or(subject.user_id);
        event.client_id = event.client_id.or(subject.client_id);
        if let serde_json::Value::Object(details) = &mut event.details {
            details.insert(
                "receipt".to_owned(),
                serde_json::to_value(&receipt).unwrap_or_default(),
            );
        }
        let users = if announces_tokens(target, &receipt) {
            match (&event.user_id, target) {
                // A list of families may span users: each hears of it.
                (_, RevocationTarget::Families { family_ids }) => {
                    family_users_in(&mut tx, family_ids).await?
                }
                (Some(user_id), _) => vec![user_id.clone()],
                (None, RevocationTarget::CodeIssue { family_id, jti }) => {
                    code_issue_user_in(&mut tx, family_id.as_ref(), jti.as_deref())
                        .await?
                        .into_iter()
                        .collect()
                }
                (None, _) => vec![],
            }
        } else {
            vec![]
        };
        // The audit event, its staging for log streams and its staging for
        // SSF streams go in one batch (one trip to SQLite's thread, one
        // statement on PostgreSQL); the worker fans the SSF events out.
        let per_user = users.len() > 1;
        let riders = users
            .iter()
            .map(|user_id| stage_tokens_revoked_statement(user_id, &event.log_id, per_user, now))
            .collect();
        let mut batch = Batch::default();
        for statement in event_statements_with(&event, riders) {
            batch.push(statement);
        }
        batch.run(&mut tx).await?;
        tx.commit().await?;
        Ok(receipt)
    }

    /// What `revoke` would cover now, without writing anything (for the
    /// dashboard's confirmation).
    pub async fn revocation_preview(
        &self,
        target: &RevocationTarget,
        now: Timestamp,
    ) -> StoreResult<RevocationReceipt> {
        let mut conn = self.pool.acquire().await?;
        let mut receipt = RevocationReceipt {
            found: true,
            ..Default::default()
        };
        if subject_and_count_in(&mut conn, target, now, &mut receipt)
            .await?
            .is_none()
        {
            return Ok(RevocationReceipt::default());
        }
        Ok(receipt)
    }
}
