//! Abuse protection: rate limits, lockout, client IP, CORS, security
//! headers, bounded work.

use std::time::Duration;

use portcullis::domain::Limit;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_problem, spawn_app, spawn_app_with};

const LOGIN: &str = "/t/default/auth/login";

fn limit(max: u32, per_seconds: u32) -> Limit {
    Limit { max, per_seconds }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn login_as(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post_json(LOGIN, &json!({"email": email, "password": password}))
        .await
}

/// A 429 `rate_limited` with its headers; returns `Retry-After`.
async fn assert_rate_limited(response: reqwest::Response, limit: u32) -> u64 {
    let headers = response.headers().clone();
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let retry: u64 = header(&headers, "retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert_eq!(
        header(&headers, "ratelimit-limit"),
        Some(limit.to_string().as_str())
    );
    assert_eq!(header(&headers, "ratelimit-remaining"), Some("0"));
    assert!(header(&headers, "ratelimit-reset").is_some());
    retry
}

#[tokio::test]
async fn login_is_limited_per_email_whether_or_not_the_account_exists() {
    let app = spawn_app().await;
    app.update_settings("default", |s| {
        s.rate_limits.login_per_email = limit(2, 60);
    })
    .await;
    for email in ["ghost@example.com", "ghost@example.com"] {
        let response = login_as(&app, email, "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let retry = assert_rate_limited(login_as(&app, "ghost@example.com", PASSWORD).await, 2).await;
    assert!(retry <= 30, "one of two per minute is back within 30 s");
    // Other emails keep their own budget.
    let response = login_as(&app, "other@example.com", "wrong password").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_is_limited_per_ip() {
    let app = spawn_app().await;
    app.update_settings("default", |s| {
        s.rate_limits.login_per_ip = limit(3, 60);
    })
    .await;
    for i in 0..3 {
        let response = login_as(&app, &format!("u{i}@example.com"), "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_rate_limited(login_as(&app, "u9@example.com", "wrong password").await, 3).await;
    // Another tenant's budget is its own.
    let response = app
        .post_json(
            "/t/system/auth/login",
            &json!({"email": "u9@example.com", "password": "wrong password"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn register_and_forgot_password_are_limited() {
    let app = spawn_app().await;
    app.update_settings("default", |s| {
        s.rate_limits.register_per_ip = limit(1, 3600);
        s.rate_limits.forgot_password_per_email = limit(1, 3600);
        // Every request counts against the IP, refused or not.
        s.rate_limits.forgot_password_per_ip = limit(3, 3600);
    })
    .await;
    app.register("default", "first@example.com").await;
    let response = app
        .post_json(
            "/t/default/auth/register",
            &json!({"email": "second@example.com", "password": PASSWORD}),
        )
        .await;
    assert_rate_limited(response, 1).await;

    let response = app.forgot_password("default", "first@example.com").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // The same email again, existing or not: refused alike.
    assert_rate_limited(app.forgot_password("default", "first@example.com").await, 1).await;
    let response = app.forgot_password("default", "nobody@example.com").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // The fourth request from this IP.
    assert_rate_limited(app.forgot_password("default", "third@example.com").await, 3).await;
}

#[tokio::test]
async fn refresh_is_limited_per_session_without_spending_the_token() {
    let app = spawn_app().await;
    app.update_settings("default", |s| {
        s.rate_limits.refresh_per_session = limit(1, 1);
    })
    .await;
    let tokens = app.user("default", "refresher@example.com").await;
    let first = app.refresh("default", &tokens.refresh).await;
    assert_eq!(first.status(), StatusCode::OK);
    let next: Value = first.json().await.unwrap();
    let next = next["refreshToken"].as_str().unwrap().to_owned();
    assert_rate_limited(app.refresh("default", &next).await, 1).await;
    // The refused token was not retired: it works once the budget is back
    // (and is no reuse that would revoke the session).
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let again = app.refresh("default", &next).await;
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_tenant_route_shares_a_per_ip_limit() {
    let app = spawn_app().await;
    app.update_settings("default", |s| {
        s.rate_limits.requests_per_ip = limit(3, 60);
    })
    .await;
    let jwks = app.url("/t/default/.well-known/jwks.json");
    for _ in 0..3 {
        let response = app.client.get(&jwks).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = app.client.get(&jwks).send().await.unwrap();
    assert_rate_limited(response, 3).await;
    let response = app
        .client
        .get(app.url("/t/system/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn login_from(app: &TestApp, forwarded_for: &str, email: &str) -> reqwest::Response {
    app.client
        .post(app.url(LOGIN))
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_untrusted_peers() {
    let app = spawn_app().await;
    app.update_settings("default", |s| {
        s.rate_limits.login_per_ip = limit(1, 60);
    })
    .await;
    let response = login_from(&app, "198.51.100.1", "a@example.com").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A new forged address is still the same client.
    let response = login_from(&app, "198.51.100.2", "b@example.com").await;
    assert_rate_limited(response, 1).await;
}

#[tokio::test]
async fn forwarded_for_is_honoured_from_trusted_proxies() {
    let app = spawn_app_with(&[("PORTCULLIS_TRUSTED_PROXIES", "127.0.0.1/32, ::1")]).await;
    app.register("default", "proxied@example.com").await;
    app.update_settings("default", |s| {
        s.rate_limits.login_per_ip = limit(1, 60);
    })
    .await;
    // The client forged the left entry; our proxy (the peer) appended the right one.
    let response = login_from(&app, "6.6.6.6, 198.51.100.7", "proxied@example.com").await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    // Each distinct client has its own budget.
    let response = login_from(&app, "198.51.100.8", "nobody@example.com").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_rate_limited(
        login_from(&app, "198.51.100.8", "nobody@example.com").await,
        1,
    )
    .await;

    let sessions: Value = app
        .get_bearer(
            "/t/default/me/sessions",
            tokens["accessToken"].as_str().unwrap(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sessions[0]["ip"], "198.51.100.7");
    let root = app.superadmin().await;
    let events: Value = app
        .send(
            Method::GET,
            "/t/default/admin/audit-events?type=login.succeeded",
            &root.access,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"][0]["ip"], "198.51.100.7");
}

/// Locks after three failures, in `tenant` of `app`.
async fn lock_out(app: &TestApp, email: &str) {
    for _ in 0..3 {
        let response = login_as(app, email, "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

async fn assert_locked(response: reqwest::Response) {
    let retry: u64 = header(response.headers(), "retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=901).contains(&retry), "{retry}");
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "account_locked").await;
}

async fn three_failures_lock(app: &TestApp) {
    app.update_settings("default", |s| s.lockout.max_failures = 3)
        .await;
}

#[tokio::test]
async fn lockout_refuses_even_the_right_password_until_an_admin_unlocks() {
    let app = spawn_app().await;
    three_failures_lock(&app).await;
    let root = app.superadmin().await;
    let (_, id) = app.member("default", "victim@example.com", &["user"]).await;
    lock_out(&app, "victim@example.com").await;
    assert_locked(login_as(&app, "victim@example.com", PASSWORD).await).await;

    let path = format!("/t/default/admin/users/{id}");
    let user: Value = app
        .send(Method::GET, &path, &root.access, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["locked"], true);
    let response = app
        .send(
            Method::PATCH,
            &path,
            &root.access,
            Some(&json!({"locked": true})),
        )
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
    let response = app
        .send(
            Method::PATCH,
            &path,
            &root.access,
            Some(&json!({"locked": false})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["locked"], false);
    let response = login_as(&app, "victim@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);

    let events: Value = app
        .send(
            Method::GET,
            &format!("/t/default/admin/audit-events?userId={id}"),
            &root.access,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"account.locked"), "{kinds:?}");
    assert!(kinds.contains(&"account.unlocked"), "{kinds:?}");
}

#[tokio::test]
async fn unknown_emails_lock_alike_and_a_success_resets_the_count() {
    let app = spawn_app().await;
    three_failures_lock(&app).await;
    lock_out(&app, "nobody@example.com").await;
    assert_locked(login_as(&app, "nobody@example.com", PASSWORD).await).await;

    app.register("default", "careless@example.com").await;
    for _ in 0..2 {
        let response = login_as(&app, "careless@example.com", "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = login_as(&app, "careless@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    for _ in 0..2 {
        let response = login_as(&app, "careless@example.com", "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = login_as(&app, "careless@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn lockout_holds_across_instances_and_restarts() {
    let first = spawn_app().await;
    three_failures_lock(&first).await;
    first.register("default", "shared@example.com").await;
    let second = first.sibling().await;
    lock_out(&first, "shared@example.com").await;
    // Another instance on the same database refuses too.
    assert_locked(login_as(&second, "shared@example.com", PASSWORD).await).await;
    drop(second);
    // And so does a fresh start (new process state, same database).
    let restarted = first.sibling().await;
    assert_locked(login_as(&restarted, "shared@example.com", PASSWORD).await).await;
}

#[tokio::test]
async fn cors_answers_only_the_tenant_s_origins() {
    let app = spawn_app().await;
    app.update_settings("default", |s| {
        s.cors_origins = vec!["https://app.example.com".into()];
    })
    .await;
    let openid = app.url("/t/default/.well-known/openid-configuration");
    let response = app
        .client
        .get(&openid)
        .header("Origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    assert_eq!(
        header(headers, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        header(headers, "access-control-allow-credentials"),
        Some("true")
    );
    assert!(header(headers, "vary").unwrap().contains("Origin"));
    assert!(
        header(headers, "access-control-expose-headers")
            .unwrap()
            .contains("Retry-After")
    );

    let response = app
        .client
        .get(&openid)
        .header("Origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(
        response
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );

    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url(LOGIN))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
    };
    let response = preflight("https://app.example.com").await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let headers = response.headers();
    assert_eq!(
        header(headers, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(
        header(headers, "access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        header(headers, "access-control-allow-headers")
            .unwrap()
            .to_ascii_lowercase()
            .contains("content-type")
    );
    let response = preflight("https://evil.example.com").await.unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(
        response
            .headers()
            .get("access-control-allow-methods")
            .is_none()
    );

    // Another tenant does not list the origin.
    let response = app
        .client
        .get(app.url("/t/system/.well-known/jwks.json"))
        .header("Origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

fn assert_hardened(headers: &HeaderMap) {
    assert_eq!(header(headers, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(headers, "x-frame-options"), Some("DENY"));
    assert_eq!(header(headers, "referrer-policy"), Some("no-referrer"));
    let csp = header(headers, "content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

#[tokio::test]
async fn security_headers_on_json_problems_and_pages() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/t/default/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_hardened(response.headers());
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none()
    );

    let response = app.client.get(app.url("/nowhere")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_hardened(response.headers());

    app.register("default", "cached@example.com").await;
    let response = login_as(&app, "cached@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_hardened(response.headers());
    assert_eq!(
        header(response.headers(), "cache-control"),
        Some("no-store")
    );

    let response = app
        .client
        .get(app.url("/t/default/reset-password?token=bogus"))
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    assert!(
        header(headers, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert_hardened(headers);
    let csp = header(headers, "content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
}

#[tokio::test]
async fn hsts_when_served_over_https() {
    let app = spawn_app_with(&[("PORTCULLIS_PUBLIC_URL", "https://id.example.com")]).await;
    let response = app.client.get(app.url("/health")).send().await.unwrap();
    assert!(
        header(response.headers(), "strict-transport-security")
            .unwrap()
            .starts_with("max-age=")
    );
}

#[tokio::test]
async fn a_login_flood_beyond_the_hashing_pool_sheds_load_with_503() {
    // Expensive hashing on one thread: the queue fills at once.
    let app = spawn_app_with(&[
        ("PORTCULLIS_ARGON2_MEMORY_KIB", "32768"),
        ("PORTCULLIS_ARGON2_ITERATIONS", "4"),
        ("PORTCULLIS_HASH_THREADS", "1"),
    ])
    .await;
    app.update_settings("default", |s| {
        s.rate_limits.login_per_ip = limit(10_000, 60);
        s.rate_limits.login_per_email = limit(10_000, 60);
    })
    .await;
    let logins: Vec<_> = (0..80)
        .map(|i| {
            let client = app.client.clone();
            let url = app.url(LOGIN);
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({"email": format!("flood{i}@example.com"), "password": "wrong password"}))
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    // While the flood runs, the process still answers.
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let mut shed = 0;
    for login in logins {
        let response = login.await.unwrap();
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(response.headers().get("retry-after").is_some());
                assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
                shed += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(shed > 0, "no login was shed");
}

#[tokio::test]
async fn a_client_that_never_sends_its_body_is_cut_off() {
    let app = spawn_app_with(&[("PORTCULLIS_REQUEST_TIMEOUT_SECS", "1")]).await;
    let answer = raw_exchange(
        &app,
        b"POST /t/default/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// Sends `bytes` on a fresh connection and returns what comes back until
/// the server closes it or ends its answer's head (10 s at most).
async fn raw_exchange(app: &TestApp, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            answer.extend_from_slice(&buf[..n]);
            if n == 0 || answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept waiting");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let app = spawn_app_with(&[("PORTCULLIS_REQUEST_TIMEOUT_SECS", "1")]).await;
    // Slowloris: a request head that never ends.
    let answer = raw_exchange(&app, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: 1").await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let app = spawn_app().await;
    let big = "a".repeat(64 * 1024);
    let request = format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let answer = raw_exchange(&app, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

#[tokio::test]
async fn metrics_show_refusals_and_tracked_keys() {
    let app = spawn_app().await;
    app.update_settings("default", |s| {
        s.rate_limits.login_per_email = limit(1, 60);
    })
    .await;
    for _ in 0..2 {
        login_as(&app, "counted@example.com", "wrong password").await;
    }
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(text.contains("portcullis_http_429_total 1"), "{text}");
    let keys: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("portcullis_rate_limit_keys "))
        .unwrap()
        .parse()
        .unwrap();
    // The login IP and email, and the tenant-wide per-IP key.
    assert!(keys >= 3, "{text}");
}
