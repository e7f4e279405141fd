//! SSF Streams: every Shared Signals stream (owner client, delivery
//! method, endpoint, status, events) with its newest deliveries. Read-only:
//! streams are managed by their receivers through `/ssf/` (`src/http/ssf/`).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use grantor_store::{OutboxFilter, OutboxStatus, PageRequest, SSF_POLL_METHOD};

use super::views::{self, Layout};
use super::{Dash, DashboardError};
use crate::http::pages::Page;
use crate::http::AppState;

/// How many deliveries each stream shows.
const DELIVERIES_SHOWN: i64 = 5;

pub struct StreamRow {
    pub id: String,
    pub client_id: String,
    pub method: &'static str,
    pub endpoint: String,
    pub status: &'static str,
    pub reason: String,
    pub events: String,
    pub default_subjects: String,
    pub deliveries: Vec<DeliveryRow>,
}

pub struct DeliveryRow {
    pub id: String,
    pub queued: String,
    pub kind: &'static str,
    pub status: &'static str,
    pub attempts: i64,
    pub when: String,
    pub last_error: String,
}

#[derive(Template)]
#[template(path = "dashboard/ssf_streams.html")]
pub struct SsfStreamsPage<'a> {
    pub layout: Layout<'a>,
    pub rows: Vec<StreamRow>,
}

pub async fn list_streams(
    State(state): State<AppState>,
    dash: Dash,
) -> Result<Page, DashboardError> {
    let streams = state.store.list_ssf_streams(None).await?;
    let mut rows = Vec::with_capacity(streams.len());
    for s in streams {
        let filter = OutboxFilter {
            destination: Some(s.id.clone()),
            ..OutboxFilter::default()
        };
        let page = PageRequest {
            offset: 0,
            limit: DELIVERIES_SHOWN,
        };
        let deliveries = state
            .store
            .list_outbox(&filter, page)
            .await?
            .items
            .into_iter()
            .map(|m| DeliveryRow {
                id: m.id,
                queued: views::when(m.created_at),
                kind: m.kind.as_str(),
                status: m.status.as_str(),
                attempts: m.attempts,
                when: match (m.status, m.finished_at) {
                    (OutboxStatus::Pending, _) => String::new(),
                    (_, Some(at)) => views::when(at),
                    (_, None) => String::new(),
                },
                last_error: m.last_error.unwrap_or_default(),
            })
            .collect();
        let poll = s.delivery_method == SSF_POLL_METHOD;
        rows.push(StreamRow {
            endpoint: if poll {
                state.issuer.url(&format!("ssf/poll/{}", s.id))
            } else {
                s.endpoint_url.clone().unwrap_or_default()
            },
            method: if poll {
                "poll (RFC 8936)"
            } else {
                "push (RFC 8935)"
            },
            status: s.status.as_str(),
            reason: s.reason.clone().unwrap_or_default(),
            events: s.events_delivered.join(" "),
            default_subjects: s.default_subjects.clone(),
            client_id: s.client_id,
            id: s.id,
            deliveries,
        });
    }
    let html = Page::html(
        StatusCode::OK,
        &SsfStreamsPage {
            layout: dash.layout("ssf-streams"),
            rows,
        },
    )?;
    Ok(dash.finish(html))
}
