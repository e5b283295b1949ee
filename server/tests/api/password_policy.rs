//! The password policy as clients see it: one `errors` entry per rule.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

async fn register_errors(app: &crate::helpers::TestApp, email: &str, password: &str) -> Vec<Value> {
    let response = app
        .post_json(
            "/t/default/auth/register",
            &json!({"email": email, "password": password}),
        )
        .await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
    problem["errors"].as_array().unwrap().clone()
}

#[tokio::test]
async fn common_passwords_and_the_email_are_refused() {
    let app = spawn_app().await;
    let errors = register_errors(&app, "carol@example.com", "Password1").await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["field"], "password");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("most common passwords")
    );

    let errors = register_errors(&app, "carol.jones@example.com", "hi carol.jones!").await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("email address")
    );
}

#[tokio::test]
async fn each_broken_rule_is_its_own_entry() {
    let app = spawn_app().await;
    app.update_settings("default", |s| {
        s.password_policy.require_uppercase = true;
        s.password_policy.require_lowercase = true;
        s.password_policy.require_digit = true;
        s.password_policy.require_symbol = true;
    })
    .await;
    let errors = register_errors(&app, "bad-email", "ABC").await;
    let for_password: Vec<&str> = errors
        .iter()
        .filter(|e| e["field"] == "password")
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    // Too short, no lower case, no digit, no symbol.
    assert_eq!(for_password.len(), 4, "{errors:?}");
    assert!(errors.iter().any(|e| e["field"] == "email"), "{errors:?}");

    let ok = app
        .post_json(
            "/t/default/auth/register",
            &json!({"email": "dan@example.com", "password": "Tr0ub4dor & 3"}),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn passwords_are_normalised_before_hashing() {
    let app = spawn_app().await;
    // Registered with a composed "é", logged in with a decomposed one.
    let created = app
        .post_json(
            "/t/default/auth/register",
            &json!({"email": "erin@example.com", "password": "café au lait"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let login = app
        .login_with("default", "erin@example.com", "cafe\u{301} au lait")
        .await;
    assert_eq!(login.status(), StatusCode::OK);
}
