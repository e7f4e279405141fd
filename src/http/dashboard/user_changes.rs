//! Changing users from the dashboard: create, edit the profile, set a new
//! password, block, unblock and delete. Each goes through the code the
//! Management API's `POST`/`PATCH`/`DELETE /users` use: `User::create` and
//! `User::apply` validate, and blocking, a new password and deletion go
//! through `flows::revocation::change_account`, which ends the user's
//! sessions and refresh tokens in the same transaction and audits it (`srrt`
//! with the administrator as actor and the receipt). Creating, editing and
//! unblocking are audited as `sapi` events in their own transaction.
//! Blocking and deleting first show a confirmation page that says what
//! access ends.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use grantor_domain::user::{database_user_id, UserPatch};
use grantor_domain::{User, UserId, ValidationError};
use grantor_store::{LogEvent, RevocationReceipt, RevocationTarget, StoreError, UserUpdate};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::session::EmptyForm;
use super::views::{self, receipt_summary, UserHeader};
use super::{AdminForm, Dash, DashboardError};
use crate::flows::audit::{self, EventExt};
use crate::flows::revocation::{self, Reason, UserChange};
use crate::http::extract::RequestMeta;
use crate::http::pages::Page;
use crate::http::AppState;
use crate::secrets;

fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn user_path(user_id: &UserId) -> String {
    format!("/dashboard/users/{}", encode(user_id.as_str()))
}

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

/// The `sapi` event of a change an administrator made to a user.
fn user_event(dash: &Dash, meta: &RequestMeta, description: String, user: &User) -> LogEvent {
    // `updated_at` is the instant of the change (`User::apply` set it).
    audit::api_operation(description, &dash.admin.actor(), meta, user.updated_at)
        .user(user.user_id.as_str())
}

/// Where a change lands: the user's Details tab with what happened.
fn after_change(user_id: &UserId, done: &str, receipt: Option<&RevocationReceipt>) -> Page {
    let mut pairs = vec![("done", done.to_owned())];
    if let Some(r) = receipt {
        pairs.push(("tokens", r.refresh_tokens.to_string()));
        pairs.push(("at_least", u8::from(r.refresh_tokens_at_least).to_string()));
        pairs.push(("devices", r.devices.to_string()));
        pairs.push(("sessions", r.sessions.to_string()));
    }
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    Page::redirect(
        StatusCode::SEE_OTHER,
        format!("{}?{query}", user_path(user_id)),
    )
}

/// The notice of the Details tab after a change; built from fixed words and
/// counts only, so nothing from the URL is echoed.
pub fn change_notice(
    done: Option<&str>,
    tokens: Option<&str>,
    at_least: Option<&str>,
    devices: Option<&str>,
    sessions: Option<&str>,
) -> Option<String> {
    let receipt = || RevocationReceipt {
        found: true,
        refresh_tokens: views::count_param(tokens),
        refresh_tokens_at_least: at_least == Some("1"),
        devices: views::count_param(devices),
        sessions: views::count_param(sessions),
        ..RevocationReceipt::default()
    };
    Some(match done? {
        "created" => "User created.".to_owned(),
        "saved" => "User saved.".to_owned(),
        "unblocked" => "User unblocked.".to_owned(),
        "blocked" => format!("User blocked: revoked {}.", receipt_summary(&receipt())),
        "password" => format!("Password changed: revoked {}.", receipt_summary(&receipt())),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// The profile form (create and edit)
// ---------------------------------------------------------------------------

/// The form as sent: text fields, checkboxes only when on.
#[derive(Deserialize, Default)]
pub struct UserForm {
    user_id: Option<String>,
    email: Option<String>,
    password: Option<String>,
    name: Option<String>,
    nickname: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    username: Option<String>,
    picture: Option<String>,
    phone_number: Option<String>,
    email_verified: Option<String>,
    phone_verified: Option<String>,
    app_metadata: Option<String>,
    user_metadata: Option<String>,
}

fn text(v: &Option<String>) -> String {
    v.as_deref().unwrap_or_default().trim().to_owned()
}

/// A metadata textarea: a JSON object, or empty for `{}`.
fn metadata(field: &str, raw: &Option<String>) -> Result<String, ValidationError> {
    let raw = text(raw);
    if raw.is_empty() {
        return Ok("{}".to_owned());
    }
    match serde_json::from_str::<Value>(&raw) {
        Ok(Value::Object(map)) => Ok(Value::Object(map).to_string()),
        _ => Err(ValidationError::new(format!(
            "{field} must be a JSON object, e.g. {{\"plan\": \"pro\"}}"
        ))),
    }
}

fn pretty(json_text: &str) -> String {
    match serde_json::from_str::<Map<String, Value>>(json_text) {
        Ok(map) if map.is_empty() => String::new(),
        Ok(map) => serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_default(),
        Err(_) => json_text.to_owned(),
    }
}

impl UserForm {
    fn of(user: &User) -> Self {
        Self {
            user_id: None,
            email: Some(user.email.clone()),
            password: None,
            name: Some(user.name.clone()),
            nickname: Some(user.nickname.clone()),
            given_name: user.given_name.clone(),
            family_name: user.family_name.clone(),
            username: user.username.clone(),
            picture: user.picture.clone(),
            phone_number: user.phone_number.clone(),
            email_verified: user.email_verified.then(|| "true".to_owned()),
            phone_verified: user.phone_verified.then(|| "true".to_owned()),
            app_metadata: Some(pretty(&user.app_metadata)),
            user_metadata: Some(pretty(&user.user_metadata)),
        }
    }

    fn fields(&self) -> views::UserFields {
        views::UserFields {
            user_id: text(&self.user_id),
            email: text(&self.email),
            name: text(&self.name),
            nickname: text(&self.nickname),
            given_name: text(&self.given_name),
            family_name: text(&self.family_name),
            username: text(&self.username),
            picture: text(&self.picture),
            phone_number: text(&self.phone_number),
            email_verified: self.email_verified.is_some(),
            phone_verified: self.phone_verified.is_some(),
            app_metadata: self.app_metadata.clone().unwrap_or_default(),
            user_metadata: self.user_metadata.clone().unwrap_or_default(),
        }
    }

    /// The patch of a new user: empty fields are left to the defaults.
    fn create_patch(&self) -> Result<UserPatch, ValidationError> {
        let given = |v: &Option<String>| Some(text(v)).filter(|t| !t.is_empty());
        Ok(UserPatch {
            email: None,
            password: self.password.clone().filter(|p| !p.is_empty()),
            email_verified: Some(self.email_verified.is_some()),
            username: given(&self.username),
            name: given(&self.name),
            nickname: given(&self.nickname),
            picture: given(&self.picture),
            given_name: given(&self.given_name),
            family_name: given(&self.family_name),
            phone_number: given(&self.phone_number),
            phone_verified: Some(self.phone_verified.is_some()),
            blocked: None,
            app_metadata: Some(metadata("app_metadata", &self.app_metadata)?),
            user_metadata: Some(metadata("user_metadata", &self.user_metadata)?),
        })
    }

    /// The patch of an edit: only the members that differ from `current`.
    fn edit_patch(&self, current: &User) -> Result<UserPatch, ValidationError> {
        let changed = |v: &Option<String>, now: Option<&str>| {
            let v = text(v);
            (v != now.unwrap_or_default()).then_some(v)
        };
        let flag = |on: bool, now: bool| (on != now).then_some(on);
        let meta = |field: &str, v: &Option<String>, now: &str| -> Result<_, ValidationError> {
            let v = metadata(field, v)?;
            let same =
                serde_json::from_str::<Value>(&v).ok() == serde_json::from_str::<Value>(now).ok();
            Ok((!same).then_some(v))
        };
        Ok(UserPatch {
            email: changed(&self.email, Some(&current.email)),
            password: None,
            email_verified: flag(self.email_verified.is_some(), current.email_verified),
            username: changed(&self.username, current.username.as_deref()),
            name: changed(&self.name, Some(&current.name)),
            nickname: changed(&self.nickname, Some(&current.nickname)),
            picture: changed(&self.picture, current.picture.as_deref()),
            given_name: changed(&self.given_name, current.given_name.as_deref()),
            family_name: changed(&self.family_name, current.family_name.as_deref()),
            phone_number: changed(&self.phone_number, current.phone_number.as_deref()),
            phone_verified: flag(self.phone_verified.is_some(), current.phone_verified),
            blocked: None,
            app_metadata: meta("app_metadata", &self.app_metadata, &current.app_metadata)?,
            user_metadata: meta("user_metadata", &self.user_metadata, &current.user_metadata)?,
        })
    }
}

fn render_form(
    dash: Dash,
    status: StatusCode,
    user: Option<&User>,
    fields: views::UserFields,
    error: Option<String>,
) -> Result<Page, DashboardError> {
    let (action, cancel) = match user {
        Some(u) => (
            format!("{}/edit", user_path(&u.user_id)),
            user_path(&u.user_id),
        ),
        None => (
            "/dashboard/users/new".to_owned(),
            "/dashboard/users".to_owned(),
        ),
    };
    let html = Page::html(
        status,
        &views::UserFormPage {
            layout: dash.layout("users"),
            creating: user.is_none(),
            heading: match user {
                Some(u) => format!("Edit {}", u.email),
                None => "Create user".to_owned(),
            },
            fields,
            action,
            cancel,
            error,
        },
    )?;
    Ok(dash.finish(html))
}

pub async fn get_new(dash: Dash) -> Result<Page, DashboardError> {
    render_form(
        dash,
        StatusCode::OK,
        None,
        UserForm::default().fields(),
        None,
    )
}

pub async fn create(
    State(state): State<AppState>,
    meta: RequestMeta,
    AdminForm { dash, form }: AdminForm<UserForm>,
) -> Result<Page, DashboardError> {
    let refuse = |dash, message: String| {
        render_form(
            dash,
            StatusCode::BAD_REQUEST,
            None,
            form.fields(),
            Some(message),
        )
    };
    let user_id = match text(&form.user_id).as_str() {
        "" => Ok(format!("auth0|{}", secrets::hex_id(12))),
        id => database_user_id(id),
    };
    let now = state.clock.now();
    let made = user_id.and_then(|id| {
        if form.password.as_deref().unwrap_or_default().is_empty() {
            return Err(ValidationError::new("A password is required."));
        }
        let patch = form.create_patch()?;
        User::create(UserId::from(id), &text(&form.email), &patch, now).map(|u| (u, patch))
    });
    let (mut user, patch) = match made {
        Ok(made) => made,
        Err(e) => return refuse(dash, e.0),
    };
    if let Some(password) = patch.password {
        user.password_hash = state.passwords.hash(password).await?;
    }
    let event = user_event(&dash, &meta, format!("Create user {}", user.user_id), &user)
        .detail("email", json!(user.email));
    match state.store.insert_user_audited(&user, &event).await {
        Ok(()) => Ok(after_change(&user.user_id, "created", None)),
        Err(StoreError::Conflict(_)) => refuse(
            dash,
            "A user with this email or user ID already exists.".to_owned(),
        ),
        Err(e) => Err(e.into()),
    }
}

pub async fn get_edit(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
) -> Result<Page, DashboardError> {
    let user = find_user(&state, &id).await?;
    render_form(
        dash,
        StatusCode::OK,
        Some(&user),
        UserForm::of(&user).fields(),
        None,
    )
}

pub async fn edit(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    AdminForm { dash, form }: AdminForm<UserForm>,
) -> Result<Page, DashboardError> {
    let current = find_user(&state, &id).await?;
    let now = state.clock.now();
    let changed = form
        .edit_patch(&current)
        .and_then(|patch| current.apply(&patch, now).map(|u| (u, patch)));
    let (user, patch) = match changed {
        Ok(changed) => changed,
        Err(e) => {
            return render_form(
                dash,
                StatusCode::BAD_REQUEST,
                Some(&current),
                form.fields(),
                Some(e.0),
            )
        }
    };
    let members = patch.changed_members();
    if members.is_empty() {
        return Ok(after_change(&user.user_id, "saved", None));
    }
    let event = user_event(&dash, &meta, format!("Update user {}", user.user_id), &user)
        .detail("changed", json!(members));
    let update = UserUpdate::new(current.clone(), user.clone()).naming(&members);
    match state.store.update_user_audited(&update, &event).await {
        Ok(()) => Ok(after_change(&user.user_id, "saved", None)),
        Err(StoreError::Conflict(_)) => render_form(
            dash,
            StatusCode::BAD_REQUEST,
            Some(&current),
            form.fields(),
            Some("The specified new email already exists.".to_owned()),
        ),
        Err(StoreError::NotFound) => {
            Err(DashboardError::not_found("There is no user with this ID."))
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------
// Password
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct PasswordForm {
    password: Option<String>,
}

fn render_password(
    dash: Dash,
    status: StatusCode,
    user: &User,
    error: Option<String>,
) -> Result<Page, DashboardError> {
    let html = Page::html(
        status,
        &views::UserPasswordPage {
            layout: dash.layout("users"),
            user: header(user),
            tab: "details",
            action: format!("{}/password", user_path(&user.user_id)),
            cancel: user_path(&user.user_id),
            error,
        },
    )?;
    Ok(dash.finish(html))
}

pub async fn get_password(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
) -> Result<Page, DashboardError> {
    let user = find_user(&state, &id).await?;
    render_password(dash, StatusCode::OK, &user, None)
}

pub async fn set_password(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    AdminForm { dash, form }: AdminForm<PasswordForm>,
) -> Result<Page, DashboardError> {
    let current = find_user(&state, &id).await?;
    let password = form.password.unwrap_or_default();
    let patch = UserPatch {
        password: Some(password),
        ..UserPatch::default()
    };
    let now = state.clock.now();
    let mut user = match current.apply(&patch, now) {
        Ok(user) => user,
        Err(e) => return render_password(dash, StatusCode::BAD_REQUEST, &current, Some(e.0)),
    };
    let reason = Reason::for_user_update(&current, &patch).unwrap_or(Reason::PasswordChanged);
    if let Some(password) = patch.password {
        user.password_hash = state.passwords.hash(password).await?;
    }
    let receipt = change(
        &state,
        &dash,
        &meta,
        UserChange::Update(Box::new(UserUpdate::new(current.clone(), user))),
        reason,
    )
    .await?;
    Ok(after_change(&current.user_id, "password", Some(&receipt)))
}

/// An account change that ends the user's access, through the one path.
async fn change(
    state: &AppState,
    dash: &Dash,
    meta: &RequestMeta,
    change: UserChange,
    reason: Reason,
) -> Result<RevocationReceipt, DashboardError> {
    let now = state.clock.now();
    revocation::change_account(state, change, &[], reason, &dash.admin.actor(), meta, now)
        .await?
        .ok_or_else(|| DashboardError::not_found("There is no user with this ID."))
}

// ---------------------------------------------------------------------------
// Block, unblock, delete
// ---------------------------------------------------------------------------

async fn confirm(
    state: &AppState,
    dash: Dash,
    user: &User,
    deleting: bool,
) -> Result<Page, DashboardError> {
    let target = RevocationTarget::UserAccess {
        user_id: user.user_id.clone(),
        session_id: None,
        keep_refresh_tokens: false,
    };
    let receipt = revocation::preview(state, &target, state.clock.now()).await?;
    let (heading, button, consequence, action) = if deleting {
        (
            format!("Delete {}?", user.email),
            "Delete user",
            "The user, their grants and their metadata are deleted; this cannot be undone. \
             Access tokens already issued introspect inactive at once.",
            format!("{}/delete", user_path(&user.user_id)),
        )
    } else {
        (
            format!("Block {}?", user.email),
            "Block user",
            "The user cannot sign in until unblocked; applications holding these refresh tokens \
             must sign the user in again. Access tokens already issued introspect inactive at once.",
            format!("{}/block", user_path(&user.user_id)),
        )
    };
    let html = Page::html(
        StatusCode::OK,
        &views::ConfirmRevokePage {
            layout: dash.layout("users"),
            user: header(user),
            tab: "details",
            heading,
            what: format!(
                "This will end every session of the user and revoke {}.",
                receipt_summary(&receipt)
            ),
            consequence,
            facts: vec![
                ("Email", user.email.clone()),
                ("User ID", user.user_id.to_string()),
                ("Logins", user.logins_count.to_string()),
            ],
            action,
            cancel: user_path(&user.user_id),
            button,
        },
    )?;
    Ok(dash.finish(html))
}

pub async fn confirm_block(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
) -> Result<Page, DashboardError> {
    let user = find_user(&state, &id).await?;
    if user.blocked {
        return Ok(Page::redirect(
            StatusCode::SEE_OTHER,
            user_path(&user.user_id),
        ));
    }
    confirm(&state, dash, &user, false).await
}

pub async fn block(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    AdminForm { dash, .. }: AdminForm<EmptyForm>,
) -> Result<Page, DashboardError> {
    let current = find_user(&state, &id).await?;
    if current.blocked {
        return Ok(after_change(
            &current.user_id,
            "blocked",
            Some(&RevocationReceipt::default()),
        ));
    }
    let patch = UserPatch {
        blocked: Some(true),
        ..UserPatch::default()
    };
    let user = current.apply(&patch, state.clock.now())?;
    let receipt = change(
        &state,
        &dash,
        &meta,
        UserChange::Update(Box::new(
            UserUpdate::new(current.clone(), user).naming(&["blocked"]),
        )),
        Reason::UserBlocked,
    )
    .await?;
    Ok(after_change(&current.user_id, "blocked", Some(&receipt)))
}

pub async fn unblock(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    AdminForm { dash, .. }: AdminForm<EmptyForm>,
) -> Result<Page, DashboardError> {
    let current = find_user(&state, &id).await?;
    if !current.blocked {
        return Ok(after_change(&current.user_id, "unblocked", None));
    }
    let patch = UserPatch {
        blocked: Some(false),
        ..UserPatch::default()
    };
    let user = current.apply(&patch, state.clock.now())?;
    let event = user_event(
        &dash,
        &meta,
        format!("Unblock user {}", user.user_id),
        &user,
    )
    .detail("changed", json!(["blocked"]));
    let update = UserUpdate::new(current, user.clone()).naming(&["blocked"]);
    state.store.update_user_audited(&update, &event).await?;
    Ok(after_change(&user.user_id, "unblocked", None))
}

pub async fn confirm_delete(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
) -> Result<Page, DashboardError> {
    let user = find_user(&state, &id).await?;
    confirm(&state, dash, &user, true).await
}

pub async fn delete(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    AdminForm { dash, .. }: AdminForm<EmptyForm>,
) -> Result<Page, DashboardError> {
    let user = find_user(&state, &id).await?;
    let _ = change(
        &state,
        &dash,
        &meta,
        UserChange::Delete {
            user_id: user.user_id.clone(),
        },
        Reason::UserDeleted,
    )
    .await?;
    Ok(Page::redirect(
        StatusCode::SEE_OTHER,
        "/dashboard/users?deleted=1".to_owned(),
    ))
}
