//! Signing in and out. Sign-in goes through `Services::dashboard_sign_in`,
//! that is through the API login's own credential check.

use std::sync::Arc;

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;

use super::forms::{Done, FormErrors, NoFields};
use super::{Failure, SESSION_COOKIE, Submitted, clear_session_cookie, see_other, set_cookie};
use crate::api::pages::render;
use crate::api::request::{client_info, cookie};
use crate::domain::FieldError;
use crate::error::Error;
use crate::service::Services;
use crate::service::dashboard::ABSOLUTE_TIMEOUT;
use crate::service::tokens;

/// The double-submit cookie of the sign-in form. There is no session to
/// tie a token to yet; a page elsewhere can neither read this cookie nor
/// make the browser send it (SameSite=Strict), so it cannot forge a
/// sign-in (login CSRF).
const SIGN_IN_COOKIE: (&str, &str) = ("portcullis_dashboard_signin", "/dashboard/sign-in");

/// The inputs that show their own errors.
const FIELDS: &[&str] = &["tenant", "email", "password"];

#[derive(Template)]
#[template(path = "dashboard/sign-in.html")]
struct SignInPage<'a> {
    tenant: &'a str,
    email: &'a str,
    csrf: &'a str,
    notice: Option<&'static str>,
    errors: FormErrors,
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// `GET /dashboard/sign-in`.
#[handler]
pub fn show(services: Data<&Arc<Services>>, Query(done): Query<Done>) -> Result<Response, Failure> {
    page(
        &services,
        StatusCode::OK,
        "system",
        "",
        done.notice(),
        FormErrors::default(),
    )
}

/// `POST /dashboard/sign-in`.
#[handler]
pub async fn submit(
    req: &Request,
    services: Data<&Arc<Services>>,
    Form(form): Form<SignInForm>,
) -> Result<Response, Failure> {
    let expected = cookie(req, SIGN_IN_COOKIE.0);
    if expected.is_none() || expected.as_deref() != Some(form.csrf.as_str()) {
        return page(
            &services,
            StatusCode::FORBIDDEN,
            &form.tenant,
            &form.email,
            None,
            FormErrors::message("The sign-in form had expired. Please try again."),
        );
    }
    let result = services
        .dashboard_sign_in(&form.tenant, &form.email, form.password, client_info(req))
        .await;
    let (status, errors) = match result {
        Ok(token) => {
            let secure = services.config.cookie_secure;
            let mut response = see_other("/dashboard");
            let lifetime = ABSOLUTE_TIMEOUT.as_secs();
            set_cookie(
                &mut response,
                SESSION_COOKIE,
                token.expose(),
                lifetime,
                secure,
            );
            set_cookie(&mut response, SIGN_IN_COOKIE, "", 0, secure);
            return Ok(response);
        }
        Err(Error::TenantNotFound) => (
            StatusCode::NOT_FOUND,
            FormErrors::new(
                vec![FieldError::new("tenant", "No tenant has this name.")],
                FIELDS,
            ),
        ),
        Err(Error::Validation(errors)) => {
            (StatusCode::BAD_REQUEST, FormErrors::new(errors, FIELDS))
        }
        Err(Error::InvalidCredentials) => (
            StatusCode::UNAUTHORIZED,
            FormErrors::message("Wrong email or password."),
        ),
        Err(Error::AccountDisabled) => (
            StatusCode::FORBIDDEN,
            FormErrors::message("This account is disabled."),
        ),
        Err(Error::EmailNotVerified) => (
            StatusCode::FORBIDDEN,
            FormErrors::message("This account's email address is not verified yet."),
        ),
        Err(Error::Forbidden) => (
            StatusCode::FORBIDDEN,
            FormErrors::message(
                "This account does not administer this tenant. The dashboard is for \
                 tenant administrators (role admin) and platform superadmins (tenant system).",
            ),
        ),
        Err(Error::AccountLocked { retry_after_secs }) => (
            StatusCode::TOO_MANY_REQUESTS,
            FormErrors::message(&format!(
                "Too many failed sign-ins for this account. Try again in {} minutes, \
                 or ask an administrator to unlock it.",
                retry_after_secs.div_ceil(60)
            )),
        ),
        Err(Error::RateLimited(throttled)) => (
            StatusCode::TOO_MANY_REQUESTS,
            FormErrors::message(&format!(
                "Too many sign-in attempts. Try again in {} seconds.",
                throttled.retry_after_secs
            )),
        ),
        Err(other) => return Err(other.into()),
    };
    page(&services, status, &form.tenant, &form.email, None, errors)
}

/// `POST /dashboard/sign-out`: deletes the session.
#[handler]
pub async fn sign_out(
    services: Data<&Arc<Services>>,
    submitted: Submitted<NoFields>,
) -> Result<Response, Failure> {
    services
        .dashboard_sign_out(submitted.admin.token.expose())
        .await?;
    let mut response = see_other("/dashboard/sign-in?done=signed-out");
    clear_session_cookie(&mut response, services.config.cookie_secure);
    Ok(response)
}

/// The form with a fresh double-submit token (and its cookie).
fn page(
    services: &Services,
    status: StatusCode,
    tenant: &str,
    email: &str,
    notice: Option<&'static str>,
    errors: FormErrors,
) -> Result<Response, Failure> {
    let csrf = tokens::new_sign_in_token()?;
    let mut response = render(
        status,
        &SignInPage {
            tenant,
            email,
            csrf: csrf.expose(),
            notice,
            errors,
        },
    );
    let secure = services.config.cookie_secure;
    set_cookie(&mut response, SIGN_IN_COOKIE, csrf.expose(), 3600, secure);
    Ok(response)
}
