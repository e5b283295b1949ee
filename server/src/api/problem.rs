//! problem+json (RFC 9457): the one shape of every error. Service errors
//! become [`ErrorResponse`] here; everything poem or poem-openapi would
//! answer on its own (bad JSON, wrong content type, unknown route, missing
//! Bearer header...) is caught by [`catch_all`] and given the same shape.

use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use super::body::{BodyError, NotJson};
use crate::domain::FieldError;
use crate::error::Error;

/// What every handler returns.
pub type ApiResult<T> = Result<T, ErrorResponse>;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem. `code` is the stable, machine-readable part.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:portcullis:problem:{code}`.
    #[oai(rename = "type")]
    pub kind: String,
    /// A short, human-readable summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Stable machine-readable code, e.g. `invalid_credentials`.
    pub code: String,
    /// What went wrong in this occurrence.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// On `validation_failed`: one entry per rejected field.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<ProblemField>>,
}

#[derive(Debug, Clone, Object)]
pub struct ProblemField {
    /// The request field, e.g. `password` (`body` for the body as a whole).
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:portcullis:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            code: code.to_owned(),
            detail: Some(detail.into()),
            errors: None,
        }
    }

    fn validation(errors: Vec<FieldError>) -> Self {
        let mut problem = Self::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "One or more fields are invalid.",
        );
        problem.errors = Some(
            errors
                .into_iter()
                .map(|e| ProblemField {
                    field: e.field.to_owned(),
                    message: e.message,
                })
                .collect(),
        );
        problem
    }
}

/// `Retry-After` of a 503: long enough for a login burst or a database
/// failover to pass, short enough not to turn users away for long.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

/// `WWW-Authenticate` for a request that sent no Bearer token (RFC 6750 §3).
const BEARER: &str = "Bearer";
/// `WWW-Authenticate` for a Bearer token that was sent but is not valid.
const BEARER_INVALID: &str = "Bearer error=\"invalid_token\"";

/// The error responses of every operation.
#[derive(Debug, ApiResponse)]
pub enum ErrorResponse {
    /// `validation_failed`: the body or a parameter is malformed; `errors`
    /// lists each bad field (a password can have several entries, one per
    /// broken rule). `invalid_reset_token` and `invalid_verification_token`
    /// on the routes that take those tokens.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `invalid_credentials`, `invalid_token` or `token_expired`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(
        Json<Problem>,
        /// `Bearer`, with `error="invalid_token"` when a token was sent but
        /// is not valid (RFC 6750).
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// `account_disabled`, `forbidden`, `signup_disabled` or
    /// `email_not_verified`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `not_found` or `tenant_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `email_taken` or `tenant_exists`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `payload_too_large`: the body is over 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: a body that is not `application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `rate_limited`: a rate limit of the tenant is used up (per client IP,
    /// per email or per session; see the tenant's `rateLimits`), with
    /// `RateLimit-Limit`, `RateLimit-Remaining: 0` and `RateLimit-Reset`.
    /// `account_locked`: too many failed logins for this email; logins are
    /// refused whatever the password until the lock ends or an admin lifts it.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(
        Json<Problem>,
        /// Seconds until a retry may succeed.
        #[oai(header = "Retry-After")]
        u64,
        /// The limit's requests per period (`rate_limited` only).
        #[oai(header = "RateLimit-Limit")]
        Option<u32>,
        /// Requests left in the current period: 0 (`rate_limited` only).
        #[oai(header = "RateLimit-Remaining")]
        Option<u32>,
        /// Seconds until a request is allowed again (`rate_limited` only).
        #[oai(header = "RateLimit-Reset")]
        Option<u64>,
    ),
    /// `internal`: a fault on our side; the detail is in our logs only.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// `unavailable`: the database is unreachable, or more logins arrived
    /// than password hashing can take right now; retry after `Retry-After`.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(
        Json<Problem>,
        /// Seconds to wait before retrying.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

impl From<Error> for ErrorResponse {
    fn from(err: Error) -> Self {
        use StatusCode as S;
        match err {
            Error::Validation(errors) => Self::BadRequest(Json(Problem::validation(errors))),
            Error::InvalidCredentials => Self::Unauthorized(
                Json(Problem::new(
                    S::UNAUTHORIZED,
                    "invalid_credentials",
                    "The email or password is wrong.",
                )),
                BEARER.into(),
            ),
            Error::InvalidToken => Self::Unauthorized(
                Json(Problem::new(
                    S::UNAUTHORIZED,
                    "invalid_token",
                    "The token is not valid.",
                )),
                BEARER_INVALID.into(),
            ),
            Error::TokenExpired => Self::Unauthorized(
                Json(Problem::new(
                    S::UNAUTHORIZED,
                    "token_expired",
                    "The token has expired.",
                )),
                BEARER_INVALID.into(),
            ),
            Error::AccountDisabled => Self::Forbidden(Json(Problem::new(
                S::FORBIDDEN,
                "account_disabled",
                "This account is disabled.",
            ))),
            Error::Forbidden => Self::Forbidden(Json(Problem::new(
                S::FORBIDDEN,
                "forbidden",
                "You are not allowed to do this.",
            ))),
            Error::SignupDisabled => Self::Forbidden(Json(Problem::new(
                S::FORBIDDEN,
                "signup_disabled",
                "Self-registration is turned off for this tenant.",
            ))),
            Error::NotFound => {
                Self::NotFound(Json(Problem::new(S::NOT_FOUND, "not_found", "Not found.")))
            }
            Error::TenantNotFound => Self::NotFound(Json(Problem::new(
                S::NOT_FOUND,
                "tenant_not_found",
                "No tenant has this slug.",
            ))),
            Error::EmailTaken => Self::Conflict(Json(Problem::new(
                S::CONFLICT,
                "email_taken",
                "An account with this email already exists.",
            ))),
            Error::TenantExists => Self::Conflict(Json(Problem::new(
                S::CONFLICT,
                "tenant_exists",
                "A tenant with this slug already exists.",
            ))),
            Error::Unavailable(reason) => {
                tracing::warn!(%reason, "service unavailable");
                Self::Unavailable(
                    Json(Problem::new(
                        S::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "The service is temporarily unavailable; retry later.",
                    )),
                    UNAVAILABLE_RETRY_AFTER_SECS,
                )
            }
            Error::RateLimited(throttled) => Self::TooManyRequests(
                Json(Problem::new(
                    S::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "Too many requests; retry in {} s.",
                        throttled.retry_after_secs
                    ),
                )),
                throttled.retry_after_secs,
                Some(throttled.limit),
                Some(0),
                Some(throttled.retry_after_secs),
            ),
            Error::AccountLocked { retry_after_secs } => Self::TooManyRequests(
                Json(Problem::new(
                    S::TOO_MANY_REQUESTS,
                    "account_locked",
                    "Too many failed logins for this account; try again later or ask an administrator to unlock it.",
                )),
                retry_after_secs,
                None,
                None,
                None,
            ),
            Error::Internal(reason) => {
                tracing::error!(%reason, "internal error");
                Self::Internal(Json(internal()))
            }
            Error::InvalidResetToken => Self::BadRequest(Json(Problem::new(
                S::BAD_REQUEST,
                "invalid_reset_token",
                "This password-reset link is invalid, expired or already used; ask for a new one.",
            ))),
            Error::InvalidVerificationToken => Self::BadRequest(Json(Problem::new(
                S::BAD_REQUEST,
                "invalid_verification_token",
                "This verification link is invalid, expired or already used; ask for a new one.",
            ))),
            Error::EmailNotVerified => Self::Forbidden(Json(Problem::new(
                S::FORBIDDEN,
                "email_not_verified",
                "Confirm your email address with the link we sent before logging in.",
            ))),
        }
    }
}

fn internal() -> Problem {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Something went wrong on our side.",
    )
}

fn respond(problem: Problem, www_authenticate: Option<&'static str>) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Json(problem).into_response();
    response.set_status(status);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Some(value) = www_authenticate {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
    }
    response
}

/// A handler panicked (a bug): answer 500 `internal` like any other fault
/// rather than dropping the connection.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send>) -> Response {
    tracing::error!("request handler panicked");
    respond(internal(), None)
}

/// Turns any error that reached the top of the stack into problem+json.
/// Errors our handlers produced are problem+json already and pass through.
pub async fn catch_all(err: poem::Error) -> Response {
    use StatusCode as S;
    if let Some(BodyError(errors)) = err.downcast_ref::<BodyError>() {
        return ErrorResponse::from(Error::Validation(errors.clone())).into_response();
    }
    if err.is::<NotJson>() || err.is::<poem_openapi::error::ContentTypeError>() {
        return respond(
            Problem::new(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "The request body must be application/json.",
            ),
            None,
        );
    }
    if err.is::<poem_openapi::error::AuthorizationError>() {
        return respond(
            Problem::new(
                S::UNAUTHORIZED,
                "invalid_token",
                "This route needs an `Authorization: Bearer` access token.",
            ),
            Some(BEARER),
        );
    }
    if let Some(e) = err.downcast_ref::<poem_openapi::error::ParseParamError>() {
        return ErrorResponse::from(Error::Validation(vec![FieldError::new(
            e.name,
            "is not valid",
        )]))
        .into_response();
    }
    if err.is::<poem_openapi::error::ParseRequestPayloadError>() {
        return ErrorResponse::from(Error::field("body", "is not valid")).into_response();
    }
    let status = err.status();
    let response = err.into_response();
    let already_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(CONTENT_TYPE.as_bytes()));
    if already_problem {
        return response;
    }
    let problem = match status {
        S::NOT_FOUND => Problem::new(status, "not_found", "No such route."),
        S::METHOD_NOT_ALLOWED => Problem::new(
            status,
            "method_not_allowed",
            "This route does not accept this method.",
        ),
        S::PAYLOAD_TOO_LARGE => Problem::new(
            status,
            "payload_too_large",
            "The request body is over 64 KiB.",
        ),
        S::BAD_REQUEST => Problem::new(status, "validation_failed", "The request is malformed."),
        S::REQUEST_TIMEOUT => Problem::new(status, "request_timeout", "The request took too long."),
        s if s.is_server_error() => {
            tracing::error!(status = s.as_u16(), "unhandled server error");
            internal()
        }
        s => Problem::new(s, "http_error", s.canonical_reason().unwrap_or("Error")),
    };
    respond(problem, None)
}
