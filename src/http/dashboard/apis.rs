//! APIs (resource servers): the list, create, a page per API to edit it, and
//! delete after a confirmation. Values go through `ResourceServer::new` and
//! `ResourceServer::apply`, the validation `POST`/`PATCH
//! /api/v2/resource-servers` use; each change is saved with its `sapi` audit
//! event in one transaction. The Management API itself (`is_system`) is shown
//! read-only and refused on every change, as the Management API refuses it.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use grantor_domain::resource_server::ResourceServerPatch;
use grantor_domain::{ResourceServer, ScopeDefinition, SigningAlg, ValidationError};
use grantor_store::{LogEvent, StoreError};
use serde::Deserialize;

use super::session::EmptyForm;
use super::views::{self, Pager};
use super::{AdminForm, Dash, DashboardError};
use crate::flows::audit::{self, EventExt};
use crate::http::extract::RequestMeta;
use crate::http::pages::Page;
use crate::http::AppState;
use crate::secrets;

fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn api_path(id: &str) -> String {
    format!("/dashboard/apis/{}", encode(id))
}

fn system_api() -> DashboardError {
    DashboardError::forbidden("The Management API cannot be modified or deleted.")
}

pub async fn list_apis(
    State(state): State<AppState>,
    dash: Dash,
    Query(query): Query<views::ListQuery>,
) -> Result<Page, DashboardError> {
    let page = Pager::page_number(query.page.as_deref());
    let apis = state
        .store
        .list_resource_servers(Pager::request(page))
        .await?;
    let rows: Vec<views::ApiRow> = apis
        .items
        .iter()
        .map(|rs| views::ApiRow {
            id: rs.id.clone(),
            name: rs.name.clone(),
            identifier: rs.identifier.clone(),
            scopes: rs.scopes.len(),
            is_system: rs.is_system,
        })
        .collect();
    let pager = Pager::new(page, rows.len(), apis.total, |p| {
        format!("/dashboard/apis?page={p}")
    });
    let html = Page::html(
        StatusCode::OK,
        &views::ApisPage {
            layout: dash.layout("apis"),
            rows,
            pager,
            notice: query.deleted.is_some().then_some("API deleted."),
        },
    )?;
    Ok(dash.finish(html))
}

async fn find_api(state: &AppState, id: &str) -> Result<ResourceServer, DashboardError> {
    state
        .store
        .resource_server(id)
        .await?
        .ok_or_else(|| DashboardError::not_found("There is no API with this ID."))
}

/// The form as sent: text fields, checkboxes only when on.
#[derive(Deserialize, Default)]
pub struct ApiForm {
    identifier: Option<String>,
    name: Option<String>,
    /// One scope a line: its value, then (after a space) its description.
    scopes: Option<String>,
    signing_alg: Option<String>,
    token_lifetime: Option<String>,
    token_lifetime_for_web: Option<String>,
    allow_offline_access: Option<String>,
    skip_consent_for_verifiable_first_party_clients: Option<String>,
}

fn text(v: &Option<String>) -> String {
    v.as_deref().unwrap_or_default().trim().to_owned()
}

fn scope_lines(scopes: &[ScopeDefinition]) -> String {
    scopes
        .iter()
        .map(|s| {
            // A line break in a description (the Management API allows
            // one) would read back as another scope: shown as a space.
            let description = s.description.replace(['\r', '\n'], " ");
            if description.is_empty() {
                s.value.clone()
            } else {
                format!("{} {}", s.value, description)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl ApiForm {
    fn of(rs: &ResourceServer) -> Self {
        Self {
            identifier: Some(rs.identifier.clone()),
            name: Some(rs.name.clone()),
            scopes: Some(scope_lines(&rs.scopes)),
            signing_alg: Some(rs.signing_alg.as_str().to_owned()),
            token_lifetime: Some(rs.token_lifetime.to_string()),
            token_lifetime_for_web: Some(rs.token_lifetime_for_web.to_string()),
            allow_offline_access: rs.allow_offline_access.then(|| "true".to_owned()),
            skip_consent_for_verifiable_first_party_clients: rs
                .skip_consent_for_verifiable_first_party_clients
                .then(|| "true".to_owned()),
        }
    }

    fn fields(&self) -> views::ApiFields {
        views::ApiFields {
            identifier: text(&self.identifier),
            name: text(&self.name),
            scopes: self.scopes.clone().unwrap_or_default(),
            signing_alg: text(&self.signing_alg),
            token_lifetime: text(&self.token_lifetime),
            token_lifetime_for_web: text(&self.token_lifetime_for_web),
            allow_offline_access: self.allow_offline_access.is_some(),
            skip_consent: self
                .skip_consent_for_verifiable_first_party_clients
                .is_some(),
        }
    }

    /// The whole form as a patch (every member named); the values are
    /// checked by `ResourceServer::apply`.
    fn to_patch(&self) -> Result<ResourceServerPatch, ValidationError> {
        fn number(field: &str, raw: &Option<String>) -> Result<Option<i64>, ValidationError> {
            match text(raw).as_str() {
                "" => Ok(None),
                t => t.parse::<i64>().map(Some).map_err(|_| {
                    ValidationError::new(format!("{field} must be a whole number of seconds"))
                }),
            }
        }
        let scopes = self
            .scopes
            .as_deref()
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|line| {
                let (value, description) =
                    line.split_once(char::is_whitespace).unwrap_or((line, ""));
                ScopeDefinition {
                    value: value.to_owned(),
                    description: description.trim().to_owned(),
                }
            })
            .collect();
        Ok(ResourceServerPatch {
            identifier: None,
            name: Some(text(&self.name)),
            scopes: Some(scopes),
            signing_alg: Some(text(&self.signing_alg)).filter(|a| !a.is_empty()),
            allow_offline_access: Some(self.allow_offline_access.is_some()),
            skip_consent_for_verifiable_first_party_clients: Some(
                self.skip_consent_for_verifiable_first_party_clients
                    .is_some(),
            ),
            token_lifetime: number("token_lifetime", &self.token_lifetime)?,
            token_lifetime_for_web: number("token_lifetime_for_web", &self.token_lifetime_for_web)?,
        })
    }
}

fn render(
    dash: Dash,
    status: StatusCode,
    api: Option<&ResourceServer>,
    fields: views::ApiFields,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Result<Page, DashboardError> {
    let html = Page::html(
        status,
        &views::ApiPage {
            layout: dash.layout("apis"),
            id: api.map(|a| a.id.clone()).unwrap_or_default(),
            creating: api.is_none(),
            is_system: api.is_some_and(|a| a.is_system),
            heading: api.map_or_else(|| "Create API".to_owned(), |a| a.name.clone()),
            algs: SigningAlg::ALL
                .iter()
                .map(|a| (a.as_str(), a.as_str() == fields.signing_alg))
                .collect(),
            fields,
            error,
            notice,
        },
    )?;
    Ok(dash.finish(html))
}

fn event(dash: &Dash, meta: &RequestMeta, description: String, rs: &ResourceServer) -> LogEvent {
    audit::api_operation(description, &dash.admin.actor(), meta, rs.updated_at)
        .detail("resource_server", audit::resource_server(rs))
}

pub async fn get_new(dash: Dash) -> Result<Page, DashboardError> {
    let defaults = ApiForm {
        signing_alg: Some("RS256".to_owned()),
        token_lifetime: Some(ResourceServer::DEFAULT_TOKEN_LIFETIME.to_string()),
        token_lifetime_for_web: Some(ResourceServer::DEFAULT_TOKEN_LIFETIME_FOR_WEB.to_string()),
        ..ApiForm::default()
    };
    render(dash, StatusCode::OK, None, defaults.fields(), None, None)
}

pub async fn create(
    State(state): State<AppState>,
    meta: RequestMeta,
    AdminForm { dash, form }: AdminForm<ApiForm>,
) -> Result<Page, DashboardError> {
    let now = state.clock.now();
    let made = form.to_patch().and_then(|patch| {
        ResourceServer::new(secrets::hex_id(12), text(&form.identifier), now)?.apply(&patch)
    });
    let rs = match made {
        Ok(rs) => rs,
        Err(e) => {
            return render(
                dash,
                StatusCode::BAD_REQUEST,
                None,
                form.fields(),
                Some(e.0),
                None,
            )
        }
    };
    let event = event(
        &dash,
        &meta,
        format!("Create resource server {}", rs.id),
        &rs,
    );
    match state
        .store
        .insert_resource_server_audited(&rs, &event)
        .await
    {
        Ok(()) => Ok(Page::redirect(
            StatusCode::SEE_OTHER,
            format!("{}?saved=created", api_path(&rs.id)),
        )),
        Err(StoreError::Conflict(_)) => render(
            dash,
            StatusCode::BAD_REQUEST,
            None,
            form.fields(),
            Some("An API with the same identifier already exists.".to_owned()),
            None,
        ),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn get_api(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
    Query(query): Query<SavedQuery>,
) -> Result<Page, DashboardError> {
    let rs = find_api(&state, &id).await?;
    let notice = match query.saved.as_deref() {
        Some("created") => Some("API created."),
        Some(_) => Some("API saved."),
        None => None,
    };
    render(
        dash,
        StatusCode::OK,
        Some(&rs),
        ApiForm::of(&rs).fields(),
        None,
        notice,
    )
}

pub async fn update(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    AdminForm { dash, form }: AdminForm<ApiForm>,
) -> Result<Page, DashboardError> {
    let current = find_api(&state, &id).await?;
    if current.is_system {
        return Err(system_api());
    }
    let mut rs = match form.to_patch().and_then(|patch| current.apply(&patch)) {
        Ok(rs) => rs,
        Err(e) => {
            return render(
                dash,
                StatusCode::BAD_REQUEST,
                Some(&current),
                form.fields(),
                Some(e.0),
                None,
            )
        }
    };
    rs.updated_at = state.clock.now();
    let event = event(
        &dash,
        &meta,
        format!("Update resource server {}", rs.id),
        &rs,
    );
    state
        .store
        .update_resource_server_audited(&rs, &event)
        .await?;
    Ok(Page::redirect(
        StatusCode::SEE_OTHER,
        format!("{}?saved=1", api_path(&rs.id)),
    ))
}

pub async fn confirm_delete(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
) -> Result<Page, DashboardError> {
    let rs = find_api(&state, &id).await?;
    if rs.is_system {
        return Err(system_api());
    }
    let html = Page::html(
        StatusCode::OK,
        &views::ConfirmPage {
            layout: dash.layout("apis"),
            crumb: "APIs",
            crumb_link: "/dashboard/apis",
            heading: format!("Delete the API {}?", rs.name),
            what: "Applications can no longer get tokens for this audience, and its client grants are deleted. This cannot be undone.".to_owned(),
            facts: vec![
                ("Name", rs.name.clone()),
                ("Identifier", rs.identifier.clone()),
                ("ID", rs.id.clone()),
            ],
            action: format!("{}/delete", api_path(&rs.id)),
            cancel: api_path(&rs.id),
            button: "Delete API",
            danger: true,
        },
    )?;
    Ok(dash.finish(html))
}

pub async fn delete(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    AdminForm { dash, .. }: AdminForm<EmptyForm>,
) -> Result<Page, DashboardError> {
    let Some(rs) = state.store.resource_server(&id).await? else {
        // Already gone (a second click): nothing to do.
        return Ok(Page::redirect(
            StatusCode::SEE_OTHER,
            "/dashboard/apis?deleted=1".to_owned(),
        ));
    };
    if rs.is_system {
        return Err(system_api());
    }
    let mut gone = rs.clone();
    gone.updated_at = state.clock.now();
    let event = event(
        &dash,
        &meta,
        format!("Delete resource server {}", rs.id),
        &gone,
    );
    state
        .store
        .delete_resource_server_audited(&rs.id, &event)
        .await?;
    Ok(Page::redirect(
        StatusCode::SEE_OTHER,
        "/dashboard/apis?deleted=1".to_owned(),
    ))
}
