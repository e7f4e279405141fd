//! Tenant Settings › Advanced: the toggle "Refresh Token Revocation Deletes
//! Grant", which is `flags.revoke_refresh_token_grant` of the Management API
//! (the same tenant row, the same audit event).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::{views, AdminForm, Dash, DashboardError};
use crate::flows::audit::{self, EventExt};
use crate::http::extract::RequestMeta;
use crate::http::pages::Page;
use crate::http::AppState;

pub async fn get_index(dash: Dash) -> Page {
    dash.finish(Page::redirect(
        StatusCode::SEE_OTHER,
        "/dashboard/tenant-settings/advanced".to_owned(),
    ))
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    saved: Option<String>,
}

pub async fn get_advanced(
    State(state): State<AppState>,
    dash: Dash,
    Query(query): Query<NoticeQuery>,
) -> Result<Page, DashboardError> {
    let settings = state.store.tenant_settings().await?;
    let page = Page::html(
        StatusCode::OK,
        &views::TenantAdvancedPage {
            layout: dash.layout("tenant-settings"),
            revoke_refresh_token_grant: settings.revoke_refresh_token_grant,
            notice: query.saved.is_some().then_some("Tenant settings saved."),
        },
    )?;
    Ok(dash.finish(page))
}

/// A checkbox is sent only when it is on.
#[derive(Deserialize)]
pub struct AdvancedForm {
    revoke_refresh_token_grant: Option<String>,
}

pub async fn update_advanced(
    State(state): State<AppState>,
    meta: RequestMeta,
    AdminForm { dash, form }: AdminForm<AdvancedForm>,
) -> Result<Page, DashboardError> {
    let on = match form.revoke_refresh_token_grant.as_deref() {
        None => false,
        Some("true" | "on") => true,
        Some(_) => {
            return Err(DashboardError::bad_request(
                "The toggle's value is not valid.",
            ))
        }
    };
    let mut settings = state.store.tenant_settings().await?;
    settings.revoke_refresh_token_grant = on;
    let event = audit::api_operation(
        "Update tenant settings",
        &dash.admin.actor(),
        &meta,
        state.clock.now(),
    )
    .detail(
        "flags",
        serde_json::json!({ "revoke_refresh_token_grant": on }),
    );
    state
        .store
        .update_tenant_settings(&settings, Some(&event))
        .await?;
    Ok(Page::redirect(
        StatusCode::SEE_OTHER,
        "/dashboard/tenant-settings/advanced?saved=1".to_owned(),
    ))
}
