//! Applications: the list, and a page per application to view and change its
//! back-channel logout URL and its refresh-token rotation, leeway, expiration
//! and lifetimes. A change goes through `Client::apply`, the validation
//! `PATCH /api/v2/clients/{id}` uses, and is saved with its audit event in
//! one transaction, as the Management API saves it.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use grantor_domain::client::{
    ClientPatch, ExpirationType, RefreshTokenPolicy, RefreshTokenSettingsPatch, RotationType,
};
use grantor_domain::{Client, ClientId, ValidationError};
use grantor_store::{OutboxFilter, OutboxKind, OutboxStatus, PageRequest};
use serde::Deserialize;

use super::views::{self, ApplicationFields, Pager};
use super::{AdminForm, Dash, DashboardError};
use crate::flows::audit::{self, EventExt};
use crate::http::extract::RequestMeta;
use crate::http::pages::Page;
use crate::http::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    page: Option<String>,
}

pub async fn list_applications(
    State(state): State<AppState>,
    dash: Dash,
    Query(query): Query<ListQuery>,
) -> Result<Page, DashboardError> {
    let page = Pager::page_number(query.page.as_deref());
    let clients = state
        .store
        .list_clients(PageRequest {
            offset: page * Pager::PER_PAGE,
            limit: Pager::PER_PAGE,
        })
        .await?;
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

async fn render(
    state: &AppState,
    dash: Dash,
    status: StatusCode,
    client: &Client,
    fields: ApplicationFields,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Result<Page, DashboardError> {
    let deliveries = deliveries(state, client).await?;
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
    let notice = query
        .saved
        .is_some()
        .then_some("Refresh token settings saved.");
    render(
        &state,
        dash,
        StatusCode::OK,
        &client,
        fields_of(&client),
        None,
        notice,
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
                form.fields(),
                Some(e.0),
                None,
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
        format!(
            "/dashboard/applications/{}?saved=1",
            percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC)
        ),
    ))
}
