//! A tenant's users: search, create, a user's page with roles, state and
//! sessions, and the actions on them — each one call to `service::admin`.

use std::sync::Arc;

use askama::Template;
use chrono::Utc;
use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{Response, handler};
use serde::Deserialize;
use uuid::Uuid;

use super::forms::{Confirm, Confirmation, Done, FormErrors, Pager, encode, page_number, time};
use super::{Admin, Failure, Nav, Submitted, ok, see_other};
use crate::api::pages::render;
use crate::domain::{FieldError, SessionId, UserId};
use crate::error::Error;
use crate::service::Services;
use crate::service::admin::{NewUser, UserChanges};
use crate::service::tenants::TenantContext;
use crate::store::users::User;

/// A user as the pages show them.
struct UserView {
    id: String,
    email: String,
    name: String,
    roles: String,
    disabled: bool,
    locked: bool,
    verified: bool,
    created: String,
}

impl UserView {
    fn new(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.clone(),
            name: user.name.clone().unwrap_or_default(),
            roles: user.roles.join(", "),
            disabled: user.disabled,
            locked: user.locked_until.is_some_and(|until| until > Utc::now()),
            verified: user.email_verified,
            created: time(user.created_at),
        }
    }
}

/// Role names from a text field: separated by commas or spaces.
fn roles(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

fn user_id(text: &str) -> Result<UserId, Failure> {
    Uuid::parse_str(text)
        .map(UserId)
        .map_err(|_| Failure::Service(Error::NotFound))
}

#[derive(Template)]
#[template(path = "dashboard/users.html")]
struct UsersPage {
    nav: Nav,
    q: String,
    users: Vec<UserView>,
    pager: Pager,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    page: Option<String>,
}

/// `GET /dashboard/t/{tenant}/users?q=&page=`.
#[handler]
pub async fn list(
    admin: Admin,
    services: Data<&Arc<Services>>,
    Path(slug): Path<String>,
    Query(query): Query<ListQuery>,
    Query(done): Query<Done>,
) -> Result<Response, Failure> {
    let tenant = admin.tenant(&services, &slug).await?;
    let page = page_number(query.page.as_deref());
    let q = query.q.unwrap_or_default();
    let (users, total) = services
        .admin
        .list_users(&tenant, Some(q.as_str()), page)
        .await?;
    let rest = if q.is_empty() {
        String::new()
    } else {
        format!("q={}", encode(&q))
    };
    ok(&UsersPage {
        nav: admin.nav(&tenant, "users"),
        users: users.iter().map(UserView::new).collect(),
        pager: Pager::new(&format!("/dashboard/t/{slug}/users"), &rest, page, total),
        q,
        notice: done.notice(),
    })
}

const NEW_USER_FIELDS: &[&str] = &["email", "name", "password", "roles"];

#[derive(Template)]
#[template(path = "dashboard/user-new.html")]
struct NewUserPage {
    nav: Nav,
    form: NewUserForm,
    errors: FormErrors,
}

#[derive(Deserialize, Default)]
pub struct NewUserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    roles: String,
}

/// `GET /dashboard/t/{tenant}/users/new`.
#[handler]
pub async fn new_form(
    admin: Admin,
    services: Data<&Arc<Services>>,
    Path(slug): Path<String>,
) -> Result<Response, Failure> {
    let tenant = admin.tenant(&services, &slug).await?;
    ok(&NewUserPage {
        nav: admin.nav(&tenant, "users"),
        form: NewUserForm::default(),
        errors: FormErrors::default(),
    })
}

/// `POST /dashboard/t/{tenant}/users/new`.
#[handler]
pub async fn create(
    services: Data<&Arc<Services>>,
    Path(slug): Path<String>,
    submitted: Submitted<NewUserForm>,
) -> Result<Response, Failure> {
    let Submitted { admin, mut form } = submitted;
    let tenant = admin.tenant(&services, &slug).await?;
    let input = NewUser {
        email: form.email.clone(),
        password: Some(form.password.clone()).filter(|p| !p.is_empty()),
        name: optional(&form.name),
        roles: Some(roles(&form.roles)),
    };
    let errors = match services
        .admin
        .create_user(&admin.session.actor, &tenant, input)
        .await
    {
        Ok(user) => {
            return Ok(see_other(&format!(
                "/dashboard/t/{slug}/users/{}?done=created",
                user.id
            )));
        }
        Err(Error::Validation(errors)) => FormErrors::new(errors, NEW_USER_FIELDS),
        Err(Error::EmailTaken) => FormErrors::new(
            vec![FieldError::new("email", "is already taken in this tenant")],
            NEW_USER_FIELDS,
        ),
        Err(e) => return Err(e.into()),
    };
    // A password is never sent back to the browser.
    form.password.clear();
    Ok(render(
        StatusCode::BAD_REQUEST,
        &NewUserPage {
            nav: admin.nav(&tenant, "users"),
            form,
            errors,
        },
    ))
}

struct SessionRow {
    id: String,
    device: String,
    ip: String,
    created: String,
    last_used: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "dashboard/user.html")]
struct UserPage {
    nav: Nav,
    user: UserView,
    /// The edit form's values (as submitted, when shown again with errors).
    name: String,
    roles: String,
    errors: FormErrors,
    sessions: Vec<SessionRow>,
    notice: Option<&'static str>,
    is_self: bool,
}

async fn user_page(
    services: &Services,
    admin: &Admin,
    tenant: &TenantContext,
    user: &User,
    edit: Option<(String, String, FormErrors)>,
    notice: Option<&'static str>,
) -> Result<UserPage, Failure> {
    let sessions = services.admin.user_sessions(tenant, user.id).await?;
    let view = UserView::new(user);
    let (name, roles, errors) =
        edit.unwrap_or_else(|| (view.name.clone(), view.roles.clone(), FormErrors::default()));
    Ok(UserPage {
        nav: admin.nav(tenant, "users"),
        is_self: admin.session.user.id == user.id,
        user: view,
        name,
        roles,
        errors,
        sessions: sessions
            .into_iter()
            .map(|s| SessionRow {
                id: s.id.to_string(),
                device: s.user_agent.unwrap_or_else(|| "unknown".into()),
                ip: s.ip.unwrap_or_else(|| "unknown".into()),
                created: time(s.created_at),
                last_used: time(s.last_used_at),
                expires: time(s.expires_at),
            })
            .collect(),
        notice,
    })
}

/// `GET /dashboard/t/{tenant}/users/{id}`.
#[handler]
pub async fn detail(
    admin: Admin,
    services: Data<&Arc<Services>>,
    Path((slug, id)): Path<(String, String)>,
    Query(done): Query<Done>,
) -> Result<Response, Failure> {
    let tenant = admin.tenant(&services, &slug).await?;
    let user = services.admin.get_user(&tenant, user_id(&id)?).await?;
    ok(&user_page(&services, &admin, &tenant, &user, None, done.notice()).await?)
}

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    roles: String,
}

/// `POST /dashboard/t/{tenant}/users/{id}`: name and roles.
#[handler]
pub async fn update(
    services: Data<&Arc<Services>>,
    Path((slug, id)): Path<(String, String)>,
    submitted: Submitted<EditForm>,
) -> Result<Response, Failure> {
    let Submitted { admin, form } = submitted;
    let tenant = admin.tenant(&services, &slug).await?;
    let id = user_id(&id)?;
    let changes = UserChanges {
        name: Some(optional(&form.name)),
        roles: Some(roles(&form.roles)),
        ..UserChanges::default()
    };
    match services
        .admin
        .update_user(&admin.session.actor, &tenant, id, changes)
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "/dashboard/t/{slug}/users/{id}?done=saved"
        ))),
        Err(Error::Validation(errors)) => {
            let user = services.admin.get_user(&tenant, id).await?;
            let edit = (
                form.name,
                form.roles,
                FormErrors::new(errors, &["name", "roles"]),
            );
            let page = user_page(&services, &admin, &tenant, &user, Some(edit), None).await?;
            Ok(render(StatusCode::BAD_REQUEST, &page))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct StateForm {
    action: String,
}

/// `POST /dashboard/t/{tenant}/users/{id}/state`: disable, enable, unlock.
#[handler]
pub async fn set_state(
    services: Data<&Arc<Services>>,
    Path((slug, id)): Path<(String, String)>,
    submitted: Submitted<StateForm>,
) -> Result<Response, Failure> {
    let Submitted { admin, form } = submitted;
    let tenant = admin.tenant(&services, &slug).await?;
    let id = user_id(&id)?;
    let (changes, done) = match form.action.as_str() {
        "disable" => (
            UserChanges {
                disabled: Some(true),
                ..UserChanges::default()
            },
            "disabled",
        ),
        "enable" => (
            UserChanges {
                disabled: Some(false),
                ..UserChanges::default()
            },
            "enabled",
        ),
        "unlock" => (
            UserChanges {
                locked: Some(false),
                ..UserChanges::default()
            },
            "unlocked",
        ),
        _ => return Err(Failure::BadForm),
    };
    services
        .admin
        .update_user(&admin.session.actor, &tenant, id, changes)
        .await?;
    Ok(see_other(&format!(
        "/dashboard/t/{slug}/users/{id}?done={done}"
    )))
}

/// `GET /dashboard/t/{tenant}/users/{id}/delete`: type the email to confirm.
#[handler]
pub async fn confirm_delete(
    admin: Admin,
    services: Data<&Arc<Services>>,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, Failure> {
    let tenant = admin.tenant(&services, &slug).await?;
    let user = services.admin.get_user(&tenant, user_id(&id)?).await?;
    ok(&delete_page(&admin, &tenant, &user, None))
}

fn delete_page(
    admin: &Admin,
    tenant: &TenantContext,
    user: &User,
    error: Option<&'static str>,
) -> Confirm {
    let slug = &tenant.tenant.slug;
    Confirm {
        nav: admin.nav(tenant, "users"),
        title: format!("Delete {}", user.email),
        message: "This deletes the user with their sessions. It cannot be undone.".into(),
        action: format!("/dashboard/t/{slug}/users/{}/delete", user.id),
        button: "Delete this user",
        back: format!("/dashboard/t/{slug}/users/{}", user.id),
        typed: Some(user.email.clone()),
        error,
    }
}

/// `POST /dashboard/t/{tenant}/users/{id}/delete`.
#[handler]
pub async fn delete(
    services: Data<&Arc<Services>>,
    Path((slug, id)): Path<(String, String)>,
    submitted: Submitted<Confirmation>,
) -> Result<Response, Failure> {
    let Submitted { admin, form } = submitted;
    let tenant = admin.tenant(&services, &slug).await?;
    let user = services.admin.get_user(&tenant, user_id(&id)?).await?;
    if !form.matches(&user.email) {
        let page = delete_page(
            &admin,
            &tenant,
            &user,
            Some("Type the user's email exactly."),
        );
        return Ok(render(StatusCode::BAD_REQUEST, &page));
    }
    services
        .admin
        .delete_user(&admin.session.actor, &tenant, user.id)
        .await?;
    Ok(see_other(&format!(
        "/dashboard/t/{slug}/users?done=deleted"
    )))
}

#[derive(Deserialize)]
pub struct RevokeForm {
    session: String,
}

/// `POST /dashboard/t/{tenant}/users/{id}/sessions/revoke`.
#[handler]
pub async fn revoke_session(
    services: Data<&Arc<Services>>,
    Path((slug, id)): Path<(String, String)>,
    submitted: Submitted<RevokeForm>,
) -> Result<Response, Failure> {
    let Submitted { admin, form } = submitted;
    let tenant = admin.tenant(&services, &slug).await?;
    let session = Uuid::parse_str(&form.session).map_err(|_| Failure::BadForm)?;
    services
        .admin
        .revoke_session(&admin.session.actor, &tenant, SessionId(session))
        .await?;
    Ok(see_other(&format!(
        "/dashboard/t/{slug}/users/{}?done=revoked",
        user_id(&id)?
    )))
}

/// `GET /dashboard/t/{tenant}/users/{id}/sessions/revoke-all`.
#[handler]
pub async fn confirm_revoke_all(
    admin: Admin,
    services: Data<&Arc<Services>>,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response, Failure> {
    let tenant = admin.tenant(&services, &slug).await?;
    let user = services.admin.get_user(&tenant, user_id(&id)?).await?;
    ok(&Confirm {
        nav: admin.nav(&tenant, "users"),
        title: format!("Sign {} out everywhere", user.email),
        message: "Every session of this user is revoked: their access and refresh tokens \
                  stop working at once."
            .into(),
        action: format!("/dashboard/t/{slug}/users/{}/sessions/revoke-all", user.id),
        button: "Revoke all sessions",
        back: format!("/dashboard/t/{slug}/users/{}", user.id),
        typed: None,
        error: None,
    })
}

/// `POST /dashboard/t/{tenant}/users/{id}/sessions/revoke-all`.
#[handler]
pub async fn revoke_all(
    services: Data<&Arc<Services>>,
    Path((slug, id)): Path<(String, String)>,
    submitted: Submitted<super::forms::NoFields>,
) -> Result<Response, Failure> {
    let admin = submitted.admin;
    let tenant = admin.tenant(&services, &slug).await?;
    let id = user_id(&id)?;
    services
        .admin
        .revoke_user_sessions(&admin.session.actor, &tenant, id)
        .await?;
    Ok(see_other(&format!(
        "/dashboard/t/{slug}/users/{id}?done=revoked-all"
    )))
}
