//! The subset of Auth0's user search syntax (v3, Lucene-like) that grantor
//! answers: `GET /api/v2/users?q=…&search_engine=v3` and `sort=field:1|-1`.
//!
//! Terms are `field:value` with the fields `email`, `user_id`, `name`
//! (whole-value matches; `email` and `name` case-insensitive, as Auth0's
//! normalized fields), `blocked:true|false` and `logins_count` (a number or
//! a range `[a TO b]`, `{a TO b}`, mixed brackets, `*` for an open end).
//! Values are bare words or quoted phrases (`"…"`, with `\"` and `\\`); a
//! bare value may end in one `*` (prefix match). Terms combine with `AND`,
//! `OR`, `NOT` (upper case) and parentheses; two terms side by side without
//! an operator are refused, since Auth0 does not document what they mean.
//! Everything else (leading or inner wildcards, `?`, fuzzy `~`, boosts `^`,
//! `+`/`-`, unknown fields, a term without a field, unbalanced quotes,
//! brackets or parentheses) is a [`SearchError`] that names it.
//!
//! The parser is pure and bounded (query length, terms, nesting), so no
//! input makes it panic or recurse deeply; it never builds SQL.

use std::ops::Bound;

/// The longest `q` accepted, in bytes.
pub const MAX_QUERY_LENGTH: usize = 2048;
/// The most terms (`field:value`) in one query.
pub const MAX_TERMS: usize = 32;
/// The deepest nesting of parentheses and `NOT`.
pub const MAX_DEPTH: usize = 16;

/// A parsed query: conditions combined with AND, OR and NOT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSearch {
    And(Vec<UserSearch>),
    Or(Vec<UserSearch>),
    Not(Box<UserSearch>),
    Term(Condition),
}

/// One `field:value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Lower-cased: e-mails are stored lower-cased.
    Email(TextMatch),
    /// Case-sensitive.
    UserId(TextMatch),
    /// Lower-cased; compared with the lower-cased name.
    Name(TextMatch),
    Blocked(bool),
    LoginsCount(Bound<i64>, Bound<i64>),
}

/// How a text field's whole value is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextMatch {
    Exact(String),
    /// `value*`: the field starts with this (possibly empty) text.
    Prefix(String),
}

/// `sort=field:1` (ascending) or `field:-1` (descending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserSort {
    pub field: SortField,
    pub descending: bool,
}

/// The fields a user list may be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Email,
    UserId,
    Name,
    CreatedAt,
    UpdatedAt,
    LastLogin,
    LoginsCount,
}

/// Why a query was refused; the text names what is not supported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SearchError(pub String);

fn refuse<T>(message: impl Into<String>) -> Result<T, SearchError> {
    Err(SearchError(message.into()))
}

const FIELDS: &str = "email, user_id, name, blocked, logins_count";

impl UserSort {
    /// Parses `field:1` or `field:-1`.
    pub fn parse(raw: &str) -> Result<Self, SearchError> {
        let Some((field, direction)) = raw.trim().split_once(':') else {
            return refuse("sort must be field:1 or field:-1");
        };
        let field = match field {
            "email" => SortField::Email,
            "user_id" => SortField::UserId,
            "name" => SortField::Name,
            "created_at" => SortField::CreatedAt,
            "updated_at" => SortField::UpdatedAt,
            "last_login" => SortField::LastLogin,
            "logins_count" => SortField::LoginsCount,
            other => {
                return refuse(format!(
                    "sort by '{}' is not supported (email, user_id, name, created_at, updated_at, last_login, logins_count)",
                    shorten(other)
                ))
            }
        };
        let descending = match direction {
            "1" => false,
            "-1" => true,
            _ => return refuse("sort must be field:1 or field:-1"),
        };
        Ok(Self { field, descending })
    }
}

/// At most 40 characters of user input in an error message.
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Not,
    Term(Condition),
}

impl UserSearch {
    /// Parses a `q` value. An empty (or blank) query is `Ok(None)`: no filter.
    pub fn parse(q: &str) -> Result<Option<Self>, SearchError> {
        if q.len() > MAX_QUERY_LENGTH {
            return refuse(format!(
                "the query is longer than {MAX_QUERY_LENGTH} characters"
            ));
        }
        let tokens = lex(q)?;
        if tokens.is_empty() {
            return Ok(None);
        }
        let terms = tokens
            .iter()
            .filter(|t| matches!(t, Token::Term(_)))
            .count();
        if terms > MAX_TERMS {
            return refuse(format!("a query may have at most {MAX_TERMS} terms"));
        }
        let mut parser = Parser { tokens, at: 0 };
        let query = parser.or(0)?;
        match parser.tokens.get(parser.at) {
            None => Ok(Some(query)),
            Some(Token::Close) => refuse("unbalanced parentheses: a ')' without its '('"),
            Some(_) => refuse(
                "terms must be joined with AND or OR (two terms side by side are not supported)",
            ),
        }
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn or(&mut self, depth: usize) -> Result<UserSearch, SearchError> {
        let mut items = vec![self.and(depth)?];
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            UserSearch::Or(items)
        })
    }

    fn and(&mut self, depth: usize) -> Result<UserSearch, SearchError> {
        let mut items = vec![self.unary(depth)?];
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            items.push(self.unary(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            UserSearch::And(items)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<UserSearch, SearchError> {
        if depth >= MAX_DEPTH {
            return refuse(format!("the query nests deeper than {MAX_DEPTH} levels"));
        }
        let Some(token) = self.tokens.get(self.at).cloned() else {
            return refuse("the query ends where a term was expected");
        };
        self.at += 1;
        match token {
            Token::Not => Ok(UserSearch::Not(Box::new(self.unary(depth + 1)?))),
            Token::Open => {
                let inner = self.or(depth + 1)?;
                if self.peek() != Some(&Token::Close) {
                    return refuse("unbalanced parentheses: a '(' without its ')'");
                }
                self.at += 1;
                Ok(inner)
            }
            Token::Term(condition) => Ok(UserSearch::Term(condition)),
            Token::Close => refuse("a ')' where a term was expected"),
            Token::And | Token::Or => refuse("AND or OR where a term was expected"),
        }
    }
}

/// Splits the query into tokens, parsing each `field:value` term.
fn lex(q: &str) -> Result<Vec<Token>, SearchError> {
    let chars: Vec<char> = q.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '(' => {
                tokens.push(Token::Open);
                i += 1;
                continue;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
                continue;
            }
            _ => {}
        }
        // A word: an operator, or `field:value`.
        let start = i;
        while i < chars.len() && is_field_char(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        if i < chars.len() && chars[i] == ':' && !word.is_empty() {
            i += 1;
            let (condition, next) = term(&word, &chars, i)?;
            tokens.push(Token::Term(condition));
            i = next;
            continue;
        }
        let at_boundary = i >= chars.len() || chars[i].is_whitespace() || chars[i] == '(';
        match word.as_str() {
            "AND" if at_boundary => tokens.push(Token::And),
            "OR" if at_boundary => tokens.push(Token::Or),
            "NOT" if at_boundary => tokens.push(Token::Not),
            _ => {
                let mut end = i;
                while end < chars.len() && !chars[end].is_whitespace() {
                    end += 1;
                }
                let text: String = chars[start..end.max(start + 1)].iter().collect();
                return refuse(unsupported_word(&text));
            }
        }
    }
    Ok(tokens)
}

fn is_field_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// The message for something that is neither an operator nor a term.
fn unsupported_word(text: &str) -> String {
    let shown = shorten(text);
    match text {
        "&&" | "||" | "!" => format!("'{shown}' is not supported: use AND, OR, NOT"),
        t if t.starts_with('+') || t.starts_with('-') => {
            format!("'{shown}': the + and - operators are not supported: use AND, NOT")
        }
        "and" | "or" | "not" => {
            format!("'{shown}': operators are written in capitals (AND, OR, NOT)")
        }
        t if t.starts_with('"') => {
            format!("'{shown}': a term needs a field ({FIELDS}), e.g. name:\"jane smith\"")
        }
        _ => format!("'{shown}': a term needs a field ({FIELDS}), e.g. email:jane@example.com"),
    }
}

/// What follows `field:` starting at `i`: a quoted phrase, a range or a bare
/// value; returns the condition and where the term ends.
fn term(field: &str, chars: &[char], mut i: usize) -> Result<(Condition, usize), SearchError> {
    let known = matches!(
        field,
        "email" | "user_id" | "name" | "blocked" | "logins_count"
    );
    if !known {
        return refuse(format!(
            "searching by '{}' is not supported (supported fields: {FIELDS})",
            shorten(field)
        ));
    }
    let Some(&first) = chars.get(i) else {
        return refuse(format!("{field}: has no value"));
    };
    if first == '"' {
        i += 1;
        let mut value = String::new();
        loop {
            match chars.get(i) {
                None => return refuse("unbalanced quotes: a '\"' without its closing '\"'"),
                Some('"') => {
                    i += 1;
                    break;
                }
                Some('\\') => match chars.get(i + 1) {
                    Some(&c @ ('"' | '\\')) => {
                        value.push(c);
                        i += 2;
                    }
                    _ => return refuse("inside quotes only \\\" and \\\\ are escapes"),
                },
                Some(&c) => {
                    value.push(c);
                    i += 1;
                }
            }
        }
        end_of_term(chars, i, field)?;
        if chars.get(i) == Some(&'~') {
            return refuse("proximity searches (\"…\"~n) are not supported");
        }
        return Ok((text_condition(field, TextMatch::Exact(value))?, i));
    }
    if first == '[' || first == '{' {
        return range(field, chars, i);
    }
    if first.is_whitespace() || first == ')' || first == '(' {
        return refuse(format!("{field}: has no value"));
    }
    let start = i;
    while i < chars.len() && !chars[i].is_whitespace() && chars[i] != ')' && chars[i] != '(' {
        i += 1;
    }
    let raw: String = chars[start..i].iter().collect();
    Ok((bare(field, &raw)?, i))
}

/// After a closing quote or bracket: whitespace, a parenthesis or the end.
fn end_of_term(chars: &[char], i: usize, field: &str) -> Result<(), SearchError> {
    match chars.get(i) {
        None => Ok(()),
        Some(c) if c.is_whitespace() || *c == ')' || *c == '(' => Ok(()),
        Some('~') => refuse("fuzzy and proximity searches (~) are not supported"),
        Some('^') => refuse("boosts (^) are not supported"),
        Some(_) => refuse(format!(
            "{field}: a quoted value or range must be followed by a space or ')'"
        )),
    }
}

/// A bare value: special characters are refused, a trailing `*` is a prefix.
fn bare(field: &str, raw: &str) -> Result<Condition, SearchError> {
    if (raw.starts_with('*') && raw.len() > 1) || raw.starts_with('?') {
        return refuse("leading wildcards (*… or ?…) are not supported; only a trailing * is");
    }
    if raw.contains('~') {
        return refuse("fuzzy searches (~) are not supported");
    }
    if raw.contains('^') {
        return refuse("boosts (^) are not supported");
    }
    if raw.contains('?') {
        return refuse("the ? wildcard is not supported; only a trailing * is");
    }
    if let Some(c) = raw
        .chars()
        .find(|c| matches!(c, '"' | '[' | ']' | '{' | '}' | '\\' | ':' | '/'))
    {
        return refuse(format!(
            "'{c}' in {field}:{} is not supported; quote the value (\"…\")",
            shorten(raw)
        ));
    }
    let (text, prefix) = match raw.strip_suffix('*') {
        Some(text) => (text, true),
        None => (raw, false),
    };
    if text.contains('*') {
        return refuse("wildcards inside a value are not supported; only a trailing * is");
    }
    match field {
        "blocked" => match (raw, prefix) {
            ("true", _) => Ok(Condition::Blocked(true)),
            ("false", _) => Ok(Condition::Blocked(false)),
            _ => refuse("blocked: takes true or false"),
        },
        "logins_count" => {
            if prefix {
                return refuse("logins_count: wildcards are not supported; use a range [a TO b]");
            }
            let n = number(text)?;
            Ok(Condition::LoginsCount(
                Bound::Included(n),
                Bound::Included(n),
            ))
        }
        _ => text_condition(
            field,
            if prefix {
                TextMatch::Prefix(text.to_owned())
            } else {
                TextMatch::Exact(text.to_owned())
            },
        ),
    }
}

/// A text field's condition; `email` and `name` are lower-cased.
fn text_condition(field: &str, m: TextMatch) -> Result<Condition, SearchError> {
    let lower = |m: TextMatch| match m {
        TextMatch::Exact(v) => TextMatch::Exact(v.to_lowercase()),
        TextMatch::Prefix(v) => TextMatch::Prefix(v.to_lowercase()),
    };
    match field {
        "email" => Ok(Condition::Email(lower(m))),
        "name" => Ok(Condition::Name(lower(m))),
        "user_id" => Ok(Condition::UserId(m)),
        "blocked" => match m {
            TextMatch::Exact(v) if v == "true" => Ok(Condition::Blocked(true)),
            TextMatch::Exact(v) if v == "false" => Ok(Condition::Blocked(false)),
            _ => refuse("blocked: takes true or false"),
        },
        "logins_count" => match m {
            TextMatch::Exact(v) => {
                let n = number(&v)?;
                Ok(Condition::LoginsCount(
                    Bound::Included(n),
                    Bound::Included(n),
                ))
            }
            TextMatch::Prefix(_) => refuse("logins_count: wildcards are not supported"),
        },
        other => refuse(format!(
            "searching by '{}' is not supported",
            shorten(other)
        )),
    }
}

fn number(text: &str) -> Result<i64, SearchError> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return refuse(format!(
            "logins_count: '{}' is not a whole number",
            shorten(text)
        ));
    }
    text.parse().map_err(|_| {
        SearchError(format!(
            "logins_count: '{}' is not a whole number",
            shorten(text)
        ))
    })
}

/// `[a TO b]`, `{a TO b}` or mixed, from the opening bracket at `i`.
fn range(field: &str, chars: &[char], i: usize) -> Result<(Condition, usize), SearchError> {
    let inclusive_low = chars[i] == '[';
    let Some(close) = chars[i + 1..]
        .iter()
        .position(|c| matches!(c, ']' | '}'))
        .map(|p| i + 1 + p)
    else {
        return refuse("unbalanced brackets: a range [a TO b] without its closing bracket");
    };
    if field != "logins_count" {
        return refuse(format!(
            "{field}: ranges are supported on logins_count only"
        ));
    }
    let inclusive_high = chars[close] == ']';
    let inner: String = chars[i + 1..close].iter().collect();
    let parts: Vec<&str> = inner.split_whitespace().collect();
    let [low, "TO", high] = parts.as_slice() else {
        return refuse("a range is written [a TO b] (TO in capitals, * for an open end)");
    };
    let bound = |text: &str, inclusive: bool| -> Result<Bound<i64>, SearchError> {
        if text == "*" {
            return Ok(Bound::Unbounded);
        }
        let n = number(text)?;
        Ok(if inclusive {
            Bound::Included(n)
        } else {
            Bound::Excluded(n)
        })
    };
    let low = bound(low, inclusive_low)?;
    let high = bound(high, inclusive_high)?;
    end_of_term(chars, close + 1, field)?;
    Ok((Condition::LoginsCount(low, high), close + 1))
}

/// The smallest string greater than every string that starts with `prefix`
/// in code point (UTF-8 byte) order, or `None` when there is none (the
/// prefix is empty or all `char::MAX`): `[prefix, upper)` is then exactly
/// the strings with that prefix, which an index can scan.
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last as u32 {
            0xD7FF => Some('\u{E000}'),
            n => char::from_u32(n + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// `%`, `_` and `\` escaped for `LIKE … ESCAPE '\'`.
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> UserSearch {
        UserSearch::parse(q).unwrap().unwrap()
    }

    fn error(q: &str) -> String {
        UserSearch::parse(q).unwrap_err().0
    }

    #[test]
    fn terms_and_operators() {
        assert_eq!(
            parse("email:Ann@Example.com"),
            UserSearch::Term(Condition::Email(TextMatch::Exact("ann@example.com".into())))
        );
        assert_eq!(
            parse("name:\"Jane Smith\" OR user_id:auth0|abc*"),
            UserSearch::Or(vec![
                UserSearch::Term(Condition::Name(TextMatch::Exact("jane smith".into()))),
                UserSearch::Term(Condition::UserId(TextMatch::Prefix("auth0|abc".into()))),
            ])
        );
        assert_eq!(
            parse("blocked:true AND (logins_count:[1 TO 5} OR NOT email:a*)"),
            UserSearch::And(vec![
                UserSearch::Term(Condition::Blocked(true)),
                UserSearch::Or(vec![
                    UserSearch::Term(Condition::LoginsCount(
                        Bound::Included(1),
                        Bound::Excluded(5)
                    )),
                    UserSearch::Not(Box::new(UserSearch::Term(Condition::Email(
                        TextMatch::Prefix("a".into())
                    )))),
                ]),
            ])
        );
        assert_eq!(
            parse("logins_count:[* TO 3]"),
            UserSearch::Term(Condition::LoginsCount(Bound::Unbounded, Bound::Included(3)))
        );
        assert_eq!(
            parse("email:\"x' OR 1=1 --\""),
            UserSearch::Term(Condition::Email(TextMatch::Exact("x' or 1=1 --".into())))
        );
        assert_eq!(
            parse("email:\"a\\\"b\""),
            UserSearch::Term(Condition::Email(TextMatch::Exact("a\"b".into())))
        );
        assert!(UserSearch::parse("   ").unwrap().is_none());
    }

    #[test]
    fn what_is_not_supported_is_named() {
        for (q, needle) in [
            ("email:*@example.com", "leading wildcards"),
            ("name:jo?n", "?"),
            ("name:jon~", "fuzzy"),
            ("name:jon~2", "fuzzy"),
            ("name:j*n", "inside a value"),
            ("nickname:x", "'nickname'"),
            ("app_metadata.plan:gold", "'app_metadata.plan'"),
            ("jane", "needs a field"),
            ("\"jane smith\"", "needs a field"),
            ("email:\"open", "unbalanced quotes"),
            ("logins_count:[1 TO 5", "unbalanced brackets"),
            ("(email:a", "unbalanced parentheses"),
            ("email:a)", "unbalanced parentheses"),
            ("email:a name:b", "AND or OR"),
            ("email:a and name:b", "capitals"),
            ("email:a AND", "ends where a term"),
            ("email:[a TO b]", "logins_count only"),
            ("logins_count:abc", "whole number"),
            ("logins_count:[1 to 5]", "TO in capitals"),
            ("blocked:maybe", "true or false"),
            ("name:jon^2", "boosts"),
            ("+email:a", "+ and -"),
            ("email:", "no value"),
        ] {
            let message = error(q);
            assert!(message.contains(needle), "{q}: {message}");
        }
    }

    #[test]
    fn bounds_and_escapes() {
        assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(
            prefix_upper_bound("a\u{D7FF}").as_deref(),
            Some("a\u{E000}")
        );
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
    }

    #[test]
    fn sort_parses() {
        assert_eq!(
            UserSort::parse("email:-1"),
            Ok(UserSort {
                field: SortField::Email,
                descending: true
            })
        );
        assert!(UserSort::parse("password_hash:1").is_err());
        assert!(UserSort::parse("email:2").is_err());
        assert!(UserSort::parse("email").is_err());
    }

    #[test]
    fn nesting_and_size_are_bounded() {
        let deep = format!("{}email:a{}", "(".repeat(100), ")".repeat(100));
        assert!(error(&deep).contains("deeper"));
        let nots = format!("{}email:a", "NOT ".repeat(100));
        assert!(error(&nots).contains("deeper"));
        let many = vec!["email:a"; 40].join(" OR ");
        assert!(error(&many).contains("at most"));
        assert!(error(&"a".repeat(5000)).contains("longer"));
    }
}
