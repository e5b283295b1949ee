//! Tenant administration and the one guard in front of it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, Tokens, assert_problem, jwt_claims, spawn_app};

/// Every tenant-admin route of `tenant`, with a fresh target user and session.
async fn admin_routes(
    app: &TestApp,
    tenant: &str,
    n: usize,
) -> Vec<(Method, String, Option<Value>)> {
    let (victim, victim_id) = app
        .member(tenant, &format!("victim{n}@example.com"), &[])
        .await;
    let sessions: Vec<Value> = app
        .get_bearer(&format!("/t/{tenant}/me/sessions"), &victim.access)
        .await
        .json()
        .await
        .unwrap();
    let session_id = sessions[0]["id"].as_str().unwrap().to_owned();
    let t = format!("/t/{tenant}/admin");
    vec![
        (Method::GET, format!("{t}/users"), None),
        (
            Method::POST,
            format!("{t}/users"),
            Some(json!({"email": format!("new{n}@example.com"), "password": PASSWORD})),
        ),
        (Method::GET, format!("{t}/users/{victim_id}"), None),
        (
            Method::PATCH,
            format!("{t}/users/{victim_id}"),
            Some(json!({"name": "Renamed"})),
        ),
        (Method::GET, format!("{t}/users/{victim_id}/sessions"), None),
        (Method::GET, format!("{t}/audit-events"), None),
        (Method::DELETE, format!("{t}/sessions/{session_id}"), None),
        (Method::DELETE, format!("{t}/users/{victim_id}"), None),
    ]
}

async fn assert_allowed(app: &TestApp, token: &str, routes: &[(Method, String, Option<Value>)]) {
    for (method, path, body) in routes {
        let response = app.send(method.clone(), path, token, body.as_ref()).await;
        assert!(
            response.status().is_success(),
            "{method} {path}: {}",
            response.status()
        );
    }
}

async fn assert_refused(
    app: &TestApp,
    token: &str,
    routes: &[(Method, String, Option<Value>)],
    status: StatusCode,
    code: &str,
) {
    for (method, path, body) in routes {
        let response = app.send(method.clone(), path, token, body.as_ref()).await;
        assert_eq!(response.status(), status, "{method} {path}");
        assert_problem(response, status, code).await;
    }
}

#[tokio::test]
async fn the_authorization_matrix() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let (plain, _) = app.member("acme", "plain@acme.test", &[]).await;
    let (admin, _) = app.member("acme", "admin@acme.test", &["admin"]).await;
    let (globex_admin, _) = app.member("globex", "admin@globex.test", &["admin"]).await;
    let (system_user, _) = app.member("system", "staff@system.test", &[]).await;
    let (system_admin, _) = app
        .member("system", "sysadmin@system.test", &["admin"])
        .await;
    let root = app.superadmin().await;

    let routes = admin_routes(&app, "acme", 1).await;
    // A plain user of the tenant: authenticated, not allowed.
    assert_refused(
        &app,
        &plain.access,
        &routes,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // The admin of another tenant: its token means nothing here.
    assert_refused(
        &app,
        &globex_admin.access,
        &routes,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    // A non-superadmin of `system` has no power over other tenants.
    assert_refused(
        &app,
        &system_user.access,
        &routes,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_refused(
        &app,
        &system_admin.access,
        &routes,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // No token at all.
    for (method, path, _) in &routes {
        let response = app.request(method.clone(), path).await;
        assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
    // The tenant's admin and the superadmin may do everything.
    assert_allowed(&app, &admin.access, &routes).await;
    assert_allowed(&app, &root.access, &admin_routes(&app, "acme", 2).await).await;

    // `system` itself is for superadmins only, even for its own `admin`s.
    let system_routes = admin_routes(&app, "system", 3).await;
    assert_refused(
        &app,
        &system_admin.access,
        &system_routes,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_allowed(&app, &root.access, &system_routes).await;

    // The superadmin's token is accepted on admin routes only.
    let me = app.get_bearer("/t/acme/me", &root.access).await;
    assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;

    // Platform routes: superadmins only.
    let platform = [
        (Method::GET, "/admin/tenants".to_owned(), None),
        (
            Method::POST,
            "/admin/tenants".to_owned(),
            Some(json!({"slug": "initech", "name": "Initech"})),
        ),
        (Method::GET, "/admin/tenants/acme".to_owned(), None),
        (
            Method::PATCH,
            "/admin/tenants/acme".to_owned(),
            Some(json!({"name": "Acme Corp"})),
        ),
        (
            Method::POST,
            "/admin/tenants/acme/keys/rotate".to_owned(),
            None,
        ),
        (Method::DELETE, "/admin/tenants/initech".to_owned(), None),
    ];
    assert_refused(
        &app,
        &system_user.access,
        &platform,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_refused(
        &app,
        &system_admin.access,
        &platform,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_refused(
        &app,
        &admin.access,
        &platform,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    assert_allowed(&app, &root.access, &platform).await;
}

#[tokio::test]
async fn role_rules() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let (admin, admin_id) = app.member("acme", "admin@acme.test", &["admin"]).await;
    let root = app.superadmin().await;

    // Tenant admins cannot mint superadmins, anywhere.
    let response = app
        .send(
            Method::POST,
            "/t/acme/admin/users",
            &admin.access,
            Some(&json!({"email": "x@acme.test", "password": PASSWORD, "roles": ["superadmin"]})),
        )
        .await;
    let body = assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "roles");
    // Custom roles travel in the token; `user` is always there; bad names are refused.
    let response = app
        .send(
            Method::POST,
            "/t/acme/admin/users",
            &admin.access,
            Some(&json!({"email": "billing@acme.test", "password": PASSWORD, "roles": ["billing-viewer"]})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["roles"], json!(["billing-viewer", "user"]));
    let tokens = app.login("acme", "billing@acme.test").await;
    let claims = jwt_claims(&tokens.access);
    assert_eq!(claims["roles"], json!(["billing-viewer", "user"]));
    let response = app
        .send(
            Method::PATCH,
            &format!("/t/acme/admin/users/{}", user["id"].as_str().unwrap()),
            &admin.access,
            Some(&json!({"roles": ["Bad Role"]})),
        )
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;

    // Only a superadmin grants superadmin, and only in `system`.
    let response = app
        .send(
            Method::POST,
            "/t/system/admin/users",
            &root.access,
            Some(&json!({"email": "second@system.test", "password": PASSWORD, "roles": ["superadmin"]})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // Nobody disables, deletes or demotes themselves.
    let own = format!("/t/acme/admin/users/{admin_id}");
    for body in [json!({"disabled": true}), json!({"roles": []})] {
        let response = app
            .send(Method::PATCH, &own, &admin.access, Some(&body))
            .await;
        assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
    }
    let response = app.send(Method::DELETE, &own, &admin.access, None).await;
    assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
}

#[tokio::test]
async fn list_search_and_paginate() {
    let app = spawn_app().await;
    let root = app.superadmin().await;
    for i in 0..25 {
        let name = if i % 5 == 0 {
            format!("Zed {i}")
        } else {
            format!("Person {i}")
        };
        let response = app
            .send(
                Method::POST,
                "/t/default/admin/users",
                &root.access,
                Some(&json!({"email": format!("user{i:02}@example.com"), "name": name})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let page: Value = app
        .get_bearer("/t/default/admin/users?perPage=10&page=3", &root.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 25);
    assert_eq!(page["page"], 3);
    assert_eq!(page["perPage"], 10);
    assert_eq!(page["items"].as_array().unwrap().len(), 5);

    let zeds: Value = app
        .get_bearer("/t/default/admin/users?q=zED", &root.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(zeds["total"], 5);
    let one: Value = app
        .get_bearer("/t/default/admin/users?q=USER07@", &root.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["total"], 1);
    assert_eq!(one["items"][0]["email"], "user07@example.com");
    // LIKE wildcards in `q` are literal.
    let none: Value = app
        .get_bearer("/t/default/admin/users?q=%25", &root.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["total"], 0);

    let response = app
        .get_bearer("/t/default/admin/users?perPage=101&page=0", &root.access)
        .await;
    let body = assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
    let response = app
        .get_bearer("/t/default/admin/users?page=abc", &root.access)
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
}

#[tokio::test]
async fn disabling_stops_everything_at_once() {
    let app = spawn_app().await;
    let root = app.superadmin().await;
    let (user, id) = app
        .member("default", "soon-disabled@example.com", &[])
        .await;
    let path = format!("/t/default/admin/users/{id}");

    let response = app
        .send(
            Method::PATCH,
            &path,
            &root.access,
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["disabled"], true);

    let me = app.get_bearer("/t/default/me", &user.access).await;
    assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let refresh = app.refresh("default", &user.refresh).await;
    assert_problem(refresh, StatusCode::UNAUTHORIZED, "invalid_token").await;
    // The right password: 403; a wrong one: still the generic 401.
    let login = app
        .post_json(
            "/t/default/auth/login",
            &json!({"email": "soon-disabled@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(login, StatusCode::FORBIDDEN, "account_disabled").await;
    let login = app
        .post_json(
            "/t/default/auth/login",
            &json!({"email": "soon-disabled@example.com", "password": "wrong password"}),
        )
        .await;
    assert_problem(login, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    // Re-enabling allows new logins but revives no old session.
    app.send(
        Method::PATCH,
        &path,
        &root.access,
        Some(&json!({"disabled": false})),
    )
    .await;
    let me = app.get_bearer("/t/default/me", &user.access).await;
    assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let fresh = app.login("default", "soon-disabled@example.com").await;
    assert_eq!(
        app.get_bearer("/t/default/me", &fresh.access)
            .await
            .status(),
        StatusCode::OK
    );

    // `name: null` clears the name; absent fields stay.
    let body: Value = app
        .send(
            Method::PATCH,
            &path,
            &root.access,
            Some(&json!({"name": "Someone"})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["name"], "Someone");
    let body: Value = app
        .send(
            Method::PATCH,
            &path,
            &root.access,
            Some(&json!({"name": null})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        body.get("name").is_none(),
        "a cleared name is absent: {body}"
    );
    assert_eq!(body["disabled"], false);
}

#[tokio::test]
async fn sessions_seen_and_revoked_by_admins() {
    let app = spawn_app().await;
    let root = app.superadmin().await;
    let (user, id) = app.member("default", "watched@example.com", &[]).await;
    let _second: Tokens = app.login("default", "watched@example.com").await;
    let sessions: Vec<Value> = app
        .get_bearer(
            &format!("/t/default/admin/users/{id}/sessions"),
            &root.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().all(|s| s.get("current").is_none()));
    let mine: Vec<Value> = app
        .get_bearer("/t/default/me/sessions", &user.access)
        .await
        .json()
        .await
        .unwrap();
    let current = mine.iter().find(|s| s["current"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app
        .send(
            Method::DELETE,
            &format!("/t/default/admin/sessions/{current}"),
            &root.access,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get_bearer("/t/default/me", &user.access).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    let again = app
        .send(
            Method::DELETE,
            &format!("/t/default/admin/sessions/{current}"),
            &root.access,
            None,
        )
        .await;
    assert_problem(again, StatusCode::NOT_FOUND, "not_found").await;
    let unknown = app
        .get_bearer(
            &format!("/t/default/admin/users/{}", uuid::Uuid::now_v7()),
            &root.access,
        )
        .await;
    assert_problem(unknown, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn deleting_a_user_leaves_nothing_behind() {
    let app = spawn_app().await;
    let root = app.superadmin().await;
    let (user, id) = app.member("default", "leaving@example.com", &[]).await;
    app.refresh("default", &user.refresh).await;
    let response = app
        .send(
            Method::DELETE,
            &format!("/t/default/admin/users/{id}"),
            &root.access,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get_bearer("/t/default/me", &user.access).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    assert_problem(
        app.refresh("default", &user.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    let login = app
        .post_json(
            "/t/default/auth/login",
            &json!({"email": "leaving@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(login, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let id = uuid::Uuid::parse_str(&id).unwrap();
    for rows in [
        "users WHERE id",
        "sessions WHERE user_id",
        "refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE s.user_id",
    ] {
        assert_eq!(app.count_where(rows, id.into()).await, 0, "{rows}");
    }
    // No refresh token outlives its session anywhere.
    let orphans = "refresh_tokens WHERE session_id NOT IN (SELECT id FROM sessions)";
    assert_eq!(app.count_rows(orphans, None).await, 0);
}

/// A page whose offset no database takes (past `i64::MAX` rows) is a
/// validation error, not a panic in the driver (found by fuzzing: 500).
#[tokio::test]
async fn a_page_past_any_possible_result_is_400() {
    let app = spawn_app().await;
    let root = app.superadmin().await;
    for path in [
        "/t/default/admin/users",
        "/t/default/admin/audit-events",
        "/admin/tenants",
    ] {
        // With 20 to a page, page 461168601842738791 is the last one whose
        // offset fits a signed 64-bit integer.
        let last = app
            .get_bearer(&format!("{path}?page=461168601842738791"), &root.access)
            .await;
        assert_eq!(last.status(), StatusCode::OK, "{path}");
        let past = app
            .get_bearer(&format!("{path}?page=461168601842738792"), &root.access)
            .await;
        let problem = assert_problem(past, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "page", "{path}");
    }
}
