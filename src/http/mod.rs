//! HTTP surfaces: the Authentication API at the root, the Management API under
//! `/api/v2`, the dashboard under `/dashboard`, and `/healthz`. Handlers parse, call one flow or store
//! operation, and render; no business rule lives here.

pub mod auth_api;
pub mod client_ip;
pub mod dashboard;
pub mod error_log;
pub mod extract;
pub mod management;
pub mod media_type;
pub mod nul;
pub mod pages;
pub mod rate_limit;
pub mod readiness;
pub mod request_log;
pub mod ssf;

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn;
use axum::routing::get;
use axum::Router;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use crate::state::AppState;

/// Largest request body accepted anywhere (1 MiB); larger ones get a 413 in
/// the surface's own error format.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Each request's span: method, path (not the query, which may carry a
/// user code or an ID token hint), matched route, request id, and the
/// client once known (`request_log::note_client`). At `info`, so that every
/// line logged while serving a request names the request.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = request.uri().path(),
        route = request_log::route_of(request),
        request_id = request_log::request_id_of(request),
        client_id = tracing::field::Empty,
    )
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readiness::readyz))
        .merge(crate::metrics::routes(&state))
        .merge(auth_api::routes(&state).layer(from_fn(nul::oauth_targets)))
        .merge(pages::routes().layer(from_fn(nul::page_targets)))
        .merge(dashboard::routes().layer(from_fn(nul::dashboard_targets)))
        .merge(ssf::routes().layer(from_fn(nul::ssf_targets)))
        .nest(
            "/api/v2",
            management::routes().layer(from_fn(nul::management_targets)),
        )
        .fallback(auth_api::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::layer,
        ))
        // Inside the request's span: logs every 5xx once, with its cause;
        // the trace layer's own failure line would be a second one.
        .layer(from_fn(error_log::layer))
        // The one line per request, inside its span.
        .layer(from_fn(request_log::layer))
        // The span only: `request_log` writes the request's line.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(())
                .on_failure(()),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            client_ip::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::http_layer,
        ))
        // Request ids (outermost, so every response carries one): a sane
        // incoming `X-Request-Id` is kept, else one is made.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(
            request_log::MakeGrantorRequestId,
        ))
        .layer(from_fn(request_log::drop_insane_request_id))
        .with_state(state)
}
