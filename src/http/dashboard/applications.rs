//! Applications: the list, create, a page per application to view and change
//! its settings (name, type, URLs, grant types, authentication method, ID
//! token configuration), its back-channel logout URL and its refresh-token
//! rotation, leeway, expiration and lifetimes, rotate its secret and delete
//! it (both after a confirmation). A change goes through `Client::apply`, the
//! validation `POST`/`PATCH /api/v2/clients` use, and is saved with its `sapi`
//! audit event in one transaction. The client secret is shown once, in the
//! answer to the POST that made it (create or rotate); only its hash is kept.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use grantor_domain::client::{
    ClientPatch, ExpirationType, RefreshTokenPolicy, RefreshTokenSettingsPatch, RotationType,
};
use grantor_domain::{Client, ClientId, Timestamp, TokenHash, ValidationError};
use grantor_store::{OutboxFilter, OutboxKind, OutboxStatus, PageRequest};
use serde::Deserialize;

use super::session::EmptyForm;
use super::views::{self, ApplicationFields, Pager};
use super::{AdminForm, Dash, DashboardError};
use crate::flows::audit::{self, EventExt};
use crate::http::extract::RequestMeta;
use crate::http::pages::Page;
use crate::http::AppState;
use crate::secrets;

pub async fn list_applications(
    State(state): State<AppState>,
    dash: Dash,
    Query(query): Query<views::ListQuery>,
) -> Result<Page, DashboardError> {
    let page = Pager::page_number(query.page.as_deref());
    let clients = state.store.list_clients(Pager::request(page)).await?;
    let rows: Vec<views::ApplicationRow> = clients
        .items
        .iter()
        .map(|c| views::ApplicationRow {
            client_id: c.client_id.to_string(),
            name: c.name.clone(),
            app_type: c.app_type.clone().unwrap_or_else(|| "—".to_owned()),
            rotation: rotation_label(c.refresh_token.rotation_type),
            expiration: expiration_label(c.refresh_token.expiration_type),
            is_system: c.is_system,
        })
        .collect();
    let pager = Pager::new(page, rows.len(), clients.total, |p| {
        format!("/dashboard/applications?page={p}")
    });
    let html = Page::html(
        StatusCode::OK,
        &views::ApplicationsPage {
            layout: dash.layout("applications"),
            rows,
            pager,
            notice: query.deleted.is_some().then_some("Application deleted."),
        },
    )?;
    Ok(dash.finish(html))
}

fn rotation_label(r: RotationType) -> &'static str {
    match r {
        RotationType::Rotating => "Rotating",
        RotationType::NonRotating => "Non-rotating",
    }
}

fn expiration_label(e: ExpirationType) -> &'static str {
    match e {
        ExpirationType::Expiring => "Expiring",
        ExpirationType::NonExpiring => "Non-expiring",
    }
}

async fn find_client(state: &AppState, id: &str) -> Result<Client, DashboardError> {
    state
        .store
        .client(&ClientId::from(id))
        .await?
        .ok_or_else(|| DashboardError::not_found("There is no application with this client ID."))
}

fn fields_of(client: &Client) -> ApplicationFields {
    let rt = &client.refresh_token;
    ApplicationFields {
        backchannel_logout_url: client.backchannel_logout_url.clone().unwrap_or_default(),
        rotation_type: rt.rotation_type.as_str().to_owned(),
        leeway: rt.leeway.to_string(),
        expiration_type: rt.expiration_type.as_str().to_owned(),
        token_lifetime: rt.token_lifetime.to_string(),
        infinite_token_lifetime: rt.infinite_token_lifetime,
        idle_token_lifetime: rt.idle_token_lifetime.to_string(),
        infinite_idle_token_lifetime: rt.infinite_idle_token_lifetime,
        policies: rt
            .policies
            .iter()
            .map(|p| {
                std::iter::once(p.audience.as_str())
                    .chain(p.scope.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// The policies textarea: one policy per line, the API's identifier then
/// its scopes, separated by spaces; no line removes them all.
fn parse_policies(text: &str) -> Vec<RefreshTokenPolicy> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let audience = words.next()?.to_owned();
            Some(RefreshTokenPolicy {
                audience,
                scope: words.map(str::to_owned).collect(),
            })
        })
        .collect()
}

/// How many deliveries an application's page shows.
const DELIVERIES_SHOWN: i64 = 10;

/// The newest back-channel logout deliveries to `client`.
async fn deliveries(
    state: &AppState,
    client: &Client,
) -> Result<Vec<views::DeliveryRow>, DashboardError> {
    let filter = OutboxFilter {
        client_id: Some(client.client_id.to_string()),
        kind: Some(OutboxKind::BackchannelLogout),
        ..OutboxFilter::default()
    };
    let page = state
        .store
        .list_outbox(
            &filter,
            PageRequest {
                offset: 0,
                limit: DELIVERIES_SHOWN,
            },
        )
        .await?;
    Ok(page
        .items
        .iter()
        .map(|m| views::DeliveryRow {
            queued: views::when(m.created_at),
            session_id: m.session_id.clone().unwrap_or_default(),
            status: m.status.as_str(),
            attempts: m.attempts,
            when: match (m.status, m.finished_at) {
                (OutboxStatus::Pending, _) => {
                    format!("next attempt {}", views::when(m.next_attempt_at))
                }
                (_, Some(at)) => views::when(at),
                (_, None) => String::new(),
            },
            last_error: m.last_error.clone().unwrap_or_default(),
        })
        .collect())
}

/// What an application's page shows in its forms: the stored values, or
/// what was typed into the form that was refused, with the reason.
struct Shown {
    fields: ApplicationFields,
    /// The settings form as typed; the client's own values when `None`.
    settings: Option<views::ClientSettingsFields>,
    error: Option<String>,
    notice: Option<&'static str>,
}

async fn render(
    state: &AppState,
    dash: Dash,
    status: StatusCode,
    client: &Client,
    shown: Shown,
) -> Result<Page, DashboardError> {
    let Shown {
        fields,
        settings,
        error,
        notice,
    } = shown;
    let deliveries = deliveries(state, client).await?;
    let settings = settings.unwrap_or_else(|| settings_fields(client));
    let facts = vec![
        ("Client ID", client.client_id.to_string()),
        (
            "Application type",
            client.app_type.clone().unwrap_or_else(|| "—".to_owned()),
        ),
        (
            "Token endpoint authentication",
            client.token_endpoint_auth_method.as_str().to_owned(),
        ),
        ("Grant types", client.grant_types.join(", ")),
        ("Last changed", views::when(client.updated_at)),
    ];
    let html = Page::html(
        status,
        &views::ApplicationPage {
            layout: dash.layout("applications"),
            client_id: client.client_id.to_string(),
            name: client.name.clone(),
            facts,
            fields,
            options: views::ClientOptions::new(&settings),
            settings,
            is_system: client.is_system,
            deliveries,
            error,
            notice,
        },
    )?;
    Ok(dash.finish(html))
}

#[derive(Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn get_application(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
    Query(query): Query<SavedQuery>,
) -> Result<Page, DashboardError> {
    let client = find_client(&state, &id).await?;
    let notice = match query.saved.as_deref() {
        Some("settings") => Some("Settings saved."),
        Some(_) => Some("Refresh token settings saved."),
        None => None,
    };
    render(
        &state,
        dash,
        StatusCode::OK,
        &client,
        Shown {
            fields: fields_of(&client),
            settings: None,
            error: None,
            notice,
        },
    )
    .await
}

/// The form as sent: every member as text, checkboxes only when on.
#[derive(Deserialize)]
pub struct ApplicationForm {
    /// Empty removes the URL; absent leaves it as it is.
    backchannel_logout_url: Option<String>,
    rotation_type: Option<String>,
    leeway: Option<String>,
    expiration_type: Option<String>,
    token_lifetime: Option<String>,
    infinite_token_lifetime: Option<String>,
    idle_token_lifetime: Option<String>,
    infinite_idle_token_lifetime: Option<String>,
    /// Multi-Resource Refresh Token policies, one per line; absent leaves
    /// them as they are.
    policies: Option<String>,
}

impl ApplicationForm {
    fn fields(&self) -> ApplicationFields {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        ApplicationFields {
            backchannel_logout_url: text(&self.backchannel_logout_url),
            rotation_type: text(&self.rotation_type),
            leeway: text(&self.leeway),
            expiration_type: text(&self.expiration_type),
            token_lifetime: text(&self.token_lifetime),
            infinite_token_lifetime: self.infinite_token_lifetime.is_some(),
            idle_token_lifetime: text(&self.idle_token_lifetime),
            infinite_idle_token_lifetime: self.infinite_idle_token_lifetime.is_some(),
            policies: text(&self.policies),
        }
    }

    /// The form as a client patch: the back-channel URL when sent, and the
    /// refresh-token settings in full (every member named), parsed with the
    /// domain's parsers; the values themselves are checked by `Client::apply`.
    fn to_patch(&self) -> Result<ClientPatch, ValidationError> {
        Ok(ClientPatch {
            backchannel_logout_urls: self.backchannel_logout_url.as_deref().map(|url| {
                let url = url.trim();
                if url.is_empty() {
                    vec![]
                } else {
                    vec![url.to_owned()]
                }
            }),
            refresh_token: Some(self.refresh_token_patch()?),
            ..ClientPatch::default()
        })
    }

    fn refresh_token_patch(&self) -> Result<RefreshTokenSettingsPatch, ValidationError> {
        fn number(field: &str, raw: &Option<String>) -> Result<Option<i64>, ValidationError> {
            match raw.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(text) => text.parse::<i64>().map(Some).map_err(|_| {
                    ValidationError::new(format!(
                        "refresh_token.{field} must be a whole number of seconds"
                    ))
                }),
            }
        }
        Ok(RefreshTokenSettingsPatch {
            rotation_type: self
                .rotation_type
                .as_deref()
                .map(RotationType::parse)
                .transpose()?,
            expiration_type: self
                .expiration_type
                .as_deref()
                .map(ExpirationType::parse)
                .transpose()?,
            leeway: number("leeway", &self.leeway)?,
            token_lifetime: number("token_lifetime", &self.token_lifetime)?,
            infinite_token_lifetime: Some(self.infinite_token_lifetime.is_some()),
            idle_token_lifetime: number("idle_token_lifetime", &self.idle_token_lifetime)?,
            infinite_idle_token_lifetime: Some(self.infinite_idle_token_lifetime.is_some()),
            policies: self.policies.as_deref().map(parse_policies),
        })
    }
}

pub async fn update_application(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    AdminForm { dash, form }: AdminForm<ApplicationForm>,
) -> Result<Page, DashboardError> {
    let client = find_client(&state, &id).await?;
    let management = state.issuer.management_audience();
    let changed = form.to_patch().and_then(|patch| {
        let changed = client.apply(&patch)?;
        changed.refresh_token.refuse_policy_audience(&management)?;
        Ok(changed)
    });
    let mut client = match changed {
        Ok(changed) => changed,
        Err(e) => {
            return render(
                &state,
                dash,
                StatusCode::BAD_REQUEST,
                &client,
                Shown {
                    fields: form.fields(),
                    settings: None,
                    error: Some(e.0),
                    notice: None,
                },
            )
            .await
        }
    };
    let now = state.clock.now();
    client.updated_at = now;
    let event = audit::api_operation(
        format!("Update client {id}"),
        &dash.admin.actor(),
        &meta,
        now,
    )
    .client(client.client_id.as_str())
    .detail(
        "backchannel_logout_url",
        serde_json::json!(client.backchannel_logout_url),
    )
    .detail(
        "refresh_token",
        serde_json::json!({
            "rotation_type": client.refresh_token.rotation_type.as_str(),
            "expiration_type": client.refresh_token.expiration_type.as_str(),
            "leeway": client.refresh_token.leeway,
            "token_lifetime": client.refresh_token.token_lifetime,
            "infinite_token_lifetime": client.refresh_token.infinite_token_lifetime,
            "idle_token_lifetime": client.refresh_token.idle_token_lifetime,
            "infinite_idle_token_lifetime": client.refresh_token.infinite_idle_token_lifetime,
            "policies": client.refresh_token.policies.iter()
                .map(|p| serde_json::json!({ "audience": p.audience, "scope": p.scope }))
                .collect::<Vec<_>>(),
        }),
    );
    state.store.update_client(&client, Some(&event)).await?;
    Ok(Page::redirect(
        StatusCode::SEE_OTHER,
        format!("{}?saved=1", client_path(&id)),
    ))
}

// ---------------------------------------------------------------------------
// Settings, create, delete, rotate the secret
// ---------------------------------------------------------------------------

/// A form as its name/value pairs, so that a name may repeat (the grant
/// type checkboxes).
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Pairs(Vec<(String, String)>);

impl Pairs {
    fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self, name: &str) -> String {
        self.one(name).unwrap_or_default().trim().to_owned()
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn checked(&self, name: &str) -> bool {
        self.one(name).is_some()
    }
}

/// A list field: one URL a line (commas also separate, as Auth0's
/// dashboard allows).
/// One URL a line (a comma may be part of a URL, so it separates nothing).
fn url_list(raw: &str) -> Vec<String> {
    raw.lines()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}

fn settings_fields(client: &Client) -> views::ClientSettingsFields {
    views::ClientSettingsFields {
        name: client.name.clone(),
        description: client.description.clone(),
        app_type: client.app_type.clone().unwrap_or_default(),
        token_endpoint_auth_method: client.token_endpoint_auth_method.as_str().to_owned(),
        callbacks: client.callbacks.join("\n"),
        allowed_logout_urls: client.allowed_logout_urls.join("\n"),
        web_origins: client.web_origins.join("\n"),
        allowed_origins: client.allowed_origins.join("\n"),
        grant_types: client.grant_types.clone(),
        is_first_party: client.is_first_party,
        oidc_conformant: client.oidc_conformant,
        require_proof_of_possession: client.require_proof_of_possession,
        require_pushed_authorization_requests: client.require_pushed_authorization_requests,
        jwt_lifetime_in_seconds: client.id_token_lifetime.to_string(),
    }
}

fn settings_fields_of(form: &Pairs) -> views::ClientSettingsFields {
    views::ClientSettingsFields {
        name: form.text("name"),
        description: form.text("description"),
        app_type: form.text("app_type"),
        token_endpoint_auth_method: form.text("token_endpoint_auth_method"),
        callbacks: form.text("callbacks"),
        allowed_logout_urls: form.text("allowed_logout_urls"),
        web_origins: form.text("web_origins"),
        allowed_origins: form.text("allowed_origins"),
        grant_types: form.all("grant_types"),
        is_first_party: form.checked("is_first_party"),
        oidc_conformant: form.checked("oidc_conformant"),
        require_proof_of_possession: form.checked("require_proof_of_possession"),
        require_pushed_authorization_requests: form
            .checked("require_pushed_authorization_requests"),
        jwt_lifetime_in_seconds: form.text("jwt_lifetime_in_seconds"),
    }
}

/// The settings form as a client patch: every member named, parsed here
/// only as far as text goes; `Client::apply` checks the values.
fn settings_patch(form: &Pairs) -> Result<ClientPatch, ValidationError> {
    let lifetime = match form.text("jwt_lifetime_in_seconds").as_str() {
        "" => None,
        t => Some(t.parse::<i64>().map_err(|_| {
            ValidationError::new(
                "jwt_configuration.lifetime_in_seconds must be a whole number of seconds",
            )
        })?),
    };
    Ok(ClientPatch {
        name: Some(form.text("name")),
        description: Some(form.text("description")),
        app_type: Some(form.text("app_type")).filter(|t| !t.is_empty()),
        is_first_party: Some(form.checked("is_first_party")),
        oidc_conformant: Some(form.checked("oidc_conformant")),
        callbacks: Some(url_list(&form.text("callbacks"))),
        allowed_logout_urls: Some(url_list(&form.text("allowed_logout_urls"))),
        allowed_origins: Some(url_list(&form.text("allowed_origins"))),
        web_origins: Some(url_list(&form.text("web_origins"))),
        grant_types: Some(form.all("grant_types")),
        token_endpoint_auth_method: Some(form.text("token_endpoint_auth_method"))
            .filter(|m| !m.is_empty()),
        id_token_lifetime: lifetime,
        id_token_alg: Some(form.text("jwt_alg")).filter(|a| !a.is_empty()),
        id_token_secret_encoded: None,
        refresh_token: None,
        backchannel_logout_urls: None,
        require_proof_of_possession: Some(form.checked("require_proof_of_possession")),
        require_pushed_authorization_requests: Some(
            form.checked("require_pushed_authorization_requests"),
        ),
    })
}

fn client_path(id: &str) -> String {
    format!(
        "/dashboard/applications/{}",
        percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
    )
}

fn render_new(
    dash: Dash,
    status: StatusCode,
    fields: views::ClientSettingsFields,
    error: Option<String>,
) -> Result<Page, DashboardError> {
    let html = Page::html(
        status,
        &views::NewApplicationPage {
            layout: dash.layout("applications"),
            options: views::ClientOptions::new(&fields),
            settings: fields,
            error,
        },
    )?;
    Ok(dash.finish(html))
}

pub async fn get_new(dash: Dash) -> Result<Page, DashboardError> {
    let blank = Client::new(
        ClientId::new(String::new()),
        TokenHash::of(""),
        Timestamp(0),
    );
    let mut fields = settings_fields(&blank);
    fields.app_type = "regular_web".to_owned();
    render_new(dash, StatusCode::OK, fields, None)
}

/// The page that shows a new secret, once: the answer to the POST that made
/// it, never stored or shown again.
fn render_secret(
    dash: Dash,
    status: StatusCode,
    client: &Client,
    secret: &str,
    created: bool,
) -> Result<Page, DashboardError> {
    let html = Page::html(
        status,
        &views::ClientSecretPage {
            layout: dash.layout("applications"),
            client_id: client.client_id.to_string(),
            name: client.name.clone(),
            secret: secret.to_owned(),
            created,
        },
    )?;
    Ok(dash.finish(html))
}

pub async fn create(
    State(state): State<AppState>,
    meta: RequestMeta,
    AdminForm { dash, form }: AdminForm<Pairs>,
) -> Result<Page, DashboardError> {
    let now = state.clock.now();
    let secret = secrets::client_secret();
    let made = settings_patch(&form).and_then(|patch| {
        Client::new(
            ClientId::new(secrets::client_id()),
            TokenHash::of(&secret),
            now,
        )
        .apply(&patch)
    });
    let client = match made {
        Ok(client) => client,
        Err(e) => {
            return render_new(
                dash,
                StatusCode::BAD_REQUEST,
                settings_fields_of(&form),
                Some(e.0),
            )
        }
    };
    let event = audit::api_operation(
        format!("Create client {}", client.client_id),
        &dash.admin.actor(),
        &meta,
        now,
    )
    .client(client.client_id.as_str())
    .detail("settings", audit::client_settings(&client));
    state.store.insert_client_audited(&client, &event).await?;
    render_secret(dash, StatusCode::CREATED, &client, &secret, true)
}

pub async fn update_settings(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    AdminForm { dash, form }: AdminForm<Pairs>,
) -> Result<Page, DashboardError> {
    let current = find_client(&state, &id).await?;
    let mut client = match settings_patch(&form).and_then(|patch| current.apply(&patch)) {
        Ok(client) => client,
        Err(e) => {
            return render(
                &state,
                dash,
                StatusCode::BAD_REQUEST,
                &current,
                Shown {
                    fields: fields_of(&current),
                    settings: Some(settings_fields_of(&form)),
                    error: Some(e.0),
                    notice: None,
                },
            )
            .await
        }
    };
    let now = state.clock.now();
    client.updated_at = now;
    let event = audit::api_operation(
        format!("Update client {id}"),
        &dash.admin.actor(),
        &meta,
        now,
    )
    .client(client.client_id.as_str())
    .detail("settings", audit::client_settings(&client));
    state.store.update_client(&client, Some(&event)).await?;
    Ok(Page::redirect(
        StatusCode::SEE_OTHER,
        format!("{}?saved=settings", client_path(&id)),
    ))
}

fn confirm_page(dash: Dash, client: &Client, rotating: bool) -> Result<Page, DashboardError> {
    let path = client_path(client.client_id.as_str());
    let (heading, what, action, button) = if rotating {
        (
            format!("Rotate the secret of {}?", client.name),
            "A new client secret is made and shown once. The current secret stops working at once: \
             every server using it must be given the new one."
                .to_owned(),
            format!("{path}/rotate-secret"),
            "Rotate secret",
        )
    } else {
        (
            format!("Delete the application {}?", client.name),
            "The application can no longer sign users in or get tokens, and its client grants are deleted. \
             This cannot be undone."
                .to_owned(),
            format!("{path}/delete"),
            "Delete application",
        )
    };
    let html = Page::html(
        StatusCode::OK,
        &views::ConfirmPage {
            layout: dash.layout("applications"),
            crumb: "Applications",
            crumb_link: "/dashboard/applications",
            heading,
            what,
            facts: vec![
                ("Name", client.name.clone()),
                ("Client ID", client.client_id.to_string()),
            ],
            action,
            cancel: path,
            button,
            danger: true,
        },
    )?;
    Ok(dash.finish(html))
}

fn system_client() -> DashboardError {
    DashboardError::bad_request("The Management API client made at first start cannot be deleted.")
}

pub async fn confirm_delete(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
) -> Result<Page, DashboardError> {
    let client = find_client(&state, &id).await?;
    if client.is_system {
        return Err(system_client());
    }
    confirm_page(dash, &client, false)
}

pub async fn delete(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    AdminForm { dash, .. }: AdminForm<EmptyForm>,
) -> Result<Page, DashboardError> {
    let Some(client) = state.store.client(&ClientId::from(id.as_str())).await? else {
        // Already gone (a second click): nothing to do.
        return Ok(Page::redirect(
            StatusCode::SEE_OTHER,
            "/dashboard/applications?deleted=1".to_owned(),
        ));
    };
    if client.is_system {
        return Err(system_client());
    }
    let now = state.clock.now();
    let event = audit::api_operation(
        format!("Delete client {id}"),
        &dash.admin.actor(),
        &meta,
        now,
    )
    .client(client.client_id.as_str());
    state
        .store
        .delete_client_audited(&client.client_id, &event)
        .await?;
    Ok(Page::redirect(
        StatusCode::SEE_OTHER,
        "/dashboard/applications?deleted=1".to_owned(),
    ))
}

pub async fn confirm_rotate(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
) -> Result<Page, DashboardError> {
    let client = find_client(&state, &id).await?;
    confirm_page(dash, &client, true)
}

pub async fn rotate_secret(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    AdminForm { dash, .. }: AdminForm<EmptyForm>,
) -> Result<Page, DashboardError> {
    let mut client = find_client(&state, &id).await?;
    let secret = secrets::client_secret();
    client.secret_hash = TokenHash::of(&secret);
    let now = state.clock.now();
    client.updated_at = now;
    let event = audit::api_operation(
        format!("Rotate the secret of client {id}"),
        &dash.admin.actor(),
        &meta,
        now,
    )
    .client(client.client_id.as_str());
    state
        .store
        .set_client_secret(&client.client_id, &client.secret_hash, now, &event)
        .await?;
    render_secret(dash, StatusCode::OK, &client, &secret, false)
}
