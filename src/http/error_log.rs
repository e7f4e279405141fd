//! The one place request errors are logged.
//!
//! Each surface renders its own errors (`auth_api/error.rs`,
//! `management/error.rs`, `pages/error.rs`, `dashboard/error.rs`) and leaves
//! the cause, which the client never sees, on the response as an
//! [`ErrorCause`]. [`layer`], inside the request's tracing span, takes it off
//! and logs every 5xx once at `error` with its cause chain; a refusal below
//! 500 that has a cause (why a token was not accepted, say) is logged at
//! `debug`. Causes are built from errors and static context, never from
//! request values, so no secret reaches the log.

use std::fmt;
use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// Why a request failed, for the log only.
#[derive(Clone)]
pub struct ErrorCause(Arc<anyhow::Error>);

impl ErrorCause {
    /// Leaves `cause` on `response` for [`layer`].
    pub fn attach(mut response: Response, cause: impl Into<anyhow::Error>) -> Response {
        response
            .extensions_mut()
            .insert(Self(Arc::new(cause.into())));
        response
    }
}

impl fmt::Display for ErrorCause {
    /// The chain, outermost first, `: ` between links, each reason once:
    /// many errors print their source inside their own message (`"{msg}:
    /// {source}"`, or the whole chain below them), so a link's text loses the
    /// tail the next links print anyway.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<String> = self.0.chain().map(ToString::to_string).collect();
        let mut first = true;
        for (i, text) in texts.iter().enumerate() {
            let below = &texts[i + 1..];
            let mut own = text.as_str();
            for tail in [below.join(": "), below.first().cloned().unwrap_or_default()] {
                if !tail.is_empty() {
                    if let Some(head) = own.strip_suffix(tail.as_str()) {
                        own = head.trim_end_matches([':', ' ']);
                        break;
                    }
                }
            }
            if own.is_empty() {
                continue;
            }
            if !first {
                f.write_str(": ")?;
            }
            f.write_str(own)?;
            first = false;
        }
        Ok(())
    }
}

/// Logs each response's [`ErrorCause`] (see the module documentation).
/// Mounted inside the tracing layer, so the lines carry the request's span.
pub async fn layer(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let cause = response.extensions_mut().remove::<ErrorCause>();
    let status = response.status().as_u16();
    match cause {
        Some(cause) if status >= 500 => tracing::error!(status, %cause, "request failed"),
        None if status >= 500 => tracing::error!(status, "request failed; no cause recorded"),
        Some(cause) => tracing::debug!(status, %cause, "request refused"),
        None => {}
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that prints its source in its own message, as sqlx does.
    #[derive(Debug, thiserror::Error)]
    #[error("error returned from database: {0}")]
    struct Database(#[source] Column);

    #[derive(Debug, thiserror::Error)]
    #[error("no such column: identifier")]
    struct Column;

    /// An error that prints the whole chain below it, as `StoreError` does.
    #[derive(Debug, thiserror::Error)]
    #[error("storage unavailable: {0:#}")]
    struct Store(#[source] anyhow::Error);

    fn shown(e: anyhow::Error) -> String {
        ErrorCause(Arc::new(e)).to_string()
    }

    #[test]
    fn each_reason_of_the_chain_is_shown_once() {
        let expected =
            "storage unavailable: error returned from database: no such column: identifier";
        assert_eq!(
            shown(anyhow::Error::new(Store(anyhow::Error::new(Database(
                Column
            ))))),
            expected
        );
        assert_eq!(
            shown(anyhow::Error::new(Database(Column)).context("reading a client")),
            "reading a client: error returned from database: no such column: identifier"
        );
        // A source its parent does not print is kept.
        assert_eq!(
            shown(anyhow::Error::new(Column).context("listing APIs")),
            "listing APIs: no such column: identifier"
        );
    }
}
