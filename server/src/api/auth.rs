//! `/t/{tenant}/auth/...`: register, login, refresh, logout, logout-all,
//! and the password lifecycle (change, forgot, reset, verify, resend).

use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::body::{JsonBody, OptionalJsonBody};
use super::models::{Accepted, AcceptedResponse, NoContent, TokenPair, User};
use super::problem::ApiResult;
use super::request::{BearerAuth, client_info, refresh_cookie, refresh_set_cookie};
use crate::error::Error;
use crate::service::Services;
use crate::service::auth::Registration;
use crate::service::credentials::UserGone;

pub struct AuthApi;

#[derive(Object)]
#[oai(rename_all = "camelCase")]
struct RegisterRequest {
    /// Trimmed and lower-cased before it is stored or compared.
    email: String,
    /// Must follow the tenant's password policy (default: 8–128 characters
    /// after NFKC normalisation, not one of the most common passwords, not
    /// containing the email's local part). Each broken rule is its own
    /// entry in `errors`.
    password: String,
    name: Option<String>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
struct RefreshRequest {
    refresh_token: String,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
struct ChangePasswordRequest {
    current_password: String,
    /// Must follow the tenant's password policy, like at registration.
    new_password: String,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
struct ForgotPasswordRequest {
    email: String,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
struct ResetPasswordRequest {
    /// The `token` of the link in the reset mail.
    token: String,
    /// The new password; must follow the tenant's password policy.
    password: String,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
struct VerifyEmailRequest {
    /// The `token` of the link in the verification mail.
    token: String,
}

#[derive(ApiResponse)]
enum RegisterResponse {
    /// The account was created.
    #[oai(status = 201)]
    Created(Json<User>),
}

#[derive(ApiResponse)]
enum TokenResponse {
    /// A new token pair; the refresh token is also set as an HttpOnly cookie.
    #[oai(status = 200)]
    Ok(
        Json<TokenPair>,
        /// The refresh cookie: `HttpOnly; Secure; SameSite=Strict; Path=/t/{tenant}/auth`.
        #[oai(header = "Set-Cookie")]
        String,
        /// `no-store`: token responses must not be cached (RFC 6749 §5.1).
        #[oai(header = "Cache-Control")]
        String,
    ),
}

#[derive(ApiResponse)]
enum LogoutResponse {
    /// Done (also when the token was unknown); the refresh cookie is cleared.
    #[oai(status = 204)]
    NoContent(#[oai(header = "Set-Cookie")] String),
}

fn token_response(
    services: &Services,
    tenant: &str,
    pair: crate::service::auth::TokenPair,
) -> TokenResponse {
    let cookie = refresh_set_cookie(
        tenant,
        Some((pair.refresh_token.expose(), pair.refresh_expires_in)),
        services.config.cookie_secure,
    );
    TokenResponse::Ok(Json(pair.into()), cookie, "no-store".into())
}

/// The one answer of `forgot-password`, whatever the email.
const FORGOT_PASSWORD_MESSAGE: &str =
    "If an account with this email exists, a link to reset its password is on its way.";

/// The refresh token of a refresh or logout: the body's wins over the cookie.
fn presented_refresh_token(body: Option<RefreshRequest>, req: &Request) -> Option<String> {
    body.map(|b| b.refresh_token)
        .or_else(|| refresh_cookie(req))
}

#[OpenApi(tag = "ApiTags::Auth")]
impl AuthApi {
    /// Register a new user
    ///
    /// Creates an account in the tenant with the role `user`. Answers
    /// 403 `signup_disabled` when the tenant does not allow self-registration
    /// (always so in `system`), 409 `email_taken` when the email (compared
    /// trimmed and lower-cased) is in use.
    #[oai(
        path = "/t/:tenant/auth/register",
        method = "post",
        operation_id = "register"
    )]
    async fn register(
        &self,
        services: Data<&Arc<Services>>,
        /// The tenant's slug.
        tenant: Path<String>,
        body: JsonBody<RegisterRequest>,
        req: &Request,
    ) -> ApiResult<RegisterResponse> {
        let tenant = services.tenants.resolve(&tenant).await?;
        let JsonBody(body) = body;
        let user = services
            .auth
            .register(
                &tenant,
                Registration {
                    email: body.email,
                    password: body.password,
                    name: body.name,
                },
                &client_info(req),
            )
            .await?;
        Ok(RegisterResponse::Created(Json(user.into())))
    }

    /// Log in with email and password
    ///
    /// Opens a session and returns a token pair. A wrong password and an
    /// unknown email get the same 401 `invalid_credentials` after the same
    /// work; 403 `account_disabled`, and 403 `email_not_verified` when the
    /// tenant requires a verified email, are only said after a correct
    /// password.
    #[oai(
        path = "/t/:tenant/auth/login",
        method = "post",
        operation_id = "login"
    )]
    async fn login(
        &self,
        services: Data<&Arc<Services>>,
        tenant: Path<String>,
        body: JsonBody<LoginRequest>,
        req: &Request,
    ) -> ApiResult<TokenResponse> {
        let context = services.tenants.resolve(&tenant).await?;
        let JsonBody(body) = body;
        let pair = services
            .auth
            .login(&context, &body.email, body.password, client_info(req))
            .await?;
        Ok(token_response(&services, &tenant, pair))
    }

    /// Exchange a refresh token for a new pair
    ///
    /// The refresh token comes in the body (`{"refreshToken": ...}`) or, with
    /// no body and no Content-Type needed, from the `portcullis_refresh`
    /// cookie; the body wins. The token is retired and a new one returned.
    /// Presenting a retired token again revokes the whole session (reuse
    /// detection) — except within a short grace (10 s by default) after its
    /// rotation, where it is only refused, so that concurrent refreshes with
    /// one token (two tabs, a retried request) never fork or kill a session:
    /// exactly one of them succeeds. The session's absolute lifetime is not
    /// extended.
    #[oai(
        path = "/t/:tenant/auth/refresh",
        method = "post",
        operation_id = "refresh"
    )]
    async fn refresh(
        &self,
        services: Data<&Arc<Services>>,
        tenant: Path<String>,
        body: OptionalJsonBody<RefreshRequest>,
        req: &Request,
    ) -> ApiResult<TokenResponse> {
        let context = services.tenants.resolve(&tenant).await?;
        let token = presented_refresh_token(body.0, req).ok_or(Error::InvalidToken)?;
        let pair = services
            .auth
            .refresh(&context, &token, client_info(req))
            .await?;
        Ok(token_response(&services, &tenant, pair))
    }

    /// Log out (end the refresh token's session)
    ///
    /// Always 204, whether or not the token (body or cookie) was valid; the
    /// refresh cookie is cleared. Access tokens of the session stop working
    /// at once.
    #[oai(
        path = "/t/:tenant/auth/logout",
        method = "post",
        operation_id = "logout"
    )]
    async fn logout(
        &self,
        services: Data<&Arc<Services>>,
        tenant: Path<String>,
        body: OptionalJsonBody<RefreshRequest>,
        req: &Request,
    ) -> ApiResult<LogoutResponse> {
        let context = services.tenants.resolve(&tenant).await?;
        if let Some(token) = presented_refresh_token(body.0, req) {
            services.auth.logout(&context, &token).await?;
        }
        Ok(LogoutResponse::NoContent(refresh_set_cookie(
            &tenant,
            None,
            services.config.cookie_secure,
        )))
    }

    /// Log out everywhere
    ///
    /// Revokes every session of the calling user; all their access and
    /// refresh tokens stop working.
    #[oai(
        path = "/t/:tenant/auth/logout-all",
        method = "post",
        operation_id = "logoutAll"
    )]
    async fn logout_all(
        &self,
        services: Data<&Arc<Services>>,
        tenant: Path<String>,
        auth: BearerAuth,
    ) -> ApiResult<NoContent> {
        let context = services.tenants.resolve(&tenant).await?;
        let principal = services.auth.authenticate(&context, auth.token()).await?;
        services.auth.logout_all(&context, &principal).await?;
        Ok(NoContent::NoContent)
    }

    /// Change the calling user's password
    ///
    /// Checks `currentPassword` (a wrong one is 401 `invalid_credentials`),
    /// applies the tenant's password policy to `newPassword` (400
    /// `validation_failed`, one entry per broken rule), then revokes every
    /// session of the user, the current one included: log in again with
    /// the new password. Pending reset links stop working.
    #[oai(
        path = "/t/:tenant/auth/change-password",
        method = "post",
        operation_id = "changePassword"
    )]
    async fn change_password(
        &self,
        services: Data<&Arc<Services>>,
        tenant: Path<String>,
        auth: BearerAuth,
        body: JsonBody<ChangePasswordRequest>,
    ) -> ApiResult<NoContent> {
        let context = services.tenants.resolve(&tenant).await?;
        let principal = services.auth.authenticate(&context, auth.token()).await?;
        let JsonBody(body) = body;
        services
            .credentials
            .change_password(
                &context,
                &principal,
                body.current_password,
                body.new_password,
            )
            .await?;
        Ok(NoContent::NoContent)
    }

    /// Ask for a password-reset mail
    ///
    /// Always 202 with the same body, whether or not the email names an
    /// account (and for disabled accounts), and in the same time: the mail
    /// is sent in the background. Only an existing, enabled account gets a
    /// mail, with a link `{publicUrl}/t/{tenant}/reset-password?token=...`
    /// valid once for `resetTokenTtlSeconds` (default 30 minutes). Asking
    /// again invalidates the earlier links.
    #[oai(
        path = "/t/:tenant/auth/forgot-password",
        method = "post",
        operation_id = "forgotPassword"
    )]
    async fn forgot_password(
        &self,
        services: Data<&Arc<Services>>,
        tenant: Path<String>,
        body: JsonBody<ForgotPasswordRequest>,
        req: &Request,
    ) -> ApiResult<AcceptedResponse> {
        let context = services.tenants.resolve(&tenant).await?;
        let JsonBody(body) = body;
        services
            .credentials
            .forgot_password(&context, &body.email, &client_info(req))
            .await?;
        Ok(AcceptedResponse::Accepted(Json(Accepted::new(
            FORGOT_PASSWORD_MESSAGE,
        ))))
    }

    /// Set a new password with a reset token
    ///
    /// The token is the `token` of the link in the reset mail. It works
    /// once, in its own tenant only, until it expires; anything else
    /// (used, expired, unknown, another tenant's, an access or refresh
    /// token) is 400 `invalid_reset_token`. The new password must follow
    /// the tenant's policy (400 `validation_failed`; the token stays
    /// usable). On success every session of the user is revoked, and the
    /// email counts as verified (the link proved the mailbox).
    #[oai(
        path = "/t/:tenant/auth/reset-password",
        method = "post",
        operation_id = "resetPassword"
    )]
    async fn reset_password(
        &self,
        services: Data<&Arc<Services>>,
        tenant: Path<String>,
        body: JsonBody<ResetPasswordRequest>,
    ) -> ApiResult<NoContent> {
        let context = services.tenants.resolve(&tenant).await?;
        let JsonBody(body) = body;
        services
            .credentials
            .reset_password(&context, &body.token, body.password)
            .await?;
        Ok(NoContent::NoContent)
    }

    /// Confirm an email address with a verification token
    ///
    /// The token is the `token` of the link in the verification mail; it
    /// works once, in its own tenant, until it expires (anything else is
    /// 400 `invalid_verification_token`). Afterwards `emailVerified` is
    /// `true` and new access tokens carry `email_verified: true`.
    #[oai(
        path = "/t/:tenant/auth/verify-email",
        method = "post",
        operation_id = "verifyEmail"
    )]
    async fn verify_email(
        &self,
        services: Data<&Arc<Services>>,
        tenant: Path<String>,
        body: JsonBody<VerifyEmailRequest>,
    ) -> ApiResult<NoContent> {
        let context = services.tenants.resolve(&tenant).await?;
        let JsonBody(body) = body;
        services
            .credentials
            .verify_email(&context, &body.token)
            .await?;
        Ok(NoContent::NoContent)
    }

    /// Send a new verification mail to the calling user
    ///
    /// No body. Earlier verification links stop working. When the email is
    /// verified already, nothing is sent; the answer is the same 202.
    #[oai(
        path = "/t/:tenant/auth/resend-verification",
        method = "post",
        operation_id = "resendVerification"
    )]
    async fn resend_verification(
        &self,
        services: Data<&Arc<Services>>,
        tenant: Path<String>,
        auth: BearerAuth,
    ) -> ApiResult<AcceptedResponse> {
        let context = services.tenants.resolve(&tenant).await?;
        let principal = services.auth.authenticate(&context, auth.token()).await?;
        let sent = services
            .credentials
            .send_verification(&context, &principal.user)
            .await?;
        // Deleted while this ran: their token died with them, so this is
        // the answer their next request would get.
        sent.map_err(|UserGone| Error::InvalidToken)?;
        Ok(AcceptedResponse::Accepted(Json(Accepted::new(
            "A verification mail is on its way unless the address is verified already.",
        ))))
    }
}
