//! Logs: the audit log newest first, paged, filtered by event type, user
//! id, client id and a last day; and a page per event with every field, its
//! actor and its revocation receipt laid out. Read through the store calls
//! `GET /api/v2/logs` uses (`list_logs`, `log_event`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use grantor_store::LogFilter;
use serde::Deserialize;
use serde_json::Value;

use super::views::{self, Pager};
use super::{Dash, DashboardError};
use crate::flows::audit::EventType;
use crate::http::pages::Page;
use crate::http::AppState;

fn type_label(code: &str) -> &'static str {
    EventType::ALL
        .iter()
        .find(|t| t.as_str() == code)
        .map_or("", |t| t.label())
}

#[derive(Deserialize, Default)]
pub struct LogsQuery {
    #[serde(rename = "type")]
    type_code: Option<String>,
    user_id: Option<String>,
    client_id: Option<String>,
    /// `YYYY-MM-DD`: events of that day (UTC) and before.
    until: Option<String>,
    page: Option<String>,
}

/// A filter's text: trimmed, bounded, `None` when empty.
fn filter_value(raw: &Option<String>) -> Option<String> {
    let v: String = raw
        .as_deref()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(300)
        .collect();
    (!v.is_empty()).then_some(v)
}

/// The first log id after the day `date` (UTC), or why it is not a date.
fn end_of_day_id(date: &str) -> Result<String, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(date, &format)
        .map_err(|_| format!("“{date}” is not a date: write it as YYYY-MM-DD."))?;
    let next = day
        .next_day()
        .ok_or_else(|| "That date is out of range.".to_owned())?;
    let millis = next.midnight().assume_utc().unix_timestamp() * 1000;
    Ok(format!("{:020}", millis.max(0)))
}

pub async fn list_logs(
    State(state): State<AppState>,
    dash: Dash,
    Query(query): Query<LogsQuery>,
) -> Result<Page, DashboardError> {
    let page = Pager::page_number(query.page.as_deref());
    let type_code = filter_value(&query.type_code);
    let user_id = filter_value(&query.user_id);
    let client_id = filter_value(&query.client_id);
    let until = filter_value(&query.until);
    let (before_id, error) = match until.as_deref().map(end_of_day_id) {
        None => (None, None),
        Some(Ok(id)) => (Some(id), None),
        Some(Err(e)) => (None, Some(e)),
    };
    let filter = LogFilter {
        user_id: user_id.clone(),
        client_id: client_id.clone(),
        type_code: type_code.clone(),
        before_id,
        // "of N" needs no count of the whole audit log: up to ten
        // thousand past this page, then "of at least N".
        total_up_to: Some(Pager::count_cap(page)),
        ..LogFilter::default()
    };
    let events = if error.is_some() {
        grantor_store::Page {
            items: vec![],
            total: 0,
        }
    } else {
        state.store.list_logs(&filter, Pager::request(page)).await?
    };
    let rows: Vec<views::LogRow> = events
        .items
        .iter()
        .map(|e| views::LogRow {
            log_id: e.log_id.clone(),
            date: views::when_seconds(e.date),
            type_code: e.type_code.clone(),
            type_label: type_label(&e.type_code),
            description: e.description.clone(),
            user: e
                .user_name
                .clone()
                .or_else(|| e.user_id.clone())
                .unwrap_or_default(),
            client: e
                .client_name
                .clone()
                .or_else(|| e.client_id.clone())
                .unwrap_or_default(),
            actor: actor_text(&e.details["actor"]),
        })
        .collect();
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for (name, value) in [
        ("type", &type_code),
        ("user_id", &user_id),
        ("client_id", &client_id),
        ("until", &until),
    ] {
        if let Some(v) = value {
            pairs.push((name, v.clone()));
        }
    }
    let pager = Pager::capped(page, rows.len(), events.total, |p| {
        let mut all = pairs.clone();
        all.push(("page", p.to_string()));
        format!(
            "/dashboard/logs?{}",
            serde_urlencoded::to_string(all).unwrap_or_default()
        )
    });
    let selected = type_code.clone().unwrap_or_default();
    let html = Page::html(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        &views::LogsPage {
            layout: dash.layout("logs"),
            types: EventType::ALL
                .iter()
                .map(|t| (t.as_str(), t.label(), t.as_str() == selected))
                .collect(),
            user_id: user_id.unwrap_or_default(),
            client_id: client_id.unwrap_or_default(),
            until: until.unwrap_or_default(),
            filtered: !pairs.is_empty(),
            rows,
            pager,
            error,
        },
    )?;
    Ok(dash.finish(html))
}

/// Who made a change, in words: "admin ann@example.com", "client abc", "grantor".
fn actor_text(actor: &Value) -> String {
    match actor["type"].as_str() {
        Some("admin") => format!("admin {}", actor["email"].as_str().unwrap_or_default()),
        Some("client") => format!("client {}", actor["client_id"].as_str().unwrap_or_default()),
        Some("system") => "grantor".to_owned(),
        _ => String::new(),
    }
}

/// A JSON value as one line of text (strings without quotes).
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_owned(),
        Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

pub async fn get_log(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
) -> Result<Page, DashboardError> {
    let event = state
        .store
        .log_event(&id)
        .await?
        .ok_or_else(|| DashboardError::not_found("There is no log event with this ID."))?;
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".to_owned());
    let label = type_label(&event.type_code);
    let fields = vec![
        ("Log ID", event.log_id.clone()),
        ("Date", views::when_seconds(event.date)),
        (
            "Type",
            if label.is_empty() {
                event.type_code.clone()
            } else {
                format!("{} ({label})", event.type_code)
            },
        ),
        ("Description", event.description.clone()),
        ("Client ID", opt(&event.client_id)),
        ("Client name", opt(&event.client_name)),
        ("User ID", opt(&event.user_id)),
        ("User name", opt(&event.user_name)),
        ("IP", opt(&event.ip)),
        ("User agent", opt(&event.user_agent)),
    ];
    let details = &event.details;
    let actor = match details.get("actor") {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), plain(v))).collect(),
        _ => vec![],
    };
    let receipt = match details.get("receipt") {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), plain(v))).collect(),
        _ => vec![],
    };
    let other: Vec<(String, String)> = match details {
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "actor" | "receipt"))
            .map(|(k, v)| (k.clone(), plain(v)))
            .collect(),
        _ => vec![],
    };
    let html = Page::html(
        StatusCode::OK,
        &views::LogPage {
            layout: dash.layout("logs"),
            log_id: event.log_id.clone(),
            description: event.description.clone(),
            fields,
            actor,
            receipt,
            other,
            details_json: serde_json::to_string_pretty(details).unwrap_or_default(),
        },
    )?;
    Ok(dash.finish(html))
}
