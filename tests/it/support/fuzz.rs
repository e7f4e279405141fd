//! Shared pieces of the property tests (`fuzz_units.rs`, `fuzz_http.rs`): the
//! proptest configuration and the strategies that make hostile input.
//!
//! Every run is a replay: the seed is fixed (`GRANTOR_FUZZ_SEED` changes it)
//! and nothing is written to a failure file, so CI sees the same inputs every
//! time. A failure found once is kept as a regular test next to the code it
//! broke. `GRANTOR_FUZZ_CASES` raises the number of cases for a deeper local
//! run (the default keeps each property well under a minute).

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestRunner};
use serde_json::Value;

pub const DEFAULT_SEED: u64 = 0x0067_7261_6e74_6f72; // "grantor"

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// `default_cases` unless `GRANTOR_FUZZ_CASES` says otherwise.
pub fn cases(default_cases: u32) -> u32 {
    env_number("GRANTOR_FUZZ_CASES").map_or(default_cases, |n| n as u32)
}

/// A deterministic configuration: ChaCha with a fixed seed, no failure file,
/// a bounded shrink (each shrink step of the HTTP tests is a request).
pub fn config(default_cases: u32) -> Config {
    Config {
        cases: cases(default_cases),
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(env_number("GRANTOR_FUZZ_SEED").unwrap_or(DEFAULT_SEED)),
        failure_persistence: None,
        max_shrink_iters: 256,
        max_shrink_time: 30_000,
        ..Config::default()
    }
}

pub fn runner(default_cases: u32) -> TestRunner {
    TestRunner::new(config(default_cases))
}

/// Strings nobody would type: printable ASCII, any Unicode (NUL and other
/// controls included), percent escapes, injection-shaped text, right-to-left
/// and combining marks, and long strings.
pub fn hostile_text() -> BoxedStrategy<String> {
    hostile_text_up_to(70_000)
}

/// [`hostile_text`] with long strings of at most `max` bytes (a URL must stay
/// under the 64 KiB a URI may have).
pub fn hostile_text_up_to(max: usize) -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[ -~]{0,40}",
        3 => any::<String>(),
        2 => "\\PC{0,24}",
        1 => "[\\x00-\\x1f\\x7f]{1,6}",
        1 => Just("\0".to_owned()),
        1 => "[a-z]{0,8}\\x00[a-z]{0,8}",
        1 => Just("%00%ff%zz%".to_owned()),
        1 => Just("' OR '1'='1' --".to_owned()),
        1 => Just("../../../../etc/passwd".to_owned()),
        1 => Just("\u{202e}\u{fe0f}\u{1f600}e\u{301}\u{feff}".to_owned()),
        1 => Just("\u{10ffff}\u{fffd}".to_owned()),
        1 => (1usize..max).prop_map(|n| "x".repeat(n)),
        1 => (1usize..max / 20).prop_map(|n| "\u{1f600}".repeat(n)),
    ]
    .boxed()
}

/// Any JSON value, shallow or nested a few levels.
pub fn any_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![Just(i64::MAX), Just(i64::MIN), Just(-1), Just(0), Just(1)]
            .prop_map(Value::from),
        hostile_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// A JSON value for a member: one of the given plausible values, or anything.
pub fn member_value(plausible: Vec<Value>) -> BoxedStrategy<Value> {
    if plausible.is_empty() {
        return any_json();
    }
    prop_oneof![
        2 => prop::sample::select(plausible),
        2 => any_json(),
    ]
    .boxed()
}

/// A JSON text written by hand so that it can hold what `serde_json::Value`
/// cannot: duplicate keys and nesting deeper than any parser's limit.
pub fn render_object(members: &[(String, Value)]) -> String {
    let inner: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), v))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// A name a body might carry: one of `fields` (mostly), or anything.
pub fn field_name(fields: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        6 => prop::sample::select(fields).prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
        1 => hostile_text(),
    ]
    .boxed()
}

/// `(name, value)` members with names mostly from `fields` (repeats allowed).
pub fn members(
    fields: &'static [&'static str],
    plausible: Vec<Value>,
) -> BoxedStrategy<Vec<(String, Value)>> {
    prop::collection::vec((field_name(fields), member_value(plausible)), 0..10).boxed()
}

/// A request body as sent: its `Content-Type` (absent when `None`) and bytes.
#[derive(Clone)]
pub struct RawBody {
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for RawBody {
    /// The text (lossy, cut at 2,000 characters), so a failing case reads well.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.text();
        let shown: String = text.chars().take(2_000).collect();
        f.debug_struct("RawBody")
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .field("text", &shown)
            .finish()
    }
}

impl RawBody {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Content types: the right ones, their variants, wrong ones and junk.
pub fn content_type(preferred: &'static str) -> BoxedStrategy<Option<String>> {
    prop_oneof![
        8 => Just(Some(preferred.to_owned())),
        1 => Just(Some(format!("{preferred}; charset=utf-8"))),
        1 => Just(Some(preferred.to_ascii_uppercase())),
        1 => Just(Some("application/json".to_owned())),
        1 => Just(Some("application/x-www-form-urlencoded".to_owned())),
        1 => Just(Some("text/plain".to_owned())),
        1 => Just(Some("multipart/form-data; boundary=xyz".to_owned())),
        1 => Just(Some(String::new())),
        1 => Just(None),
        1 => "[!-~][ -~]{0,30}".prop_map(Some),
    ]
    .boxed()
}

/// Raw bytes: random, invalid UTF-8, or deeply nested JSON.
pub fn raw_bytes() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..512),
        1 => (1usize..5_000).prop_map(|n| "[".repeat(n).into_bytes()),
        1 => (1usize..3_000).prop_map(|n| "{\"a\":".repeat(n).into_bytes()),
        1 => Just(b"\xff\xfe\x00{\"".to_vec()),
        1 => Just(b"%%%&&==&=%zz&a=%C0%AF".to_vec()),
    ]
    .boxed()
}

/// A form body from members: values that are strings go as they are, others
/// as their JSON text; names and values percent-encoded.
pub fn form_encode(members: &[(String, Value)]) -> Vec<u8> {
    let pairs: Vec<(String, String)> = members
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect();
    serde_urlencoded::to_string(pairs)
        .expect("form encoding")
        .into_bytes()
}

/// One change to a known-good member list.
#[derive(Debug, Clone)]
enum Edit {
    Drop(prop::sample::Index),
    Replace(prop::sample::Index, Value),
    Repeat(prop::sample::Index),
    Add(String, Value),
}

/// A known-good member list with up to three changes: a member dropped, a
/// value replaced (another type, hostile text), a member repeated, an unknown
/// member added. These get past the first checks and into the handlers.
pub fn mutated_members(valid: Vec<Vec<(String, Value)>>) -> BoxedStrategy<Vec<(String, Value)>> {
    let edit = prop_oneof![
        1 => any::<prop::sample::Index>().prop_map(Edit::Drop),
        3 => (any::<prop::sample::Index>(), any_json()).prop_map(|(i, v)| Edit::Replace(i, v)),
        1 => any::<prop::sample::Index>().prop_map(Edit::Repeat),
        1 => ("[a-z_]{1,12}", any_json()).prop_map(|(k, v)| Edit::Add(k, v)),
    ];
    (
        prop::sample::select(valid),
        prop::collection::vec(edit, 0..4),
    )
        .prop_map(|(mut members, edits)| {
            for edit in edits {
                match edit {
                    Edit::Drop(i) if !members.is_empty() => {
                        members.remove(i.index(members.len()));
                    }
                    Edit::Replace(i, v) if !members.is_empty() => {
                        let at = i.index(members.len());
                        members[at].1 = v;
                    }
                    Edit::Repeat(i) if !members.is_empty() => {
                        let member = members[i.index(members.len())].clone();
                        members.push(member);
                    }
                    Edit::Add(k, v) => members.push((k, v)),
                    _ => {}
                }
            }
            members
        })
        .boxed()
}

/// Members in the encoding the content type names (a form, else JSON).
fn encoded(content_type: Option<String>, members: &[(String, Value)], as_form: bool) -> RawBody {
    let is_form = content_type
        .as_deref()
        .is_some_and(|c| c.to_ascii_lowercase().contains("form-urlencoded"));
    let bytes = if is_form || as_form && content_type.is_none() {
        form_encode(members)
    } else {
        render_object(members).into_bytes()
    };
    RawBody {
        content_type,
        bytes,
    }
}

/// A body for an endpoint that takes JSON (and, with a form `preferred`,
/// forms too): structured members in either encoding, mutations of the
/// `valid` bodies, wrong content types, raw bytes.
pub fn body(
    preferred: &'static str,
    fields: &'static [&'static str],
    plausible: Vec<Value>,
    valid: Vec<Vec<(String, Value)>>,
) -> BoxedStrategy<RawBody> {
    let structured = (
        content_type(preferred),
        members(fields, plausible),
        any::<bool>(),
    )
        .prop_map(|(content_type, members, as_form)| encoded(content_type, &members, as_form));
    let any_json_body =
        (content_type(preferred), any_json()).prop_map(|(content_type, v)| RawBody {
            content_type,
            bytes: v.to_string().into_bytes(),
        });
    let raw = (content_type(preferred), raw_bytes()).prop_map(|(content_type, bytes)| RawBody {
        content_type,
        bytes,
    });
    if valid.is_empty() {
        return prop_oneof![6 => structured, 1 => any_json_body, 2 => raw].boxed();
    }
    let preferred_only = prop_oneof![
        4 => Just(Some(preferred.to_owned())),
        1 => content_type(preferred),
    ];
    let mutated = (preferred_only, mutated_members(valid), any::<bool>())
        .prop_map(|(content_type, members, as_form)| encoded(content_type, &members, as_form));
    prop_oneof![6 => mutated, 4 => structured, 1 => any_json_body, 2 => raw].boxed()
}

/// `(name, value)` members from pairs of string slices, for `valid` bodies.
pub fn valid(members: &[(&str, Value)]) -> Vec<(String, Value)> {
    members
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Bearer tokens: mutations of real ones, JWT-shaped junk, and anything.
pub fn bearer(real: Vec<String>) -> BoxedStrategy<String> {
    let real_token = prop::sample::select(real);
    prop_oneof![
        1 => real_token.clone(),
        3 => (real_token.clone(), any::<prop::sample::Index>(), any::<u8>()).prop_map(
            |(token, at, byte)| mutate_byte(&token, at.index(token.len()), byte)
        ),
        2 => (real_token.clone(), any::<prop::sample::Index>())
            .prop_map(|(token, at)| token[..at.index(token.len())].to_owned()),
        2 => (real_token, "[A-Za-z0-9_-]{0,30}", 0usize..3).prop_map(|(token, junk, part)| {
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            parts[part] = junk;
            parts.join(".")
        }),
        2 => jwt_shaped(),
        1 => "[!-~]{0,200}",
        // Long, but inside the header size a server reads at all.
        1 => (1usize..2_000).prop_map(|n| "eyJ".repeat(n)),
    ]
    .boxed()
}

/// Replaces the byte at `at` with a printable one (header values must stay legal).
pub fn mutate_byte(token: &str, at: usize, byte: u8) -> String {
    let mut bytes = token.as_bytes().to_vec();
    if bytes.is_empty() {
        return String::new();
    }
    bytes[at] = b'!' + byte % 94;
    String::from_utf8(bytes).expect("ASCII")
}

/// Three base64url segments around headers and claims that are wrong in
/// interesting ways: `none`, HMAC, unknown or missing `kid`, non-objects.
pub fn jwt_shaped() -> BoxedStrategy<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let header = prop_oneof![
        Just(r#"{"alg":"none","typ":"JWT"}"#.to_owned()),
        Just(r#"{"alg":"HS256","kid":"x"}"#.to_owned()),
        Just(r#"{"alg":"RS256"}"#.to_owned()),
        Just(r#"{"alg":"RS256","kid":null}"#.to_owned()),
        Just(r#"{"alg":["RS256"],"kid":{"a":1}}"#.to_owned()),
        Just("[]".to_owned()),
        Just("null".to_owned()),
        any_json().prop_map(|v| v.to_string()),
    ];
    let claims = any_json().prop_map(|v| v.to_string());
    let signature = prop::collection::vec(any::<u8>(), 0..300);
    (header, claims, signature)
        .prop_map(|(h, c, s)| {
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(h),
                URL_SAFE_NO_PAD.encode(c),
                URL_SAFE_NO_PAD.encode(s)
            )
        })
        .boxed()
}

/// `text` cut to `max` characters, for failure messages.
pub fn cut(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if out.len() < text.len() {
        out.push_str(&format!("… ({} bytes)", text.len()));
    }
    out
}
