//! The hosted pages behind mailed links.

use portcullis::domain::EmailVerification;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp};
use crate::smtp::{SmtpServer, spawn_app_with_smtp};

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn reset_token(app: &TestApp, smtp: &SmtpServer, nth: usize) -> String {
    app.forgot_password("default", "alice@example.com").await;
    smtp.wait_for(nth).await[nth - 1]
        .token("reset-password")
        .unwrap()
}

async fn app_with_alice() -> (TestApp, SmtpServer) {
    let (app, smtp) = spawn_app_with_smtp().await;
    app.update_settings("default", |s| s.email_verification = EmailVerification::Off)
        .await;
    app.register("default", "alice@example.com").await;
    (app, smtp)
}

/// Headers every hosted page carries.
fn assert_page_headers(response: &reqwest::Response) {
    let headers = response.headers();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("form-action 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(headers["cache-control"], "no-store");
}

fn assert_self_contained(html: &str) {
    assert!(!html.contains("<script"), "{html}");
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "{html}"
    );
}

#[tokio::test]
async fn the_reset_page_shows_a_form_and_does_not_use_the_token() {
    let (app, smtp) = app_with_alice().await;
    let token = reset_token(&app, &smtp, 1).await;

    for _ in 0..2 {
        let page = app
            .client
            .get(app.url(&format!("/t/default/reset-password?token={token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert_page_headers(&page);
        let html = page.text().await.unwrap();
        assert!(html.contains("<form method=\"post\""), "{html}");
        assert!(html.contains("name=\"password\""));
        assert!(html.contains("Default"), "names the tenant");
        assert!(html.contains("alice@example.com"));
        assert_self_contained(&html);
    }
    // The GETs left the token usable.
    let reset = app.reset_password("default", &token, NEW_PASSWORD).await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);

    // A used link gets a page that says so.
    let used = app
        .client
        .get(app.url(&format!("/t/default/reset-password?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), StatusCode::BAD_REQUEST);
    assert_page_headers(&used);
    let html = used.text().await.unwrap();
    assert!(html.contains("does not work"), "{html}");
    assert!(!html.contains("<form"));
}

#[tokio::test]
async fn the_reset_form_sets_the_password() {
    let (app, smtp) = app_with_alice().await;
    let session = app.login("default", "alice@example.com").await;
    let token = reset_token(&app, &smtp, 1).await;
    let post = |password: &'static str, confirm: &'static str| {
        let token = token.clone();
        let app = &app;
        async move {
            app.client
                .post(app.url("/t/default/reset-password"))
                .form(&[
                    ("token", token.as_str()),
                    ("password", password),
                    ("confirm", confirm),
                ])
                .send()
                .await
                .unwrap()
        }
    };

    let mismatch = post(NEW_PASSWORD, "something else").await;
    assert_eq!(mismatch.status(), StatusCode::BAD_REQUEST);
    assert_page_headers(&mismatch);
    assert!(mismatch.text().await.unwrap().contains("not the same"));

    let weak = post("password", "password").await;
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
    let html = weak.text().await.unwrap();
    assert!(html.contains("most common passwords"), "{html}");
    assert!(html.contains("<form"), "the form is shown again");

    let done = post(NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_page_headers(&done);
    let html = done.text().await.unwrap();
    assert!(html.contains("Password changed"), "{html}");

    app.assert_signed_out("default", &[&session]).await;
    assert_eq!(
        app.login_with("default", "alice@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_with("default", "alice@example.com", NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    let again = post("another passphrase", "another passphrase").await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(again.text().await.unwrap().contains("does not work"));
}

async fn email_verified(app: &TestApp, access: &str) -> bool {
    let me: Value = app
        .get_bearer("/t/default/me", access)
        .await
        .json()
        .await
        .unwrap();
    me["emailVerified"].as_bool().unwrap()
}

#[tokio::test]
async fn the_verify_page_asks_before_verifying() {
    let (app, smtp) = spawn_app_with_smtp().await;
    let tokens = app.user("default", "alice@example.com").await;
    let token = smtp.wait_for(1).await[0].token("verify-email").unwrap();

    let page = app
        .client
        .get(app.url(&format!("/t/default/verify-email?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_page_headers(&page);
    let html = page.text().await.unwrap();
    assert!(html.contains("<form method=\"post\""), "{html}");
    assert!(html.contains("<button"), "{html}");
    assert_self_contained(&html);
    assert!(
        !email_verified(&app, &tokens.access).await,
        "a GET never verifies"
    );

    let confirm = app
        .client
        .post(app.url("/t/default/verify-email"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(confirm.status(), StatusCode::OK);
    assert_page_headers(&confirm);
    assert!(confirm.text().await.unwrap().contains("confirmed"));
    assert!(email_verified(&app, &tokens.access).await);
}

#[tokio::test]
async fn bad_links_and_tenants_get_pages_too() {
    let (app, _smtp) = spawn_app_with_smtp().await;
    for path in [
        "/t/default/reset-password",
        "/t/default/reset-password?token=nonsense",
        "/t/default/verify-email?token=nonsense",
    ] {
        let page = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_page_headers(&page);
    }
    let unknown = app
        .client
        .get(app.url("/t/nowhere/reset-password?token=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_page_headers(&unknown);

    let css = app
        .client
        .get(app.url("/assets/portcullis.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}
