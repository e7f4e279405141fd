//! Both engines ship the same migrations: the same versions, and in each
//! version the same statements once comments, whitespace, letter case and the
//! engines' spellings of one type are set aside. Anything else that differs
//! on purpose is listed in `ONE_ENGINE_ONLY`.

use std::path::{Path, PathBuf};

fn migrations_dir(engine: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(engine)
}

fn migration_files(engine: &str) -> Vec<String> {
    let dir = migrations_dir(engine);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .into_string()
                .expect("UTF-8 file name")
        })
        .collect();
    names.sort();
    names
}

#[test]
fn migration_files_match() {
    let sqlite = migration_files("sqlite");
    let postgres = migration_files("postgres");
    assert!(!sqlite.is_empty(), "no SQLite migrations found");
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres must hold the same file names"
    );
}

/// One type, spelled by each engine (SQLite's, PostgreSQL's); the SQLite
/// side is rewritten before comparing. Instants are `BIGINT` and flags
/// `BOOLEAN` in both folders, so bytes are the only type that differs.
const TYPE_SPELLINGS: &[(&str, &str)] = &[("blob", "bytea")];

/// A statement that only one engine's migration has, on purpose: a SQLite
/// `PRAGMA`, a PostgreSQL-only index option, and the like. Each entry must
/// still be found, so a stale one fails the test too.
struct OneEngineOnly {
    file: &'static str,
    engine: &'static str,
    /// As `statements` prints it: lower case, tokens separated by one space.
    statement: &'static str,
}

/// The user search's byte-order indexes (migration 18): SQLite's byte
/// order is its `BINARY` collation, PostgreSQL's the `"C"` collation.
const ONE_ENGINE_ONLY: &[OneEngineOnly] = &[
    OneEngineOnly {
        file: "0018_user_search.sql",
        engine: "sqlite",
        statement: "create index users_email_search on users ( email collate binary )",
    },
    OneEngineOnly {
        file: "0018_user_search.sql",
        engine: "postgres",
        statement: "create index users_email_search on users ( email collate \"C\" )",
    },
    OneEngineOnly {
        file: "0018_user_search.sql",
        engine: "sqlite",
        statement: "create index users_user_id_search on users ( user_id collate binary )",
    },
    OneEngineOnly {
        file: "0018_user_search.sql",
        engine: "postgres",
        statement: "create index users_user_id_search on users ( user_id collate \"C\" )",
    },
    // One b-tree instead of a rowid table plus its key's index: a row is
    // staged on the revoke path.
    OneEngineOnly {
        file: "0028_ssf_backlog.sql",
        engine: "sqlite",
        statement: "create table ssf_backlog ( log_id text not null , user_id text not null , per_user bigint not null , staged_at bigint not null , primary key ( log_id , user_id ) ) without rowid",
    },
    OneEngineOnly {
        file: "0028_ssf_backlog.sql",
        engine: "postgres",
        statement: "create table ssf_backlog ( log_id text not null , user_id text not null , per_user bigint not null , staged_at bigint not null , primary key ( log_id , user_id ) )",
    },
];

#[test]
fn migration_statements_match() {
    let mut differences = Vec::new();
    for file in migration_files("sqlite") {
        let read = |engine: &str| {
            let path = migrations_dir(engine).join(&file);
            let sql = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            let mut statements = statements(&sql);
            assert!(!statements.is_empty(), "no statement in {engine}/{file}");
            if engine == "sqlite" {
                for statement in &mut statements {
                    *statement = respell(statement);
                }
            }
            for allowed in ONE_ENGINE_ONLY
                .iter()
                .filter(|a| a.file == file && a.engine == engine)
            {
                let before = statements.len();
                statements.retain(|s| s != allowed.statement);
                assert!(
                    statements.len() < before,
                    "ONE_ENGINE_ONLY names a statement {engine}/{file} does not have: {}",
                    allowed.statement
                );
            }
            statements
        };
        let sqlite = read("sqlite");
        let postgres = read("postgres");
        if let Some(i) =
            (0..sqlite.len().max(postgres.len())).find(|&i| sqlite.get(i) != postgres.get(i))
        {
            differences.push(format!(
                "{file}, statement {}:\n  sqlite:   {}\n  postgres: {}",
                i + 1,
                sqlite.get(i).map_or("(none)", String::as_str),
                postgres.get(i).map_or("(none)", String::as_str),
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "migrations/sqlite and migrations/postgres differ beyond TYPE_SPELLINGS and \
         ONE_ENGINE_ONLY:\n{}",
        differences.join("\n")
    );
}

fn respell(statement: &str) -> String {
    statement
        .split(' ')
        .map(|token| {
            TYPE_SPELLINGS
                .iter()
                .find(|(sqlite, _)| *sqlite == token)
                .map_or(token, |(_, postgres)| postgres)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The statements of a migration file, each as its tokens separated by one
/// space: comments dropped, words lower-cased, quoted strings and identifiers
/// kept as written. Statements end at a `;` outside quotes and comments; the
/// migrations use neither dollar quoting nor `BEGIN … END` blocks, which
/// would need more than that (the tokenizer refuses `$`).
fn statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                for c in chars.by_ref() {
                    if previous == '*' && c == '/' {
                        break;
                    }
                    previous = c;
                }
            }
            '\'' | '"' => {
                // A quote inside is doubled ('it''s'), which this reads as
                // two quoted pieces in a row: the same for both files.
                let mut quoted = String::from(c);
                for inner in chars.by_ref() {
                    quoted.push(inner);
                    if inner == c {
                        break;
                    }
                }
                tokens.push(quoted);
            }
            ';' => {
                if !tokens.is_empty() {
                    statements.push(tokens.join(" "));
                    tokens.clear();
                }
            }
            '$' => panic!("dollar quoting is not understood by this test's splitter"),
            c if c.is_alphanumeric() || c == '_' => {
                let mut word = c.to_lowercase().collect::<String>();
                while let Some(&next) = chars.peek() {
                    if !(next.is_alphanumeric() || next == '_') {
                        break;
                    }
                    word.extend(next.to_lowercase());
                    chars.next();
                }
                tokens.push(word);
            }
            other => tokens.push(other.to_string()),
        }
    }
    // The last statement may go without its `;`.
    if !tokens.is_empty() {
        statements.push(tokens.join(" "));
    }
    statements
}
