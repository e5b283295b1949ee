//! Cross-cutting HTTP concerns, applied around every route.

use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

use super::client_ip::ClientIp;
use super::problem::ErrorResponse;
use crate::error::Error;
use crate::service::Services;
use crate::service::limits::LimitKind;

/// API.md: bodies over 64 KiB get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Refuses bodies over [`MAX_BODY_BYTES`]: at once when `Content-Length`
/// says so, else while reading (a chunked body cannot sneak past). The
/// body is buffered, which is cheap at this size and lets handlers read it
/// as usual.
pub async fn limit_body<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    // A client that trickles its body is cut off (408) rather than
    // holding a connection and a task for as long as it likes.
    let read = req.take_body().into_bytes_limit(MAX_BODY_BYTES);
    let bytes = tokio::time::timeout(request_timeout(&req), read)
        .await
        .map_err(|_| poem::Error::from_status(StatusCode::REQUEST_TIMEOUT))?
        .map_err(|e| match e {
            poem::error::ReadBodyError::PayloadTooLarge => {
                poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE)
            }
            _ => poem::Error::from_status(StatusCode::BAD_REQUEST),
        })?;
    req.set_body(Body::from_bytes(bytes));
    Ok(ep.call(req).await?.into_response())
}

fn request_timeout(req: &Request) -> Duration {
    req.data::<Arc<Services>>()
        .map_or(DEFAULT_TIMEOUT, |s| s.config.request_timeout)
}

/// Only for a request that somehow lacks the services (never in practice).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The slug of `/t/{tenant}/...`, if the path has one.
pub fn tenant_of(path: &str) -> Option<&str> {
    path.strip_prefix("/t/")
        .and_then(|rest| rest.split('/').next())
        .filter(|slug| !slug.is_empty())
}

/// Answers 503 when a handler runs past the request timeout (counted from
/// when its body has arrived): a stuck
/// database or a saturated server then sheds load instead of queueing
/// without end. Dropping the handler rolls back any open transaction.
pub async fn timeout<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let limit = request_timeout(&req);
    match tokio::time::timeout(limit, ep.call(req)).await {
        Ok(result) => Ok(result?.into_response()),
        Err(_) => Ok(ErrorResponse::from(Error::Unavailable(format!(
            "request ran past {} s",
            limit.as_secs()
        )))
        .into_response()),
    }
}

/// The tenant's generous per-IP limit on everything under `/t/{tenant}`.
/// An unknown tenant is left to the route, which answers 404.
pub async fn limit_tenant_requests<E: Endpoint>(
    ep: Arc<E>,
    req: Request,
) -> poem::Result<Response> {
    if let (Some(slug), Some(services)) = (tenant_of(req.uri().path()), req.data::<Arc<Services>>())
        && let Ok(tenant) = services.tenants.resolve(slug).await
        && let Err(refused) = services.limits.check_ip(
            tenant.id(),
            &tenant.settings().rate_limits,
            LimitKind::RequestsPerIp,
            req.extensions().get::<ClientIp>().map(|c| c.0),
        )
    {
        return Ok(ErrorResponse::from(refused).into_response());
    }
    Ok(ep.call(req).await?.into_response())
}

/// The target of the per-request line: `PORTCULLIS_LOG=info,portcullis::access=off`
/// drops those lines alone. For a request as cheap as `GET /me` the line
/// is a large share of the work: in `cargo xtask bench`, `/me` and JWKS
/// served about 1.5× the requests a second without it (README, "Logs").
const ACCESS_LOG: &str = "portcullis::access";

/// One span per request, with a request id, the method, the path (never
/// the query string: reset and verification links carry tokens there), the
/// tenant slug and, once authenticated, the user id; one line at the end
/// with status and duration, under its own target ([`ACCESS_LOG`]) so that
/// it can be turned off while the span still gives context to the
/// request's other lines. The id is echoed in `X-Request-Id`.
pub async fn trace<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let services = req.data::<Arc<Services>>().cloned();
    let request_id = uuid::Uuid::now_v7().simple().to_string();
    let path = req.uri().path().to_owned();
    let tenant = tenant_of(&path).unwrap_or("").to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %path,
        tenant = %tenant,
        user_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let result = ep.call(req).instrument(span.clone()).await;
    let mut response = match result {
        Ok(resp) => resp.into_response(),
        Err(err) => err.into_response(),
    };
    let status = response.status().as_u16();
    if let Some(services) = services {
        services.metrics.count_response(status);
    }
    span.in_scope(|| {
        tracing::info!(
            target: ACCESS_LOG,
            status,
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "response"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    Ok(response)
}
