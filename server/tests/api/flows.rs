//! The whole token flow against `/t/default`, as the README walks it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Tokens, assert_problem, spawn_app};

#[tokio::test]
async fn register_login_me_refresh_logout() {
    let app = spawn_app().await;

    let user = app.register("default", "  Alice@Example.COM ").await;
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["name"], "Test User");
    assert_eq!(user["roles"], json!(["user"]));
    assert_eq!(user["emailVerified"], false);
    assert_eq!(user["disabled"], false);
    assert_eq!(user["locked"], false);
    assert!(
        user["createdAt"].as_str().unwrap().ends_with('Z')
            || user["createdAt"].as_str().unwrap().contains('+')
    );
    let id = user["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);

    let response = app
        .post_json(
            "/t/default/auth/login",
            &json!({"email": "ALICE@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("portcullis_refresh="), "{cookie}");
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/t/default/auth",
    ] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["expiresIn"], 900);
    assert!(body["refreshExpiresIn"].as_u64().unwrap() > 7 * 24 * 3600 - 10);
    let tokens = Tokens::from(&body);
    assert!(cookie.contains(&tokens.refresh));

    let me = app.get_bearer("/t/default/me", &tokens.access).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["id"], id);
    assert_eq!(me["email"], "alice@example.com");

    let refreshed = app.refresh("default", &tokens.refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let rotated = Tokens::from(&refreshed.json::<Value>().await.unwrap());
    assert_ne!(rotated.refresh, tokens.refresh);
    assert_ne!(rotated.access, tokens.access);
    assert_eq!(
        app.get_bearer("/t/default/me", &rotated.access)
            .await
            .status(),
        StatusCode::OK
    );

    let logout = app
        .post_json(
            "/t/default/auth/logout",
            &json!({"refreshToken": rotated.refresh}),
        )
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let cleared = logout.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    // The session is gone: its access tokens and refresh token stop working.
    let me = app.get_bearer("/t/default/me", &rotated.access).await;
    assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let again = app.refresh("default", &rotated.refresh).await;
    assert_problem(again, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn the_refresh_cookie_works_without_a_body() {
    let app = spawn_app().await;
    let tokens = app.user("default", "cookie@example.com").await;
    let cookie = format!("portcullis_refresh={}", tokens.refresh);

    // No body, no Content-Type: the cookie is enough.
    let response = app
        .client
        .post(app.url("/t/default/auth/refresh"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let rotated = Tokens::from(&response.json::<Value>().await.unwrap());

    // A body token wins over the cookie (here: the cookie's token is retired).
    let response = app
        .client
        .post(app.url("/t/default/auth/refresh"))
        .header("cookie", &cookie)
        .json(&json!({"refreshToken": rotated.refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let rotated = Tokens::from(&response.json::<Value>().await.unwrap());

    let response = app
        .client
        .post(app.url("/t/default/auth/logout"))
        .header("cookie", format!("portcullis_refresh={}", rotated.refresh))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let me = app.get_bearer("/t/default/me", &rotated.access).await;
    assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;

    // Neither cookie nor body: nothing to refresh with.
    let response = app
        .client
        .post(app.url("/t/default/auth/refresh"))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn logout_always_answers_204() {
    let app = spawn_app().await;
    let unknown = app
        .post_json(
            "/t/default/auth/logout",
            &json!({"refreshToken": "not-a-token"}),
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NO_CONTENT);
    let bare = app
        .client
        .post(app.url("/t/default/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn logout_all_ends_every_session() {
    let app = spawn_app().await;
    let first = app.user("default", "many@example.com").await;
    let second = app.login("default", "many@example.com").await;

    let response = app
        .client
        .post(app.url("/t/default/auth/logout-all"))
        .bearer_auth(&first.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    for tokens in [&first, &second] {
        let me = app.get_bearer("/t/default/me", &tokens.access).await;
        assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
        let refresh = app.refresh("default", &tokens.refresh).await;
        assert_problem(refresh, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
}

#[tokio::test]
async fn sessions_are_listed_and_revoked() {
    let app = spawn_app().await;
    let laptop = app.user("default", "devices@example.com").await;
    let phone = app
        .client
        .post(app.url("/t/default/auth/login"))
        .header("user-agent", "PhoneApp/1.0")
        .json(&json!({"email": "devices@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let phone = Tokens::from(&phone.json::<Value>().await.unwrap());

    let list = app
        .get_bearer("/t/default/me/sessions", &laptop.access)
        .await;
    assert_eq!(list.status(), StatusCode::OK);
    let list: Vec<Value> = list.json().await.unwrap();
    assert_eq!(list.len(), 2);
    let current: Vec<_> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let phone_session = list
        .iter()
        .find(|s| s["userAgent"] == "PhoneApp/1.0")
        .expect("phone session");
    assert_eq!(phone_session["current"], false);
    assert_eq!(phone_session["ip"], "127.0.0.1");
    for field in ["id", "createdAt", "lastUsedAt", "expiresAt"] {
        assert!(phone_session[field].is_string(), "{field}");
    }

    let id = phone_session["id"].as_str().unwrap();
    let path = format!("/t/default/me/sessions/{id}");
    let revoke = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&laptop.access)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    let me = app.get_bearer("/t/default/me", &phone.access).await;
    assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_eq!(
        app.get_bearer("/t/default/me", &laptop.access)
            .await
            .status(),
        StatusCode::OK
    );

    // Revoking it again, or someone else's session, is 404.
    let again = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&laptop.access)
        .send()
        .await
        .unwrap();
    assert_problem(again, StatusCode::NOT_FOUND, "not_found").await;
    let other = app.user("default", "other@example.com").await;
    let list: Vec<Value> = app
        .get_bearer("/t/default/me/sessions", &other.access)
        .await
        .json()
        .await
        .unwrap();
    let foreign = format!("/t/default/me/sessions/{}", list[0]["id"].as_str().unwrap());
    let response = app
        .client
        .delete(app.url(&foreign))
        .bearer_auth(&laptop.access)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        app.get_bearer("/t/default/me", &other.access)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_email_and_wrong_password_are_indistinguishable() {
    let app = spawn_app().await;
    app.register("default", "known@example.com").await;
    let wrong = app
        .post_json(
            "/t/default/auth/login",
            &json!({"email": "known@example.com", "password": "wrong password"}),
        )
        .await;
    let wrong_headers = wrong.headers().get("www-authenticate").cloned();
    let wrong = assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let unknown = app
        .post_json(
            "/t/default/auth/login",
            &json!({"email": "nobody@example.com", "password": "wrong password"}),
        )
        .await;
    let unknown_headers = unknown.headers().get("www-authenticate").cloned();
    let unknown = assert_problem(unknown, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong_headers, unknown_headers);
}

#[tokio::test]
async fn duplicate_email_differing_in_case_is_taken() {
    let app = spawn_app().await;
    app.register("default", "dup@example.com").await;
    let response = app
        .post_json(
            "/t/default/auth/register",
            &json!({"email": " DUP@Example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(response, StatusCode::CONFLICT, "email_taken").await;
}

#[tokio::test]
async fn signup_can_be_turned_off_and_is_always_off_in_system() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/t/system/auth/register",
            &json!({"email": "x@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(response, StatusCode::FORBIDDEN, "signup_disabled").await;

    app.update_settings("default", |s| s.signup_enabled = false)
        .await;
    let response = app
        .post_json(
            "/t/default/auth/register",
            &json!({"email": "x@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(response, StatusCode::FORBIDDEN, "signup_disabled").await;
}

#[tokio::test]
async fn the_bootstrap_admin_can_log_in_to_system() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/t/system/auth/login",
            &json!({"email": "admin@example.com", "password": "bootstrap password"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens = Tokens::from(&response.json::<Value>().await.unwrap());
    let me: Value = app
        .get_bearer("/t/system/me", &tokens.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], json!(["user", "superadmin"]));
}

/// Unset optional fields are left out of responses, never `null`: the
/// OpenAPI document declares them optional and not nullable, and clients
/// generated from it reject a `null` there (schemathesis found `name`,
/// `userAgent`, `actorUserId` and `audience` sent as `null`).
#[tokio::test]
async fn unset_fields_are_absent_not_null() {
    let app = spawn_app().await;
    // Created without a name, logged in without a User-Agent.
    let (tokens, _) = app
        .member("default", "nameless@example.com", &["user"])
        .await;
    let failed = app
        .login_with("default", "nameless@example.com", "not the password")
        .await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    let root = app.superadmin().await;

    let me: Value = app
        .get_bearer("/t/default/me", &tokens.access)
        .await
        .json()
        .await
        .unwrap();
    assert!(me.get("name").is_none(), "{me}");
    let sessions: Value = app
        .get_bearer("/t/default/me/sessions", &tokens.access)
        .await
        .json()
        .await
        .unwrap();
    assert!(sessions[0].get("userAgent").is_none(), "{sessions}");
    let events: Value = app
        .get_bearer("/t/default/admin/audit-events", &root.access)
        .await
        .json()
        .await
        .unwrap();
    let tenant: Value = app
        .get_bearer("/admin/tenants/default", &root.access)
        .await
        .json()
        .await
        .unwrap();
    assert!(tenant["settings"].get("audience").is_none(), "{tenant}");
    for body in [&me, &sessions, &events, &tenant] {
        assert_no_null(body, "");
    }
}

/// Fails on any `null` in `value`, but for an audit event's free-form `detail`.
fn assert_no_null(value: &Value, at: &str) {
    match value {
        Value::Null => panic!("null at {at}"),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                assert_no_null(item, &format!("{at}[{i}]"));
            }
        }
        Value::Object(fields) => {
            for (key, field) in fields.iter().filter(|(key, _)| *key != "detail") {
                assert_no_null(field, &format!("{at}.{key}"));
            }
        }
        _ => {}
    }
}
