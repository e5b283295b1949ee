//! `/dashboard`: the administrators' HTML dashboard. Plain poem handlers
//! and askama templates (`templates/dashboard/`), thin over the same
//! services as the admin API, so every action obeys the same rules and
//! leaves the same audit events.
//!
//! - Sessions: `Services::dashboard_sign_in` / `dashboard_session`; the
//!   cookie `portcullis_dashboard` (HttpOnly, SameSite=Strict, `Path=/dashboard`,
//!   Secure unless `PORTCULLIS_COOKIE_SECURE=false`) holds the session's id.
//! - Access: [`Admin`] (signed in) and `Services::dashboard_tenant` (may
//!   administer the tenant of the path) — handlers hold no rules.
//! - CSRF: every state-changing form is taken through [`Submitted`], which
//!   checks the session's token (an HMAC of the cookie) before anything else.
//!   The sign-in form, which has no session yet, is a double submit: the
//!   token in the form must equal a random SameSite=Strict cookie set with it.
//! - No script and no inline style (a strict CSP): one stylesheet, served here.
//! - GET never changes anything; destructive actions go through a
//!   confirmation page.

mod audit;
mod forms;
mod settings_form;
mod sign_in;
mod tenants;
mod users;

use std::sync::Arc;

use askama::Template;
use poem::error::ResponseError;
use poem::http::StatusCode;
use poem::web::Redirect;
use poem::{
    Endpoint, EndpointExt, FromRequest, IntoResponse, Request, RequestBody, Response, Route, get,
    handler,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::api::pages::render;
use crate::api::request::{client_info, cookie};
use crate::domain::Secret;
use crate::error::Error;
use crate::service::Services;
use crate::service::dashboard::DashboardAdmin;
use crate::service::tenants::TenantContext;
use crate::service::tokens;

/// The session cookie; `Path=/dashboard` keeps it off every API route.
const SESSION_COOKIE: (&str, &str) = ("portcullis_dashboard", "/dashboard");
const STYLESHEET: &str = include_str!("../../../templates/dashboard/dashboard.css");

/// Every dashboard route. Errors become dashboard pages here, so the API's
/// problem+json catch-all never sees them.
pub fn routes() -> impl Endpoint {
    Route::new()
        .at("/", get(home))
        .at("/static/dashboard.css", get(stylesheet))
        .at("/sign-in", get(sign_in::show).post(sign_in::submit))
        .at("/sign-out", poem::post(sign_in::sign_out))
        .at("/tenants", get(tenants::list))
        .at("/tenants/new", get(tenants::new_form).post(tenants::create))
        .at("/t/:tenant", get(tenants::overview))
        .at(
            "/t/:tenant/settings",
            get(tenants::edit_settings).post(tenants::update_settings),
        )
        .at(
            "/t/:tenant/delete",
            get(tenants::confirm_delete).post(tenants::delete),
        )
        .at("/t/:tenant/keys", get(tenants::keys))
        .at(
            "/t/:tenant/keys/rotate",
            get(tenants::confirm_rotate).post(tenants::rotate),
        )
        .at("/t/:tenant/users", get(users::list))
        .at(
            "/t/:tenant/users/new",
            get(users::new_form).post(users::create),
        )
        .at(
            "/t/:tenant/users/:user",
            get(users::detail).post(users::update),
        )
        .at("/t/:tenant/users/:user/state", poem::post(users::set_state))
        .at(
            "/t/:tenant/users/:user/delete",
            get(users::confirm_delete).post(users::delete),
        )
        .at(
            "/t/:tenant/users/:user/sessions/revoke",
            poem::post(users::revoke_session),
        )
        .at(
            "/t/:tenant/users/:user/sessions/revoke-all",
            get(users::confirm_revoke_all).post(users::revoke_all),
        )
        .at("/t/:tenant/audit", get(audit::list))
        .catch_all_error(error_response)
}

/// `GET /dashboard`: the overview of the administrator's own tenant.
#[handler]
fn home(admin: Admin) -> Response {
    see_other(&format!("/dashboard/t/{}", admin.session.home.tenant.slug))
}

#[handler]
fn stylesheet() -> Response {
    Response::builder()
        .content_type("text/css; charset=utf-8")
        .header("Cache-Control", "public, max-age=3600")
        .header("X-Content-Type-Options", "nosniff")
        .body(STYLESHEET)
}

/// A signed-in administrator: the extractor of every dashboard page.
pub struct Admin {
    pub session: DashboardAdmin,
    token: Secret<String>,
}

impl Admin {
    /// The token every form of this session carries.
    fn csrf(&self) -> String {
        tokens::dashboard_csrf_token(self.token.expose())
    }

    /// The tenant of the path, if this administrator may administer it.
    async fn tenant(&self, services: &Services, slug: &str) -> Result<Arc<TenantContext>, Failure> {
        Ok(services.dashboard_tenant(&self.session, slug).await?)
    }

    /// Tenants, signing keys and settings are the platform's: superadmins only.
    fn require_superadmin(&self) -> Result<(), Failure> {
        if self.session.actor.superadmin {
            Ok(())
        } else {
            Err(Failure::Service(Error::Forbidden))
        }
    }

    /// What the layout shows around a page of `tenant`.
    fn nav(&self, tenant: &TenantContext, section: &'static str) -> Nav {
        Nav {
            email: self.session.user.email.clone(),
            home: self.session.home.tenant.slug.to_string(),
            superadmin: self.session.actor.superadmin,
            tenant: tenant.tenant.slug.to_string(),
            tenant_name: tenant.tenant.name.clone(),
            section,
            csrf: self.csrf(),
        }
    }
}

impl<'a> FromRequest<'a> for Admin {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let services = services(req)?;
        let token = cookie(req, SESSION_COOKIE.0).ok_or(Failure::SignedOut)?;
        match services.dashboard_session(&token, client_info(req)).await {
            Ok(session) => Ok(Self {
                session,
                token: Secret::new(token),
            }),
            Err(Error::InvalidToken) => Err(Failure::SignedOut.into()),
            Err(e) => Err(Failure::Service(e).into()),
        }
    }
}

fn services(req: &Request) -> Result<&Arc<Services>, Failure> {
    req.data::<Arc<Services>>()
        .ok_or_else(|| Failure::Service(Error::Internal("services not attached".into())))
}

/// A state-changing form of a signed-in administrator, taken only with
/// the session's CSRF token.
pub struct Submitted<T> {
    pub admin: Admin,
    pub form: T,
}

#[derive(Deserialize)]
struct CsrfField {
    csrf: String,
}

impl<'a, T: DeserializeOwned> FromRequest<'a> for Submitted<T> {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let admin = Admin::from_request(req, body).await?;
        let bytes = body.take()?.into_bytes().await?;
        let csrf = serde_urlencoded::from_bytes::<CsrfField>(&bytes).map_err(|_| Failure::Csrf)?;
        if !tokens::verify_dashboard_csrf_token(admin.token.expose(), &csrf.csrf) {
            return Err(Failure::Csrf.into());
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|_| Failure::BadForm)?;
        Ok(Self { admin, form })
    }
}

/// What the layout needs: who is signed in, where they are, the CSRF token.
pub struct Nav {
    pub email: String,
    pub home: String,
    pub superadmin: bool,
    /// The tenant the page is about.
    pub tenant: String,
    pub tenant_name: String,
    /// Which menu entry is current.
    pub section: &'static str,
    pub csrf: String,
}

/// Why a dashboard request did not get its page.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// No live session: to the sign-in page.
    #[error("not signed in")]
    SignedOut,
    /// A form without this session's CSRF token: 403.
    #[error("missing or wrong CSRF token")]
    Csrf,
    /// A form that does not have the fields its handler takes: 400.
    #[error("unreadable form")]
    BadForm,
    #[error(transparent)]
    Service(#[from] Error),
}

impl ResponseError for Failure {
    fn status(&self) -> StatusCode {
        match self {
            Self::SignedOut => StatusCode::SEE_OTHER,
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::BadForm => StatusCode::BAD_REQUEST,
            Self::Service(e) => service_status(e),
        }
    }

    fn as_response(&self) -> Response {
        let message = match self {
            Self::SignedOut => {
                let mut response = see_other("/dashboard/sign-in");
                clear_session_cookie(&mut response, false);
                return response;
            }
            Self::Csrf => "This form has expired or did not come from this dashboard. \
                           Go back, reload the page and try again."
                .to_owned(),
            Self::BadForm => "The form could not be read. Go back and try again.".to_owned(),
            Self::Service(e) => service_message(e),
        };
        error_page(self.status(), &message)
    }
}

fn service_status(err: &Error) -> StatusCode {
    match err {
        Error::Forbidden => StatusCode::FORBIDDEN,
        Error::NotFound | Error::TenantNotFound => StatusCode::NOT_FOUND,
        Error::Validation(_) => StatusCode::BAD_REQUEST,
        Error::EmailTaken | Error::TenantExists => StatusCode::CONFLICT,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::RateLimited(_) | Error::AccountLocked { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A service error in words for a page; internals are logged, never shown.
fn service_message(err: &Error) -> String {
    match err {
        Error::Forbidden => "You are not allowed to see this page or do this.".into(),
        Error::NotFound => "There is nothing here: it may have been deleted.".into(),
        Error::TenantNotFound => "No tenant has this name.".into(),
        Error::Validation(errors) => errors
            .iter()
            .map(|e| e.message.clone())
            .collect::<Vec<_>>()
            .join("; "),
        Error::EmailTaken => "A user with this email already exists.".into(),
        Error::TenantExists => "A tenant with this slug already exists.".into(),
        Error::RateLimited(_) | Error::AccountLocked { .. } => {
            "Too many attempts. Wait a little and try again.".into()
        }
        Error::Unavailable(reason) => {
            tracing::warn!(%reason, "service unavailable");
            "The service is busy or briefly unavailable. Try again in a moment.".into()
        }
        other => {
            tracing::error!(error = %other, "dashboard request failed");
            "Something went wrong on our side.".into()
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

fn error_page(status: StatusCode, message: &str) -> Response {
    render(
        status,
        &ErrorPage {
            title: status.canonical_reason().unwrap_or("Error"),
            message,
        },
    )
}

/// Errors that are not ours (no such route, wrong method) as pages too.
async fn error_response(err: poem::Error) -> Response {
    if err.is::<Failure>() {
        return err.into_response();
    }
    let status = err.status();
    let message = match status {
        StatusCode::NOT_FOUND => "There is no such page.",
        StatusCode::METHOD_NOT_ALLOWED => "This page does not take this kind of request.",
        s if s.is_server_error() => {
            tracing::error!(error = %err, "dashboard request failed");
            "Something went wrong on our side."
        }
        _ => "The request could not be read.",
    };
    error_page(status, message)
}

/// 303: after a form, the browser GETs the next page (post/redirect/get).
fn see_other(location: &str) -> Response {
    Redirect::see_other(location).into_response()
}

/// Adds a `Set-Cookie` for a cookie only this server reads: HttpOnly,
/// SameSite=Strict, scoped to `path`; `max_age` 0 deletes it.
fn set_cookie(
    response: &mut Response,
    (name, path): (&str, &str),
    value: &str,
    max_age: u64,
    secure: bool,
) {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    );
    if let Ok(value) = cookie.parse() {
        response
            .headers_mut()
            .append(poem::http::header::SET_COOKIE, value);
    }
}

fn clear_session_cookie(response: &mut Response, secure: bool) {
    set_cookie(response, SESSION_COOKIE, "", 0, secure);
}

/// A page rendered with its security headers and a 200.
fn ok(page: &impl Template) -> Result<Response, Failure> {
    Ok(render(StatusCode::OK, page))
}
