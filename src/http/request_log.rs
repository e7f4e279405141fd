//! Request ids and the one log line per request.
//!
//! * Request ids: an incoming `X-Request-Id` is kept when it is sane (1 to
//!   128 visible ASCII characters, `!` to `~`), otherwise dropped
//!   ([`drop_insane_request_id`]) and a new one made ([`MakeGrantorRequestId`]:
//!   32 random hex digits); tower-http's `SetRequestId` puts it on the
//!   request and `PropagateRequestId` on every response. The request's span
//!   (`http/mod.rs`) records it, so every line logged while serving the
//!   request carries it.
//! * [`layer`], inside that span, logs one `info` line when the response is
//!   ready: method, route (the matched template, `(unmatched)` for the
//!   fallback), status, latency in milliseconds, the client id when the
//!   request authenticated a client or carried a Management API token
//!   ([`note_client`]), and the request id. Never the query, a header or a
//!   body.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tower_http::request_id::{MakeRequestId, RequestId};

/// The header carrying the request id, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest incoming request id kept.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The route logged for a request no route matched.
pub const UNMATCHED_ROUTE: &str = "(unmatched)";

/// A request id for a request that came without a sane one: 128 random
/// bits as 32 lowercase hex digits.
#[derive(Clone, Copy, Default)]
pub struct MakeGrantorRequestId;

impl MakeRequestId for MakeGrantorRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = format!("{:032x}", rand::random::<u128>());
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// Whether an incoming request id is kept: 1 to 128 visible ASCII
/// characters (no space, no control character, nothing beyond ASCII), so
/// it cannot break a log line or a header.
pub fn is_sane_request_id(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REQUEST_ID_LEN
        && value.iter().all(|b| (b'!'..=b'~').contains(b))
}

/// Drops an incoming `X-Request-Id` that is not sane (or is repeated), so
/// that `SetRequestId` makes a new one.
pub async fn drop_insane_request_id(mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let mut values = headers.get_all(REQUEST_ID_HEADER).iter();
    let keep = match (values.next(), values.next()) {
        (None, _) => true,
        (Some(value), None) => is_sane_request_id(value.as_bytes()),
        (Some(_), Some(_)) => false,
    };
    if !keep {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    next.run(request).await
}

/// The request id `SetRequestId` settled, for the request's span.
pub fn request_id_of<B>(request: &axum::http::Request<B>) -> &str {
    request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
}

/// The matched route template, for the request's span and line.
pub fn route_of<B>(request: &axum::http::Request<B>) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
}

/// What the request learns while it is served: the client it authenticated.
#[derive(Clone)]
struct RequestNote {
    client_id: Arc<OnceLock<String>>,
    span: tracing::Span,
}

tokio::task_local! {
    static CURRENT: RequestNote;
}

/// Records the client a request authenticated (client authentication at
/// the token, revoke and introspect endpoints; the `azp` of a verified
/// Management API token) on the request's span and its log line. Outside a
/// request, does nothing; the first client noted wins.
pub fn note_client(client_id: &str) {
    let _ = CURRENT.try_with(|note| {
        if note.client_id.set(client_id.to_owned()).is_ok() {
            note.span.record("client_id", client_id);
        }
    });
}

/// Logs the request's one line once its response is ready (inside the
/// request's span, which `TraceLayer` opens outside this layer).
pub async fn layer(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = route_of(&request).to_owned();
    let request_id = request_id_of(&request).to_owned();
    let note = RequestNote {
        client_id: Arc::default(),
        span: tracing::Span::current(),
    };
    let response = CURRENT.scope(note.clone(), next.run(request)).await;
    let latency_ms = started.elapsed().as_micros() as f64 / 1000.0;
    tracing::info!(
        target: "grantor::request",
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        latency_ms,
        client_id = note.client_id.get().map(String::as_str),
        request_id = %request_id,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_request_ids() {
        assert!(is_sane_request_id(b"0af7651916cd43dd8448eb211c80319c"));
        assert!(is_sane_request_id(
            b"Root=1-67891233-abcdef012345678912345678"
        ));
        assert!(is_sane_request_id(&[b'a'; 128]));
        assert!(!is_sane_request_id(&[b'a'; 129]));
        assert!(!is_sane_request_id(b""));
        assert!(!is_sane_request_id(b"two words"));
        assert!(!is_sane_request_id(b"line\nbreak"));
        assert!(!is_sane_request_id("caf\u{e9}".as_bytes()));
    }
}
