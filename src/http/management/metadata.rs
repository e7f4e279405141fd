//! `refresh_token_metadata` and `session_metadata` (reference §6.2, §6.3):
//! what `PATCH /refresh-tokens/{id}` and `PATCH /sessions/{id}` accept, and
//! how every read shows it.
//!
//! Auth0's rules: a JSON object of at most 25 entries whose keys and values
//! are strings of at most 255 characters; `null` or `{}` removes all of it.
//! The PATCH replaces the whole object (Auth0 documents no merge). grantor
//! counts characters (Unicode scalar values), not bytes. A read shows `null`
//! when there is none.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::ApiError;

/// At most this many entries (Auth0).
pub const MAX_ENTRIES: usize = 25;
/// Keys and values have at most this many characters (Auth0).
pub const MAX_CHARS: usize = 255;

/// Auth0's 400 message for metadata over its limits.
pub const TOO_LARGE: &str =
    "Metadata must not exceed 25 entries. Each key and value must be ≤ 255 characters.";

/// `Some(value)` for a member that is present, `null` included, so a body
/// can tell `{"x": null}` (clear) from `{}` (nothing to change).
pub fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Checks a PATCH member named `member` and gives what to store: `None`
/// clears (`null` or `{}`), else the object as JSON text. A body without
/// the member is a 400: the PATCH has nothing else to change.
pub fn parse(member: &str, value: Option<Value>) -> Result<Option<String>, ApiError> {
    let value = value.ok_or_else(|| {
        ApiError::invalid_body(format!(
            "Payload validation error: '{member}' is required (an object, or null to remove it)"
        ))
    })?;
    let map = match value {
        Value::Null => return Ok(None),
        Value::Object(map) => map,
        _ => {
            return Err(ApiError::invalid_body(format!(
                "Payload validation error: '{member}' must be an object or null"
            )))
        }
    };
    if map.len() > MAX_ENTRIES {
        return Err(ApiError::invalid_body(TOO_LARGE));
    }
    for (key, value) in &map {
        let Value::String(text) = value else {
            return Err(ApiError::invalid_body(format!(
                "Payload validation error: the values of '{member}' must be strings"
            )));
        };
        if key.chars().count() > MAX_CHARS || text.chars().count() > MAX_CHARS {
            return Err(ApiError::invalid_body(TOO_LARGE));
        }
    }
    if map.is_empty() {
        return Ok(None);
    }
    Ok(Some(Value::Object(map).to_string()))
}

/// The stored metadata of each id, by id (ids without any are absent).
pub fn by_id<I: ToString>(rows: Vec<(I, String)>) -> HashMap<String, Value> {
    rows.into_iter()
        .filter_map(|(id, text)| {
            let value = serde_json::from_str::<Map<String, Value>>(&text).ok()?;
            Some((id.to_string(), Value::Object(value)))
        })
        .collect()
}

/// Sets `member` of a rendered object to its metadata, or `null`.
pub fn attach(object: &mut Value, member: &str, metadata: &HashMap<String, Value>) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    let id = map.get("id").and_then(Value::as_str).unwrap_or_default();
    let value = metadata.get(id).cloned().unwrap_or(Value::Null);
    map.insert(member.to_owned(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits() {
        let m = "refresh_token_metadata";
        assert_eq!(parse(m, Some(Value::Null)).unwrap(), None);
        assert_eq!(parse(m, Some(json!({}))).unwrap(), None);
        assert!(parse(m, None).is_err());
        assert!(parse(m, Some(json!([]))).is_err());
        assert!(parse(m, Some(json!({"a": 1}))).is_err());
        let full: Map<String, Value> = (0..25).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(parse(m, Some(Value::Object(full.clone())))
            .unwrap()
            .is_some());
        let mut over = full;
        over.insert("k25".into(), json!("v"));
        assert!(parse(m, Some(Value::Object(over))).is_err());
        let long = "é".repeat(255);
        assert!(parse(m, Some(json!({ "k": long.clone() }))).is_ok());
        assert!(parse(m, Some(json!({ "k": format!("{long}x") }))).is_err());
        assert!(parse(m, Some(json!({ format!("{long}x"): "v" }))).is_err());
    }
}
