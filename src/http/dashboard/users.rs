//! User Management › Users: the paged list with search by e-mail, and a
//! user's page with the tabs Details, Authorized Applications, Sessions and
//! Devices. Each Revoke first shows what it will revoke (a GET page with
//! `flows::revocation::preview`), then revokes through
//! `flows::revocation::revoke` on a POST with the CSRF token.
//!
//! Authorized Applications › Revoke revokes the grant itself (CONTRACT §4
//! rules 2 and 4): the grant is deleted with every refresh token issued under
//! it, so the application leaves the list and the user is asked for consent
//! again. Sessions › Revoke revokes the session and the refresh tokens bound
//! to it; Devices › Revoke revokes one refresh token (its family).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use grantor_domain::{ClientId, FamilyId, GrantId, SessionId, User, UserId};
use grantor_store::{
    DeleteGrant, GrantFilter, RefreshTokenFilter, RevocationReceipt, RevocationTarget,
    SessionFilter, UserFilter,
};
use serde::Deserialize;

use super::session::EmptyForm;
use super::views::{self, receipt_summary, when, when_opt, Pager, UserHeader};
use super::{AdminForm, Dash, DashboardError};
use crate::flows::revocation::{self, Reason};
use crate::http::extract::RequestMeta;
use crate::http::pages::Page;
use crate::http::AppState;

fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn user_path(user_id: &UserId) -> String {
    format!("/dashboard/users/{}", encode(user_id.as_str()))
}

// ---------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<String>,
    deleted: Option<String>,
}

pub async fn list_users(
    State(state): State<AppState>,
    dash: Dash,
    Query(query): Query<ListQuery>,
) -> Result<Page, DashboardError> {
    let q: String = query
        .q
        .unwrap_or_default()
        .trim()
        .chars()
        .take(254)
        .collect();
    let page = Pager::page_number(query.page.as_deref());
    let filter = UserFilter {
        email_contains: (!q.is_empty()).then(|| q.to_lowercase()),
        ..UserFilter::default()
    };
    let users = state
        .store
        .list_users(&filter, Pager::request(page))
        .await?;
    let rows: Vec<views::UserRow> = users
        .items
        .into_iter()
        .map(|u| views::UserRow {
            last_login: when_opt(u.last_login),
            created: when(u.created_at),
            user_id: u.user_id.into_string(),
            email: u.email,
            name: u.name,
            logins_count: u.logins_count,
            blocked: u.blocked,
        })
        .collect();
    let pager = Pager::new(page, rows.len(), users.total, |p| {
        let mut pairs = vec![("page", p.to_string())];
        if !q.is_empty() {
            pairs.insert(0, ("q", q.clone()));
        }
        format!(
            "/dashboard/users?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    });
    let html = Page::html(
        StatusCode::OK,
        &views::UsersPage {
            layout: dash.layout("users"),
            q: &q,
            notice: query.deleted.is_some().then_some("User deleted."),
            rows,
            pager,
        },
    )?;
    Ok(dash.finish(html))
}

// ---------------------------------------------------------------------------
// A user's page
// ---------------------------------------------------------------------------

/// The user a path names (the one place its id is read), or 404.
async fn find_user(state: &AppState, id: &str) -> Result<User, DashboardError> {
    state
        .store
        .user(&UserId::from(id))
        .await?
        .ok_or_else(|| DashboardError::not_found("There is no user with this ID."))
}

fn header(user: &User) -> UserHeader {
    UserHeader {
        user_id: user.user_id.to_string(),
        email: user.email.clone(),
        name: user.name.clone(),
    }
}

/// The page of a tab and, after a revocation, what it revoked.
#[derive(Deserialize)]
pub struct TabQuery {
    page: Option<String>,
    revoked: Option<String>,
    tokens: Option<String>,
    /// `1` when the token count is a lower bound (see `RECEIPT_COUNT_LIMIT`).
    at_least: Option<String>,
    devices: Option<String>,
    sessions: Option<String>,
}

impl TabQuery {
    fn page(&self) -> i64 {
        Pager::page_number(self.page.as_deref())
    }

    /// The message after a revocation; built from counts only, so nothing
    /// in the URL is echoed as text.
    fn notice(&self) -> Option<String> {
        let receipt = RevocationReceipt {
            found: true,
            refresh_tokens: views::count_param(self.tokens.as_deref()),
            refresh_tokens_at_least: self.at_least.as_deref() == Some("1"),
            devices: views::count_param(self.devices.as_deref()),
            sessions: views::count_param(self.sessions.as_deref()),
            ..RevocationReceipt::default()
        };
        let what = match self.revoked.as_deref()? {
            "grant" => "Authorized application revoked",
            "session" => "Session revoked",
            "device" => "Device revoked",
            "none" => return Some("Nothing was revoked: it had already been revoked.".to_owned()),
            _ => return None,
        };
        Some(format!("{what}: {}.", receipt_summary(&receipt)))
    }
}

fn after_revocation(user_id: &UserId, tab: &str, kind: &str, receipt: &RevocationReceipt) -> Page {
    let query = if receipt.found {
        serde_urlencoded::to_string([
            ("revoked", kind.to_owned()),
            ("tokens", receipt.refresh_tokens.to_string()),
            (
                "at_least",
                u8::from(receipt.refresh_tokens_at_least).to_string(),
            ),
            ("devices", receipt.devices.to_string()),
            ("sessions", receipt.sessions.to_string()),
        ])
        .unwrap_or_default()
    } else {
        "revoked=none".to_owned()
    };
    Page::redirect(
        StatusCode::SEE_OTHER,
        format!("{}/{tab}?{query}", user_path(user_id)),
    )
}

/// What a change on the Details tab did (see `user_changes::change_notice`).
#[derive(Deserialize)]
pub struct DetailsQuery {
    done: Option<String>,
    tokens: Option<String>,
    at_least: Option<String>,
    devices: Option<String>,
    sessions: Option<String>,
}

pub async fn get_details(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
    Query(query): Query<DetailsQuery>,
) -> Result<Page, DashboardError> {
    let user = find_user(&state, &id).await?;
    let yes_no = |b: bool| if b { "Yes" } else { "No" }.to_owned();
    let details = vec![
        ("User ID", user.user_id.to_string()),
        ("Email", user.email.clone()),
        ("Email verified", yes_no(user.email_verified)),
        ("Name", user.name.clone()),
        ("Nickname", user.nickname.clone()),
        ("Given name", user.given_name.clone().unwrap_or_default()),
        ("Family name", user.family_name.clone().unwrap_or_default()),
        ("Username", user.username.clone().unwrap_or_default()),
        ("Picture", user.picture.clone().unwrap_or_default()),
        (
            "Phone number",
            user.phone_number.clone().unwrap_or_default(),
        ),
        ("Phone verified", yes_no(user.phone_verified)),
        ("Connection", user.connection.clone()),
        ("Blocked", yes_no(user.blocked)),
        ("Created", when(user.created_at)),
        ("Updated", when(user.updated_at)),
        ("Last login", when_opt(user.last_login)),
        (
            "Last IP",
            user.last_ip.clone().unwrap_or_else(|| "—".to_owned()),
        ),
        ("Logins", user.logins_count.to_string()),
        ("App metadata", user.app_metadata.clone()),
        ("User metadata", user.user_metadata.clone()),
    ];
    let html = Page::html(
        StatusCode::OK,
        &views::UserDetailsPage {
            layout: dash.layout("users"),
            user: header(&user),
            tab: "details",
            details,
            blocked: user.blocked,
            notice: super::user_changes::change_notice(
                query.done.as_deref(),
                query.tokens.as_deref(),
                query.at_least.as_deref(),
                query.devices.as_deref(),
                query.sessions.as_deref(),
            ),
        },
    )?;
    Ok(dash.finish(html))
}

/// Names of applications and APIs, each looked up once per page.
struct Names<'a> {
    state: &'a AppState,
    clients: HashMap<ClientId, String>,
    apis: HashMap<String, String>,
}

impl<'a> Names<'a> {
    fn new(state: &'a AppState) -> Self {
        Self {
            state,
            clients: HashMap::new(),
            apis: HashMap::new(),
        }
    }

    async fn client(&mut self, client_id: &ClientId) -> Result<String, DashboardError> {
        if let Some(name) = self.clients.get(client_id) {
            return Ok(name.clone());
        }
        let name = self
            .state
            .store
            .client(client_id)
            .await?
            .map_or_else(|| format!("Deleted application ({client_id})"), |c| c.name);
        self.clients.insert(client_id.clone(), name.clone());
        Ok(name)
    }

    async fn api(&mut self, audience: &str) -> Result<String, DashboardError> {
        if let Some(name) = self.apis.get(audience) {
            return Ok(name.clone());
        }
        let name = match self
            .state
            .store
            .resource_server_by_identifier(audience)
            .await?
        {
            Some(api) => api.name,
            None if audience == format!("{}userinfo", self.state.issuer.as_str()) => {
                "User profile (/userinfo)".to_owned()
            }
            None => audience.to_owned(),
        };
        self.apis.insert(audience.to_owned(), name.clone());
        Ok(name)
    }
}

pub async fn get_authorized_applications(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
    Query(query): Query<TabQuery>,
) -> Result<Page, DashboardError> {
    let user = find_user(&state, &id).await?;
    let page = query.page();
    let filter = GrantFilter {
        user_id: Some(user.user_id.clone()),
        ..GrantFilter::default()
    };
    let grants = state
        .store
        .list_grants(&filter, Pager::request(page))
        .await?;
    let mut names = Names::new(&state);
    let mut rows = Vec::with_capacity(grants.items.len());
    for g in grants.items {
        rows.push(views::GrantRow {
            application: names.client(&g.client_id).await?,
            api: names.api(&g.audience).await?,
            scopes: g.scope.to_vec(),
            granted: when(g.created_at),
            grant_id: g.id.into_string(),
            client_id: g.client_id.into_string(),
            audience: g.audience,
        });
    }
    let base = format!("{}/authorized-applications", user_path(&user.user_id));
    let pager = Pager::new(page, rows.len(), grants.total, |p| {
        format!("{base}?page={p}")
    });
    let html = Page::html(
        StatusCode::OK,
        &views::UserApplicationsPage {
            layout: dash.layout("users"),
            user: header(&user),
            tab: "authorized-applications",
            notice: query.notice(),
            rows,
            pager,
        },
    )?;
    Ok(dash.finish(html))
}

pub async fn get_sessions(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
    Query(query): Query<TabQuery>,
) -> Result<Page, DashboardError> {
    let user = find_user(&state, &id).await?;
    let page = query.page();
    let filter = SessionFilter {
        user_id: Some(user.user_id.clone()),
        ..SessionFilter::default()
    };
    let now = state.clock.now();
    let sessions = state
        .store
        .list_live_sessions(&filter, Pager::request(page), now)
        .await?;
    let ids: Vec<SessionId> = sessions
        .items
        .iter()
        .map(|d| d.session.id.clone())
        .collect();
    let mut metadata = views::metadata_by_id(state.store.session_metadata(&ids).await?);
    let mut names = Names::new(&state);
    let mut rows = Vec::with_capacity(sessions.items.len());
    for s in sessions.items {
        let mut applications = Vec::with_capacity(s.client_ids.len());
        for client_id in &s.client_ids {
            applications.push(names.client(client_id).await?);
        }
        let session = s.session;
        rows.push(views::SessionRow {
            metadata: metadata.remove(session.id.as_str()).unwrap_or_default(),
            device: views::device_name(&session.last_user_agent),
            user_agent: session.last_user_agent,
            ip: session.last_ip,
            last_activity: when(session.last_interacted_at),
            started: when(session.authenticated_at),
            session_id: session.id.into_string(),
            applications,
        });
    }
    let base = format!("{}/sessions", user_path(&user.user_id));
    let pager = Pager::new(page, rows.len(), sessions.total, |p| {
        format!("{base}?page={p}")
    });
    let html = Page::html(
        StatusCode::OK,
        &views::UserSessionsPage {
            layout: dash.layout("users"),
            user: header(&user),
            tab: "sessions",
            notice: query.notice(),
            rows,
            pager,
        },
    )?;
    Ok(dash.finish(html))
}

pub async fn get_devices(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
    Query(query): Query<TabQuery>,
) -> Result<Page, DashboardError> {
    let user = find_user(&state, &id).await?;
    let page = query.page();
    let filter = RefreshTokenFilter {
        user_id: Some(user.user_id.clone()),
        ..RefreshTokenFilter::default()
    };
    let now = state.clock.now();
    let tokens = state
        .store
        .list_live_refresh_tokens(&filter, Pager::request(page), now)
        .await?;
    let ids: Vec<FamilyId> = tokens.items.iter().map(|f| f.id.clone()).collect();
    let mut metadata = views::metadata_by_id(state.store.refresh_token_metadata(&ids).await?);
    let mut names = Names::new(&state);
    let mut rows = Vec::with_capacity(tokens.items.len());
    for f in tokens.items {
        rows.push(views::DeviceRow {
            metadata: metadata.remove(f.id.as_str()).unwrap_or_default(),
            device: f
                .device_name
                .clone()
                .filter(|d| !d.trim().is_empty())
                .unwrap_or_else(|| views::device_name(&f.last_user_agent)),
            application: names.client(&f.client_id).await?,
            api: names.api(&f.audience).await?,
            created: when(f.created_at),
            last_used: when(f.last_exchanged_at.unwrap_or(f.created_at)),
            rotating: f.rotating,
            dpop_bound: f.dpop_jkt.is_some(),
            user_agent: f.last_user_agent,
            ip: f.last_ip,
            token_id: f.id.into_string(),
        });
    }
    let base = format!("{}/devices", user_path(&user.user_id));
    let pager = Pager::new(page, rows.len(), tokens.total, |p| {
        format!("{base}?page={p}")
    });
    let html = Page::html(
        StatusCode::OK,
        &views::UserDevicesPage {
            layout: dash.layout("users"),
            user: header(&user),
            tab: "devices",
            notice: query.notice(),
            rows,
            pager,
        },
    )?;
    Ok(dash.finish(html))
}

// ---------------------------------------------------------------------------
// Revocations: confirm (GET), then revoke (POST)
// ---------------------------------------------------------------------------

/// What a Revoke button points at, checked to belong to the user.
struct Revocable {
    target: RevocationTarget,
    tab: &'static str,
    kind: &'static str,
    heading: String,
    consequence: &'static str,
    facts: Vec<(&'static str, String)>,
}

/// The grant `grant_id` of `user`, as a revocation; `None` when there is no
/// such grant (any more) or it is someone else's.
async fn revocable_grant(
    state: &AppState,
    user: &User,
    grant_id: &str,
) -> Result<Option<Revocable>, DashboardError> {
    let Some(grant) = state
        .store
        .grant(&GrantId::from(grant_id))
        .await?
        .filter(|g| g.user_id == user.user_id)
    else {
        return Ok(None);
    };
    let mut names = Names::new(state);
    let application = names.client(&grant.client_id).await?;
    let api = names.api(&grant.audience).await?;
    Ok(Some(Revocable {
        target: RevocationTarget::Grant {
            grant_id: grant.id.clone(),
            delete_grant: DeleteGrant::Yes,
        },
        tab: "authorized-applications",
        kind: "grant",
        heading: format!("Revoke {application}'s access to {api}?"),
        consequence: "The grant is deleted, so the application must ask the user for consent again. \
                      Access tokens already issued stay valid until they expire, but introspection reports them inactive at once.",
        facts: vec![
            ("Application", application),
            ("API", format!("{api} ({})", grant.audience)),
            ("Scopes", grant.scope.to_wire()),
            ("Date granted", when(grant.created_at)),
        ],
    }))
}

async fn revocable_session(
    state: &AppState,
    user: &User,
    session_id: &str,
) -> Result<Option<Revocable>, DashboardError> {
    let now = state.clock.now();
    let Some(details) = state
        .store
        .live_session(&SessionId::from(session_id), now)
        .await?
        .filter(|s| s.session.user_id == user.user_id)
    else {
        return Ok(None);
    };
    let session = details.session;
    let device = views::device_name(&session.last_user_agent);
    Ok(Some(Revocable {
        target: RevocationTarget::Session {
            session_id: session.id.clone(),
            tokens: true,
        },
        tab: "sessions",
        kind: "session",
        heading: format!("Revoke the session on {device}?"),
        consequence: "The user is signed out of this browser, and applications holding these refresh tokens must sign the user in again.",
        facts: vec![
            ("Device", device),
            ("IP", session.last_ip.clone()),
            ("Last activity", when(session.last_interacted_at)),
            ("Session ID", session.id.to_string()),
        ],
    }))
}

async fn revocable_device(
    state: &AppState,
    user: &User,
    token_id: &str,
) -> Result<Option<Revocable>, DashboardError> {
    let now = state.clock.now();
    let Some(family) = state
        .store
        .live_refresh_token(&FamilyId::from(token_id), now)
        .await?
        .filter(|f| f.user_id == user.user_id)
    else {
        return Ok(None);
    };
    let mut names = Names::new(state);
    let application = names.client(&family.client_id).await?;
    let device = family
        .device_name
        .clone()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| views::device_name(&family.last_user_agent));
    Ok(Some(Revocable {
        target: RevocationTarget::Family {
            family_id: family.id.clone(),
        },
        tab: "devices",
        kind: "device",
        heading: format!("Revoke {device}'s refresh token for {application}?"),
        consequence: "The device must sign the user in again to get a new refresh token. Other devices and applications are not affected.",
        facts: vec![
            ("Device name", device),
            ("Application", application),
            ("Created", when(family.created_at)),
            (
                "Last used",
                when(family.last_exchanged_at.unwrap_or(family.created_at)),
            ),
            ("Refresh token ID", family.id.to_string()),
        ],
    }))
}

async fn confirm(
    state: &AppState,
    dash: Dash,
    user: &User,
    revocable: Option<Revocable>,
    action: String,
) -> Result<Page, DashboardError> {
    let Some(revocable) = revocable else {
        return Err(DashboardError::not_found(
            "There is nothing to revoke here: it does not exist or was already revoked.",
        ));
    };
    let now = state.clock.now();
    let mut receipt = revocation::preview(state, &revocable.target, now).await?;
    if matches!(revocable.target, RevocationTarget::Session { .. }) && receipt.found {
        // The preview counts tokens only; the session itself was just found live.
        receipt.sessions = receipt.sessions.max(1);
    }
    let what = match &revocable.target {
        RevocationTarget::Grant { .. } => {
            format!(
                "This will revoke the grant and {}.",
                receipt_summary(&receipt)
            )
        }
        _ => format!("This will revoke {}.", receipt_summary(&receipt)),
    };
    let html = Page::html(
        StatusCode::OK,
        &views::ConfirmRevokePage {
            layout: dash.layout("users"),
            user: header(user),
            tab: revocable.tab,
            heading: revocable.heading,
            what,
            consequence: revocable.consequence,
            facts: revocable.facts,
            action,
            cancel: format!("{}/{}", user_path(&user.user_id), revocable.tab),
            button: "Revoke",
        },
    )?;
    Ok(dash.finish(html))
}

async fn revoke(
    state: &AppState,
    dash: &Dash,
    meta: &RequestMeta,
    user: &User,
    revocable: Option<Revocable>,
    tab: &str,
) -> Result<Page, DashboardError> {
    let Some(revocable) = revocable else {
        return Ok(after_revocation(
            &user.user_id,
            tab,
            "none",
            &RevocationReceipt::default(),
        ));
    };
    let now = state.clock.now();
    let receipt = revocation::revoke(
        state,
        revocable.target,
        Reason::Dashboard,
        &dash.admin.actor(),
        meta,
        now,
    )
    .await?;
    Ok(after_revocation(
        &user.user_id,
        revocable.tab,
        revocable.kind,
        &receipt,
    ))
}

pub async fn confirm_revoke_grant(
    State(state): State<AppState>,
    dash: Dash,
    Path((id, grant_id)): Path<(String, String)>,
) -> Result<Page, DashboardError> {
    let user = find_user(&state, &id).await?;
    let revocable = revocable_grant(&state, &user, &grant_id).await?;
    let action = format!(
        "{}/authorized-applications/{}/revoke",
        user_path(&user.user_id),
        encode(&grant_id)
    );
    confirm(&state, dash, &user, revocable, action).await
}

pub async fn revoke_grant(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path((id, grant_id)): Path<(String, String)>,
    AdminForm { dash, .. }: AdminForm<EmptyForm>,
) -> Result<Page, DashboardError> {
    let user = find_user(&state, &id).await?;
    let revocable = revocable_grant(&state, &user, &grant_id).await?;
    revoke(
        &state,
        &dash,
        &meta,
        &user,
        revocable,
        "authorized-applications",
    )
    .await
}

pub async fn confirm_revoke_session(
    State(state): State<AppState>,
    dash: Dash,
    Path((id, session_id)): Path<(String, String)>,
) -> Result<Page, DashboardError> {
    let user = find_user(&state, &id).await?;
    let revocable = revocable_session(&state, &user, &session_id).await?;
    let action = format!(
        "{}/sessions/{}/revoke",
        user_path(&user.user_id),
        encode(&session_id)
    );
    confirm(&state, dash, &user, revocable, action).await
}

pub async fn revoke_session(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path((id, session_id)): Path<(String, String)>,
    AdminForm { dash, .. }: AdminForm<EmptyForm>,
) -> Result<Page, DashboardError> {
    let user = find_user(&state, &id).await?;
    let revocable = revocable_session(&state, &user, &session_id).await?;
    revoke(&state, &dash, &meta, &user, revocable, "sessions").await
}

pub async fn confirm_revoke_device(
    State(state): State<AppState>,
    dash: Dash,
    Path((id, token_id)): Path<(String, String)>,
) -> Result<Page, DashboardError> {
    let user = find_user(&state, &id).await?;
    let revocable = revocable_device(&state, &user, &token_id).await?;
    let action = format!(
        "{}/devices/{}/revoke",
        user_path(&user.user_id),
        encode(&token_id)
    );
    confirm(&state, dash, &user, revocable, action).await
}

pub async fn revoke_device(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path((id, token_id)): Path<(String, String)>,
    AdminForm { dash, .. }: AdminForm<EmptyForm>,
) -> Result<Page, DashboardError> {
    let user = find_user(&state, &id).await?;
    let revocable = revocable_device(&state, &user, &token_id).await?;
    revoke(&state, &dash, &meta, &user, revocable, "devices").await
}
