//! Nothing of one tenant is usable from another.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_problem, spawn_app};

#[tokio::test]
async fn same_email_in_two_tenants_are_two_users() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let in_default = app.register("default", "same@example.com").await;
    let in_acme = app.register("acme", "same@example.com").await;
    assert_ne!(in_default["id"], in_acme["id"]);

    let acme = app.login("acme", "same@example.com").await;
    let default = app.login("default", "same@example.com").await;

    // Access tokens are rejected across tenants...
    let cross = app.get_bearer("/t/default/me", &acme.access).await;
    assert_problem(cross, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let cross = app.get_bearer("/t/acme/me", &default.access).await;
    assert_problem(cross, StatusCode::UNAUTHORIZED, "invalid_token").await;
    // ...and so are refresh tokens.
    let cross = app.refresh("default", &acme.refresh).await;
    assert_problem(cross, StatusCode::UNAUTHORIZED, "invalid_token").await;

    // A cross-tenant logout does nothing to the session.
    let logout = app
        .post_json(
            "/t/default/auth/logout",
            &json!({"refreshToken": acme.refresh}),
        )
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.refresh("acme", &acme.refresh).await.status(),
        StatusCode::OK
    );

    // Each tenant's own tokens keep working.
    let me: Value = app
        .get_bearer("/t/default/me", &default.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], in_default["id"]);

    // A password in one tenant is not a password in another.
    let response = app
        .post_json(
            "/t/system/auth/login",
            &json!({"email": "same@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn tenants_have_their_own_keys() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let kid = |jwks: Value| jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let default: Value = app.get_json("/t/default/.well-known/jwks.json").await;
    let acme: Value = app.get_json("/t/acme/.well-known/jwks.json").await;
    assert_ne!(kid(default), kid(acme));
}

#[tokio::test]
async fn unknown_tenants_are_404() {
    let app = spawn_app().await;
    for path in ["/t/nope/auth/login", "/t/Bad_Slug/auth/login"] {
        let response = app
            .post_json(
                path,
                &json!({"email": "a@example.com", "password": PASSWORD}),
            )
            .await;
        assert_problem(response, StatusCode::NOT_FOUND, "tenant_not_found").await;
    }
    let response = app
        .client
        .get(app.url("/t/nope/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND, "tenant_not_found").await;
}
