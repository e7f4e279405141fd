use grantor_domain::{Timestamp, User, UserId};
use sqlx::FromRow;

use super::{Backend, Conn, Db};
use crate::{LogEvent, Page, PageRequest, StoreError, StoreResult, UserFilter, UserUpdate};

const COLUMNS: &str = "user_id, connection, email, email_verified, username, name, nickname, picture, given_name, family_name, blocked, app_metadata, user_metadata, password_hash, created_at, updated_at, last_login, last_ip, logins_count, phone_number, phone_verified";

/// Rows per statement when inserting users (21 parameters a row): about
/// [`super::MAX_BINDS`] parameters.
const INSERT_CHUNK: usize = super::MAX_BINDS / 21;

/// Inserts users, up to [`INSERT_CHUNK`] rows per statement. The
/// refresh-token epoch starts at the creation time, not 0: a user deleted and
/// created again under the same id must not bring the old user's refresh
/// tokens (which carry the old epoch) back to life.
pub(super) async fn insert_users_in(conn: &mut Conn, users: &[User]) -> StoreResult<()> {
    for chunk in users.chunks(INSERT_CHUNK) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p: Vec<String> = (1..=21).map(|k| format!("${}", i * 21 + k)).collect();
                // The epoch repeats created_at (the 15th parameter).
                format!("({}, {})", p.join(", "), p[14])
            })
            .collect();
        let sql = format!(
            "INSERT INTO users ({COLUMNS}, refresh_token_epoch) VALUES {}",
            rows.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for u in chunk {
            q = q
                .bind(u.user_id.as_str())
                .bind(&u.connection)
                .bind(&u.email)
                .bind(u.email_verified)
                .bind(&u.username)
                .bind(&u.name)
                .bind(&u.nickname)
                .bind(&u.picture)
                .bind(&u.given_name)
                .bind(&u.family_name)
                .bind(u.blocked)
                .bind(&u.app_metadata)
                .bind(&u.user_metadata)
                .bind(&u.password_hash)
                .bind(u.created_at.0)
                .bind(u.updated_at.0)
                .bind(u.last_login.map(|t| t.0))
                .bind(&u.last_ip)
                .bind(u.logins_count)
                .bind(&u.phone_number)
                .bind(u.phone_verified);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The user columns, for a join that reads them with a prefix
/// (`super::prefixed`).
pub(super) const USER_COLUMNS: &str = COLUMNS;

/// The user of a joined read whose user columns carry the `u_` prefix;
/// `None` when the join found no user.
pub(super) fn joined_user(row: &super::DbRow) -> Result<Option<User>, sqlx::Error> {
    use sqlx::Row;
    let Some(user_id) = row.try_get::<Option<String>, _>("u_user_id")? else {
        return Ok(None);
    };
    let user = UserRow {
        user_id,
        connection: row.try_get("u_connection")?,
        email: row.try_get("u_email")?,
        email_verified: row.try_get("u_email_verified")?,
        username: row.try_get("u_username")?,
        name: row.try_get("u_name")?,
        nickname: row.try_get("u_nickname")?,
        picture: row.try_get("u_picture")?,
        given_name: row.try_get("u_given_name")?,
        family_name: row.try_get("u_family_name")?,
        blocked: row.try_get("u_blocked")?,
        app_metadata: row.try_get("u_app_metadata")?,
        user_metadata: row.try_get("u_user_metadata")?,
        password_hash: row.try_get("u_password_hash")?,
        created_at: row.try_get("u_created_at")?,
        updated_at: row.try_get("u_updated_at")?,
        last_login: row.try_get("u_last_login")?,
        last_ip: row.try_get("u_last_ip")?,
        logins_count: row.try_get("u_logins_count")?,
        phone_number: row.try_get("u_phone_number")?,
        phone_verified: row.try_get("u_phone_verified")?,
    };
    Ok(Some(user.into()))
}

#[derive(FromRow)]
pub(super) struct UserRow {
    user_id: String,
    connection: String,
    email: String,
    email_verified: bool,
    username: Option<String>,
    name: String,
    nickname: String,
    picture: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    blocked: bool,
    app_metadata: String,
    user_metadata: String,
    password_hash: String,
    created_at: i64,
    updated_at: i64,
    last_login: Option<i64>,
    last_ip: Option<String>,
    logins_count: i64,
    phone_number: Option<String>,
    phone_verified: bool,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            user_id: r.user_id.into(),
            connection: r.connection,
            email: r.email,
            email_verified: r.email_verified,
            username: r.username,
            name: r.name,
            nickname: r.nickname,
            picture: r.picture,
            given_name: r.given_name,
            family_name: r.family_name,
            blocked: r.blocked,
            app_metadata: r.app_metadata,
            user_metadata: r.user_metadata,
            password_hash: r.password_hash,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
            last_login: r.last_login.map(Timestamp),
            last_ip: r.last_ip,
            logins_count: r.logins_count,
            phone_number: r.phone_number,
            phone_verified: r.phone_verified,
        }
    }
}

/// `LIKE` pattern for a substring, with the wildcard characters escaped.
/// E-mails are stored lower-cased, so the needle is lower-cased too: SQLite's
/// `LIKE` ignores ASCII case and PostgreSQL's does not, and this makes both
/// engines find the same rows.
fn contains_pattern(needle: &str) -> String {
    let escaped = needle
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

const FILTER: &str = "($1 IS NULL OR email = $1) AND ($2 IS NULL OR email LIKE $2 ESCAPE '\\')";

impl Backend {
    pub async fn insert_user(&self, u: &User) -> StoreResult<()> {
        self.write_user(u, None).await
    }

    /// Inserts the user and `event` in one transaction.
    pub async fn insert_user_audited(&self, u: &User, event: &LogEvent) -> StoreResult<()> {
        self.write_user(u, Some(event)).await
    }

    async fn write_user(&self, u: &User, event: Option<&LogEvent>) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_users_in(&mut tx, std::slice::from_ref(u)).await?;
        if let Some(event) = event {
            super::logs::insert_event_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn user(&self, user_id: &UserId) -> StoreResult<Option<User>> {
        let row: Option<UserRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE user_id = $1"))
                .bind(user_id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    pub async fn user_latest(&self, user_id: &UserId) -> StoreResult<Option<User>> {
        let mut tx = self.begin_write().await?;
        let row: Option<UserRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE user_id = $1"))
                .bind(user_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(row.map(Into::into))
    }

    pub async fn user_by_email(&self, connection: &str, email: &str) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM users WHERE connection = $1 AND email = $2"
        ))
        .bind(connection)
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    pub async fn list_users(
        &self,
        filter: &UserFilter,
        page: PageRequest,
    ) -> StoreResult<Page<User>> {
        let pattern = filter.email_contains.as_deref().map(contains_pattern);
        let rows: Vec<UserRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM users WHERE {FILTER} ORDER BY created_at, user_id LIMIT $3 OFFSET $4"
        ))
        .bind(&filter.email)
        .bind(&pattern)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM users WHERE {FILTER}"))
            .bind(&filter.email)
            .bind(&pattern)
            .fetch_one(&self.pool)
            .await?;
        Ok(Page {
            items: rows.into_iter().map(Into::into).collect(),
            total,
        })
    }

    pub async fn update_user(&self, u: &UserUpdate) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        update_user_in(&mut tx, u).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Updates the user and writes `event` in one transaction.
    pub async fn update_user_audited(&self, u: &UserUpdate, event: &LogEvent) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        update_user_in(&mut tx, u).await?;
        super::logs::insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_user(&self, user_id: &UserId) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let deleted = delete_user_in(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(deleted)
    }
}

/// Writes the members `u.after` changed (see [`UserUpdate`]) and its
/// `updated_at`, inside the caller's transaction; [`StoreError::NotFound`]
/// when the user is gone.
pub(super) async fn update_user_in(conn: &mut Conn, u: &UserUpdate) -> StoreResult<()> {
    let (before, after) = (&u.before, &u.after);
    let mut query = sqlx::QueryBuilder::<Db>::new("UPDATE users SET updated_at = ");
    query.push_bind(after.updated_at.0);
    macro_rules! changed {
        ($($field:ident),*) => {$(
            if before.$field != after.$field || u.named.contains(&stringify!($field)) {
                query.push(concat!(", ", stringify!($field), " = "));
                query.push_bind(after.$field.clone());
            }
        )*};
    }
    // What a guarded member (only the metadata, merged from the read) must
    // still be, for each one written.
    let guards: Vec<(&str, &String)> = [
        ("app_metadata", &before.app_metadata, &after.app_metadata),
        ("user_metadata", &before.user_metadata, &after.user_metadata),
    ]
    .into_iter()
    .filter(|(name, read, new)| u.guarded.contains(name) && (read != new || u.named.contains(name)))
    .map(|(name, read, _)| (name, read))
    .collect();
    changed!(
        email,
        email_verified,
        username,
        name,
        nickname,
        picture,
        given_name,
        family_name,
        phone_number,
        phone_verified,
        blocked,
        app_metadata,
        user_metadata,
        password_hash
    );
    query.push(" WHERE user_id = ");
    query.push_bind(after.user_id.as_str());
    for (name, read) in &guards {
        query.push(format!(" AND {name} = "));
        query.push_bind((*read).clone());
    }
    if query.build().execute(&mut *conn).await?.rows_affected() == 0 {
        let exists = !guards.is_empty()
            && sqlx::query_scalar::<_, String>("SELECT user_id FROM users WHERE user_id = $1")
                .bind(after.user_id.as_str())
                .fetch_optional(&mut *conn)
                .await?
                .is_some();
        return Err(if exists {
            StoreError::Changed
        } else {
            StoreError::NotFound
        });
    }
    Ok(())
}

/// Deletes a user inside the caller's transaction; false when unknown.
pub(super) async fn delete_user_in(conn: &mut Conn, user_id: &UserId) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM users WHERE user_id = $1")
        .bind(user_id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
