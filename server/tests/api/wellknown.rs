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
    let spec: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
