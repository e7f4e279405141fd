//! Checkpoint cursors (`from` / `next`) that grantor can recognise as its own.
//!
//! A cursor names the last item of the page before (its id, the position of
//! the next page) and is sealed with a MAC under the tenant's refresh-token
//! MAC key (`RefreshSecrets::tag`, its own domain), over the list it belongs
//! to, the list's filters, the position and the time it was issued. So a
//! `from` that grantor did not issue for that very list and those filters,
//! or one older than 24 hours (Auth0's lifetime), is a 400 with Auth0's
//! message, not an empty page. Layout, base64url without padding:
//! `<issued at, ms>.<position>` then `.` and the 16-byte tag. An empty
//! `from` is the first page, as before.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use grantor_domain::Timestamp;
use subtle::ConstantTimeEq;

use super::ApiError;
use crate::http::AppState;

/// Auth0's cursor lifetime: 24 hours.
const LIFETIME_MS: i64 = 24 * 60 * 60 * 1000;
/// Longer cursors are not grantor's (ids are short).
const MAX_LEN: usize = 512;
const DOMAIN: &str = "grantor checkpoint cursor v1";

/// Auth0's message for a `from` it did not issue or that expired (reference
/// §6.2 gives its beginning; grantor ends it there).
pub const INVALID_CHECKPOINT: &str =
    "The checkpoint ID provided in the 'from' parameter has expired or is invalid.";

pub fn invalid_checkpoint() -> ApiError {
    ApiError::invalid_query(INVALID_CHECKPOINT)
}

/// The cursors of one list with its filters, at one instant.
pub struct Cursors<'a> {
    state: &'a AppState,
    scope: String,
    now: Timestamp,
}

impl<'a> Cursors<'a> {
    /// `list` names the list (e.g. `refresh_tokens`); `filters` are the
    /// filter values that shape it (a cursor works only with the same ones).
    pub fn new(state: &'a AppState, list: &str, filters: &[Option<&str>]) -> Self {
        // Each filter length-prefixed, so that no two filter sets give the
        // same bytes (a value may contain any separator).
        let mut scope = list.to_owned();
        for f in filters {
            match f {
                Some(f) => scope.push_str(&format!("\n{}:{f}", f.len())),
                None => scope.push_str("\n-"),
            }
        }
        Self {
            state,
            scope,
            now: state.clock.now(),
        }
    }

    fn tag(&self, body: &str) -> [u8; 16] {
        let data = format!("{}\n{body}", self.scope);
        self.state.refresh_secrets.tag(DOMAIN, data.as_bytes())
    }

    /// The `next` cursor after `position` (the last id of this page).
    pub fn seal(&self, position: &str) -> String {
        let body = format!("{}.{position}", self.now.0);
        let tag = self.tag(&body);
        let mut bytes = body.into_bytes();
        bytes.push(b'.');
        bytes.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The position a `from` names: `None` for no `from` (or an empty one),
    /// a 400 for a cursor this list did not issue or one that expired.
    pub fn open(&self, from: Option<&str>) -> Result<Option<String>, ApiError> {
        let Some(from) = from.filter(|f| !f.is_empty()) else {
            return Ok(None);
        };
        if from.len() > MAX_LEN {
            return Err(invalid_checkpoint());
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(from)
            .map_err(|_| invalid_checkpoint())?;
        if bytes.len() < 17 || bytes[bytes.len() - 17] != b'.' {
            return Err(invalid_checkpoint());
        }
        let (body, rest) = bytes.split_at(bytes.len() - 17);
        let body = std::str::from_utf8(body).map_err(|_| invalid_checkpoint())?;
        if !bool::from(self.tag(body).ct_eq(&rest[1..])) {
            return Err(invalid_checkpoint());
        }
        let (issued, position) = body.split_once('.').ok_or_else(invalid_checkpoint)?;
        let issued: i64 = issued.parse().map_err(|_| invalid_checkpoint())?;
        if self.now.0.saturating_sub(issued) > LIFETIME_MS {
            return Err(invalid_checkpoint());
        }
        Ok(Some(position.to_owned()))
    }
}

/// Whether `from` is a log id as grantor makes them (`flows::audit::event`:
/// 20 digits of milliseconds, then 16 hex digits). `GET /logs` takes a log
/// id as its `from` (Auth0's checkpoint for logs), which need not still
/// exist (the purge may have removed it), so its shape is what is checked.
pub fn is_log_id(from: &str) -> bool {
    let b = from.as_bytes();
    b.len() == 36
        && b[..20].iter().all(u8::is_ascii_digit)
        && b[20..].iter().all(u8::is_ascii_hexdigit)
}
