//! Forgot → mail → reset → login, and everything a reset token must not do.

use portcullis::domain::EmailVerification;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_problem};
use crate::smtp::{SmtpServer, spawn_app_with_smtp};

const NEW_PASSWORD: &str = "a brand new passphrase";

/// An app whose registrations send no verification mail, so every mail
/// in these tests is a reset mail.
async fn app() -> (TestApp, SmtpServer) {
    let (app, smtp) = spawn_app_with_smtp().await;
    app.update_settings("default", |s| {
        s.email_verification = EmailVerification::Off;
    })
    .await;
    (app, smtp)
}

#[tokio::test]
async fn forgot_mail_reset_login() {
    let (app, smtp) = app().await;
    app.register("default", "alice@example.com").await;
    let phone = app.login("default", "alice@example.com").await;
    let laptop = app.login("default", "alice@example.com").await;

    let response = app.forgot_password("default", "Alice@Example.com ").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("If an account"));

    let mail = smtp.expect_exactly(1).await.remove(0);
    assert_eq!(mail.to, ["<alice@example.com>"]);
    assert!(mail.from.contains("no-reply@localhost"), "{}", mail.from);
    let decoded = mail.decoded();
    assert!(decoded.contains("multipart/alternative"), "{decoded}");
    assert!(decoded.contains("text/plain") && decoded.contains("text/html"));
    assert!(decoded.contains("Subject: Reset your password for Default"));
    assert!(decoded.contains("30 minutes"), "{decoded}");
    let link = mail.link("reset-password").expect("a reset link");
    assert!(
        link.starts_with("http://localhost:8080/t/default/reset-password?token="),
        "{link}"
    );
    let token = mail.token("reset-password").unwrap();
    assert_eq!(token.len(), 43, "256 bits, base64url");

    // The policy applies, and a refused password leaves the token usable.
    let weak = app.reset_password("default", &token, "password").await;
    let problem = assert_problem(weak, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "password");

    let done = app.reset_password("default", &token, NEW_PASSWORD).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);

    // Every session is gone: access and refresh tokens alike.
    app.assert_signed_out("default", &[&phone, &laptop]).await;
    let old = app
        .login_with("default", "alice@example.com", PASSWORD)
        .await;
    assert_problem(old, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let new = app
        .login_with("default", "alice@example.com", NEW_PASSWORD)
        .await;
    assert_eq!(new.status(), StatusCode::OK);
    // Following the mailed link proved the mailbox.
    let tokens = crate::helpers::Tokens::from(&new.json::<Value>().await.unwrap());
    let me: Value = app
        .get_bearer("/t/default/me", &tokens.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["emailVerified"], true);

    // Single use.
    let again = app
        .reset_password("default", &token, "yet another passphrase")
        .await;
    assert_problem(again, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
}

#[tokio::test]
async fn the_answer_is_the_same_whether_or_not_the_account_exists() {
    let (app, smtp) = app().await;
    app.register("default", "alice@example.com").await;
    app.register("default", "bob@example.com").await;
    app.disable_user("bob@example.com").await;

    let mut answers = Vec::new();
    for email in ["alice@example.com", "nobody@example.com", "bob@example.com"] {
        let response = app.forgot_password("default", email).await;
        let status = response.status();
        let content_type = response.headers()["content-type"].clone();
        answers.push((status, content_type, response.text().await.unwrap()));
    }
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "answers differ: {answers:#?}"
    );
    // Only the existing, enabled account gets mail.
    let mails = smtp.expect_exactly(1).await;
    assert_eq!(mails[0].to, ["<alice@example.com>"]);

    // A malformed address is a plain validation error, not a hint.
    let bad = app.forgot_password("default", "not-an-email").await;
    assert_problem(bad, StatusCode::BAD_REQUEST, "validation_failed").await;
}

#[tokio::test]
async fn a_user_deleted_during_forgot_password_gets_the_no_account_answer() {
    let (app, smtp) = app().await;
    let user = app.user("default", "vanishing@example.com").await.user_id();
    let forgot = app.forgot_password("default", "vanishing@example.com");
    let response = app.while_deleting("default", user, forgot).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // Nothing half-done: no mail, no audit record of a request. (No token
    // either, but the delete would have removed one anyway.)
    smtp.expect_exactly(0).await;
    let requested = "audit_events WHERE type = 'password.reset_requested' AND subject_user_id";
    assert_eq!(app.count_where(requested, user.0.into()).await, 0);
}

#[tokio::test]
async fn a_new_reset_token_invalidates_the_earlier_ones() {
    let (app, smtp) = app().await;
    app.register("default", "alice@example.com").await;
    app.forgot_password("default", "alice@example.com").await;
    let first = smtp.wait_for(1).await[0].token("reset-password").unwrap();
    app.forgot_password("default", "alice@example.com").await;
    let second = smtp.wait_for(2).await[1].token("reset-password").unwrap();
    assert_ne!(first, second);

    let old = app.reset_password("default", &first, NEW_PASSWORD).await;
    assert_problem(old, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
    let new = app.reset_password("default", &second, NEW_PASSWORD).await;
    assert_eq!(new.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_reset_token_works_only_in_its_own_tenant() {
    let (app, smtp) = app().await;
    app.create_tenant("acme").await;
    app.update_settings("acme", |s| s.email_verification = EmailVerification::Off)
        .await;
    app.register("default", "same@example.com").await;
    app.register("acme", "same@example.com").await;

    app.forgot_password("default", "same@example.com").await;
    let token = smtp.expect_exactly(1).await[0]
        .token("reset-password")
        .unwrap();
    let cross = app.reset_password("acme", &token, NEW_PASSWORD).await;
    assert_problem(cross, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
    // The acme account keeps its password; the default one can still reset.
    assert_eq!(
        app.login_with("acme", "same@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    let own = app.reset_password("default", &token, NEW_PASSWORD).await;
    assert_eq!(own.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn tokens_of_other_kinds_are_never_accepted() {
    let (app, smtp) = spawn_app_with_smtp().await;
    // Verification stays on: its token is one of the kinds under test.
    app.register("default", "alice@example.com").await;
    let verification = smtp.wait_for(1).await[0].token("verify-email").unwrap();
    let session = app.login("default", "alice@example.com").await;
    app.forgot_password("default", "alice@example.com").await;
    let reset = smtp.wait_for(2).await[1].token("reset-password").unwrap();

    for wrong in [&session.access, &session.refresh, &verification] {
        let response = app.reset_password("default", wrong, NEW_PASSWORD).await;
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
    }
    // ...and the reset token is neither an access, a refresh nor a
    // verification token.
    let me = app.get_bearer("/t/default/me", &reset).await;
    assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let refresh = app.refresh("default", &reset).await;
    assert_problem(refresh, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let verify = app
        .post_json("/t/default/auth/verify-email", &json!({ "token": reset }))
        .await;
    assert_problem(
        verify,
        StatusCode::BAD_REQUEST,
        "invalid_verification_token",
    )
    .await;

    // None of that used the reset token up.
    let done = app.reset_password("default", &reset, NEW_PASSWORD).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn concurrent_resets_use_a_token_once() {
    let (app, smtp) = app().await;
    app.register("default", "alice@example.com").await;
    app.forgot_password("default", "alice@example.com").await;
    let token = smtp.wait_for(1).await[0].token("reset-password").unwrap();

    let attempts = (0..4).map(|i| {
        let password = format!("{NEW_PASSWORD} number {i}");
        let app = &app;
        let token = &token;
        async move { app.reset_password("default", token, &password).await }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|r| r.status()).collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::NO_CONTENT)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::NO_CONTENT || *s == StatusCode::BAD_REQUEST),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn an_expired_reset_token_is_refused() {
    let (app, smtp) = app().await;
    app.force_settings("default", |s| s.reset_token_ttl_seconds = 1)
        .await;
    app.register("default", "alice@example.com").await;
    app.forgot_password("default", "alice@example.com").await;
    let mail = smtp.wait_for(1).await.remove(0);
    assert!(mail.decoded().contains("1 minute"));
    let token = mail.token("reset-password").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let late = app.reset_password("default", &token, NEW_PASSWORD).await;
    assert_problem(late, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
}

#[tokio::test]
async fn unknown_and_empty_tokens_are_refused() {
    let (app, _smtp) = app().await;
    for token in ["", "nonsense", &"A".repeat(43)] {
        let response = app.reset_password("default", token, NEW_PASSWORD).await;
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_reset_token").await;
    }
}

#[tokio::test]
async fn a_user_created_without_a_password_is_invited_to_choose_one() {
    let (app, smtp) = app().await;
    let root = app.superadmin().await;
    let response = app
        .send(
            reqwest::Method::POST,
            "/t/default/admin/users",
            &root.access,
            Some(&json!({"email": "invited@example.com"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let mail = smtp.expect_exactly(1).await.remove(0);
    assert_eq!(mail.to, ["<invited@example.com>"]);
    let decoded = mail.decoded();
    assert!(decoded.contains("Choose your password"), "{decoded}");
    assert!(decoded.contains("1 day"), "{decoded}");
    let token = mail.token("reset-password").expect("a link");
    let response = app.reset_password("default", &token, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app
        .login_with("default", "invited@example.com", NEW_PASSWORD)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}
