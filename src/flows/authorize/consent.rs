//! Whether a request needs the user's consent, and what the consent page
//! shows.

use grantor_domain::{GrantId, Timestamp};
use grantor_store::UserGrant;

use super::{ConsentView, DeviceRequestView, Loaded, ScopeLine, Target};
use crate::flows::login::ActiveSession;
use crate::flows::FlowError;
use crate::secrets;
use crate::state::AppState;

pub(super) enum Consent {
    Ask,
    Granted(UserGrant),
}

/// Consent is not asked when the user's grant already covers the requested
/// scopes, nor for a first-party client when the API skips consent for
/// verifiable first-party clients (the grant is then recorded). `prompt=consent`
/// always asks, and so does every device approval (RFC 8628 §5.4, CONTRACT
/// §6.6): a user code can be phished, so each one is confirmed on a page that
/// names the requesting device, whatever grant or first-party rule applies.
pub(super) async fn decide_consent(
    state: &AppState,
    loaded: &Loaded,
    session: &ActiveSession,
    now: Timestamp,
) -> Result<Consent, FlowError> {
    if loaded.pending.force_consent || matches!(loaded.pending.target, Target::Device { .. }) {
        return Ok(Consent::Ask);
    }
    let requested = loaded.requested();
    let existing = state
        .store
        .grant_for(
            &session.user.user_id,
            &loaded.client.client_id,
            &loaded.audience.audience,
        )
        .await?;
    if let Some(grant) = existing.filter(|g| requested.is_subset_of(&g.scope)) {
        return Ok(Consent::Granted(grant));
    }
    let skip = loaded.client.is_first_party
        && loaded
            .audience
            .api
            .as_ref()
            .is_some_and(|api| api.skip_consent_for_verifiable_first_party_clients);
    if skip {
        return Ok(Consent::Granted(
            record_grant(state, loaded, session, now).await?,
        ));
    }
    Ok(Consent::Ask)
}

/// Creates the user's grant for the request's client and API, or widens it
/// to the requested scopes (consent given, or skipped for a first-party client).
pub(super) async fn record_grant(
    state: &AppState,
    loaded: &Loaded,
    session: &ActiveSession,
    now: Timestamp,
) -> Result<UserGrant, FlowError> {
    Ok(state
        .store
        .upsert_grant(
            &GrantId::new(secrets::hex_id(12)),
            &session.user.user_id,
            &loaded.client.client_id,
            &loaded.audience.audience,
            &loaded.requested(),
            now,
        )
        .await?)
}

pub(super) fn consent_view(loaded: &Loaded, session: &ActiveSession) -> ConsentView {
    let api = loaded.audience.api.as_ref();
    let scopes = loaded
        .requested()
        .iter()
        .map(|value| {
            let defined = api
                .and_then(|api| api.scopes.iter().find(|s| s.value == value))
                .map(|s| s.description.clone());
            ScopeLine {
                value: value.to_owned(),
                description: defined.unwrap_or_else(|| oidc_scope_description(value).to_owned()),
            }
        })
        .collect();
    ConsentView {
        request_id: loaded.request_id.clone().unwrap_or_default(),
        app_name: loaded.client.name.clone(),
        api_name: api.map_or_else(|| "your profile".to_owned(), |api| api.name.clone()),
        audience: loaded.audience.audience.clone(),
        user_email: session.user.email.clone(),
        scopes,
        redirect_uri: loaded.redirect_uri(),
        device: match &loaded.pending.target {
            Target::Device {
                device_ip,
                device_user_agent,
                requested_at_ms,
                ..
            } => Some(DeviceRequestView {
                ip: device_ip.clone(),
                user_agent: device_user_agent.clone(),
                requested_at: Timestamp(*requested_at_ms),
            }),
            Target::Code { .. } => None,
        },
    }
}

fn oidc_scope_description(scope: &str) -> &'static str {
    match scope {
        "openid" => "Sign you in",
        "profile" => "Your name and profile details",
        "email" => "Your email address",
        "offline_access" => "Keep access when you are not using the application",
        _ => "",
    }
}
