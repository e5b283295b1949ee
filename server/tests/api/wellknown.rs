//! JWKS and discovery: enough to verify tokens without calling us.

use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn tokens_verify_from_the_jwks_alone() {
    let app = spawn_app().await;
    let tokens = app.user("default", "verify@example.com").await;

    let discovery: Value = app
        .client
        .get(app.url("/t/default/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], "http://localhost:8080/t/default");
    assert_eq!(
        discovery["jwks_uri"],
        "http://localhost:8080/t/default/.well-known/jwks.json"
    );

    let response = app
        .client
        .get(app.url("/t/default/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let jwks: JwkSet = response.json().await.unwrap();
    assert_eq!(jwks.keys.len(), 1);
    let jwk = &jwks.keys[0];
    assert!(
        !serde_json::to_string(jwk).unwrap().contains("\"d\""),
        "no private part"
    );

    let header = jsonwebtoken::decode_header(&tokens.access).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.kid, jwk.common.key_id);
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&["http://localhost:8080/t/default"]);
    validation.set_audience(&["default"]);
    let claims = jsonwebtoken::decode::<Value>(&tokens.access, &key, &validation)
        .unwrap()
        .claims;
    for claim in [
        "iss", "sub", "aud", "exp", "iat", "jti", "sid", "roles", "email",
    ] {
        assert!(!claims[claim].is_null(), "claim {claim}");
    }
    assert_eq!(claims["email"], "verify@example.com");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
}

#[tokio::test]
async fn docs_and_spec_are_served() {
    let app = spawn_app().await;
    let spec: Value = app.get_json("/openapi.json").await;
    assert!(spec["paths"]["/t/{tenant}/auth/login"]["post"].is_object());
    assert!(spec["components"]["securitySchemes"]["BearerAuth"].is_object());
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("swagger"));
    let init = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/openapi.json"));
    assert!(init.contains("persistAuthorization"));
    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

/// Every route of the contract's tables (API.md) is an operation of the
/// OpenAPI document, which clients are generated from; the hosted pages
/// too (fuzzing found them missing).
#[tokio::test]
async fn the_spec_holds_every_route_of_the_contract() {
    let app = spawn_app().await;
    let spec: Value = app.get_json("/openapi.json").await;
    let tenant = |path: &str| format!("/t/{{tenant}}{path}");
    let mut routes: Vec<(&str, String)> = [
        ("post", "/auth/register"),
        ("post", "/auth/login"),
        ("post", "/auth/refresh"),
        ("post", "/auth/logout"),
        ("post", "/auth/logout-all"),
        ("get", "/me"),
        ("get", "/me/sessions"),
        ("delete", "/me/sessions/{sessionId}"),
        ("post", "/auth/change-password"),
        ("post", "/auth/forgot-password"),
        ("post", "/auth/reset-password"),
        ("post", "/auth/verify-email"),
        ("post", "/auth/resend-verification"),
        ("get", "/reset-password"),
        ("get", "/verify-email"),
        ("get", "/.well-known/jwks.json"),
        ("get", "/.well-known/openid-configuration"),
        ("get", "/admin/users"),
        ("post", "/admin/users"),
        ("get", "/admin/users/{userId}"),
        ("patch", "/admin/users/{userId}"),
        ("delete", "/admin/users/{userId}"),
        ("get", "/admin/users/{userId}/sessions"),
        ("delete", "/admin/sessions/{sessionId}"),
        ("get", "/admin/audit-events"),
    ]
    .into_iter()
    .map(|(method, path)| (method, tenant(path)))
    .collect();
    routes.extend(
        [
            ("get", "/admin/tenants"),
            ("post", "/admin/tenants"),
            ("get", "/admin/tenants/{tenant}"),
            ("patch", "/admin/tenants/{tenant}"),
            ("delete", "/admin/tenants/{tenant}"),
            ("post", "/admin/tenants/{tenant}/keys/rotate"),
            ("get", "/health"),
            ("get", "/ready"),
            ("get", "/metrics"),
        ]
        .map(|(method, path)| (method, path.to_owned())),
    );
    for (method, path) in routes {
        assert!(
            spec["paths"][&path][method].is_object(),
            "{method} {path} is not in the spec"
        );
    }
    let page = &spec["paths"]["/t/{tenant}/reset-password"]["get"]["responses"]["200"];
    assert!(
        page["content"]["text/html; charset=utf-8"].is_object(),
        "{page}"
    );
}

/// Generated clients learn the paging bounds from the document, the same
/// ones the server enforces (fuzzing sent `perPage=101` as valid).
#[tokio::test]
async fn the_spec_states_the_paging_bounds() {
    let app = spawn_app().await;
    let spec: Value = app.get_json("/openapi.json").await;
    for path in [
        "/t/{tenant}/admin/users",
        "/t/{tenant}/admin/audit-events",
        "/admin/tenants",
    ] {
        let parameters = spec["paths"][path]["get"]["parameters"].as_array().unwrap();
        let schema = |name: &str| {
            parameters
                .iter()
                .find(|p| p["name"] == name)
                .map(|p| p["schema"].clone())
                .unwrap_or_default()
        };
        let page = schema("page");
        assert_eq!(page["minimum"], 1.0, "{path} page: {page}");
        assert_eq!(page["default"], 1, "{path} page: {page}");
        assert!(page.get("maximum").is_none(), "{path} page: {page}");
        let per_page = schema("perPage");
        assert_eq!(per_page["minimum"], 1.0, "{path} perPage: {per_page}");
        assert_eq!(per_page["maximum"], 100.0, "{path} perPage: {per_page}");
        assert_eq!(per_page["default"], 20, "{path} perPage: {per_page}");
    }
}

#[tokio::test]
async fn the_spec_lets_clients_send_null_where_null_clears() {
    let app = spawn_app().await;
    let spec: Value = app.get_json("/openapi.json").await;
    let name = &spec["components"]["schemas"]["UpdateUserRequest"]["properties"]["name"];
    assert_eq!(name["type"], "string", "{name}");
    assert_eq!(name["nullable"], true, "{name}");
}
