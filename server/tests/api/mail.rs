//! How mail leaves: the outbox without SMTP, and a dead SMTP server that
//! must not fail or slow requests.

use std::time::{Duration, Instant};

use portcullis::domain::EmailVerification;
use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn without_smtp_mail_lands_in_the_outbox() {
    let app = spawn_app().await;
    app.update_settings("default", |s| s.email_verification = EmailVerification::Off)
        .await;
    app.register("default", "alice@example.com").await;
    let response = app.forgot_password("default", "alice@example.com").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    let outbox = app.data_dir.join("outbox");
    let deadline = Instant::now() + Duration::from_secs(10);
    let file = loop {
        let found = std::fs::read_dir(&outbox)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "eml"));
        if let Some(file) = found {
            break file;
        }
        assert!(Instant::now() < deadline, "no .eml in {}", outbox.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Give the writer a moment to finish the file.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let raw = std::fs::read_to_string(&file).unwrap();
    let mail = crate::smtp::ReceivedMail {
        from: String::new(),
        to: Vec::new(),
        raw,
    };
    let decoded = mail.decoded();
    assert!(decoded.contains("To: alice@example.com"), "{decoded}");
    assert!(decoded.contains("multipart/alternative"), "{decoded}");
    let link = mail.link("reset-password").expect("a reset link");
    assert!(link.starts_with("http://localhost:8080/t/default/reset-password?token="));
    let token = mail.token("reset-password").unwrap();
    let reset = app
        .reset_password("default", &token, "a brand new passphrase")
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_dead_smtp_server_fails_no_request() {
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_app_with(&[("PORTCULLIS_SMTP_URL", &url)]).await;

    let started = Instant::now();
    // Registration sends a verification mail (optional by default).
    app.register("default", "alice@example.com").await;
    let response = app.forgot_password("default", "alice@example.com").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    // The server is still fine afterwards.
    app.login("default", "alice@example.com").await;
}
