//! The askama templates of the dashboard (`templates/dashboard/`), one struct
//! each, and the few formatting helpers they share. askama escapes every value.

use askama::Template;
use grantor_domain::Timestamp;
use grantor_store::RevocationReceipt;

/// What every page of the signed-in frame shows: who is signed in, the CSRF
/// token of the sign-out form, and which navigation entry is current.
pub struct Layout<'a> {
    pub admin_email: &'a str,
    pub csrf: &'a str,
    pub nav: &'static str,
}

#[derive(Template)]
#[template(path = "dashboard/login.html")]
pub struct LoginPage<'a> {
    pub csrf: &'a str,
    pub next: &'a str,
    pub email: &'a str,
    pub error: Option<&'a str>,
    pub notice: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "dashboard/error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

/// "Showing 1–25 of 130" and the links to the neighbouring pages.
pub struct Pager {
    pub from: i64,
    pub to: i64,
    pub total: i64,
    /// `total` is a lower bound (a capped count): "of at least 130".
    pub at_least: bool,
    pub previous: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    pub const PER_PAGE: i64 = 25;

    /// The page number a `?page=` asks for (0-based); anything that is not
    /// a number is the first page, rather than an error.
    pub fn page_number(raw: Option<&str>) -> i64 {
        count_param(raw).min(100_000)
    }

    /// The store's window for page `page` (0-based).
    pub fn request(page: i64) -> grantor_store::PageRequest {
        grantor_store::PageRequest {
            offset: page * Self::PER_PAGE,
            limit: Self::PER_PAGE,
        }
    }

    /// `link(page)` is the URL of page `page` (0-based).
    pub fn new(page: i64, shown: usize, total: i64, link: impl Fn(i64) -> String) -> Self {
        let offset = page * Self::PER_PAGE;
        let shown = i64::try_from(shown).unwrap_or(0);
        Self {
            from: if shown == 0 { 0 } else { offset + 1 },
            to: offset + shown,
            total,
            at_least: false,
            previous: (page > 0).then(|| link(page - 1)),
            next: (offset + shown < total).then(|| link(page + 1)),
        }
    }

    /// How many matches a capped count of page `page` reads at most: the
    /// pages up to this one and [`Self::COUNT_AHEAD`] more.
    pub fn count_cap(page: i64) -> i64 {
        (page + 1) * Self::PER_PAGE + Self::COUNT_AHEAD
    }

    /// Matches a capped count reads beyond the page shown.
    pub const COUNT_AHEAD: i64 = 10_000;

    /// As [`Self::new`], for a total counted up to [`Self::count_cap`].
    pub fn capped(page: i64, shown: usize, total: i64, link: impl Fn(i64) -> String) -> Self {
        let mut pager = Self::new(page, shown, total, link);
        pager.at_least = total >= Self::count_cap(page);
        pager
    }
}

/// The query of a plain list page: its page, and whether the page follows
/// a deletion (a notice).
#[derive(serde::Deserialize)]
pub struct ListQuery {
    pub page: Option<String>,
    pub deleted: Option<String>,
}

// ---------------------------------------------------------------------------
// User Management › Users
// ---------------------------------------------------------------------------

pub struct UserRow {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub logins_count: i64,
    pub last_login: String,
    pub created: String,
    pub blocked: bool,
}

#[derive(Template)]
#[template(path = "dashboard/users.html")]
pub struct UsersPage<'a> {
    pub layout: Layout<'a>,
    pub q: &'a str,
    pub notice: Option<&'static str>,
    pub rows: Vec<UserRow>,
    pub pager: Pager,
}

/// The heading of a user's page and the links of its tabs.
pub struct UserHeader {
    pub user_id: String,
    pub email: String,
    pub name: String,
}

#[derive(Template)]
#[template(path = "dashboard/user_details.html")]
pub struct UserDetailsPage<'a> {
    pub layout: Layout<'a>,
    pub user: UserHeader,
    pub tab: &'static str,
    pub details: Vec<(&'static str, String)>,
    pub blocked: bool,
    pub notice: Option<String>,
}

/// The profile form's values, as shown (and as typed, after an error).
pub struct UserFields {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub nickname: String,
    pub given_name: String,
    pub family_name: String,
    pub username: String,
    pub picture: String,
    pub phone_number: String,
    pub email_verified: bool,
    pub phone_verified: bool,
    pub app_metadata: String,
    pub user_metadata: String,
}

/// Create a user, or edit one's profile.
#[derive(Template)]
#[template(path = "dashboard/user_form.html")]
pub struct UserFormPage<'a> {
    pub layout: Layout<'a>,
    pub creating: bool,
    pub heading: String,
    pub fields: UserFields,
    pub action: String,
    pub cancel: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/user_password.html")]
pub struct UserPasswordPage<'a> {
    pub layout: Layout<'a>,
    pub user: UserHeader,
    pub tab: &'static str,
    pub action: String,
    pub cancel: String,
    pub error: Option<String>,
}

pub struct GrantRow {
    pub grant_id: String,
    pub application: String,
    pub client_id: String,
    pub api: String,
    pub audience: String,
    pub scopes: Vec<String>,
    pub granted: String,
}

#[derive(Template)]
#[template(path = "dashboard/user_applications.html")]
pub struct UserApplicationsPage<'a> {
    pub layout: Layout<'a>,
    pub user: UserHeader,
    pub tab: &'static str,
    pub notice: Option<String>,
    pub rows: Vec<GrantRow>,
    pub pager: Pager,
}

pub struct SessionRow {
    pub session_id: String,
    /// `session_metadata` (Management API), by key.
    pub metadata: Vec<MetadataEntry>,
    pub device: String,
    pub user_agent: String,
    pub ip: String,
    pub last_activity: String,
    pub started: String,
    pub applications: Vec<String>,
}

/// One entry of a refresh token's or session's metadata.
pub struct MetadataEntry {
    pub key: String,
    pub value: String,
}

/// The stored metadata (a JSON object of strings) of each id, as entries
/// sorted by key; ids without metadata are absent.
pub fn metadata_by_id<I: ToString>(
    rows: Vec<(I, String)>,
) -> std::collections::HashMap<String, Vec<MetadataEntry>> {
    rows.into_iter()
        .map(|(id, text)| {
            let map: std::collections::BTreeMap<String, serde_json::Value> =
                serde_json::from_str(&text).unwrap_or_default();
            let entries = map
                .into_iter()
                .map(|(key, value)| MetadataEntry {
                    key,
                    value: value.as_str().unwrap_or_default().to_owned(),
                })
                .collect();
            (id.to_string(), entries)
        })
        .collect()
}

#[derive(Template)]
#[template(path = "dashboard/user_sessions.html")]
pub struct UserSessionsPage<'a> {
    pub layout: Layout<'a>,
    pub user: UserHeader,
    pub tab: &'static str,
    pub notice: Option<String>,
    pub rows: Vec<SessionRow>,
    pub pager: Pager,
}

pub struct DeviceRow {
    pub token_id: String,
    /// `refresh_token_metadata` (Management API), by key.
    pub metadata: Vec<MetadataEntry>,
    pub device: String,
    pub user_agent: String,
    pub application: String,
    pub api: String,
    pub ip: String,
    pub created: String,
    pub last_used: String,
    pub rotating: bool,
    /// Bound to a DPoP key (RFC 9449): usable only with that key.
    pub dpop_bound: bool,
}

#[derive(Template)]
#[template(path = "dashboard/user_devices.html")]
pub struct UserDevicesPage<'a> {
    pub layout: Layout<'a>,
    pub user: UserHeader,
    pub tab: &'static str,
    pub notice: Option<String>,
    pub rows: Vec<DeviceRow>,
    pub pager: Pager,
}

/// "Are you sure?" before a revocation: what it covers, then a POST form.
#[derive(Template)]
#[template(path = "dashboard/confirm_revoke.html")]
pub struct ConfirmRevokePage<'a> {
    pub layout: Layout<'a>,
    pub user: UserHeader,
    pub tab: &'static str,
    pub heading: String,
    /// The sentence that says what will be revoked.
    pub what: String,
    pub consequence: &'static str,
    pub facts: Vec<(&'static str, String)>,
    pub action: String,
    pub cancel: String,
    /// The label of the confirming button.
    pub button: &'static str,
}

/// "Are you sure?" outside a user's page (deleting an application or an
/// API, rotating a secret): what it does, then a POST form.
#[derive(Template)]
#[template(path = "dashboard/confirm.html")]
pub struct ConfirmPage<'a> {
    pub layout: Layout<'a>,
    pub crumb: &'static str,
    pub crumb_link: &'static str,
    pub heading: String,
    pub what: String,
    pub facts: Vec<(&'static str, String)>,
    pub action: String,
    pub cancel: String,
    pub button: &'static str,
    pub danger: bool,
}

// ---------------------------------------------------------------------------
// Applications
// ---------------------------------------------------------------------------

pub struct ApplicationRow {
    pub client_id: String,
    pub name: String,
    pub app_type: String,
    pub rotation: &'static str,
    pub expiration: &'static str,
    pub is_system: bool,
}

#[derive(Template)]
#[template(path = "dashboard/applications.html")]
pub struct ApplicationsPage<'a> {
    pub layout: Layout<'a>,
    pub rows: Vec<ApplicationRow>,
    pub pager: Pager,
    pub notice: Option<&'static str>,
}

/// The settings form's values, as shown (and as typed, after an error).
pub struct ClientSettingsFields {
    pub name: String,
    pub description: String,
    pub app_type: String,
    pub token_endpoint_auth_method: String,
    /// One URL a line.
    pub callbacks: String,
    pub allowed_logout_urls: String,
    pub web_origins: String,
    pub allowed_origins: String,
    pub grant_types: Vec<String>,
    pub is_first_party: bool,
    pub oidc_conformant: bool,
    pub require_proof_of_possession: bool,
    pub require_pushed_authorization_requests: bool,
    pub jwt_lifetime_in_seconds: String,
}

/// The choices of the settings form's selects and checkboxes, each with
/// whether it is chosen.
pub struct ClientOptions {
    pub app_types: Vec<(&'static str, bool)>,
    pub auth_methods: Vec<(&'static str, bool)>,
    pub grant_types: Vec<(&'static str, bool)>,
}

impl ClientOptions {
    pub fn new(fields: &ClientSettingsFields) -> Self {
        use grantor_domain::client::{APP_TYPES, KNOWN_GRANT_TYPES};
        Self {
            app_types: APP_TYPES
                .iter()
                .map(|t| (*t, fields.app_type == *t))
                .collect(),
            auth_methods: ["none", "client_secret_post", "client_secret_basic"]
                .into_iter()
                .map(|m| (m, fields.token_endpoint_auth_method == m))
                .collect(),
            grant_types: KNOWN_GRANT_TYPES
                .iter()
                .map(|g| (*g, fields.grant_types.iter().any(|f| f == g)))
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/application_new.html")]
pub struct NewApplicationPage<'a> {
    pub layout: Layout<'a>,
    pub settings: ClientSettingsFields,
    pub options: ClientOptions,
    pub error: Option<String>,
}

/// A new client secret, shown once.
#[derive(Template)]
#[template(path = "dashboard/application_secret.html")]
pub struct ClientSecretPage<'a> {
    pub layout: Layout<'a>,
    pub client_id: String,
    pub name: String,
    pub secret: String,
    /// Made with a new application (else by a rotation).
    pub created: bool,
}

/// The refresh-token form's values, as shown (and as typed, after an error).
/// One outbox message on an application's page.
pub struct DeliveryRow {
    pub queued: String,
    pub session_id: String,
    pub status: &'static str,
    pub attempts: i64,
    /// When the next attempt is due (pending), or when it ended.
    pub when: String,
    pub last_error: String,
}

pub struct ApplicationFields {
    pub backchannel_logout_url: String,
    pub rotation_type: String,
    pub leeway: String,
    pub expiration_type: String,
    pub token_lifetime: String,
    pub infinite_token_lifetime: bool,
    pub idle_token_lifetime: String,
    pub infinite_idle_token_lifetime: bool,
    /// Multi-Resource Refresh Token policies, one per line.
    pub policies: String,
}

#[derive(Template)]
#[template(path = "dashboard/application.html")]
pub struct ApplicationPage<'a> {
    pub layout: Layout<'a>,
    pub client_id: String,
    pub name: String,
    pub facts: Vec<(&'static str, String)>,
    pub fields: ApplicationFields,
    pub settings: ClientSettingsFields,
    pub options: ClientOptions,
    pub is_system: bool,
    /// The newest back-channel logout deliveries to this application.
    pub deliveries: Vec<DeliveryRow>,
    pub error: Option<String>,
    pub notice: Option<&'static str>,
}

// ---------------------------------------------------------------------------
// APIs
// ---------------------------------------------------------------------------

pub struct ApiRow {
    pub id: String,
    pub name: String,
    pub identifier: String,
    pub scopes: usize,
    pub is_system: bool,
}

#[derive(Template)]
#[template(path = "dashboard/apis.html")]
pub struct ApisPage<'a> {
    pub layout: Layout<'a>,
    pub rows: Vec<ApiRow>,
    pub pager: Pager,
    pub notice: Option<&'static str>,
}

/// The API form's values, as shown (and as typed, after an error).
pub struct ApiFields {
    pub identifier: String,
    pub name: String,
    /// One scope a line: value, a space, description.
    pub scopes: String,
    pub signing_alg: String,
    pub token_lifetime: String,
    pub token_lifetime_for_web: String,
    pub allow_offline_access: bool,
    pub skip_consent: bool,
}

/// Create an API, or view and edit one (read-only for the system API).
#[derive(Template)]
#[template(path = "dashboard/api.html")]
pub struct ApiPage<'a> {
    pub layout: Layout<'a>,
    pub id: String,
    pub creating: bool,
    pub is_system: bool,
    pub heading: String,
    /// Each algorithm, and whether it is the one chosen.
    pub algs: Vec<(&'static str, bool)>,
    pub fields: ApiFields,
    pub error: Option<String>,
    pub notice: Option<&'static str>,
}

// ---------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------

pub struct LogRow {
    pub log_id: String,
    pub date: String,
    pub type_code: String,
    pub type_label: &'static str,
    pub description: String,
    pub user: String,
    pub client: String,
    pub actor: String,
}

#[derive(Template)]
#[template(path = "dashboard/logs.html")]
pub struct LogsPage<'a> {
    pub layout: Layout<'a>,
    /// Every type code, its name, and whether it is the filter.
    pub types: Vec<(&'static str, &'static str, bool)>,
    pub user_id: String,
    pub client_id: String,
    pub until: String,
    pub filtered: bool,
    pub rows: Vec<LogRow>,
    pub pager: Pager,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/log.html")]
pub struct LogPage<'a> {
    pub layout: Layout<'a>,
    pub log_id: String,
    pub description: String,
    pub fields: Vec<(&'static str, String)>,
    /// `details.actor`, member by member.
    pub actor: Vec<(String, String)>,
    /// `details.receipt` (a revocation's), member by member.
    pub receipt: Vec<(String, String)>,
    /// The other members of `details`.
    pub other: Vec<(String, String)>,
    pub details_json: String,
}

// ---------------------------------------------------------------------------
// Tenant Settings
// ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "dashboard/tenant_advanced.html")]
pub struct TenantAdvancedPage<'a> {
    pub layout: Layout<'a>,
    pub revoke_refresh_token_grant: bool,
    pub notice: Option<&'static str>,
}

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

/// An instant as `2026-11-01 14:03 UTC`.
pub fn when(at: Timestamp) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(at.unix_seconds())
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "—".to_owned())
}

/// An instant to the second, `2026-11-01 14:03:27 UTC` (the log).
pub fn when_seconds(at: Timestamp) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp(at.unix_seconds())
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "—".to_owned())
}

pub fn when_opt(at: Option<Timestamp>) -> String {
    at.map_or_else(|| "Never".to_owned(), when)
}

/// A non-negative count from a query parameter; 0 when absent or not a number.
pub fn count_param(raw: Option<&str>) -> i64 {
    raw.and_then(|r| r.trim().parse::<i64>().ok())
        .unwrap_or(0)
        .max(0)
}

/// `1 refresh token`, `3 refresh tokens`.
pub fn count(n: i64, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// What a revocation covers, e.g. "3 refresh tokens on 2 devices", or
/// "1 session and 3 refresh tokens on 2 devices".
pub fn receipt_summary(receipt: &RevocationReceipt) -> String {
    let tokens = if receipt.refresh_tokens_at_least {
        format!("at least {} refresh tokens", receipt.refresh_tokens)
    } else if receipt.refresh_tokens == 0 {
        "no refresh tokens".to_owned()
    } else if receipt.devices > 0 {
        format!(
            "{} on {}",
            count(receipt.refresh_tokens, "refresh token", "refresh tokens"),
            count(receipt.devices, "device", "devices")
        )
    } else {
        count(receipt.refresh_tokens, "refresh token", "refresh tokens")
    };
    if receipt.sessions > 0 {
        format!(
            "{} and {tokens}",
            count(receipt.sessions, "session", "sessions")
        )
    } else {
        tokens
    }
}

/// A short name for the device a user agent describes ("Chrome on Linux"),
/// or the user agent itself when it is not a browser we recognise.
pub fn device_name(user_agent: &str) -> String {
    let ua = user_agent;
    let browser = if ua.contains("Edg/") {
        Some("Edge")
    } else if ua.contains("OPR/") {
        Some("Opera")
    } else if ua.contains("Firefox/") {
        Some("Firefox")
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") || ua.contains("HeadlessChrome/") {
        Some("Chrome")
    } else if ua.contains("Safari/") {
        Some("Safari")
    } else {
        None
    };
    let system = if ua.contains("Android") {
        Some("Android")
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        Some("iOS")
    } else if ua.contains("Windows") {
        Some("Windows")
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        Some("macOS")
    } else if ua.contains("Linux") || ua.contains("X11") {
        Some("Linux")
    } else {
        None
    };
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        _ if ua.trim().is_empty() => "Unknown device".to_owned(),
        _ => ua.chars().take(60).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_read_as_sentences() {
        let receipt = |refresh_tokens, devices, sessions| RevocationReceipt {
            found: true,
            refresh_tokens,
            devices,
            sessions,
            ..Default::default()
        };
        assert_eq!(
            receipt_summary(&receipt(3, 2, 0)),
            "3 refresh tokens on 2 devices"
        );
        assert_eq!(
            receipt_summary(&receipt(1, 1, 0)),
            "1 refresh token on 1 device"
        );
        assert_eq!(receipt_summary(&receipt(0, 0, 0)), "no refresh tokens");
        assert_eq!(
            receipt_summary(&receipt(2, 1, 1)),
            "1 session and 2 refresh tokens on 1 device"
        );
    }

    #[test]
    fn devices_get_short_names() {
        assert_eq!(
            device_name("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36"),
            "Chrome on Linux"
        );
        assert_eq!(device_name("curl/8.5.0"), "curl/8.5.0");
        assert_eq!(device_name(""), "Unknown device");
    }

    #[test]
    fn instants_are_shown_in_utc() {
        assert_eq!(when(Timestamp(0)), "1970-01-01 00:00 UTC");
        assert_eq!(when_opt(None), "Never");
    }

    #[test]
    fn pager_counts() {
        let pager = Pager::new(1, 25, 60, |p| format!("?page={p}"));
        assert_eq!((pager.from, pager.to, pager.total), (26, 50, 60));
        assert_eq!(pager.previous.as_deref(), Some("?page=0"));
        assert_eq!(pager.next.as_deref(), Some("?page=2"));
        let empty = Pager::new(0, 0, 0, |p| format!("?page={p}"));
        assert_eq!((empty.from, empty.to), (0, 0));
        assert!(empty.previous.is_none() && empty.next.is_none());
    }

    #[test]
    fn a_capped_total_is_shown_as_a_lower_bound() {
        let link = |p: i64| format!("?page={p}");
        let exact = Pager::capped(0, 25, 130, link);
        assert!(!exact.at_least);
        assert_eq!((exact.from, exact.to, exact.total), (1, 25, 130));
        let cap = Pager::count_cap(2);
        assert_eq!(cap, 3 * Pager::PER_PAGE + Pager::COUNT_AHEAD);
        let capped = Pager::capped(2, 25, cap, link);
        assert!(capped.at_least);
        assert_eq!(capped.next.as_deref(), Some("?page=3"));
        assert_eq!(capped.previous.as_deref(), Some("?page=1"));
    }
}
