//! `/api/v2/logs`: the audit log. Every token issue, exchange, reuse
//! detection, revocation and Management or dashboard change is an event,
//! written in the transaction of the change itself. Filters: `q` with
//! `user_id:"…"`, `client_id:"…"` and `type:"…"` clauses joined by `AND`
//! (the part of Auth0's Lucene syntax these filters need); offset paging newest
//! first (or oldest first with `sort=date:1`), or checkpoint paging (`from` = a `log_id`, `take`) oldest first.

use axum::extract::{Path, State};
use axum::Json;
use grantor_store::{LogEvent, LogFilter, PageRequest};
use serde::Deserialize;
use serde_json::{json, Value};

use super::openapi::ErrorBody;
use super::{iso8601, ApiError, ApiQuery, Caller, FieldParams, ListParams};
use crate::http::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    q: Option<String>,
    /// What the current SDKs send instead of `q` (auth0-python 6 `logs.list(search=…)`).
    search: Option<String>,
    sort: Option<String>,
}

pub fn render(e: &LogEvent) -> Value {
    json!({
        "log_id": e.log_id,
        "date": iso8601(e.date),
        "type": e.type_code,
        "description": e.description,
        "client_id": e.client_id,
        "client_name": e.client_name,
        "user_id": e.user_id,
        "user_name": e.user_name,
        "ip": e.ip,
        "user_agent": e.user_agent,
        "details": e.details,
    })
}

/// Parses `field:"value" AND field:value …` into a filter.
fn parse_q(q: &str, filter: &mut LogFilter) -> Result<(), ApiError> {
    let bad = |why: &str| {
        ApiError::invalid_query(format!(
            "Query validation error: q: {why} (supported: user_id, client_id and type clauses joined by AND)"
        ))
    };
    let mut rest = q.trim();
    while !rest.is_empty() {
        let (field, after) = rest
            .split_once(':')
            .ok_or_else(|| bad("expected field:value"))?;
        let field = field.trim();
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').ok_or_else(|| bad("unterminated quote"))?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if value.is_empty() {
            return Err(bad("empty value"));
        }
        let slot = match field {
            "user_id" => &mut filter.user_id,
            "client_id" => &mut filter.client_id,
            "type" => &mut filter.type_code,
            _ => return Err(bad(&format!("unsupported field '{field}'"))),
        };
        *slot = Some(value.to_owned());
        rest = tail.trim_start();
        if !rest.is_empty() {
            rest = rest
                .strip_prefix("AND")
                .filter(|r| r.starts_with(char::is_whitespace))
                .ok_or_else(|| bad("clauses must be joined by AND"))?
                .trim_start();
        }
    }
    Ok(())
}

async fn list(
    state: &AppState,
    params: &ListParams,
    query: &LogQuery,
    mut filter: LogFilter,
) -> Result<Value, ApiError> {
    match query.sort.as_deref() {
        None | Some("date:-1") => {}
        Some("date:1") => filter.oldest_first = true,
        Some(_) => {
            return Err(ApiError::invalid_query(
                "Query validation error: sort: 'date:-1' (newest first) or 'date:1' (oldest first)",
            ))
        }
    }
    if let Some(q) = query.q.as_deref().or(query.search.as_deref()) {
        parse_q(q, &mut filter)?;
    }
    if let Some(from) = &params.from {
        // A `from` that is not a log id grantor makes is Auth0's 400 for a
        // checkpoint it did not issue; an empty one is the start.
        if !from.is_empty() && !super::cursor::is_log_id(from) {
            return Err(super::cursor::invalid_checkpoint());
        }
        filter.after_id = Some(from.clone());
        filter.total_up_to = Some(0);
        let take = params.take()?;
        let page = state
            .store
            .list_logs(
                &filter,
                PageRequest {
                    offset: 0,
                    limit: take,
                },
            )
            .await?;
        let fields = FieldParams {
            fields: params.fields.clone(),
            include_fields: params.include_fields,
        };
        return Ok(Value::Array(
            page.items.iter().map(|e| fields.apply(render(e))).collect(),
        ));
    }
    if !params.include_totals.unwrap_or(false) {
        filter.total_up_to = Some(0);
    }
    let page = state
        .store
        .list_logs(&filter, params.page_request()?)
        .await?;
    params.offset_envelope("logs", page, render)
}

#[utoipa::path(
    get,
    path = "/logs",
    tag = "logs",
    params(
        ListParams,
        ("q" = Option<String>, Query, description = "`user_id:\"…\"`, `client_id:\"…\"` and `type:\"…\"` clauses joined by `AND`"),
        ("sort" = Option<String>, Query, description = "`date:-1` (newest first, the default) or `date:1` (oldest first)"),
    ),
    responses(
        (status = 200, description = "A bare array of events, or `{start, limit, total, logs}` with `include_totals`", body = Object),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
    ),
    security(("bearer" = ["read:logs"]))
)]
pub async fn list_logs(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:logs"])?;
    Ok(Json(
        list(&state, &params, &query, LogFilter::default()).await?,
    ))
}

/// `GET /users/{id}/logs`: one user's events.
#[utoipa::path(
    get,
    path = "/users/{id}/logs",
    tag = "logs",
    params(
        ("id" = String, Path, description = "The user's id"),
        ListParams,
        ("q" = Option<String>, Query, description = "`client_id:\"…\"` and `type:\"…\"` clauses joined by `AND`"),
        ("sort" = Option<String>, Query, description = "`date:-1` (newest first, the default) or `date:1` (oldest first)"),
    ),
    responses(
        (status = 200, description = "As `GET /logs`, for one user", body = Object),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
    ),
    security(("bearer" = ["read:logs"]), ("bearer" = ["read:logs_users"]))
)]
pub async fn list_user_logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:logs", "read:logs_users"])?;
    let filter = LogFilter {
        user_id: Some(user_id),
        ..LogFilter::default()
    };
    Ok(Json(list(&state, &params, &query, filter).await?))
}

#[utoipa::path(
    get,
    path = "/logs/{id}",
    tag = "logs",
    params(("id" = String, Path, description = "The event's `log_id`"), FieldParams),
    responses(
        (status = 200, description = "The event: `log_id`, `date`, `type`, `description`, `client_id`, `client_name`, `user_id`, `user_name`, `ip`, `user_agent`, `details`", body = Object),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
    ),
    security(("bearer" = ["read:logs"]))
)]
pub async fn get_log(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(fields): ApiQuery<FieldParams>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:logs"])?;
    let event = state
        .store
        .log_event(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("log not found", "inexistent_log"))?;
    Ok(Json(fields.apply(render(&event))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(q: &str) -> Result<LogFilter, ApiError> {
        let mut f = LogFilter::default();
        parse_q(q, &mut f).map(|_| f)
    }

    #[test]
    fn q_accepts_quoted_and_bare_clauses_joined_by_and() {
        let f = parsed(r#"user_id:"auth0|abc" AND type:srrt"#).unwrap();
        assert_eq!(f.user_id.as_deref(), Some("auth0|abc"));
        assert_eq!(f.type_code.as_deref(), Some("srrt"));
        let f = parsed("client_id:xyz").unwrap();
        assert_eq!(f.client_id.as_deref(), Some("xyz"));
    }

    #[test]
    fn q_refuses_what_it_cannot_honour() {
        for q in [
            "email:a@b.c",
            "type:srrt OR type:ferrt",
            "user_id:\"open",
            "type:",
            "just words",
        ] {
            assert!(parsed(q).is_err(), "{q}");
        }
    }
}
