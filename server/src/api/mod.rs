//! HTTP: poem-openapi operations per area, thin over the services. The only
//! module that knows poem and poem-openapi.

mod admin;
mod allow;
mod auth;
mod body;
mod clearable;
mod client_ip;
mod cors;
mod docs;
mod me;
mod middleware;
mod models;
mod ops;
pub(crate) mod pages;
mod paging;
mod platform;
mod problem;
pub(crate) mod request;
mod security_headers;
mod settings;
mod wellknown;

use std::sync::Arc;

use poem::endpoint::make_sync;
use poem::middleware::CatchPanic;
use poem::{Endpoint, EndpointExt, Route, get};
use poem_openapi::{OpenApiService, Tags};

use crate::service::Services;

#[derive(Tags)]
enum ApiTags {
    /// Registration, login and the token lifecycle.
    Auth,
    /// The calling user.
    Me,
    /// Discovery and public keys, for those who verify our tokens.
    WellKnown,
    /// Tenant administration: role `admin` in the tenant, or a platform superadmin.
    Admin,
    /// Platform administration: superadmins of tenant `system` only.
    Platform,
    /// Liveness and readiness.
    Operations,
    /// The HTML pages behind the links in mails, for browsers.
    Pages,
}

type Apis = (
    auth::AuthApi,
    me::MeApi,
    wellknown::WellKnownApi,
    admin::AdminApi,
    platform::PlatformApi,
    ops::OpsApi,
    pages::PagesApi,
);

const DESCRIPTION: &str = "\
Portcullis is a multi-tenant identity server. Each tenant, addressed by its slug in \
`/t/{tenant}/...`, is an isolated user pool with its own users, sessions and signing keys.

**Errors** are `application/problem+json` (RFC 9457) with a stable `code`: \
`validation_failed` 400 (with `errors` per field), `invalid_credentials` 401, \
`invalid_token` 401, `token_expired` 401, `account_disabled` 403, `forbidden` 403, \
`email_not_verified` 403 (login, when the tenant requires verification), \
`signup_disabled` 403, `not_found` 404, `tenant_not_found` 404, `email_taken` 409, \
`tenant_exists` 409 (creating a tenant whose slug is in use), \
`invalid_reset_token` 400, `invalid_verification_token` 400, \
`request_timeout` 408, `payload_too_large` 413, `unsupported_media_type` 415, \
`rate_limited` 429, `account_locked` 429, `internal` 500, `unavailable` 503. \
401 answers to Bearer routes carry `WWW-Authenticate: Bearer` (RFC 6750); 429 and 503 carry \
`Retry-After`, and `rate_limited` also `RateLimit-Limit`, `RateLimit-Remaining` and \
`RateLimit-Reset`.

**Abuse protection**: per-tenant rate limits (`settings.rateLimits`: login per IP and per \
email, register per IP, forgot-password per IP and per email, refresh per session, and all \
`/t/{tenant}` requests per IP), counted per server process; account lockout \
(`settings.lockout`) stored in the database. Email-keyed limits and lockout apply whether or \
not the account exists. The client IP is the socket peer unless it is a trusted proxy \
(`PORTCULLIS_TRUSTED_PROXIES`). CORS follows the tenant's `corsOrigins`.

**Tokens**: access tokens are JWTs (`typ: at+jwt`, EdDSA) signed with the tenant's key and \
verifiable from `/t/{tenant}/.well-known/jwks.json` alone; claims `iss` \
(`{publicUrl}/t/{tenant}`), `sub`, `aud`, `exp`, `iat`, `jti`, `sid`, `roles`, `email`, \
`email_verified`. \
A token whose session was revoked or whose user was disabled or deleted is rejected at once. \
Refresh tokens are opaque, single-use and stored hashed. Password-reset and \
email-verification tokens (mailed as links `{publicUrl}/t/{tenant}/reset-password?token=...` \
and `.../verify-email?token=...`) are a separate kind: single-use, short-lived, stored hashed, \
and never accepted as access or refresh tokens, nor those as them. The links open hosted HTML \
pages; opening one never uses the token up.

**Passwords** follow the tenant's policy (default: 8-128 characters after NFKC normalisation, \
not among the 30,000 most common passwords, not containing the email's local part; optional \
upper/lower/digit/symbol rules). Each broken rule is its own `errors` entry.

**Requests**: JSON bodies (`application/json`, at most 64 KiB), camelCase fields; emails are \
trimmed and lower-cased.";

fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            auth::AuthApi,
            me::MeApi,
            wellknown::WellKnownApi,
            admin::AdminApi,
            platform::PlatformApi,
            ops::OpsApi,
            pages::PagesApi,
        ),
        "Portcullis",
        env!("CARGO_PKG_VERSION"),
    )
    .description(DESCRIPTION)
}

/// The OpenAPI document, as served at `/openapi.json` and checked in at
/// `openapi/openapi.json`.
pub fn spec_json() -> String {
    service().spec()
}

/// Every route, with the error handling and middleware around them.
pub fn app(services: Arc<Services>) -> impl Endpoint {
    let spec = spec_json();
    let document = serde_json::from_str(&spec).unwrap_or_default();
    let allow = allow::AllowTable::new(
        &document,
        &[
            "/openapi.json",
            "/docs",
            "/docs/*path",
            pages::STYLESHEET_PATH,
        ],
    );
    Route::new()
        .nest("/", service())
        .at(
            "/openapi.json",
            get(make_sync(move |_| {
                poem::Response::builder()
                    .content_type("application/json")
                    .body(spec.clone())
            })),
        )
        .at(
            "/docs",
            get(poem::endpoint::make_sync(|_| {
                poem::web::Redirect::permanent("/docs/")
            })),
        )
        .at("/docs/", get(docs::swagger_index))
        .at("/docs/*path", get(docs::swagger_ui))
        .at(pages::STYLESHEET_PATH, get(pages::stylesheet))
        .nest("/dashboard", crate::dashboard::routes())
        // The handler's time starts once its body is in: a slow body is
        // the client's fault (408 from limit_body), a slow handler ours (503).
        .around(middleware::timeout)
        .around(middleware::limit_body)
        .with(CatchPanic::new().with_handler(problem::panic_response))
        .catch_all_error(problem::catch_all)
        .around(allow::apply)
        // Boxing cuts the nested middleware types short; without it they
        // outgrow the compiler's recursion limit.
        .boxed()
        .around(middleware::limit_tenant_requests)
        .around(cors::apply)
        .boxed()
        .around(security_headers::apply)
        .around(client_ip::resolve)
        .around(middleware::trace)
        // Outermost, so every layer above can read the services.
        .data(services)
        .data(Arc::new(allow))
}
