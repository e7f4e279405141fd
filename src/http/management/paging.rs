//! Auth0's list envelopes: offset paging (`page`, `per_page`, `include_totals`)
//! and checkpoint paging (`from`, `take`), plus `fields` / `include_fields`.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use grantor_domain::Timestamp;
use grantor_store::{Page, PageRequest};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use utoipa::IntoParams;

use super::ApiError;

/// Query parameters with rejections in Auth0's error format.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| {
                ApiError::invalid_query(format!("Query validation error: {}", e.body_text()))
            })
    }
}

const DEFAULT_PER_PAGE: i64 = 50;
const MAX_PER_PAGE: i64 = 100;

/// `page`, `per_page`, `include_totals`, `from`, `take`, `fields`, `include_fields`.
/// Resource filters are a second `ApiQuery` on the same request (serde's
/// `flatten` cannot parse numbers out of a query string).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Offset paging: page number, from 0.
    pub page: Option<i64>,
    /// Offset paging: items per page, 1 to 100 (default 50).
    pub per_page: Option<i64>,
    /// `true`: an object with `start`, `limit`, `total` and the items; `false` (default): a bare array.
    pub include_totals: Option<bool>,
    /// Checkpoint paging: the `next` cursor of the previous page.
    pub from: Option<String>,
    /// Checkpoint paging: items per page, 1 to 100 (default 50).
    pub take: Option<i64>,
    /// Comma-separated members to include (or exclude, see `include_fields`).
    pub fields: Option<String>,
    /// Whether `fields` lists the members to include (default) or to exclude.
    pub include_fields: Option<bool>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FieldParams {
    /// Comma-separated members to include (or exclude, see `include_fields`).
    pub fields: Option<String>,
    /// Whether `fields` lists the members to include (default) or to exclude.
    pub include_fields: Option<bool>,
}

impl FieldParams {
    /// Keeps (or, with `include_fields=false`, drops) the listed members.
    pub fn apply(&self, mut object: Value) -> Value {
        let Some(fields) = self.fields.as_deref().filter(|f| !f.is_empty()) else {
            return object;
        };
        let listed: Vec<&str> = fields.split(',').map(str::trim).collect();
        let include = self.include_fields.unwrap_or(true);
        if let Value::Object(map) = &mut object {
            map.retain(|k, _| listed.contains(&k.as_str()) == include);
        }
        object
    }
}

impl ListParams {
    fn field_params(&self) -> FieldParams {
        FieldParams {
            fields: self.fields.clone(),
            include_fields: self.include_fields,
        }
    }

    pub fn page_request(&self) -> Result<PageRequest, ApiError> {
        let page = self.page.unwrap_or(0);
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page < 0 {
            return Err(ApiError::invalid_query(
                "Query validation error: 'page' must be 0 or more",
            ));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ApiError::invalid_query(format!(
                "Query validation error: 'per_page' must be between 1 and {MAX_PER_PAGE}"
            )));
        }
        Ok(PageRequest {
            offset: page.saturating_mul(per_page),
            limit: per_page,
        })
    }

    pub fn take(&self) -> Result<i64, ApiError> {
        let take = self.take.unwrap_or(DEFAULT_PER_PAGE);
        if (1..=MAX_PER_PAGE).contains(&take) {
            Ok(take)
        } else {
            Err(ApiError::invalid_query(format!(
                "Query validation error: 'take' must be between 1 and {MAX_PER_PAGE}"
            )))
        }
    }

    /// The cursor of a checkpoint request: `from`, an empty one meaning the start.
    pub fn after_id(&self) -> Option<String> {
        self.from.clone().filter(|f| !f.is_empty())
    }

    /// What a checkpoint request reads: `take + 1` rows, the extra one telling
    /// whether a next page exists (see [`ListParams::checkpoint_page`]).
    pub fn checkpoint_request(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest {
            offset: 0,
            limit: self.take()? + 1,
        })
    }

    /// Cuts what [`ListParams::checkpoint_request`] read down to `take` items,
    /// and gives the `next` cursor (the last item's id) only when more follow.
    pub fn checkpoint_page<T>(
        &self,
        mut items: Vec<T>,
        id: impl Fn(&T) -> String,
    ) -> Result<(Vec<T>, Option<String>), ApiError> {
        let take = usize::try_from(self.take()?).unwrap_or(usize::MAX);
        let more = items.len() > take;
        items.truncate(take);
        let next = more.then(|| items.last().map(&id)).flatten();
        Ok((items, next))
    }

    /// Bare array, or `{start, limit, total, <key>: [...]}` with `include_totals`.
    pub fn offset_envelope<T>(
        &self,
        key: &str,
        page: Page<T>,
        render: impl Fn(&T) -> Value,
    ) -> Result<Value, ApiError> {
        let request = self.page_request()?;
        let fields = self.field_params();
        let items: Vec<Value> = page
            .items
            .iter()
            .map(|item| fields.apply(render(item)))
            .collect();
        if !self.include_totals.unwrap_or(false) {
            return Ok(Value::Array(items));
        }
        let mut envelope = Map::new();
        envelope.insert("start".into(), json!(request.offset));
        envelope.insert("limit".into(), json!(request.limit));
        envelope.insert("length".into(), json!(items.len()));
        envelope.insert("total".into(), json!(page.total));
        envelope.insert(key.into(), Value::Array(items));
        Ok(Value::Object(envelope))
    }

    /// `{<key>: [...], "next": cursor}`; `next` is omitted on the last page,
    /// since the Node SDK pages until it is absent (reference §10).
    pub fn checkpoint_envelope(
        &self,
        key: &str,
        items: Vec<Value>,
        next: Option<String>,
        total: Option<i64>,
    ) -> Value {
        let fields = self.field_params();
        let mut envelope = Map::new();
        envelope.insert(
            key.into(),
            Value::Array(items.into_iter().map(|i| fields.apply(i)).collect()),
        );
        if let Some(next) = next {
            envelope.insert("next".into(), json!(next));
        }
        if let (Some(total), true) = (total, self.include_totals.unwrap_or(false)) {
            envelope.insert("total".into(), json!(total));
        }
        Value::Object(envelope)
    }
}

/// A date as the Management API writes it ([`Timestamp::to_iso8601`]).
pub fn iso8601(t: Timestamp) -> String {
    t.to_iso8601()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_filter() {
        let p = FieldParams {
            fields: Some("a,c".into()),
            include_fields: None,
        };
        assert_eq!(p.apply(json!({"a":1,"b":2,"c":3})), json!({"a":1,"c":3}));
        let p = FieldParams {
            fields: Some("a".into()),
            include_fields: Some(false),
        };
        assert_eq!(p.apply(json!({"a":1,"b":2})), json!({"b":2}));
    }
}
