//! The administrator's session in the browser: the `grantor_admin` cookie
//! (distinct from end users' `grantor_session`), the [`Dash`] extractor every
//! page takes, the [`AdminForm`] extractor every POST takes, and the sign-in
//! and sign-out handlers. The steps themselves are `flows::admin`.

use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use cookie::SameSite;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{views, DashboardError};
use crate::flows::admin::{self, Admin, SESSION_LIFETIME_SECONDS};
use crate::flows::login::LoginRefusal;
use crate::http::extract::RequestMeta;
use crate::http::pages::cookies::{self, cookie, csrf_cookie_name};
use crate::http::pages::{CheckedForm, CsrfToken, Page};
use crate::http::AppState;
use crate::password::Busy;
use crate::secrets;

/// The administrator's session cookie: a random secret whose hash names the
/// session. Scoped to `/dashboard` and SameSite=Strict, so no other page and
/// no cross-site request ever carries it.
pub const ADMIN_COOKIE: &str = "grantor_admin";

/// Where the dashboard starts after signing in.
const HOME: &str = "/dashboard/users";

fn admin_cookie(value: &str, secure: bool, max_age: i64) -> String {
    cookies::builder(ADMIN_COOKIE, value, secure, Some(max_age))
        .path("/dashboard")
        .same_site(SameSite::Strict)
        .to_string()
}

/// A page request from a signed-in administrator, with the CSRF token its
/// forms embed (the sign-out button is on every page).
pub struct Dash {
    pub admin: Admin,
    pub csrf: CsrfToken,
    pub secure: bool,
}

impl Dash {
    pub fn layout(&self, nav: &'static str) -> views::Layout<'_> {
        views::Layout {
            admin_email: &self.admin.email,
            csrf: self.csrf.value(),
            nav,
        }
    }

    /// Sets the CSRF cookie on `page` when this request made a new token.
    pub fn finish(self, page: Page) -> Page {
        self.csrf.attach(page, self.secure)
    }
}

/// A path inside the dashboard to return to after signing in; anything else
/// (another site, another part of grantor, the sign-in page itself) is ignored.
fn safe_next(next: Option<&str>) -> Option<&str> {
    next.filter(|n| {
        let path = n.split(['?', '#']).next().unwrap_or_default();
        (n.starts_with("/dashboard/") || *n == "/dashboard")
            && !matches!(path, "/dashboard/login" | "/dashboard/logout")
            && !n.contains("//")
            && !n.contains('\\')
            && !n.chars().any(char::is_control)
            && n.len() <= 512
    })
}

impl FromRequestParts<AppState> for Dash {
    type Rejection = DashboardError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let now = state.clock.now();
        let admin = admin::session(state, cookie(&parts.headers, ADMIN_COOKIE), now).await?;
        let Some(admin) = admin else {
            let here = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .filter(|_| parts.method == Method::GET);
            return Err(DashboardError::SignIn {
                next: safe_next(here).unwrap_or(HOME).to_owned(),
            });
        };
        Ok(Self {
            admin,
            csrf: CsrfToken::for_page(&parts.headers, state.issuer.is_https()),
            secure: state.issuer.is_https(),
        })
    }
}

/// Refuses a form another site made the browser send. `Sec-Fetch-Site`
/// comes from the browser itself; clients that do not send it are left to
/// the CSRF token, which every form carries anyway.
fn refuse_cross_site(headers: &HeaderMap) -> Result<(), DashboardError> {
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        None | Some("same-origin") | Some("none") => Ok(()),
        Some(_) => Err(DashboardError::forbidden(
            "This form was sent from another site.",
        )),
    }
}

/// A form whose CSRF token matched ([`CheckedForm`]), from a same-site page.
async fn checked_form<T: DeserializeOwned>(
    req: Request,
    state: &AppState,
) -> Result<T, DashboardError> {
    refuse_cross_site(req.headers())?;
    let CheckedForm(form) = CheckedForm::<T>::from_request(req, state).await?;
    Ok(form)
}

/// A dashboard POST: the CSRF token is checked first (403 without it, before
/// anything else happens), then the administrator's session. `dash` is what
/// a page needs if the handler answers with one (a form with an error).
pub struct AdminForm<T> {
    pub dash: Dash,
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for AdminForm<T> {
    type Rejection = DashboardError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let secret = cookie(req.headers(), ADMIN_COOKIE).map(str::to_owned);
        let csrf = CsrfToken::for_page(req.headers(), state.issuer.is_https());
        let form = checked_form::<T>(req, state).await?;
        let now = state.clock.now();
        match admin::session(state, secret.as_deref(), now).await? {
            Some(admin) => Ok(Self {
                dash: Dash {
                    admin,
                    csrf,
                    secure: state.issuer.is_https(),
                },
                form,
            }),
            None => Err(DashboardError::SignIn {
                next: HOME.to_owned(),
            }),
        }
    }
}

/// The sign-in form, which has no session yet but a CSRF token all the same
/// (so that no other site can sign a browser in).
pub struct SignInForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for SignInForm<T> {
    type Rejection = DashboardError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        checked_form::<T>(req, state).await.map(SignInForm)
    }
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub struct EmptyForm {}

pub async fn get_index(dash: Dash) -> Page {
    dash.finish(Page::redirect(StatusCode::SEE_OTHER, HOME.to_owned()))
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

pub async fn get_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Result<Page, DashboardError> {
    let next = safe_next(query.next.as_deref()).unwrap_or(HOME);
    let now = state.clock.now();
    if admin::session(&state, cookie(&headers, ADMIN_COOKIE), now)
        .await?
        .is_some()
    {
        return Ok(Page::redirect(StatusCode::SEE_OTHER, next.to_owned()));
    }
    let csrf = CsrfToken::for_page(&headers, state.issuer.is_https());
    let page = Page::html(
        StatusCode::OK,
        &views::LoginPage {
            csrf: csrf.value(),
            next,
            email: "",
            error: None,
            notice: query.signed_out.is_some().then_some("You have signed out."),
        },
    )?;
    Ok(csrf.attach(page, state.issuer.is_https()))
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: Option<String>,
    password: Option<String>,
    next: Option<String>,
}

pub async fn post_login(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    SignInForm(form): SignInForm<LoginForm>,
) -> Result<Page, DashboardError> {
    let email = form.email.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let next = safe_next(form.next.as_deref()).unwrap_or(HOME);
    let now = state.clock.now();
    let secure = state.issuer.is_https();
    match admin::sign_in(&state, &email, &password, &meta, now).await? {
        admin::SignIn::SignedIn(session) => {
            // A new CSRF token for the signed-in browser: one planted before
            // signing in is not carried over.
            let csrf = cookies::set_cookie(
                csrf_cookie_name(secure),
                &secrets::bearer_token(),
                secure,
                None,
            );
            Ok(Page::redirect(StatusCode::SEE_OTHER, next.to_owned())
                .with_cookie(admin_cookie(
                    &session.cookie_secret,
                    secure,
                    SESSION_LIFETIME_SECONDS,
                ))
                .with_cookie(csrf))
        }
        admin::SignIn::Refused(refusal) => {
            let csrf = CsrfToken::for_page(&headers, state.issuer.is_https());
            let busy = refusal == LoginRefusal::Busy;
            let status = if busy {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::OK
            };
            let page = Page::html(
                status,
                &views::LoginPage {
                    csrf: csrf.value(),
                    next,
                    email: &email,
                    error: Some(refusal.message()),
                    notice: None,
                },
            )?;
            let page = if busy {
                page.with_retry_after(Busy::RETRY_AFTER_SECONDS)
            } else {
                page
            };
            Ok(csrf.attach(page, secure))
        }
    }
}

pub async fn post_logout(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    _form: AdminForm<EmptyForm>,
) -> Result<Page, DashboardError> {
    let now = state.clock.now();
    admin::sign_out(&state, cookie(&headers, ADMIN_COOKIE), &meta, now).await?;
    Ok(Page::redirect(
        StatusCode::SEE_OTHER,
        "/dashboard/login?signed_out=1".to_owned(),
    )
    .with_cookie(admin_cookie("", state.issuer.is_https(), 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_inside_the_dashboard() {
        assert_eq!(
            safe_next(Some("/dashboard/users?q=a")),
            Some("/dashboard/users?q=a")
        );
        assert_eq!(safe_next(Some("/dashboard")), Some("/dashboard"));
        for bad in [
            "https://evil.example/dashboard/",
            "//evil.example/dashboard/",
            "/dashboard//evil.example",
            "/dashboard/\\evil",
            "/u/login",
            "/dashboardx",
            "/dashboard/\r\nSet-Cookie: a=b",
            "/dashboard/login?next=/dashboard/login",
            "/dashboard/logout",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn the_admin_cookie_is_scoped_and_strict() {
        // `name=value` first, then the attributes in any order, as a
        // browser reads them.
        let attributes = |c: &str| {
            let mut parts: Vec<String> = c.split("; ").map(str::to_owned).collect();
            parts[1..].sort();
            parts
        };
        assert_eq!(
            attributes(&admin_cookie("v", true, 60)),
            attributes(
                "grantor_admin=v; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
            )
        );
        assert_eq!(
            attributes(&admin_cookie("", false, 0)),
            attributes("grantor_admin=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0")
        );
    }
}
