//! Bad input always gets problem+json with a stable code.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_problem, spawn_app};

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn validation_lists_each_bad_field() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/t/default/auth/register",
            &json!({"email": "not-an-email", "password": "short", "name": "\u{7}"}),
        )
        .await;
    let body = assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(fields(&body), ["email", "password", "name"]);

    let response = app
        .post_json("/t/default/auth/register", &json!({"email": 5}))
        .await;
    let body = assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(fields(&body), ["email", "password"]);

    let response = app
        .post_json(
            "/t/default/auth/login",
            &json!({"email": "", "password": ""}),
        )
        .await;
    let body = assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(fields(&body), ["email", "password"]);
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    for raw in ["{", "[]", "null", "\"text\""] {
        let response = app
            .client
            .post(app.url("/t/default/auth/login"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let body = assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert!(body["errors"].is_array(), "{raw}: {body}");
    }
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = spawn_app().await;
    let body = json!({"email": "a@example.com", "password": PASSWORD}).to_string();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = app
            .client
            .post(app.url("/t/default/auth/login"))
            .body(body.clone());
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.unwrap();
        assert_problem(
            response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
    // A JSON body on the optional-body refresh route needs JSON too.
    let response = app
        .client
        .post(app.url("/t/default/auth/refresh"))
        .header("content-type", "text/plain")
        .body("token")
        .send()
        .await
        .unwrap();
    assert_problem(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = spawn_app().await;
    let big = json!({"email": "a@example.com", "password": "x".repeat(70 * 1024)});
    let response = app.post_json("/t/default/auth/register", &big).await;
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // Chunked, without Content-Length: refused while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..80).map(|_| Ok(vec![b' '; 1024])).collect();
    let response = app
        .client
        .post(app.url("/t/default/auth/register"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/nowhere")).send().await.unwrap();
    assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app
        .client
        .get(app.url("/t/default/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(allow(&response), "POST");
    assert_problem(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    let response = app
        .client
        .get(app.url("/t/default/me/sessions/not-a-uuid"))
        .bearer_auth("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(allow(&response), "DELETE");
    // RFC 9110 §15.5.6: every 405 lists what the resource does accept.
    for (method, path, allowed) in [
        (
            "PUT",
            "/t/default/admin/users/x",
            "GET, HEAD, PATCH, DELETE",
        ),
        ("DELETE", "/admin/tenants", "GET, HEAD, POST"),
        ("PUT", "/t/default/reset-password", "GET, HEAD, POST"),
        ("POST", "/openapi.json", "GET, HEAD"),
        ("POST", "/docs/index.css", "GET, HEAD"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = app.request(method.clone(), path).await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(allow(&response), allowed, "{method} {path}");
    }
    let response = app
        .client
        .delete(app.url("/t/default/me/sessions/not-a-uuid"))
        .bearer_auth("x")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    let body: Value = response.json().await.unwrap();
    assert!(body["code"].is_string());
}

fn allow(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn errors_never_leak_internals() {
    let app = spawn_app().await;
    app.register("default", "leak@example.com").await;
    let response = app
        .post_json(
            "/t/default/auth/login",
            &json!({"email": "leak@example.com", "password": "wrong password"}),
        )
        .await;
    let text = response.text().await.unwrap();
    for needle in [
        "argon2",
        "$argon2id",
        "SELECT",
        "sqlite",
        "panicked",
        "wrong password",
    ] {
        assert!(!text.contains(needle), "{needle} in {text}");
    }
}
