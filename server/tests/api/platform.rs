//! Platform administration: tenants, settings, keys; and the audit log.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_problem, jwt_claims, spawn_app, spawn_app_with};

async fn jwks(app: &TestApp, tenant: &str) -> JwkSet {
    app.client
        .get(app.url(&format!("/t/{tenant}/.well-known/jwks.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn verify_with_jwks(token: &str, jwks: &JwkSet) -> Result<Value, jsonwebtoken::errors::Error> {
    let header = jsonwebtoken::decode_header(token)?;
    let jwk = jwks
        .find(header.kid.as_deref().unwrap_or_default())
        .ok_or(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat)?;
    let mut validation = Validation::new(header.alg);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk)?, &validation)
        .map(|d| d.claims)
}

#[tokio::test]
async fn tenant_lifecycle_and_settings() {
    let app = spawn_app().await;
    let root = app.superadmin().await;

    let response = app
        .send(
            Method::POST,
            "/admin/tenants",
            &root.access,
            Some(&json!({"slug": "acme", "name": "Acme", "settings": {"signupEnabled": false, "accessTokenTtlSeconds": 120}})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let tenant: Value = response.json().await.unwrap();
    assert_eq!(tenant["slug"], "acme");
    assert_eq!(tenant["settings"]["signupEnabled"], false);
    assert_eq!(tenant["settings"]["accessTokenTtlSeconds"], 120);
    assert_eq!(tenant["settings"]["refreshTokenTtlSeconds"], 604800);
    assert_eq!(tenant["settings"]["signingAlgorithm"], "EdDSA");
    assert_eq!(
        tenant["settings"]["rateLimits"]["forgotPasswordPerEmail"]["max"],
        3
    );

    // A slug in use is a conflict, as an email in use is.
    let dup = app
        .send(
            Method::POST,
            "/admin/tenants",
            &root.access,
            Some(&json!({"slug": "acme", "name": "Again"})),
        )
        .await;
    assert_problem(dup, StatusCode::CONFLICT, "tenant_exists").await;
    // Malformed slugs, bad settings: each field named.
    let bad = app
        .send(
            Method::POST,
            "/admin/tenants",
            &root.access,
            Some(&json!({"slug": "-Bad-", "name": "", "settings": {"accessTokenTtlSeconds": 5, "corsOrigins": ["*"]}})),
        )
        .await;
    let body = assert_problem(bad, StatusCode::BAD_REQUEST, "validation_failed").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "slug",
            "name",
            "settings.accessTokenTtlSeconds",
            "settings.corsOrigins"
        ]
    );

    // Signup is off, then on: the next request sees it.
    let register = |app: &TestApp| {
        let app_url = app.url("/t/acme/auth/register");
        let client = app.client.clone();
        async move {
            client
                .post(app_url)
                .json(&json!({"email": "new@acme.test", "password": PASSWORD}))
                .send()
                .await
                .unwrap()
        }
    };
    assert_problem(
        register(&app).await,
        StatusCode::FORBIDDEN,
        "signup_disabled",
    )
    .await;
    let response = app
        .send(
            Method::PATCH,
            "/admin/tenants/acme",
            &root.access,
            Some(&json!({"settings": {"signupEnabled": true}})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(
        patched["settings"]["accessTokenTtlSeconds"], 120,
        "untouched fields stay"
    );
    assert_eq!(register(&app).await.status(), StatusCode::CREATED);
    let tokens = app.login("acme", "new@acme.test").await;
    let c = jwt_claims(&tokens.access);
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 120);

    // The audience setting changes `aud` of new tokens.
    app.send(
        Method::PATCH,
        "/admin/tenants/acme",
        &root.access,
        Some(&json!({"settings": {"audience": "https://api.acme.test"}})),
    )
    .await;
    let tokens = app.login("acme", "new@acme.test").await;
    assert_eq!(jwt_claims(&tokens.access)["aud"], "https://api.acme.test");
    assert_eq!(
        app.get_bearer("/t/acme/me", &tokens.access).await.status(),
        StatusCode::OK
    );

    let list: Value = app
        .get_bearer("/admin/tenants", &root.access)
        .await
        .json()
        .await
        .unwrap();
    let slugs: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["acme", "default", "system"]);
    assert_eq!(list["total"], 3);

    // `system` keeps signup off and cannot be deleted.
    let response = app
        .send(
            Method::PATCH,
            "/admin/tenants/system",
            &root.access,
            Some(&json!({"settings": {"signupEnabled": true}})),
        )
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
    let response = app
        .send(Method::DELETE, "/admin/tenants/system", &root.access, None)
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "validation_failed").await;
    let response = app.get_bearer("/admin/tenants/nope", &root.access).await;
    assert_problem(response, StatusCode::NOT_FOUND, "tenant_not_found").await;
}

#[tokio::test]
async fn deleting_a_tenant_leaves_nothing_behind() {
    let app = spawn_app().await;
    let root = app.superadmin().await;
    app.send(
        Method::POST,
        "/admin/tenants",
        &root.access,
        Some(&json!({"slug": "doomed", "name": "Doomed"})),
    )
    .await;
    let (member, _) = app.member("doomed", "member@doomed.test", &["admin"]).await;
    app.refresh("doomed", &member.refresh).await;
    let id = app
        .services
        .tenants
        .resolve("doomed")
        .await
        .unwrap()
        .id()
        .to_string();
    for table in [
        "users",
        "sessions",
        "refresh_tokens",
        "signing_keys",
        "audit_events",
    ] {
        assert!(
            app.count_rows(table, Some(&id)).await > 0,
            "{table} has rows before"
        );
    }
    let response = app
        .send(Method::DELETE, "/admin/tenants/doomed", &root.access, None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for table in [
        "users",
        "sessions",
        "refresh_tokens",
        "signing_keys",
        "audit_events",
    ] {
        assert_eq!(
            app.count_rows(table, Some(&id)).await,
            0,
            "{table} after delete"
        );
    }
    assert_eq!(app.count_rows("tenants", None).await, 2);
    let me = app.get_bearer("/t/doomed/me", &member.access).await;
    assert_problem(me, StatusCode::NOT_FOUND, "tenant_not_found").await;
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_until_they_expire() {
    let app = spawn_app().await;
    let root = app.superadmin().await;
    app.update_settings("default", |s| s.access_token_ttl_seconds = 60)
        .await;
    let before = app.user("default", "rotating@example.com").await;
    let old_kid = jsonwebtoken::decode_header(&before.access)
        .unwrap()
        .kid
        .unwrap();

    let response = app
        .send(
            Method::POST,
            "/admin/tenants/default/keys/rotate",
            &root.access,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let jwk: Value = response.json().await.unwrap();
    let new_kid = jwk["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert!(jwk.get("d").is_none(), "only the public key");

    // New tokens carry the new kid; old ones still work; the JWKS has both.
    let after = app.login("default", "rotating@example.com").await;
    assert_eq!(
        jsonwebtoken::decode_header(&after.access)
            .unwrap()
            .kid
            .unwrap(),
        new_kid
    );
    assert_eq!(
        app.get_bearer("/t/default/me", &before.access)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_bearer("/t/default/me", &after.access)
            .await
            .status(),
        StatusCode::OK
    );
    let set = jwks(&app, "default").await;
    assert_eq!(set.keys.len(), 2);
    assert!(verify_with_jwks(&before.access, &set).is_ok());
    assert!(verify_with_jwks(&after.access, &set).is_ok());
}

#[tokio::test]
async fn a_retired_key_leaves_the_jwks() {
    let app = spawn_app().await;
    let root = app.superadmin().await;
    let before = app.user("default", "retire@example.com").await;
    app.send(
        Method::POST,
        "/admin/tenants/default/keys/rotate",
        &root.access,
        None,
    )
    .await;
    assert_eq!(jwks(&app, "default").await.keys.len(), 2);
    // Force the old key's retirement time into the past, as time would.
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.services.db.get_database_backend();
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    let sql = if backend == sea_orm::DatabaseBackend::Postgres {
        "UPDATE signing_keys SET retire_at = $1 WHERE retire_at IS NOT NULL"
    } else {
        "UPDATE signing_keys SET retire_at = ? WHERE retire_at IS NOT NULL"
    };
    app.services
        .db
        .execute_raw(Statement::from_sql_and_values(backend, sql, [past.into()]))
        .await
        .unwrap();
    let slug = portcullis::domain::TenantSlug::parse("default").unwrap();
    app.services.tenants.invalidate(&slug);
    assert_eq!(jwks(&app, "default").await.keys.len(), 1);
    let me = app.get_bearer("/t/default/me", &before.access).await;
    assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn es256_and_rs256_tenants() {
    let app = spawn_app().await;
    let root = app.superadmin().await;
    for (slug, alg) in [("ec", "ES256"), ("rsa", "RS256")] {
        let response = app
            .send(
                Method::POST,
                "/admin/tenants",
                &root.access,
                Some(&json!({"slug": slug, "name": slug, "settings": {"signingAlgorithm": alg}})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let tokens = app.user(slug, &format!("someone@{slug}.test")).await;
        let header = jsonwebtoken::decode_header(&tokens.access).unwrap();
        assert_eq!(format!("{:?}", header.alg), alg);
        let set = jwks(&app, slug).await;
        assert_eq!(
            verify_with_jwks(&tokens.access, &set).unwrap()["email"],
            format!("someone@{slug}.test")
        );
        assert_eq!(
            app.get_bearer(&format!("/t/{slug}/me"), &tokens.access)
                .await
                .status(),
            StatusCode::OK
        );
    }
    // Switching the algorithm rotates at once; old tokens keep working.
    let old = app.login("ec", "someone@ec.test").await;
    let response = app
        .send(
            Method::PATCH,
            "/admin/tenants/ec",
            &root.access,
            Some(&json!({"settings": {"signingAlgorithm": "EdDSA"}})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let new = app.login("ec", "someone@ec.test").await;
    assert_eq!(
        format!(
            "{:?}",
            jsonwebtoken::decode_header(&new.access).unwrap().alg
        ),
        "EdDSA"
    );
    assert_eq!(
        app.get_bearer("/t/ec/me", &old.access).await.status(),
        StatusCode::OK
    );
    let rsa = jwks(&app, "rsa").await;
    let n = serde_json::to_value(&rsa.keys[0]).unwrap()["n"]
        .as_str()
        .unwrap()
        .len();
    assert!(n >= 342, "2048-bit modulus, got {n} base64 chars");
}

#[tokio::test]
async fn audit_events_are_recorded_without_secrets() {
    let app = spawn_app().await;
    let root = app.superadmin().await;
    let (admin, _) = app
        .member("default", "auditor@example.com", &["admin"])
        .await;
    let user = app.user("default", "audited@example.com").await;
    let _ = app
        .post_json(
            "/t/default/auth/login",
            &json!({"email": "audited@example.com", "password": "wrong password"}),
        )
        .await;
    let _ = app
        .post_json(
            "/t/default/auth/login",
            &json!({"email": "ghost@example.com", "password": "wrong password"}),
        )
        .await;
    let rotated = app.refresh("default", &user.refresh).await;
    let rotated: Value = rotated.json().await.unwrap();
    let me: Value = app
        .get_bearer("/t/default/me", rotated["accessToken"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let id = me["id"].as_str().unwrap().to_owned();
    app.send(
        Method::PATCH,
        &format!("/t/default/admin/users/{id}"),
        &admin.access,
        Some(&json!({"roles": ["editor"]})),
    )
    .await;
    app.send(
        Method::PATCH,
        &format!("/t/default/admin/users/{id}"),
        &admin.access,
        Some(&json!({"disabled": true})),
    )
    .await;
    app.send(
        Method::PATCH,
        &format!("/t/default/admin/users/{id}"),
        &admin.access,
        Some(&json!({"disabled": false})),
    )
    .await;
    app.send(
        Method::POST,
        "/admin/tenants/default/keys/rotate",
        &root.access,
        None,
    )
    .await;
    app.send(
        Method::DELETE,
        &format!("/t/default/admin/users/{id}"),
        &admin.access,
        None,
    )
    .await;
    let again = app.user("default", "second@example.com").await;
    app.client
        .post(app.url("/t/default/auth/logout"))
        .json(&json!({"refreshToken": again.refresh}))
        .send()
        .await
        .unwrap();
    let third = app.login("default", "second@example.com").await;
    app.client
        .post(app.url("/t/default/auth/logout-all"))
        .bearer_auth(&third.access)
        .send()
        .await
        .unwrap();

    let page: Value = app
        .get_bearer("/t/default/admin/audit-events?perPage=100", &admin.access)
        .await
        .json()
        .await
        .unwrap();
    let types: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for expected in [
        "user.created",
        "login.succeeded",
        "login.failed",
        "user.roles_changed",
        "user.disabled",
        "user.enabled",
        "user.deleted",
        "key.rotated",
        "logout",
        "logout.all",
    ] {
        assert!(
            types.contains(&expected),
            "{expected} missing from {types:?}"
        );
    }
    let failed: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "login.failed")
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|e| e["ip"] == "127.0.0.1"));
    // Filters: by user, by type, by time.
    let by_user: Value = app
        .get_bearer(
            &format!("/t/default/admin/audit-events?userId={id}"),
            &admin.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        by_user["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["subjectUserId"] == id.as_str() || e["actorUserId"] == id.as_str())
    );
    assert!(by_user["total"].as_u64().unwrap() >= 5);
    let by_type: Value = app
        .get_bearer(
            "/t/default/admin/audit-events?type=login.failed",
            &admin.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_type["total"], 2);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339()
        .replace('+', "%2B");
    let none: Value = app
        .get_bearer(
            &format!("/t/default/admin/audit-events?from={future}"),
            &admin.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["total"], 0);
    let bad = app
        .get_bearer("/t/default/admin/audit-events?type=nonsense", &admin.access)
        .await;
    assert_problem(bad, StatusCode::BAD_REQUEST, "validation_failed").await;

    // Platform events land in `system`'s log.
    let system: Value = app
        .get_bearer(
            "/t/system/admin/audit-events?type=key.rotated",
            &root.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(system["total"], 1);
    assert_eq!(system["items"][0]["detail"]["tenant"], "default");

    // Nothing secret in any event.
    let text = serde_json::to_string(&page).unwrap();
    for secret in [
        PASSWORD,
        "wrong password",
        &user.refresh,
        &user.access,
        "$argon2",
        &again.refresh,
    ] {
        assert!(!text.contains(secret), "audit log contains a secret");
    }
}

/// A login is recorded in its session and in the audit log, written
/// together; a user agent of any length fits both (cut to 512
/// characters), so neither write fails on PostgreSQL's column size.
#[tokio::test]
async fn a_login_with_a_long_user_agent_records_its_prefix_in_session_and_audit_log() {
    let app = spawn_app().await;
    let (admin, _) = app
        .member("default", "auditor@example.com", &["admin"])
        .await;
    app.user("default", "long-agent@example.com").await;
    let agent = "Agent/1.0 ".repeat(60);
    let login = app
        .client
        .post(app.url("/t/default/auth/login"))
        .header("user-agent", agent.as_str())
        .json(&json!({"email": "long-agent@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let tokens: Value = login.json().await.unwrap();
    let access = tokens["accessToken"].as_str().unwrap();
    let prefix = &agent[..512];

    let sessions: Vec<Value> = app
        .get_bearer("/t/default/me/sessions", access)
        .await
        .json()
        .await
        .unwrap();
    let current = sessions.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(current["userAgent"], prefix);

    let me: Value = app
        .get_bearer("/t/default/me", access)
        .await
        .json()
        .await
        .unwrap();
    let id = me["id"].as_str().unwrap();
    let page: Value = app
        .get_bearer(
            &format!("/t/default/admin/audit-events?type=login.succeeded&userId={id}"),
            &admin.access,
        )
        .await
        .json()
        .await
        .unwrap();
    let events = page["items"].as_array().unwrap();
    let with_agent: Vec<_> = events.iter().filter(|e| e["userAgent"] == prefix).collect();
    assert_eq!(with_agent.len(), 1, "{events:?}");
    assert_eq!(with_agent[0]["subjectUserId"], id);
}

/// A user deleted while their login is between its password check and
/// its session write gets 401, and nothing is written: no session, no
/// refresh token, no `login.succeeded`. The test holds the delete
/// uncommitted until the login waits on it: on PostgreSQL the login's
/// session insert still sees the user and then waits on the deleted row's
/// lock, so its foreign key fails once the delete commits; on SQLite the
/// login's write waits for the write turn the delete holds, and then finds
/// no user (see `TestApp::while_deleting` for how the test knows).
#[tokio::test]
async fn a_user_deleted_during_their_login_gets_401_and_no_session() {
    let app = spawn_app().await;
    let email = "vanishing@example.com";
    let tokens = app.user("default", email).await;
    let user = tokens.user_id();
    let login = app.login_with("default", email, PASSWORD);
    let response = app.while_deleting("default", user, login).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    // The first login's audit record outlives the user; nothing else does.
    // A failure counted for the email would mean the login never saw the
    // user, and this test missed the path it is for.
    for (rows, key, expected) in [
        ("sessions WHERE user_id", user.0.into(), 0),
        (
            "audit_events WHERE type = 'login.succeeded' AND subject_user_id",
            user.0.into(),
            1,
        ),
        ("login_throttle WHERE email", email.into(), 0),
    ] {
        assert_eq!(app.count_where(rows, key).await, expected, "{rows}");
    }
}

#[tokio::test]
async fn old_audit_events_are_pruned() {
    // Retention longer than the events' age below, so the server's own
    // housekeeping pass (at start, racing this test) leaves them to the
    // explicit prune.
    let app = spawn_app_with(&[("PORTCULLIS_AUDIT_RETENTION_DAYS", "3650")]).await;
    app.user("default", "old-news@example.com").await;
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.services.db.get_database_backend();
    let long_ago = chrono::Utc::now() - chrono::Duration::days(400);
    let sql = if backend == sea_orm::DatabaseBackend::Postgres {
        "UPDATE audit_events SET occurred_at = $1"
    } else {
        "UPDATE audit_events SET occurred_at = ?"
    };
    app.services
        .db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [long_ago.into()],
        ))
        .await
        .unwrap();
    app.user("default", "fresh-news@example.com").await;
    let before = app.count_rows("audit_events", None).await;
    let cutoff = chrono::Utc::now() - chrono::Duration::days(90);
    let pruned = portcullis::store::audit::prune(&app.services.db, cutoff)
        .await
        .unwrap();
    assert!(pruned >= 1);
    assert_eq!(
        app.count_rows("audit_events", None).await,
        before - i64::try_from(pruned).unwrap()
    );
    assert!(
        app.count_rows("audit_events", None).await >= 1,
        "recent events stay"
    );
}
