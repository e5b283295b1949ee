//! CORS per tenant: a browser app on one of the tenant's `corsOrigins`
//! may call `/t/{tenant}/...` with credentials (the refresh cookie). The
//! origin is echoed, never `*`, so `Access-Control-Allow-Credentials` is
//! allowed; any other origin gets no CORS headers and the browser keeps
//! the answer from the page. Routes outside `/t/{tenant}` get none at all.

use std::sync::Arc;

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};

use super::middleware::tenant_of;
use crate::service::Services;

/// What a browser may send on a cross-origin call.
const ALLOW_METHODS: &str = "GET, POST, PATCH, DELETE";
const ALLOW_HEADERS: &str = "Authorization, Content-Type";
/// What scripts may read of our answers besides the CORS-safelisted ones.
const EXPOSE_HEADERS: &str = "Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, WWW-Authenticate, X-Request-Id";
/// How long a browser may reuse a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

pub async fn apply<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
        return Ok(ep.call(req).await?.into_response());
    };
    let allowed = allowed(&req, &origin).await;
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        // Answered here: no route takes OPTIONS. A refused origin gets a
        // bare 204, which the browser treats as a refusal.
        let mut response = StatusCode::NO_CONTENT.into_response();
        if allowed {
            let headers = response.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(PREFLIGHT_MAX_AGE),
            );
        }
        response
    } else {
        let mut response = ep.call(req).await?.into_response();
        if allowed {
            response.headers_mut().insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
        }
        response
    };
    let headers = response.headers_mut();
    // The answer differs by origin; caches must not hand one to another.
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if allowed {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// Whether `origin` is one of the addressed tenant's `corsOrigins`.
async fn allowed(req: &Request, origin: &HeaderValue) -> bool {
    let (Some(slug), Some(services), Ok(origin)) = (
        tenant_of(req.uri().path()),
        req.data::<Arc<Services>>(),
        origin.to_str(),
    ) else {
        return false;
    };
    match services.tenants.resolve(slug).await {
        Ok(tenant) => tenant.settings().cors_origins.iter().any(|o| o == origin),
        Err(_) => false,
    }
}
