//! Cross-cutting HTTP concerns, applied around every route.

use std::sync::Arc;
use std::time::Instant;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

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
    let bytes = req
        .take_body()
        .into_bytes_limit(MAX_BODY_BYTES)
        .await
        .map_err(|e| match e {
            poem::error::ReadBodyError::PayloadTooLarge => {
                poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE)
            }
            _ => poem::Error::from_status(StatusCode::BAD_REQUEST),
        })?;
    req.set_body(Body::from_bytes(bytes));
    Ok(ep.call(req).await?.into_response())
}

/// One span per request, with a request id, the method, the path (never
/// the query string: reset and verification links carry tokens there), the
/// tenant slug and, once authenticated, the user id; one line at the end
/// with status and duration. The id is echoed in `X-Request-Id`.
pub async fn trace<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let request_id = uuid::Uuid::now_v7().simple().to_string();
    let path = req.uri().path().to_owned();
    let tenant = path
        .strip_prefix("/t/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("")
        .to_owned();
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
    span.in_scope(|| {
        tracing::info!(
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
