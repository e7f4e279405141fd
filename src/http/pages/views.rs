//! The askama templates of the browser pages (`templates/pages/`), one struct
//! each; askama escapes every value.

use askama::Template;

use crate::flows::authorize::ScopeLine;

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
