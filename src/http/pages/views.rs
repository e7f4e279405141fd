//! The askama templates of the browser pages (`templates/pages/`), one struct
//! each; askama escapes every value.

use askama::Template;

use crate::flows::authorize::{DeviceRequestView, ScopeLine};

#[derive(Template)]
#[template(path = "pages/login.html")]
pub struct LoginPage<'a> {
    pub csrf: &'a str,
    pub request_id: &'a str,
    pub app_name: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "pages/consent.html")]
pub struct ConsentPage<'a> {
    pub csrf: &'a str,
    pub request_id: &'a str,
    pub app_name: &'a str,
    pub api_name: &'a str,
    pub audience: &'a str,
    pub user_email: &'a str,
    pub scopes: &'a [ScopeLine],
    /// For a device approval: which device asked.
    pub device: Option<DeviceLines>,
}

/// The requesting device as the consent page shows it.
pub struct DeviceLines {
    pub ip: String,
    pub user_agent: String,
    pub requested_at: String,
}

impl DeviceLines {
    /// Longest user agent shown; a longer one is cut with an ellipsis.
    const MAX_USER_AGENT_CHARS: usize = 200;

    pub fn new(device: &DeviceRequestView) -> Self {
        let user_agent = if device.user_agent.trim().is_empty() {
            "Unknown (the device sent no User-Agent)".to_owned()
        } else if device.user_agent.chars().count() > Self::MAX_USER_AGENT_CHARS {
            let cut: String = device
                .user_agent
                .chars()
                .take(Self::MAX_USER_AGENT_CHARS)
                .collect();
            format!("{cut}…")
        } else {
            device.user_agent.clone()
        };
        Self {
            ip: device.ip.clone(),
            user_agent,
            requested_at: utc_time(device.requested_at),
        }
    }
}

#[derive(Template)]
#[template(path = "pages/activate.html")]
pub struct ActivatePage<'a> {
    pub csrf: &'a str,
    pub user_code: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "pages/device_result.html")]
pub struct DeviceResultPage {
    pub connected: bool,
}

#[derive(Template)]
#[template(path = "pages/form_post.html")]
pub struct FormPostPage<'a> {
    pub redirect_uri: &'a str,
    pub params: &'a [(&'static str, String)],
    /// The CSP nonce that lets the auto-submit script run.
    pub nonce: &'a str,
}

#[derive(Template)]
#[template(path = "pages/signed_out.html")]
pub struct SignedOutPage;

#[derive(Template)]
#[template(path = "pages/error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

/// An instant as `2026-11-01 14:03:27 UTC`.
fn utc_time(at: grantor_domain::Timestamp) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp(at.unix_seconds())
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "unknown".to_owned())
}
