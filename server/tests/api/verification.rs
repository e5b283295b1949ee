//! Email verification: `off`, `optional` (the default) and `required`.

use portcullis::domain::EmailVerification;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Tokens, assert_problem, jwt_claims};
use crate::smtp::spawn_app_with_smtp;

async fn verify(app: &crate::helpers::TestApp, token: &str) -> reqwest::Response {
    app.post_json("/t/default/auth/verify-email", &json!({ "token": token }))
        .await
}

#[tokio::test]
async fn required_verification_blocks_login_until_the_link_is_followed() {
    let (app, smtp) = spawn_app_with_smtp().await;
    app.update_settings("default", |s| {
        s.email_verification = EmailVerification::Required;
    })
    .await;
    let user = app.register("default", "alice@example.com").await;
    assert_eq!(user["emailVerified"], false);
    let mail = smtp.expect_exactly(1).await.remove(0);
    assert_eq!(mail.to, ["<alice@example.com>"]);
    assert!(
        mail.decoded()
            .contains("Subject: Confirm your email address for Default")
    );
    let link = mail.link("verify-email").unwrap();
    assert!(
        link.starts_with("http://localhost:8080/t/default/verify-email?token="),
        "{link}"
    );
    let token = mail.token("verify-email").unwrap();

    // Said only after a correct password.
    let wrong = app
        .login_with("default", "alice@example.com", "not the password")
        .await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let blocked = app
        .login_with("default", "alice@example.com", PASSWORD)
        .await;
    assert_problem(blocked, StatusCode::FORBIDDEN, "email_not_verified").await;

    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    let again = verify(&app, &token).await;
    assert_problem(again, StatusCode::BAD_REQUEST, "invalid_verification_token").await;

    let login = app
        .login_with("default", "alice@example.com", PASSWORD)
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    let tokens = Tokens::from(&login.json::<Value>().await.unwrap());
    assert_eq!(jwt_claims(&tokens.access)["email_verified"], true);
    let me: Value = app
        .get_bearer("/t/default/me", &tokens.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["emailVerified"], true);
}

#[tokio::test]
async fn optional_verification_mails_but_lets_the_user_in() {
    let (app, smtp) = spawn_app_with_smtp().await;
    let tokens = app.user("default", "alice@example.com").await;
    let mail = smtp.expect_exactly(1).await.remove(0);
    assert!(mail.token("verify-email").is_some());
    assert_eq!(jwt_claims(&tokens.access)["email_verified"], false);

    let token = mail.token("verify-email").unwrap();
    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    // Tokens issued afterwards say so.
    let fresh = app.login("default", "alice@example.com").await;
    assert_eq!(jwt_claims(&fresh.access)["email_verified"], true);
}

#[tokio::test]
async fn off_sends_nothing_at_registration() {
    let (app, smtp) = spawn_app_with_smtp().await;
    app.update_settings("default", |s| s.email_verification = EmailVerification::Off)
        .await;
    let tokens = app.user("default", "alice@example.com").await;
    smtp.expect_exactly(0).await;
    // Asking explicitly still works.
    let resend = app
        .post_bearer("/t/default/auth/resend-verification", &tokens.access, None)
        .await;
    assert_eq!(resend.status(), StatusCode::ACCEPTED);
    assert!(smtp.wait_for(1).await[0].token("verify-email").is_some());
}

#[tokio::test]
async fn resending_replaces_the_link_and_stops_once_verified() {
    let (app, smtp) = spawn_app_with_smtp().await;
    let tokens = app.user("default", "alice@example.com").await;
    let first = smtp.wait_for(1).await[0].token("verify-email").unwrap();

    // No body and no Content-Type needed.
    let resend = app
        .post_bearer("/t/default/auth/resend-verification", &tokens.access, None)
        .await;
    assert_eq!(resend.status(), StatusCode::ACCEPTED);
    let body: Value = resend.json().await.unwrap();
    assert!(body["message"].is_string());
    let second = smtp.wait_for(2).await[1].token("verify-email").unwrap();
    assert_ne!(first, second);

    let old = verify(&app, &first).await;
    assert_problem(old, StatusCode::BAD_REQUEST, "invalid_verification_token").await;
    assert_eq!(verify(&app, &second).await.status(), StatusCode::NO_CONTENT);

    let resend = app
        .post_bearer("/t/default/auth/resend-verification", &tokens.access, None)
        .await;
    assert_eq!(resend.status(), StatusCode::ACCEPTED);
    smtp.expect_exactly(2).await;

    let anonymous = app
        .client
        .post(app.url("/t/default/auth/resend-verification"))
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn a_verification_token_works_only_in_its_own_tenant() {
    let (app, smtp) = spawn_app_with_smtp().await;
    app.create_tenant("acme").await;
    app.register("default", "alice@example.com").await;
    let token = smtp.wait_for(1).await[0].token("verify-email").unwrap();
    let cross = app
        .post_json("/t/acme/auth/verify-email", &json!({ "token": token }))
        .await;
    assert_problem(cross, StatusCode::BAD_REQUEST, "invalid_verification_token").await;
    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_user_deleted_during_resend_verification_gets_401() {
    let (app, smtp) = spawn_app_with_smtp().await;
    let tokens = app.user("default", "vanishing@example.com").await;
    smtp.expect_exactly(1).await; // the registration's link
    let resend = app.post_bearer("/t/default/auth/resend-verification", &tokens.access, None);
    let response = app
        .while_deleting("default", tokens.user_id(), resend)
        .await;
    // Their token died with them: the answer the next request would get.
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    smtp.expect_exactly(1).await;
}

/// Every address registration takes gets its mail: `Email` checks against
/// the mailer's own address grammar. Fuzzing found `someone@[127.0.0.1]`
/// registered, and then its mail was never built.
#[tokio::test]
async fn every_address_registration_takes_gets_its_mail() {
    let (app, smtp) = spawn_app_with_smtp().await;
    let addresses = [
        "o'brien+tag@example.ie",
        "dotless@localhost",
        "a.b-c_d@sub.example.co.uk",
    ];
    for address in addresses {
        app.register("default", address).await;
    }
    let mut to: Vec<String> = smtp
        .expect_exactly(addresses.len())
        .await
        .into_iter()
        .flat_map(|mail| mail.to)
        .collect();
    to.sort();
    let mut expected: Vec<String> = addresses.iter().map(|a| format!("<{a}>")).collect();
    expected.sort();
    assert_eq!(to, expected);

    // What the mailer could not send to is refused at registration.
    for address in [
        "someone@[127.0.0.1]",
        "someone@-example.com",
        "¬@example.com",
    ] {
        let response = app
            .post_json(
                "/t/default/auth/register",
                &json!({"email": address, "password": PASSWORD}),
            )
            .await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "email", "{address}");
    }
}
