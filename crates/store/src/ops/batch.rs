//! The statements of one write, sent to the database together.
//!
//! sqlx runs each SQLite connection on a thread of its own, and every call is
//! a trip there and back (two context switches and a futex wake-up when the
//! server has one core), while SQLite needs a few microseconds per statement.
//! On SQLite a `Batch` therefore goes in one call: its statements joined,
//! their `$n` placeholders renumbered into one parameter list. PostgreSQL
//! takes one statement per prepared query, so there the statements run one
//! after another, as they would without a batch.
//!
//! A statement pushed with [`Batch::guard`] (an `UPDATE` or `DELETE`; its
//! count is SQLite's `changes()`) must change exactly one row: a
//! compare-and-set. When it does not, `run` answers `false`: on PostgreSQL
//! nothing after it runs; on SQLite the rest already ran in the same call, so
//! the caller must roll the transaction (its savepoint) back, which every
//! caller does on `false` and on an error. On SQLite a statement after a
//! missed guard that fails makes `run` an error rather than `false`; either
//! way nothing of the write stays. A multi-statement call stops at the first
//! statement that fails.

use std::borrow::Cow;

use sqlx::Either;

use super::{Conn, Db, ONE_CALL_BATCHES};

/// One bound value. The statements of a batch bind only these kinds.
#[derive(Debug, Clone)]
pub(crate) enum Param<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
    Bool(bool),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(Some(Cow::Borrowed(v)))
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(Some(Cow::Borrowed(v)))
    }
}

impl From<String> for Param<'_> {
    fn from(v: String) -> Self {
        Param::Text(Some(Cow::Owned(v)))
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Param::Text(v.as_deref().map(Cow::Borrowed))
    }
}

impl<'a> From<Option<&'a String>> for Param<'a> {
    fn from(v: Option<&'a String>) -> Self {
        Param::Text(v.map(|s| Cow::Borrowed(s.as_str())))
    }
}

/// Typed identifiers and hashes bind as their text.
macro_rules! text_params {
    ($($ty:ty),*) => {$(
        impl<'a> From<&'a $ty> for Param<'a> {
            fn from(v: &'a $ty) -> Self {
                Param::Text(Some(Cow::Borrowed(v.as_str())))
            }
        }

        impl<'a> From<&'a Option<$ty>> for Param<'a> {
            fn from(v: &'a Option<$ty>) -> Self {
                Param::Text(v.as_ref().map(|s| Cow::Borrowed(s.as_str())))
            }
        }

        impl<'a> From<Option<&'a $ty>> for Param<'a> {
            fn from(v: Option<&'a $ty>) -> Self {
                Param::Text(v.map(|s| Cow::Borrowed(s.as_str())))
            }
        }
    )*};
}

text_params!(
    grantor_domain::TokenHash,
    grantor_domain::ClientId,
    grantor_domain::UserId,
    grantor_domain::GrantId,
    grantor_domain::SessionId,
    grantor_domain::FamilyId
);

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(Some(v))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        Param::Int(v)
    }
}

impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::Bool(v)
    }
}

/// `vec![Param::from(a), Param::from(b), …]` (the caller imports `Param`).
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        vec![$(Param::from($value)),*]
    };
}
pub(crate) use params;

/// One statement with its own parameters, numbered from `$1`.
#[derive(Debug)]
pub(crate) struct Statement<'a> {
    sql: Cow<'static, str>,
    params: Vec<Param<'a>>,
    guard: bool,
}

impl<'a> Statement<'a> {
    pub(crate) fn new(sql: impl Into<Cow<'static, str>>, params: Vec<Param<'a>>) -> Self {
        Self {
            sql: sql.into(),
            params,
            guard: false,
        }
    }
}

/// One statement doing the work of several, for PostgreSQL, which runs
/// each data-modifying statement in a `WITH` exactly once and to completion
/// whether or not the main statement reads it: `WITH name AS (statement),
/// … main` in one round trip. The parameters are renumbered in order.
pub(crate) fn with_ctes<'a>(
    ctes: Vec<(String, Statement<'a>)>,
    main: Statement<'a>,
) -> Statement<'a> {
    let mut sql = String::from("WITH ");
    let mut params = Vec::new();
    for (i, (name, statement)) in ctes.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&name);
        sql.push_str(" AS (");
        renumber_into(&mut sql, &statement.sql, params.len());
        sql.push(')');
        params.extend(statement.params);
    }
    sql.push(' ');
    renumber_into(&mut sql, &main.sql, params.len());
    params.extend(main.params);
    Statement::new(sql, params)
}

/// Statements that run together inside one write transaction.
#[derive(Debug, Default)]
pub(crate) struct Batch<'a> {
    statements: Vec<Statement<'a>>,
}

impl<'a> Batch<'a> {
    /// Adds a statement.
    pub(crate) fn push(&mut self, statement: Statement<'a>) -> &mut Self {
        self.statements.push(statement);
        self
    }

    /// Adds a statement that must change exactly one row (see the module).
    pub(crate) fn guard(&mut self, mut statement: Statement<'a>) -> &mut Self {
        statement.guard = true;
        self.statements.push(statement);
        self
    }

    /// Runs the statements on `conn` (a write transaction); `false` when a
    /// guard did not change exactly one row.
    pub(crate) async fn run(self, conn: &mut Conn) -> Result<bool, sqlx::Error> {
        if self.statements.is_empty() {
            return Ok(true);
        }
        if ONE_CALL_BATCHES {
            self.run_in_one_call(conn).await
        } else {
            self.run_one_by_one(conn).await
        }
    }

    async fn run_one_by_one(self, conn: &mut Conn) -> Result<bool, sqlx::Error> {
        for statement in self.statements {
            let mut query = sqlx::query::<Db>(&statement.sql);
            for param in statement.params {
                query = bind(query, param);
            }
            let changed = query.execute(&mut *conn).await?.rows_affected();
            if statement.guard && changed != 1 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn run_in_one_call(self, conn: &mut Conn) -> Result<bool, sqlx::Error> {
        use futures_util::TryStreamExt;

        let guards: Vec<bool> = self.statements.iter().map(|s| s.guard).collect();
        let mut sql = String::new();
        let mut offset = 0;
        for statement in &self.statements {
            if !sql.is_empty() {
                sql.push_str(";\n");
            }
            let highest = renumber_into(&mut sql, &statement.sql, offset);
            debug_assert_eq!(
                highest,
                statement.params.len(),
                "a statement binds exactly $1..$n: {}",
                statement.sql
            );
            offset += statement.params.len();
        }
        let mut query = sqlx::query::<Db>(&sql);
        for param in self.statements.into_iter().flat_map(|s| s.params) {
            query = bind(query, param);
        }
        // One result per statement, in order; rows (none here) are skipped.
        let mut results = sqlx::Executor::fetch_many(&mut *conn, query);
        let mut held = true;
        let mut index = 0;
        while let Some(item) = results.try_next().await? {
            if let Either::Left(done) = item {
                if guards.get(index) == Some(&true) && done.rows_affected() != 1 {
                    held = false;
                }
                index += 1;
            }
        }
        if index != guards.len() {
            return Err(sqlx::Error::Protocol(format!(
                "a batch of {} statements reported {index} results",
                guards.len()
            )));
        }
        Ok(held)
    }
}

fn bind<'q>(
    query: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>,
    param: Param<'q>,
) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>> {
    match param {
        Param::Text(v) => query.bind(v),
        Param::Int(v) => query.bind(v),
        Param::Bool(v) => query.bind(v),
    }
}

/// Appends `sql` with every `$n` placeholder made `$(n + offset)`; returns
/// the highest `n`. The statements of a batch carry no `$` inside string
/// literals.
fn renumber_into(out: &mut String, sql: &str, offset: usize) -> usize {
    let mut highest = 0;
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let digits_start = i + 1;
        let mut end = digits_start;
        while let Some(&(j, d)) = chars.peek() {
            if !d.is_ascii_digit() {
                break;
            }
            end = j + 1;
            chars.next();
        }
        match sql[digits_start..end].parse::<usize>() {
            Ok(n) => {
                highest = highest.max(n);
                out.push('$');
                out.push_str(&(n + offset).to_string());
            }
            Err(_) => out.push('$'),
        }
    }
    highest
}

#[cfg(test)]
mod tests {
    use super::{renumber_into, with_ctes, Param, Statement};

    #[test]
    fn ctes_and_their_parameters_are_numbered_in_order() {
        let statement = with_ctes(
            vec![
                (
                    "e".to_owned(),
                    Statement::new(
                        "INSERT INTO a VALUES ($1, $2) RETURNING x",
                        params![1i64, 2i64],
                    ),
                ),
                (
                    "r0".to_owned(),
                    Statement::new("INSERT INTO b VALUES ($2, $1)", params![3i64, 4i64]),
                ),
            ],
            Statement::new("INSERT INTO c SELECT x FROM e WHERE x > $1", params![5i64]),
        );
        assert_eq!(
            statement.sql,
            "WITH e AS (INSERT INTO a VALUES ($1, $2) RETURNING x), r0 AS (INSERT INTO b VALUES ($4, $3)) INSERT INTO c SELECT x FROM e WHERE x > $5"
        );
        let values: Vec<i64> = statement
            .params
            .iter()
            .map(|p| match p {
                Param::Int(Some(v)) => *v,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(values, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn placeholders_are_shifted_by_the_offset() {
        let mut out = String::new();
        let highest = renumber_into(&mut out, "UPDATE t SET a = $1 WHERE b = $12 AND c = $2", 3);
        assert_eq!(out, "UPDATE t SET a = $4 WHERE b = $15 AND c = $5");
        assert_eq!(highest, 12);
        let mut out = String::new();
        renumber_into(&mut out, "SELECT '$' || $1", 0);
        assert_eq!(out, "SELECT '$' || $1");
    }
}
