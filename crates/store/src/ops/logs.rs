//! The audit log (`GET /api/v2/logs`). Events are inserted by the operation
//! whose change they record, inside its transaction.

use grantor_domain::Timestamp;
use sqlx::FromRow;

use super::batch::{params, with_ctes, Batch, Param, Statement};
use super::{Backend, Conn, DML_IN_WITH};
use crate::{LogEvent, LogFilter, Page, PageRequest, StoreResult};

const COLUMNS: &str = "log_id, date, type, description, client_id, client_name, user_id, user_name, ip, user_agent, details";

#[derive(FromRow)]
struct LogRow {
    log_id: String,
    date: i64,
    #[sqlx(rename = "type")]
    type_code: String,
    description: String,
    client_id: Option<String>,
    client_name: Option<String>,
    user_id: Option<String>,
    user_name: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    details: String,
}

impl From<LogRow> for LogEvent {
    fn from(r: LogRow) -> Self {
        LogEvent {
            log_id: r.log_id,
            date: Timestamp(r.date),
            type_code: r.type_code,
            description: r.description,
            client_id: r.client_id,
            client_name: r.client_name,
            user_id: r.user_id,
            user_name: r.user_name,
            ip: r.ip,
            user_agent: r.user_agent,
            details: serde_json::from_str(&r.details).unwrap_or_default(),
        }
    }
}

/// Writes one event; the client's and user's names are read from their rows
/// now, so the event still names them after they are deleted. The event is
/// staged for the log streams with it ([`event_statements`]).
pub(super) async fn insert_event_in(conn: &mut Conn, e: &LogEvent) -> StoreResult<()> {
    let mut batch = Batch::default();
    for statement in event_statements(e) {
        batch.push(statement);
    }
    batch.run(conn).await?;
    Ok(())
}

const INSERT_EVENT: &str = "INSERT INTO logs (log_id, date, type, description, client_id, client_name, user_id, user_name, ip, user_agent, details) VALUES ($1, $2, $3, $4, $5, COALESCE($6, (SELECT name FROM clients WHERE client_id = $5)), $7, COALESCE($8, (SELECT email FROM users WHERE user_id = $7)), $9, $10, $11)";

/// The statements of `insert_event_in`, to send in a write's batch: the
/// event's insert and its staging for the log streams
/// (`log_streams::stage_statement`, which writes nothing unless a stream is
/// active). On PostgreSQL both are one statement (the insert in a `WITH`),
/// so a write without streams makes no extra round trip; on SQLite the
/// batch sends both in one call.
pub(super) fn event_statements(e: &LogEvent) -> Vec<Statement<'_>> {
    event_statements_with(e, Vec::new())
}

/// [`event_statements`] and `riders`, statements that must commit with the
/// event (its SSF events): on PostgreSQL more data-modifying `WITH`s of the
/// event's one statement, so they cost no round trip either; on SQLite
/// more statements of the same batch. A rider may not read what the event
/// writes (a `WITH` sees the snapshot from before the statement).
pub(super) fn event_statements_with<'a>(
    e: &'a LogEvent,
    riders: Vec<Statement<'a>>,
) -> Vec<Statement<'a>> {
    if DML_IN_WITH {
        let mut ctes = vec![(
            "e".to_owned(),
            Statement::new(
                format!("{INSERT_EVENT} RETURNING log_id, type, date"),
                event_params(e),
            ),
        )];
        ctes.extend(
            riders
                .into_iter()
                .enumerate()
                .map(|(i, rider)| (format!("r{i}"), rider)),
        );
        vec![with_ctes(
            ctes,
            Statement::new(
                "INSERT INTO log_stream_backlog (log_id, type, staged_at) SELECT log_id, type, date FROM e \
                 WHERE EXISTS (SELECT 1 FROM log_streams WHERE status = 'active')",
                Vec::new(),
            ),
        )]
    } else {
        let mut statements = vec![
            Statement::new(INSERT_EVENT, event_params(e)),
            super::log_streams::stage_statement(e),
        ];
        statements.extend(riders);
        statements
    }
}

fn event_params(e: &LogEvent) -> Vec<Param<'_>> {
    params![
        &e.log_id,
        e.date.0,
        &e.type_code,
        &e.description,
        &e.client_id,
        &e.client_name,
        &e.user_id,
        &e.user_name,
        &e.ip,
        &e.user_agent,
        e.details.to_string(),
    ]
}

/// `WHERE` clause and its parameters for a filter, parameters from `$1`.
fn filter_sql(f: &LogFilter) -> (String, Vec<&str>) {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    for (column, value) in [
        ("user_id", &f.user_id),
        ("client_id", &f.client_id),
        ("type", &f.type_code),
    ] {
        if let Some(v) = value {
            params.push(v.as_str());
            clauses.push(format!("{column} = ${}", params.len()));
        }
    }
    if let Some(after) = &f.after_id {
        params.push(after.as_str());
        clauses.push(format!("log_id > ${}", params.len()));
    }
    if let Some(before) = &f.before_id {
        params.push(before.as_str());
        clauses.push(format!("log_id < ${}", params.len()));
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, params)
}

impl Backend {
    /// Writes an event that goes with no other change (a failed exchange, a
    /// machine token).
    pub async fn record_event(&self, event: &LogEvent) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes several events that go with no other change, in one
    /// transaction (the audit queue's batches).
    pub async fn record_events(&self, events: &[LogEvent]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for event in events {
            insert_event_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The events of `log_ids` that still exist, by log id (a log stream
    /// batch's events).
    pub async fn log_events(&self, log_ids: &[String]) -> StoreResult<Vec<LogEvent>> {
        if log_ids.is_empty() {
            return Ok(vec![]);
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM logs WHERE log_id IN ({}) ORDER BY log_id",
            super::placeholders(1, log_ids.len())
        );
        let mut q = sqlx::query_as::<_, LogRow>(&sql);
        for id in log_ids {
            q = q.bind(id);
        }
        Ok(q.fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub async fn log_event(&self, log_id: &str) -> StoreResult<Option<LogEvent>> {
        let row: Option<LogRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM logs WHERE log_id = $1"))
                .bind(log_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    /// Newest first with offset paging; with `after_id` (checkpoint paging),
    /// oldest first from just after that event.
    pub async fn list_logs(
        &self,
        filter: &LogFilter,
        page: PageRequest,
    ) -> StoreResult<Page<LogEvent>> {
        let (where_sql, params) = filter_sql(filter);
        let order = if filter.after_id.is_some() || filter.oldest_first {
            "ASC"
        } else {
            "DESC"
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM logs {where_sql} ORDER BY log_id {order} LIMIT {} OFFSET {}",
            page.limit.max(0),
            page.offset.max(0)
        );
        let mut q = sqlx::query_as::<_, LogRow>(&sql);
        for p in &params {
            q = q.bind(*p);
        }
        let items = q.fetch_all(&self.pool).await?;
        if filter.total_up_to == Some(0) {
            return Ok(Page {
                items: items.into_iter().map(Into::into).collect(),
                total: 0,
            });
        }
        let count_sql = match filter.total_up_to {
            Some(cap) => format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM logs {where_sql} LIMIT {}) capped",
                cap.max(0)
            ),
            None => format!("SELECT COUNT(*) FROM logs {where_sql}"),
        };
        let mut c = sqlx::query_scalar::<_, i64>(&count_sql);
        for p in &params {
            c = c.bind(*p);
        }
        let total = c.fetch_one(&self.pool).await?;
        Ok(Page {
            items: items.into_iter().map(Into::into).collect(),
            total,
        })
    }
}
