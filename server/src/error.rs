//! The service layer's error: what went wrong, in the terms of the
//! contract. `api::problem` renders it as problem+json; each variant's doc
//! says which status and `code` it becomes.

use crate::domain::FieldError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 `validation_failed`: every bad field is listed.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 401 `invalid_credentials`: wrong email or password. One variant for
    /// both, so the answer never says which.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// 401 `invalid_token`: a token was sent but is not valid here
    /// (signature, key, tenant, revoked session, unknown refresh token).
    #[error("invalid token")]
    InvalidToken,
    /// 401 `token_expired`: a well-formed access token past its `exp`.
    #[error("token expired")]
    TokenExpired,
    /// 403 `account_disabled`: only said after a correct password.
    #[error("account disabled")]
    AccountDisabled,
    /// 403 `forbidden`: authenticated, but not allowed to do this.
    #[error("forbidden")]
    Forbidden,
    /// 403 `signup_disabled`: the tenant does not allow self-registration.
    #[error("signup disabled")]
    SignupDisabled,
    /// 404 `not_found`.
    #[error("not found")]
    NotFound,
    /// 404 `tenant_not_found`: no tenant has this slug.
    #[error("tenant not found")]
    TenantNotFound,
    /// 409 `email_taken`: the tenant already has this (normalised) email.
    #[error("email taken")]
    EmailTaken,
    /// 409 `tenant_exists`: another tenant already has this slug (as
    /// Keycloak answers 409 for a realm that exists).
    #[error("tenant exists")]
    TenantExists,
    /// 503 `unavailable` with `Retry-After`: the database cannot be
    /// reached or the server is overloaded; retrying later may work.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 429 `rate_limited` with `Retry-After` and `RateLimit-*`: a rate
    /// limit of the tenant is used up for this key (IP, email, session).
    #[error("rate limited")]
    RateLimited(Throttled),
    /// 429 `account_locked` with `Retry-After`: too many failed logins for
    /// this email; refused whatever the password until the lock ends.
    #[error("account locked")]
    AccountLocked { retry_after_secs: u64 },
    /// 500 `internal`: a bug or corrupt data. The detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
    /// 400 `invalid_reset_token`: the password-reset token is unknown,
    /// expired, used, of another tenant or not a reset token at all. One
    /// variant for all, so the answer says nothing about other accounts.
    #[error("invalid reset token")]
    InvalidResetToken,
    /// 400 `invalid_verification_token`: as `InvalidResetToken`, for an
    /// email-verification token.
    #[error("invalid verification token")]
    InvalidVerificationToken,
    /// 403 `email_not_verified`: the tenant requires a verified email and
    /// this user has not followed their link yet. Only said after a
    /// correct password.
    #[error("email not verified")]
    EmailNotVerified,
}

/// Which limit refused a request, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// The limit's `max`: requests allowed per its period.
    pub limit: u32,
    /// Whole seconds until one more request would be allowed.
    pub retry_after_secs: u64,
}

impl Error {
    /// One field rejected, for inputs checked one at a time.
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(reason) => Self::Unavailable(reason),
            other => Self::Internal(other.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
