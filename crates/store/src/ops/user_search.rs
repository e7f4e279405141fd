//! The Management API's user search (`GET /api/v2/users?q=`): a parsed
//! [`UserSearch`] compiled to one `WHERE` clause whose every value is a bound
//! parameter; no user input is ever part of the SQL text. `email` and
//! `user_id` compare in code point order ([`BYTE_ORDER`]) so the indexes of
//! migration 18 serve exact terms and prefixes (`value*` as the range
//! `[value, next)`); `name` compares its lower-cased value, a prefix with
//! `LIKE` and the wildcards of the input escaped.

use std::ops::Bound;

use grantor_domain::user_search::{
    escape_like, prefix_upper_bound, Condition, SortField, TextMatch, UserSearch, UserSort,
};
use grantor_domain::User;

use super::users::{UserRow, USER_COLUMNS};
use super::{Backend, BYTE_ORDER, EXPLAIN, PREFER_INDEXES};
use crate::{Page, PageRequest, StoreResult};

/// A bound parameter's value.
#[derive(Debug, Clone)]
enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
}

/// SQL text with `$n` placeholders and their values, in order.
#[derive(Default)]
struct Compiled {
    sql: String,
    values: Vec<Value>,
}

impl Compiled {
    /// Adds a value and returns its placeholder.
    fn bind(&mut self, value: Value) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }

    fn condition(&mut self, c: &Condition) -> String {
        match c {
            Condition::Email(m) => self.ordered("email", m),
            Condition::UserId(m) => self.ordered("user_id", m),
            Condition::Name(TextMatch::Exact(v)) => {
                format!("lower(name) = {}", self.bind(Value::Text(v.clone())))
            }
            Condition::Name(TextMatch::Prefix(v)) => {
                let pattern = format!("{}%", escape_like(v));
                format!(
                    "lower(name) LIKE {} ESCAPE '\\'",
                    self.bind(Value::Text(pattern))
                )
            }
            Condition::Blocked(b) => format!("blocked = {}", self.bind(Value::Bool(*b))),
            Condition::LoginsCount(low, high) => {
                let mut parts = Vec::new();
                match low {
                    Bound::Included(n) => {
                        parts.push(format!("logins_count >= {}", self.bind(Value::Int(*n))))
                    }
                    Bound::Excluded(n) => {
                        parts.push(format!("logins_count > {}", self.bind(Value::Int(*n))))
                    }
                    Bound::Unbounded => {}
                }
                match high {
                    Bound::Included(n) => {
                        parts.push(format!("logins_count <= {}", self.bind(Value::Int(*n))))
                    }
                    Bound::Excluded(n) => {
                        parts.push(format!("logins_count < {}", self.bind(Value::Int(*n))))
                    }
                    Bound::Unbounded => {}
                }
                if parts.is_empty() {
                    "1 = 1".to_owned()
                } else {
                    format!("({})", parts.join(" AND "))
                }
            }
        }
    }

    /// An exact or prefix term on an indexed column, in byte order.
    fn ordered(&mut self, column: &'static str, m: &TextMatch) -> String {
        match m {
            TextMatch::Exact(v) => {
                format!(
                    "{column}{BYTE_ORDER} = {}",
                    self.bind(Value::Text(v.clone()))
                )
            }
            TextMatch::Prefix(v) => {
                let low = self.bind(Value::Text(v.clone()));
                match prefix_upper_bound(v) {
                    Some(upper) => {
                        let high = self.bind(Value::Text(upper));
                        format!("({column}{BYTE_ORDER} >= {low} AND {column}{BYTE_ORDER} < {high})")
                    }
                    None => format!("{column}{BYTE_ORDER} >= {low}"),
                }
            }
        }
    }

    fn query(&mut self, q: &UserSearch) -> String {
        match q {
            UserSearch::And(items) => self.joined(items, " AND "),
            UserSearch::Or(items) => self.joined(items, " OR "),
            UserSearch::Not(inner) => format!("(NOT {})", self.query(inner)),
            UserSearch::Term(c) => self.condition(c),
        }
    }

    fn joined(&mut self, items: &[UserSearch], operator: &str) -> String {
        let parts: Vec<String> = items.iter().map(|q| self.query(q)).collect();
        format!("({})", parts.join(operator))
    }
}

/// `ORDER BY`: the field (text in byte order, missing values last), then
/// `user_id` so pages never overlap; by default creation time.
fn order_by(sort: Option<UserSort>) -> String {
    let Some(sort) = sort else {
        return "created_at, user_id".to_owned();
    };
    let direction = if sort.descending { "DESC" } else { "ASC" };
    let column = match sort.field {
        SortField::Email => format!("email{BYTE_ORDER}"),
        SortField::UserId => format!("user_id{BYTE_ORDER}"),
        SortField::Name => format!("lower(name){BYTE_ORDER}"),
        SortField::CreatedAt => "created_at".to_owned(),
        SortField::UpdatedAt => "updated_at".to_owned(),
        SortField::LastLogin => "last_login".to_owned(),
        SortField::LoginsCount => "logins_count".to_owned(),
    };
    let raw = match sort.field {
        SortField::LastLogin => "last_login",
        _ => "",
    };
    let nulls_last = if raw.is_empty() {
        String::new()
    } else {
        format!("CASE WHEN {raw} IS NULL THEN 1 ELSE 0 END, ")
    };
    format!("{nulls_last}{column} {direction}, user_id{BYTE_ORDER} {direction}")
}

fn where_clause(query: Option<&UserSearch>, compiled: &mut Compiled) -> String {
    match query {
        Some(q) => compiled.query(q),
        None => "1 = 1".to_owned(),
    }
}

macro_rules! bind_all {
    ($q:expr, $values:expr) => {{
        let mut q = $q;
        for value in $values {
            q = match value {
                Value::Text(s) => q.bind(s.clone()),
                Value::Int(n) => q.bind(*n),
                Value::Bool(b) => q.bind(*b),
            };
        }
        q
    }};
}

impl Backend {
    /// Users matching `query` (all without one), ordered by `sort`, one
    /// page of them and the total.
    pub async fn search_users(
        &self,
        query: Option<&UserSearch>,
        sort: Option<UserSort>,
        page: PageRequest,
    ) -> StoreResult<Page<User>> {
        let mut compiled = Compiled::default();
        let filter = where_clause(query, &mut compiled);
        compiled.sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE {filter} ORDER BY {} LIMIT ${} OFFSET ${}",
            order_by(sort),
            compiled.values.len() + 1,
            compiled.values.len() + 2,
        );
        // One read transaction: the total counts the rows the page came from.
        let mut tx = self.pool.begin().await?;
        let rows: Vec<UserRow> = bind_all!(sqlx::query_as(&compiled.sql), &compiled.values)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&mut *tx)
            .await?;
        let count = format!("SELECT COUNT(*) FROM users WHERE {filter}");
        let total: i64 = bind_all!(sqlx::query_scalar(&count), &compiled.values)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Page {
            items: rows.into_iter().map(Into::into).collect(),
            total,
        })
    }

    /// The engine's plan for [`Backend::search_users`]'s row query, one
    /// line per step, with the planner told to prefer indexes where it can
    /// be (so a small table shows which index a large one would use).
    pub async fn user_search_plan(
        &self,
        query: Option<&UserSearch>,
        sort: Option<UserSort>,
    ) -> StoreResult<Vec<String>> {
        use sqlx::Row;
        let mut compiled = Compiled::default();
        let filter = where_clause(query, &mut compiled);
        let sql = format!(
            "{EXPLAIN}SELECT {USER_COLUMNS} FROM users WHERE {filter} ORDER BY {} LIMIT 50",
            order_by(sort)
        );
        let mut tx = self.pool.begin().await?;
        if let Some(prefer) = PREFER_INDEXES {
            sqlx::query(prefer).execute(&mut *tx).await?;
        }
        let rows = bind_all!(sqlx::query(&sql), &compiled.values)
            .fetch_all(&mut *tx)
            .await?;
        tx.rollback().await?;
        let column = rows.first().map_or(0, |r| r.len().saturating_sub(1));
        Ok(rows
            .iter()
            .map(|r| r.try_get::<String, _>(column).unwrap_or_default())
            .collect())
    }
}
