//! `GET /api/v2/users?q=…&search_engine=v3`: the subset of Auth0's user
//! search syntax grantor answers, over a dozen users; `sort`, `fields`,
//! paging; hostile input (SQL, LIKE wildcards) matching nothing it should
//! not; everything unsupported a 400 that names it.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::support::{assert_mgmt_error, read, spawn_app, urlencode, TestApp};

const CONNECTION: &str = "Username-Password-Authentication";

/// (id without `auth0|`, e-mail, name, blocked)
const USERS: &[(&str, &str, &str, bool)] = &[
    ("ann01", "ann@example.test", "Ann Lee", false),
    ("ann02", "anna@example.test", "Anna Smith", false),
    ("ann03", "annabel@corp.test", "Annabel Jones", true),
    ("bob01", "bob@example.test", "Bob Smith", false),
    ("bob02", "bobby@corp.test", "Bobby Tables", false),
    ("car01", "carol@example.test", "Carol 50% Off", false),
    ("car02", "carl_x@example.test", "carl_x", false),
    ("dav01", "dave@example.test", "Dave O'Brien", false),
    ("eve01", "eve@corp.test", "Eve", true),
    ("fra01", "frank@example.test", "Frank Jane Smith", false),
    ("gra01", "grace@example.test", "grace hopper", false),
    ("hei01", "heidi@example.test", "Heidi", false),
];

async fn setup(db: crate::support::Backend) -> TestApp {
    let app = spawn_app(db).await;
    for (id, email, name, blocked) in USERS {
        let (status, body) = app
            .mgmt_call(
                Method::POST,
                "/users",
                Some(json!({
                    "connection": CONNECTION, "user_id": id, "email": email,
                    "password": "correct-horse-battery-staple", "name": name, "blocked": blocked,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // Sign-in counts: ann01 3, bob01 5, eve01 1.
    let store = app.store().await;
    for (id, times) in [("ann01", 3), ("bob01", 5), ("eve01", 1)] {
        for i in 0..times {
            store
                .record_login(
                    &format!("auth0|{id}").as_str().into(),
                    "192.0.2.1",
                    grantor_domain::Timestamp(1_700_000_000_000 + i),
                )
                .await
                .unwrap();
        }
    }
    store.close().await;
    app
}

async fn search(app: &TestApp, query: &str) -> (StatusCode, Value) {
    app.mgmt_call(Method::GET, &format!("/users?{query}"), None)
        .await
}

/// The ids (without `auth0|`) a `q` finds, sorted.
async fn found(app: &TestApp, q: &str) -> Vec<String> {
    let (status, body) = search(
        app,
        &format!("q={}&search_engine=v3&per_page=100", urlencode(q)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{q}: {body}");
    let mut ids = ids(&body);
    ids.sort();
    ids
}

fn ids(body: &Value) -> Vec<String> {
    let list = body
        .as_array()
        .or_else(|| body["users"].as_array())
        .expect("users");
    list.iter()
        .map(|u| {
            u["user_id"]
                .as_str()
                .unwrap()
                .trim_start_matches("auth0|")
                .to_owned()
        })
        .collect()
}

both_databases! {
    async fn the_supported_syntax_finds_what_it_says(db: Backend) {
        let app = setup(db).await;
        for (q, expected) in [
            ("email:ann@example.test", vec!["ann01"]),
            ("email:ANN@Example.TEST", vec!["ann01"]),
            ("email:\"bob@example.test\"", vec!["bob01"]),
            ("email:ann*", vec!["ann01", "ann02", "ann03"]),
            ("email:annabel*", vec!["ann03"]),
            ("user_id:auth0|bob*", vec!["bob01", "bob02"]),
            ("user_id:\"auth0|car01\"", vec!["car01"]),
            // Whole values: a part of the id matches nothing (as Auth0 v3).
            ("user_id:auth0", vec![]),
            ("name:\"bob smith\"", vec!["bob01"]),
            ("name:\"BOB SMITH\"", vec!["bob01"]),
            ("name:bob*", vec!["bob01", "bob02"]),
            ("name:\"Carol 50% Off\"", vec!["car01"]),
            ("name:carl_*", vec!["car02"]),
            ("blocked:true", vec!["ann03", "eve01"]),
            ("logins_count:[2 TO 5]", vec!["ann01", "bob01"]),
            ("logins_count:{3 TO *]", vec!["bob01"]),
            ("logins_count:[* TO 1}", vec!["ann02", "ann03", "bob02", "car01", "car02", "dav01", "fra01", "gra01", "hei01"]),
            ("logins_count:1", vec!["eve01"]),
            ("email:ann* AND NOT blocked:true", vec!["ann01", "ann02"]),
            ("(email:bob* OR email:eve*) AND blocked:false", vec!["bob01", "bob02"]),
            ("email:eve* OR name:\"grace hopper\" OR user_id:auth0|hei01", vec!["eve01", "gra01", "hei01"]),
            ("name:\"dave o'brien\"", vec!["dav01"]),
        ] {
            let expected: Vec<String> = expected.into_iter().map(str::to_owned).collect();
            assert_eq!(found(&app, q).await, expected, "{q}");
        }
        // No q (or a blank one): every user.
        assert_eq!(found(&app, " ").await.len(), USERS.len());
    }
}

both_databases! {
    async fn hostile_values_are_values(db: Backend) {
        let app = setup(db).await;
        for q in [
            "email:\"x' OR 1=1 --\"",
            "email:\"x\\\" OR \\\"1\\\"=\\\"1\"",
            "name:\"') OR ('1'='1\"",
            "user_id:\"auth0|ann01'; DROP TABLE users; --\"",
            "user_id:\"auth0|ann01\\\\\"",
            // LIKE wildcards in the input are characters, not wildcards.
            "name:%*",
            "name:_*",
            "name:c_rol*",
            "email:%@example.test",
            "name:\"%\"",
        ] {
            assert_eq!(found(&app, q).await, Vec::<String>::new(), "{q}");
        }
        // The table is intact.
        assert_eq!(found(&app, "email:*").await.len(), USERS.len());
    }
}

both_databases! {
    async fn what_is_not_supported_is_a_400_that_names_it(db: Backend) {
        let app = setup(db).await;
        for (query, needle) in [
            ("q=email:*@corp.test", "leading wildcards"),
            ("q=name:jon~", "fuzzy"),
            ("q=name:j*n", "only a trailing *"),
            ("q=name:jo?n", "?"),
            ("q=nickname:eve", "'nickname'"),
            ("q=app_metadata.plan:gold", "'app_metadata.plan'"),
            ("q=jane", "needs a field"),
            ("q=email:%22open", "unbalanced quotes"),
            ("q=logins_count:[1%20TO%202", "unbalanced brackets"),
            ("q=(email:a*", "unbalanced parentheses"),
            ("q=email:a*%20name:b*", "AND or OR"),
            ("q=email:a*%20and%20name:b*", "capitals"),
            ("q=email:[a%20TO%20b]", "logins_count only"),
            ("q=blocked:yes", "true or false"),
            ("q=email:a&search_engine=v2", "search_engine"),
            ("q=email:a&search_engine=v1", "search_engine"),
            ("sort=password_hash:1", "sort by 'password_hash'"),
            ("sort=email:2", "field:1 or field:-1"),
        ] {
            let (status, body) = search(&app, query).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
            assert_eq!(body["errorCode"], "invalid_query_string", "{query}: {body}");
            let message = body["message"].as_str().unwrap();
            assert!(message.contains(needle), "{query}: {message}");
        }
    }
}

both_databases! {
    async fn sort_fields_paging_and_totals(db: Backend) {
        let app = setup(db).await;
        let (status, body) = search(&app, "q=email:*&sort=email:-1&per_page=3").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(ids(&body), ["hei01", "gra01", "fra01"]);
        let (_, body) = search(&app, "sort=logins_count:-1&per_page=4").await;
        assert_eq!(ids(&body), ["bob01", "ann01", "eve01", "hei01"]);
        let (_, body) = search(&app, "q=name:*&sort=name:1&per_page=3").await;
        assert_eq!(ids(&body), ["ann01", "ann02", "ann03"]);
        let (_, body) = search(&app, "q=user_id:auth0%7Cann*&sort=user_id:1&include_totals=true&per_page=2&page=1").await;
        assert_eq!(body["total"], 3, "{body}");
        assert_eq!(body["start"], 2);
        assert_eq!(body["limit"], 2);
        assert_eq!(ids(&body), ["ann03"]);
        let (_, body) = search(&app, "q=email:bob@example.test&fields=user_id,email&include_fields=true").await;
        assert_eq!(body, json!([{"user_id": "auth0|bob01", "email": "bob@example.test"}]));
        let (_, body) = search(&app, "q=email:bob@example.test&fields=identities,app_metadata,user_metadata,created_at,updated_at&include_fields=false").await;
        let user = body[0].as_object().unwrap();
        assert!(user.contains_key("logins_count") && !user.contains_key("identities"), "{body}");
        assert_eq!(user["logins_count"], 5);
    }
}

both_databases! {
    async fn searching_needs_read_users(db: Backend) {
        let app = setup(db).await;
        let audience = app.management_audience();
        let (id, secret, _) = app.create_client(json!({"name": "reader", "grant_types": ["client_credentials"]})).await;
        app.create_client_grant(&id, &audience, &["read:clients"]).await;
        let token = app.client_credentials(&id, &secret, &audience).await;
        let response = app.http.get(app.url("/api/v2/users?q=email:ann*&search_engine=v3")).bearer_auth(&token).send().await.unwrap();
        let (status, body) = read(response).await;
        assert_mgmt_error(status, &body, StatusCode::FORBIDDEN);
    }
}

both_databases! {
    /// Generated queries (operators, quotes, brackets, wildcards, SQL and
    /// LIKE metacharacters, any Unicode) are each answered 200 or a 400 in
    /// Auth0's format, never a 5xx: whatever parses also compiles and runs
    /// on both engines. A fixed xorshift seed, so every run sends the same.
    async fn generated_queries_are_200_or_400(db: Backend) {
        let app = setup(db).await;
        const PIECES: &[&str] = &[
            "email:", "user_id:", "name:", "blocked:", "logins_count:", "nickname:", " AND ", " OR ",
            "NOT ", "(", ")", "\"", "\\", "[", "]", "{", "}", " TO ", "*", "?", "~", "^", "%", "_",
            "'", ";", "--", "true", "false", "12", "-3", " ", "ann", "auth0|", "é", "\u{10FFFF}",
            "\u{D7FF}", "Ω", "\t", "@example.test",
        ];
        const FIELDS: &[&str] = &["email", "user_id", "name"];
        const VALUES: &[&str] = &[
            "ann*", "ANN@EXAMPLE.TEST", "auth0|bob*", "%", "_*", "c_rol*", "x';--", "é*", "\u{10FFFF}*",
            "\u{D7FF}*", "Ω", "*", "a%_\\*",
        ];
        const QUOTED: &[&str] = &["x' OR 1=1 --", "\\\"", "50% off", "", "a*b", "Ω ω", "'); DROP TABLE users; --"];
        const OTHER: &[&str] = &[
            "blocked:true", "blocked:false", "logins_count:3", "logins_count:[1 TO 5]", "logins_count:{0 TO *]",
            "logins_count:[* TO 999999999999999999]",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let pick = |n: usize, next: &mut dyn FnMut() -> u64| (next() % n as u64) as usize;
        let mut queries = Vec::new();
        for _ in 0..150 {
            let terms = 1 + pick(4, &mut next);
            let mut q = String::new();
            for t in 0..terms {
                if t > 0 {
                    q.push_str([" AND ", " OR ", " AND NOT "][pick(3, &mut next)]);
                }
                let term = match pick(3, &mut next) {
                    0 => format!("{}:{}", FIELDS[pick(FIELDS.len(), &mut next)], VALUES[pick(VALUES.len(), &mut next)]),
                    1 => format!("{}:\"{}\"", FIELDS[pick(FIELDS.len(), &mut next)], QUOTED[pick(QUOTED.len(), &mut next)]),
                    _ => OTHER[pick(OTHER.len(), &mut next)].to_owned(),
                };
                if pick(4, &mut next) == 0 {
                    q.push_str(&format!("({term})"));
                } else {
                    q.push_str(&term);
                }
            }
            // One in three is mutated: a random piece inserted somewhere.
            if pick(3, &mut next) == 0 {
                let chars: Vec<char> = q.chars().collect();
                let at = pick(chars.len() + 1, &mut next);
                let piece = PIECES[pick(PIECES.len(), &mut next)];
                q = chars[..at].iter().collect::<String>() + piece + &chars[at..].iter().collect::<String>();
            }
            queries.push(q);
        }
        let (mut ok, mut refused) = (0, 0);
        for q in queries {
            let sort = ["", "&sort=email:1", "&sort=name:-1", "&sort=last_login:1", "&sort=x:1"][(next() % 5) as usize];
            let (status, body) = search(&app, &format!("q={}&search_engine=v3{sort}", urlencode(&q))).await;
            match status {
                StatusCode::OK => ok += 1,
                StatusCode::BAD_REQUEST => {
                    refused += 1;
                    assert_eq!(body["errorCode"], "invalid_query_string", "{q}: {body}");
                }
                other => panic!("{q:?}{sort}: {other} {body}"),
            }
        }
        println!("generated user searches: {ok} answered, {refused} refused");
        assert!(ok > 0 && refused > 0, "{ok} answered, {refused} refused");
    }
}
