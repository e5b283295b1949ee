//! Every way a Bearer token must be refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn parts(token: &str) -> (Value, Value, String) {
    let mut it = token.split('.');
    let header =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap();
    let claims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap();
    (header, claims, it.next().unwrap().to_owned())
}

async fn assert_rejected(app: &crate::helpers::TestApp, token: &str) {
    let response = app.get_bearer("/t/default/me", token).await;
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(challenge, "Bearer error=\"invalid_token\"");
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn missing_or_malformed_headers() {
    let app = spawn_app().await;
    let none = app
        .client
        .get(app.url("/t/default/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    assert_problem(none, StatusCode::UNAUTHORIZED, "invalid_token").await;

    for header in ["Basic YTpi", "Bearer", "Bearer ", "token abc"] {
        let response = app
            .client
            .get(app.url("/t/default/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
    assert_rejected(&app, "not.a.jwt").await;
    assert_rejected(&app, "garbage").await;
}

#[tokio::test]
async fn forged_and_tampered_tokens() {
    let app = spawn_app().await;
    let tokens = app.user("default", "bearer@example.com").await;
    let (header, claims, signature) = parts(&tokens.access);

    // alg: none, with and without a signature.
    let mut none = header.clone();
    none["alg"] = json!("none");
    assert_rejected(&app, &format!("{}.{}.", b64(&none), b64(&claims))).await;
    assert_rejected(
        &app,
        &format!("{}.{}.{signature}", b64(&none), b64(&claims)),
    )
    .await;

    // Another algorithm than the key's (HS256 keyed with the public key).
    let mut hs = header.clone();
    hs["alg"] = json!("HS256");
    assert_rejected(&app, &format!("{}.{}.{signature}", b64(&hs), b64(&claims))).await;

    // A tampered payload keeps the old signature.
    let mut elevated = claims.clone();
    elevated["roles"] = json!(["user", "admin"]);
    assert_rejected(
        &app,
        &format!("{}.{}.{signature}", b64(&header), b64(&elevated)),
    )
    .await;

    // Unknown kid.
    let mut unknown_kid = header.clone();
    unknown_kid["kid"] = json!("not-a-key");
    assert_rejected(
        &app,
        &format!("{}.{}.{signature}", b64(&unknown_kid), b64(&claims)),
    )
    .await;

    // Wrong typ.
    let mut jwt = header.clone();
    jwt["typ"] = json!("JWT");
    assert_rejected(&app, &format!("{}.{}.{signature}", b64(&jwt), b64(&claims))).await;

    // A refresh token is not an access token.
    assert_rejected(&app, &tokens.refresh).await;

    // The untouched token still works.
    assert_eq!(
        app.get_bearer("/t/default/me", &tokens.access)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_rejected() {
    // Two servers, two databases, two sets of keys: a token of one is
    // garbage to the other even with the same tenant slug and issuer.
    let app = spawn_app().await;
    let other = spawn_app().await;
    let foreign = other.user("default", "elsewhere@example.com").await;
    app.register("default", "elsewhere@example.com").await;
    assert_rejected(&app, &foreign.access).await;
}

#[tokio::test]
async fn expired_tokens_say_so() {
    let app = spawn_app().await;
    app.force_settings("default", |s| s.access_token_ttl_seconds = 1)
        .await;
    let tokens = app.user("default", "expiring@example.com").await;
    assert_eq!(
        app.get_bearer("/t/default/me", &tokens.access)
            .await
            .status(),
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = app.get_bearer("/t/default/me", &tokens.access).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_problem(response, StatusCode::UNAUTHORIZED, "token_expired").await;
}

#[tokio::test]
async fn a_deleted_user_token_is_rejected() {
    let app = spawn_app_with(&[]).await;
    let tokens = app.user("default", "gone@example.com").await;
    let (_, claims, _) = parts(&tokens.access);
    let id = uuid::Uuid::parse_str(claims["sub"].as_str().unwrap()).unwrap();
    // No admin API yet: delete the row the way the admin service will.
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.services.db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => "DELETE FROM users WHERE id = $1",
        _ => "DELETE FROM users WHERE id = ?",
    };
    app.services
        .db
        .execute_raw(Statement::from_sql_and_values(backend, sql, [id.into()]))
        .await
        .unwrap();
    assert_rejected(&app, &tokens.access).await;
}

async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    app.get_bearer("/t/default/me", token).await.status()
}

/// A token checked moments ago is not checked again while nothing changed
/// (`service::token_cache`); every change made through this instance must
/// still apply to the very next request.
#[tokio::test]
async fn a_recently_checked_token_still_stops_at_once() {
    let app = spawn_app().await;
    let admin = app.superadmin().await;
    let (revoked, _) = app.member("default", "revoked@example.com", &[]).await;
    let (disabled, disabled_id) = app.member("default", "disabled@example.com", &[]).await;
    let (renamed, renamed_id) = app.member("default", "renamed@example.com", &[]).await;
    for tokens in [&revoked, &disabled, &renamed] {
        assert_eq!(me_status(&app, &tokens.access).await, StatusCode::OK);
    }

    let response = app
        .post_bearer("/t/default/auth/logout-all", &revoked.access, None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_rejected(&app, &revoked.access).await;

    let patch_user = |id: String, change: Value| {
        let (app, token) = (&app, admin.access.clone());
        async move {
            let path = format!("/t/default/admin/users/{id}");
            let response = app
                .send(reqwest::Method::PATCH, &path, &token, Some(&change))
                .await;
            assert_eq!(response.status(), StatusCode::OK);
        }
    };
    patch_user(disabled_id, json!({"disabled": true})).await;
    assert_rejected(&app, &disabled.access).await;

    patch_user(renamed_id, json!({"name": "New Name"})).await;
    let me: Value = app
        .get_bearer("/t/default/me", &renamed.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["name"], "New Name");
}

/// Another instance on the same database learns of a revocation within
/// `PORTCULLIS_TOKEN_CACHE_SECS` (1 s by default); with 0, at once.
#[tokio::test]
async fn another_instance_s_revocation_applies_within_the_cache_lifetime() {
    for (lifetime, bound) in [
        ("1", std::time::Duration::from_secs(3)),
        ("0", std::time::Duration::ZERO),
    ] {
        let first = spawn_app_with(&[("PORTCULLIS_TOKEN_CACHE_SECS", lifetime)]).await;
        let second = first.sibling().await;
        let tokens = first.user("default", "roaming@example.com").await;
        assert_eq!(me_status(&second, &tokens.access).await, StatusCode::OK);
        let response = first
            .post_bearer("/t/default/auth/logout-all", &tokens.access, None)
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let revoked_at = std::time::Instant::now();
        while me_status(&second, &tokens.access).await == StatusCode::OK {
            assert!(
                revoked_at.elapsed() <= bound,
                "still accepted after {bound:?} (cache {lifetime} s)"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_rejected(&second, &tokens.access).await;
    }
}
