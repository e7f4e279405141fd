//! Monitoring › Log Streams: every log stream with its status and health
//! (consecutive failed attempts, since when, the last error; Auth0's
//! stream object has no such field, so it is shown here only) and its
//! newest batches with their delivery state. Read-only: streams are
//! changed through `/api/v2/log-streams`.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use grantor_store::{OutboxFilter, OutboxKind, OutboxStatus, PageRequest};

use super::views::{self, Layout};
use super::{Dash, DashboardError};
use crate::http::pages::Page;
use crate::http::AppState;

/// Batches shown per stream.
const BATCHES_SHOWN: i64 = 10;

pub struct BatchRow {
    pub queued: String,
    pub events: usize,
    pub status: &'static str,
    pub attempts: i64,
    pub when: String,
    pub last_error: String,
}

pub struct StreamRow {
    pub id: String,
    pub name: String,
    pub endpoint: String,
    pub format: &'static str,
    pub filters: String,
    pub status: &'static str,
    pub consecutive_failures: i64,
    pub failing_since: String,
    pub last_error: String,
    pub batches: Vec<BatchRow>,
}

#[derive(Template)]
#[template(path = "dashboard/log_streams.html")]
pub struct LogStreamsPage<'a> {
    pub layout: Layout<'a>,
    pub backlog: i64,
    pub streams: Vec<StreamRow>,
}

pub async fn list_log_streams(
    State(state): State<AppState>,
    dash: Dash,
) -> Result<Page, DashboardError> {
    let mut streams = Vec::new();
    for s in state.store.list_log_streams().await? {
        let filter = OutboxFilter {
            kind: Some(OutboxKind::LogStreamBatch),
            destination: Some(s.id.clone()),
            ..OutboxFilter::default()
        };
        let page = state
            .store
            .list_outbox(
                &filter,
                PageRequest {
                    offset: 0,
                    limit: BATCHES_SHOWN,
                },
            )
            .await?;
        let batches = page
            .items
            .iter()
            .map(|m| BatchRow {
                queued: views::when(m.created_at),
                events: m.log_ids().len(),
                status: m.status.as_str(),
                attempts: m.attempts,
                when: match (m.status, m.finished_at) {
                    (OutboxStatus::Pending, _) => {
                        format!("next attempt {}", views::when(m.next_attempt_at))
                    }
                    (_, Some(at)) => views::when(at),
                    (_, None) => String::new(),
                },
                last_error: m.last_error.clone().unwrap_or_default(),
            })
            .collect();
        streams.push(StreamRow {
            filters: if s.filters.is_empty() {
                "every event".to_owned()
            } else {
                s.filters.join(", ")
            },
            id: s.id,
            name: s.name,
            endpoint: s.endpoint,
            format: s.content_format.as_str(),
            status: s.status.as_str(),
            consecutive_failures: s.health.consecutive_failures,
            failing_since: s.health.failing_since.map(views::when).unwrap_or_default(),
            last_error: s.health.last_error.unwrap_or_default(),
            batches,
        });
    }
    let html = Page::html(
        StatusCode::OK,
        &LogStreamsPage {
            layout: dash.layout("log-streams"),
            backlog: state.store.log_stream_backlog().await?,
            streams,
        },
    )?;
    Ok(dash.finish(html))
}
