//! `POST /auth/change-password`.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, assert_problem, spawn_app};

const NEW_PASSWORD: &str = "a brand new passphrase";

#[tokio::test]
async fn change_password_revokes_every_session() {
    let app = spawn_app().await;
    let phone = app.user("default", "alice@example.com").await;
    let laptop = app.login("default", "alice@example.com").await;

    let changed = app
        .post_bearer(
            "/t/default/auth/change-password",
            &phone.access,
            Some(&json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);

    app.assert_signed_out("default", &[&phone, &laptop]).await;
    let old = app
        .login_with("default", "alice@example.com", PASSWORD)
        .await;
    assert_problem(old, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let new = app
        .login_with("default", "alice@example.com", NEW_PASSWORD)
        .await;
    assert_eq!(new.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_current_password_is_invalid_credentials() {
    let app = spawn_app().await;
    let tokens = app.user("default", "alice@example.com").await;
    let response = app
        .post_bearer(
            "/t/default/auth/change-password",
            &tokens.access,
            Some(&json!({"currentPassword": "not my password", "newPassword": NEW_PASSWORD})),
        )
        .await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    // Nothing changed: the session lives and the old password works.
    assert_eq!(
        app.get_bearer("/t/default/me", &tokens.access)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login_with("default", "alice@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_new_password_follows_the_policy_rule_by_rule() {
    let app = spawn_app().await;
    let tokens = app.user("default", "alice@example.com").await;
    // Stricter since she registered: the policy of today applies.
    app.update_settings("default", |s| {
        s.password_policy.require_digit = true;
        s.password_policy.require_uppercase = true;
    })
    .await;
    let response = app
        .post_bearer(
            "/t/default/auth/change-password",
            &tokens.access,
            Some(&json!({"currentPassword": PASSWORD, "newPassword": "alice"})),
        )
        .await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
    let errors = problem["errors"].as_array().unwrap();
    // Too short, contains the email's local part, no digit, no upper case.
    assert_eq!(errors.len(), 4, "{problem}");
    assert!(
        errors.iter().all(|e| e["field"] == "newPassword"),
        "{problem}"
    );
    assert_eq!(
        app.get_bearer("/t/default/me", &tokens.access)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn change_password_needs_a_bearer_token() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/t/default/auth/change-password",
            &json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}),
        )
        .await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}
