//! Headers every answer carries: no sniffing, no framing, no referrer, no
//! caching unless a handler chose otherwise (token-bearing answers must
//! never sit in a cache), HSTS when we are served over https, and a
//! Content-Security-Policy that fits the kind of answer.

use std::sync::Arc;

use poem::http::{HeaderMap, HeaderName, HeaderValue, header};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::service::Services;

/// Our own HTML (hosted pages, dashboard): our stylesheet and forms that
/// post back to us, nothing else. No script at all.
const CSP_HTML: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// Swagger UI runs its own script and inline styles, all served by us.
const CSP_DOCS: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";
/// JSON and everything else: nothing may load from it or frame it.
const CSP_OTHER: &str = "default-src 'none'; frame-ancestors 'none'";
/// Two years, as preload lists expect; sent only when the public URL is https.
const HSTS: &str = "max-age=63072000";

pub async fn apply<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let https = req
        .data::<Arc<Services>>()
        .is_some_and(|s| s.config.public_url.starts_with("https://"));
    let docs = req.uri().path().starts_with("/docs");
    let mut response = ep.call(req).await?.into_response();
    let headers = response.headers_mut();
    let html = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"text/html"));
    let csp = match (docs, html) {
        (true, _) => CSP_DOCS,
        (false, true) => CSP_HTML,
        (false, false) => CSP_OTHER,
    };
    set(headers, header::CONTENT_SECURITY_POLICY, csp);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    if https {
        set(headers, header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    Ok(response)
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &'static str) {
    headers.insert(name, HeaderValue::from_static(value));
}
