//! The hosted HTML pages behind the links in mails:
//! `/t/{tenant}/reset-password?token=...` and `/t/{tenant}/verify-email?token=...`.
//!
//! Plain forms, no JavaScript. Opening a page (GET) never uses the token
//! up — mail scanners and link previews open links too — so each page
//! asks for a form POST before anything changes. The pages load nothing
//! from elsewhere and send no referrer, so the token in the address never
//! reaches a third party; a strict CSP forbids inline script and framing.
//! Service errors become pages here, as they become problem+json in
//! `problem` (one error, two renderers).
//!
//! They are operations of the OpenAPI document like every other route of
//! the contract (tag `Pages`), answering HTML for each status.

use std::sync::Arc;

use askama::Template;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{IntoResponse, Response, handler};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Form, Html, Payload as _};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;

use super::ApiTags;
use crate::error::Error;
use crate::service::Services;
use crate::service::tenants::TenantContext;

/// No script at all; styles and form posts only to ourselves; no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The pages' one stylesheet, served at [`STYLESHEET_PATH`].
const STYLESHEET: &str = include_str!("../../../templates/pages/portcullis.css");
pub const STYLESHEET_PATH: &str = "/assets/portcullis.css";

/// The reset page's form.
#[derive(Deserialize, Object)]
#[oai(rename = "ResetPasswordForm")]
pub struct ResetForm {
    /// The token of the link.
    token: String,
    /// The new password.
    password: String,
    /// The new password again.
    confirm: String,
}

/// The confirmation page's form.
#[derive(Deserialize, Object)]
#[oai(rename = "VerifyEmailForm")]
pub struct VerifyForm {
    /// The token of the link.
    token: String,
}

/// A hosted page: HTML with the security headers of [`render`], for every
/// status it can have.
pub struct HtmlPage(Response);

impl IntoResponse for HtmlPage {
    fn into_response(self) -> Response {
        self.0
    }
}

impl ApiResponse for HtmlPage {
    fn meta() -> MetaResponses {
        let page = |status, description| MetaResponse {
            description,
            status: Some(status),
            status_range: None,
            content: vec![MetaMediaType {
                content_type: "text/html; charset=utf-8",
                schema: Html::<String>::schema_ref(),
            }],
            headers: Vec::new(),
        };
        MetaResponses {
            responses: vec![
                page(200, "The page."),
                page(
                    400,
                    "The link does not work (invalid, expired or used token), or the \
                     submitted password was refused; the page says which.",
                ),
                page(404, "No such tenant."),
                page(429, "Too many attempts from this client."),
                page(503, "Busy or briefly unavailable; try again in a moment."),
            ],
        }
    }

    fn register(_registry: &mut Registry) {}
}

pub struct PagesApi;

#[OpenApi(tag = "ApiTags::Pages")]
impl PagesApi {
    /// The password-reset page (the link in reset mails)
    ///
    /// For a browser: a new-password form while the token can still be
    /// used, else a page saying why the link does not work. Opening it
    /// never uses the token up; the form posts back to this address.
    #[oai(
        path = "/t/:tenant/reset-password",
        method = "get",
        operation_id = "resetPasswordPage"
    )]
    async fn reset_form(
        &self,
        tenant: Path<String>,
        token: Query<Option<String>>,
        services: Data<&Arc<Services>>,
    ) -> HtmlPage {
        HtmlPage(reset_form(&services, &tenant, token.0.unwrap_or_default()).await)
    }

    /// Submits the password-reset page
    ///
    /// Sets the password (signing the user out everywhere) and shows a
    /// confirmation, or shows the form again with what is wrong.
    #[oai(
        path = "/t/:tenant/reset-password",
        method = "post",
        operation_id = "resetPasswordPageSubmit"
    )]
    async fn reset_submit(
        &self,
        tenant: Path<String>,
        services: Data<&Arc<Services>>,
        form: Form<ResetForm>,
    ) -> HtmlPage {
        HtmlPage(reset_submit(&services, &tenant, form.0).await)
    }

    /// The email-confirmation page (the link in verification mails)
    ///
    /// For a browser: a confirm button while the token can still be used,
    /// else a page saying why the link does not work. Opening it verifies
    /// nothing and never uses the token up.
    #[oai(
        path = "/t/:tenant/verify-email",
        method = "get",
        operation_id = "verifyEmailPage"
    )]
    async fn verify_form(
        &self,
        tenant: Path<String>,
        token: Query<Option<String>>,
        services: Data<&Arc<Services>>,
    ) -> HtmlPage {
        HtmlPage(verify_form(&services, &tenant, token.0.unwrap_or_default()).await)
    }

    /// Submits the email-confirmation page
    ///
    /// Verifies the address and shows a confirmation.
    #[oai(
        path = "/t/:tenant/verify-email",
        method = "post",
        operation_id = "verifyEmailPageSubmit"
    )]
    async fn verify_submit(
        &self,
        tenant: Path<String>,
        services: Data<&Arc<Services>>,
        form: Form<VerifyForm>,
    ) -> HtmlPage {
        HtmlPage(verify_submit(&services, &tenant, form.0).await)
    }
}

#[derive(Template)]
#[template(path = "pages/reset-password.html")]
struct ResetPage<'a> {
    tenant_name: &'a str,
    email: &'a str,
    token: &'a str,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "pages/verify-email.html")]
struct VerifyPage<'a> {
    tenant_name: &'a str,
    email: &'a str,
    token: &'a str,
}

/// A page that only says something: success, or why a link does not work.
#[derive(Template)]
#[template(path = "pages/message.html")]
struct MessagePage<'a> {
    tenant_name: &'a str,
    title: &'a str,
    message: &'a str,
    success: bool,
}

/// `GET /t/{tenant}/reset-password?token=...`: the new-password form, when
/// the token can still be used.
async fn reset_form(services: &Services, tenant: &str, token: String) -> Response {
    let context = match tenant_or_page(services, tenant).await {
        Ok(context) => context,
        Err(page) => return page,
    };
    match services
        .credentials
        .check_reset_token(&context, &token)
        .await
    {
        Ok(holder) => render(
            StatusCode::OK,
            &ResetPage {
                tenant_name: &context.tenant.name,
                email: &holder.user.email,
                token: &token,
                errors: Vec::new(),
            },
        ),
        Err(e) => error_page(Some(&context), e),
    }
}

/// `POST /t/{tenant}/reset-password` (form): sets the password, or shows
/// the form again with what is wrong.
async fn reset_submit(services: &Services, tenant: &str, form: ResetForm) -> Response {
    let context = match tenant_or_page(services, tenant).await {
        Ok(context) => context,
        Err(page) => return page,
    };
    let holder = match services
        .credentials
        .check_reset_token(&context, &form.token)
        .await
    {
        Ok(holder) => holder,
        Err(e) => return error_page(Some(&context), e),
    };
    let errors = if form.password == form.confirm {
        match services
            .credentials
            .reset_password(&context, &form.token, form.password)
            .await
        {
            Ok(()) => {
                return render(
                    StatusCode::OK,
                    &MessagePage {
                        tenant_name: &context.tenant.name,
                        title: "Password changed",
                        message: "Your new password is set, and you have been signed out \
                                  everywhere. Sign in again with the new password.",
                        success: true,
                    },
                );
            }
            Err(Error::Validation(errors)) => errors
                .into_iter()
                .map(|e| format!("The password {}.", e.message))
                .collect(),
            Err(e) => return error_page(Some(&context), e),
        }
    } else {
        vec!["The two passwords are not the same.".to_owned()]
    };
    render(
        StatusCode::BAD_REQUEST,
        &ResetPage {
            tenant_name: &context.tenant.name,
            email: &holder.user.email,
            token: &form.token,
            errors,
        },
    )
}

/// `GET /t/{tenant}/verify-email?token=...`: a confirm button (the GET
/// itself verifies nothing).
async fn verify_form(services: &Services, tenant: &str, token: String) -> Response {
    let context = match tenant_or_page(services, tenant).await {
        Ok(context) => context,
        Err(page) => return page,
    };
    match services
        .credentials
        .check_verification_token(&context, &token)
        .await
    {
        Ok(holder) => render(
            StatusCode::OK,
            &VerifyPage {
                tenant_name: &context.tenant.name,
                email: &holder.user.email,
                token: &token,
            },
        ),
        Err(e) => error_page(Some(&context), e),
    }
}

/// `POST /t/{tenant}/verify-email` (form): verifies the address.
async fn verify_submit(services: &Services, tenant: &str, form: VerifyForm) -> Response {
    let context = match tenant_or_page(services, tenant).await {
        Ok(context) => context,
        Err(page) => return page,
    };
    match services
        .credentials
        .verify_email(&context, &form.token)
        .await
    {
        Ok(()) => render(
            StatusCode::OK,
            &MessagePage {
                tenant_name: &context.tenant.name,
                title: "Email address confirmed",
                message: "Thank you: your email address is confirmed. You can close this page.",
                success: true,
            },
        ),
        Err(e) => error_page(Some(&context), e),
    }
}

/// `GET /assets/portcullis.css`.
#[handler]
pub fn stylesheet() -> Response {
    Response::builder()
        .content_type("text/css; charset=utf-8")
        .header("Cache-Control", "public, max-age=3600")
        .header("X-Content-Type-Options", "nosniff")
        .body(STYLESHEET)
}

/// The tenant of the path, or the page saying it does not exist.
async fn tenant_or_page(services: &Services, slug: &str) -> Result<Arc<TenantContext>, Response> {
    services
        .tenants
        .resolve(slug)
        .await
        .map_err(|e| error_page(None, e))
}

/// A service error as a page. Internal details are logged, never shown.
fn error_page(tenant: Option<&TenantContext>, err: Error) -> Response {
    let (status, title, message) = match &err {
        Error::InvalidResetToken => (
            StatusCode::BAD_REQUEST,
            "This link does not work",
            "This password-reset link is invalid, has expired or was used already. \
             Ask for a new one where you sign in.",
        ),
        Error::InvalidVerificationToken => (
            StatusCode::BAD_REQUEST,
            "This link does not work",
            "This confirmation link is invalid, has expired or was used already. \
             Sign in and ask for a new one.",
        ),
        Error::TenantNotFound | Error::NotFound => (
            StatusCode::NOT_FOUND,
            "Not found",
            "There is nothing at this address.",
        ),
        Error::RateLimited(_) | Error::AccountLocked { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "There were too many attempts from here. Please wait a little and try again.",
        ),
        Error::Unavailable(reason) => {
            tracing::warn!(%reason, "service unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again in a moment",
                "The service is busy or briefly unavailable. Please try again in a moment.",
            )
        }
        other => {
            tracing::error!(error = %other, "hosted page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Something went wrong on our side. Please try again later.",
            )
        }
    };
    render(
        status,
        &MessagePage {
            tenant_name: tenant.map_or("Portcullis", |t| t.tenant.name.as_str()),
            title,
            message,
            success: false,
        },
    )
}

/// A page with the security headers every HTML answer carries (the
/// dashboard's too).
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    let (status, body) = match page.render() {
        Ok(body) => (status, body),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side.".to_owned(),
            )
        }
    };
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        .header("Referrer-Policy", "no-referrer")
        .header("Cache-Control", "no-store")
        .header("X-Content-Type-Options", "nosniff")
        .header("X-Frame-Options", "DENY")
        .body(body)
}
