//! The HTML dashboard, spoken to as a browser would: forms, cookies,
//! redirects (not followed, so each answer is seen).

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, spawn_app_with};

/// Plain-http tests: the cookies cannot be `Secure` here.
async fn spawn() -> TestApp {
    spawn_app_with(&[("PORTCULLIS_COOKIE_SECURE", "false")]).await
}

/// A minimal browser: keeps cookies, does not follow redirects.
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    jar: Mutex<BTreeMap<String, String>>,
}

struct Page {
    status: StatusCode,
    location: String,
    body: String,
}

impl Page {
    /// The CSRF token of the page's (first) form.
    fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = self.body[start..].find('"').expect("end of value") + start;
        self.body[start..end].to_owned()
    }
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: Mutex::new(BTreeMap::new()),
        }
    }

    async fn get(&self, path: &str) -> Page {
        let request = self.client.get(self.app.url(path));
        self.send(request).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.client.post(self.app.url(path)).form(form);
        self.send(request).await
    }

    /// Posts a form with the CSRF token of the page at `form_page`.
    async fn submit(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(form_page).await.csrf();
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post(action, &form).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let cookies = {
            let jar = self.jar.lock().unwrap();
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let request = if cookies.is_empty() {
            request
        } else {
            request.header(COOKIE, cookies)
        };
        let response = request.send().await.expect("request");
        {
            let mut jar = self.jar.lock().unwrap();
            for set in response.headers().get_all(SET_COOKIE) {
                let set = set.to_str().unwrap();
                let (name, value) = set.split(';').next().unwrap().split_once('=').unwrap();
                if value.is_empty() || set.contains("Max-Age=0") {
                    jar.remove(name);
                } else {
                    jar.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        Page {
            status: response.status(),
            location: response
                .headers()
                .get(LOCATION)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            body: response.text().await.unwrap(),
        }
    }

    async fn sign_in(&self, tenant: &str, email: &str, password: &str) -> Page {
        self.submit(
            "/dashboard/sign-in",
            "/dashboard/sign-in",
            &[("tenant", tenant), ("email", email), ("password", password)],
        )
        .await
    }

    async fn sign_in_as_superadmin(&self) {
        let page = self
            .sign_in("system", "admin@example.com", "bootstrap password")
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert_eq!(page.location, "/dashboard");
    }

    fn has_session(&self) -> bool {
        self.jar
            .lock()
            .unwrap()
            .contains_key("portcullis_dashboard")
    }
}

#[tokio::test]
async fn superadmin_signs_in_and_sees_every_tenant() {
    let app = spawn().await;
    let browser = Browser::new(&app);
    let page = browser.get("/dashboard").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location, "/dashboard/sign-in");

    browser.sign_in_as_superadmin().await;
    let page = browser.get("/dashboard").await;
    assert_eq!(page.location, "/dashboard/t/system");
    let overview = browser.get("/dashboard/t/system").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(
        overview.body.contains("login.succeeded"),
        "{}",
        overview.body
    );
    for path in [
        "/dashboard/tenants",
        "/dashboard/t/default/users",
        // A page number no listing can reach shows the first page.
        "/dashboard/t/default/users?page=461168601842738792",
        "/dashboard/t/default/settings",
        "/dashboard/t/default/keys",
        "/dashboard/t/default/audit",
    ] {
        assert_eq!(browser.get(path).await.status, StatusCode::OK, "{path}");
    }
    // The stylesheet is served by the dashboard itself.
    let css = browser.get("/dashboard/static/dashboard.css").await;
    assert_eq!(css.status, StatusCode::OK);
}

#[tokio::test]
async fn a_plain_user_cannot_sign_in() {
    let app = spawn().await;
    app.member("default", "plain@example.com", &[]).await;
    let browser = Browser::new(&app);
    let page = browser
        .sign_in("default", "plain@example.com", PASSWORD)
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("does not administer"), "{}", page.body);
    assert!(!browser.has_session());
    assert_eq!(app.count_rows("dashboard_sessions", None).await, 0);

    // Nor does a wrong password, with the API login's message.
    let page = browser
        .sign_in("system", "admin@example.com", "wrong password")
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("Wrong email or password"));
}

#[tokio::test]
async fn an_admin_deleted_during_sign_in_gets_no_session() {
    let app = spawn().await;
    let (tokens, _) = app
        .member("default", "vanishing@example.com", &["admin"])
        .await;
    let browser = Browser::new(&app);
    let sign_in = browser.sign_in("default", "vanishing@example.com", PASSWORD);
    let page = app
        .while_deleting("default", tokens.user_id(), sign_in)
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    assert!(page.body.contains("Wrong email or password"));
    assert!(!browser.has_session());
    assert_eq!(app.count_rows("dashboard_sessions", None).await, 0);
    // Only the API login of `member` succeeded.
    let succeeded = "audit_events WHERE type = 'login.succeeded' AND subject_user_id";
    let user = tokens.user_id().0.into();
    assert_eq!(app.count_where(succeeded, user).await, 1);
    // A failure counted for the email would mean the sign-in never saw the
    // user, and this test missed the path it is for.
    let failures = "login_throttle WHERE email";
    let email = "vanishing@example.com".into();
    assert_eq!(app.count_where(failures, email).await, 0);
}

#[tokio::test]
async fn a_tenant_admin_sees_only_their_tenant() {
    let app = spawn().await;
    app.create_tenant("acme").await;
    app.create_tenant("other").await;
    app.member("acme", "boss@acme.test", &["admin"]).await;
    let (_, stranger) = app.member("other", "someone@other.test", &[]).await;
    let browser = Browser::new(&app);
    let api_sessions = app.count_rows("sessions", None).await;
    let page = browser.sign_in("acme", "boss@acme.test", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    // Signing in opened no API session.
    assert_eq!(app.count_rows("sessions", None).await, api_sessions);

    assert_eq!(
        browser.get("/dashboard").await.location,
        "/dashboard/t/acme"
    );
    assert_eq!(
        browser.get("/dashboard/t/acme/users").await.status,
        StatusCode::OK
    );
    for path in [
        "/dashboard/t/other".to_owned(),
        "/dashboard/t/other/users".to_owned(),
        format!("/dashboard/t/other/users/{stranger}"),
        "/dashboard/t/other/audit".to_owned(),
        "/dashboard/t/system/users".to_owned(),
        "/dashboard/tenants".to_owned(),
        "/dashboard/t/acme/keys".to_owned(),
        "/dashboard/t/acme/settings".to_owned(),
    ] {
        assert_eq!(
            browser.get(&path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    // Posting to the other tenant, with a valid token of this session.
    let page = browser
        .submit(
            "/dashboard/t/acme/users/new",
            "/dashboard/t/other/users/new",
            &[("email", "planted@other.test")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = browser
        .submit(
            "/dashboard/t/acme/users",
            &format!("/dashboard/t/other/users/{stranger}/state"),
            &[("action", "disable")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let other = app.services.tenants.resolve("other").await.unwrap();
    let (users, _) = app
        .services
        .admin
        .list_users(
            &other,
            None,
            portcullis::domain::Page::parse(None, None).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
    assert!(!users[0].disabled);
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_are_refused() {
    let app = spawn().await;
    let browser = Browser::new(&app);
    // Sign-in without the double-submit cookie's value.
    let page = browser
        .post(
            "/dashboard/sign-in",
            &[
                ("tenant", "system"),
                ("email", "admin@example.com"),
                ("password", "bootstrap password"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!browser.has_session());

    browser.sign_in_as_superadmin().await;
    let fields = [("email", "new@example.com"), ("password", PASSWORD)];
    let missing = browser
        .post("/dashboard/t/default/users/new", &fields)
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let mut wrong = vec![("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")];
    wrong.extend_from_slice(&fields);
    let wrong = browser.post("/dashboard/t/default/users/new", &wrong).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.body.contains("did not come from this dashboard"));
    // The token of another session does not do either.
    let other = Browser::new(&app);
    other.sign_in_as_superadmin().await;
    let foreign = other.get("/dashboard/t/default/users/new").await.csrf();
    let mut form = vec![("csrf", foreign.as_str())];
    form.extend_from_slice(&fields);
    let page = browser.post("/dashboard/t/default/users/new", &form).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    // Sign-out is a form too.
    let page = browser.post("/dashboard/sign-out", &[]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    let page = browser
        .submit(
            "/dashboard/t/default/users/new",
            "/dashboard/t/default/users/new",
            &fields,
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

#[tokio::test]
async fn user_supplied_text_is_escaped() {
    let app = spawn().await;
    let root = app.superadmin().await;
    let response = app
        .send(
            reqwest::Method::POST,
            "/t/default/admin/users",
            &root.access,
            Some(&json!({"email": "xss@example.com", "password": PASSWORD,
                         "name": "<script>alert(1)</script>"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A session whose user agent is markup too.
    let login = app
        .client
        .post(app.url("/t/default/auth/login"))
        .header("user-agent", "<img src=x onerror=alert(2)>")
        .json(&json!({"email": "xss@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);

    let browser = Browser::new(&app);
    browser.sign_in_as_superadmin().await;
    for path in [
        "/dashboard/t/default/users".to_owned(),
        format!("/dashboard/t/default/users/{id}"),
        "/dashboard/t/default/audit".to_owned(),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains("<script>alert(1)"), "{path}");
        assert!(!page.body.contains("<img src=x"), "{path}");
    }
    let users = browser.get("/dashboard/t/default/users").await;
    assert!(
        users
            .body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{}",
        users.body
    );
    let user = browser
        .get(&format!("/dashboard/t/default/users/{id}"))
        .await;
    assert!(user.body.contains("&#60;img src=x onerror=alert(2)&#62;"));
}

#[tokio::test]
async fn sign_out_ends_the_session() {
    let app = spawn().await;
    let browser = Browser::new(&app);
    browser.sign_in_as_superadmin().await;
    let cookie = browser.jar.lock().unwrap()["portcullis_dashboard"].clone();
    assert_eq!(app.count_rows("dashboard_sessions", None).await, 1);
    let page = browser
        .submit("/dashboard/t/system", "/dashboard/sign-out", &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location, "/dashboard/sign-in?done=signed-out");
    assert!(!browser.has_session());
    assert_eq!(app.count_rows("dashboard_sessions", None).await, 0);
    // The old cookie, replayed, is worth nothing.
    browser
        .jar
        .lock()
        .unwrap()
        .insert("portcullis_dashboard".into(), cookie);
    let page = browser.get("/dashboard/t/system").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location, "/dashboard/sign-in");
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = spawn().await;
    let browser = Browser::new(&app);
    browser.sign_in_as_superadmin().await;
    assert_eq!(
        browser.get("/dashboard/t/system").await.status,
        StatusCode::OK
    );
    let backend = app.services.db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => "UPDATE dashboard_sessions SET last_seen_at = $1",
        _ => "UPDATE dashboard_sessions SET last_seen_at = ?",
    };
    let idle_since = chrono::Utc::now() - chrono::Duration::minutes(31);
    app.services
        .db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [idle_since.into()],
        ))
        .await
        .unwrap();
    let page = browser.get("/dashboard/t/system").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location, "/dashboard/sign-in");
    assert_eq!(app.count_rows("dashboard_sessions", None).await, 0);
}

#[tokio::test]
async fn dashboard_actions_use_the_admin_services() {
    let app = spawn().await;
    let browser = Browser::new(&app);
    browser.sign_in_as_superadmin().await;
    // Field errors beside their fields; the values stay.
    let page = browser
        .submit(
            "/dashboard/t/default/users/new",
            "/dashboard/t/default/users/new",
            &[
                ("email", "not-an-email"),
                ("name", "Ada"),
                ("roles", "Bad Role"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains(r#"value="not-an-email""#));
    assert!(page.body.contains(r#"value="Ada""#));
    assert!(page.body.contains("field-error"));

    let page = browser
        .submit(
            "/dashboard/t/default/users/new",
            "/dashboard/t/default/users/new",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let user_page = page.location.split('?').next().unwrap().to_owned();
    let tokens = app.login("default", "ada@example.com").await;
    let page = browser.get(&user_page).await;
    let session_id = crate::helpers::jwt_claims(&tokens.access)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(page.body.contains(&session_id));
    let page = browser
        .submit(
            &user_page,
            &format!("{user_page}/sessions/revoke"),
            &[("session", &session_id)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    app.assert_signed_out("default", &[&tokens]).await;
    let page = browser
        .get("/dashboard/t/default/audit?type=session.revoked")
        .await;
    assert!(page.body.contains(&session_id), "{}", page.body);

    // Settings: the API's rules and messages, beside the field.
    let page = browser.get("/dashboard/t/default/settings").await;
    assert!(page.body.contains(r#"name="settings.lockout.maxFailures""#));
    let page = browser
        .submit(
            "/dashboard/t/default/settings",
            "/dashboard/t/default/settings",
            &[
                ("name", "Default"),
                ("settings.accessTokenTtlSeconds", "1"),
                ("settings.refreshTokenTtlSeconds", "604800"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("must be between 60 and 86400 seconds"));
    assert!(page.body.contains(r#"value="1""#));

    // A slug in use: said beside the slug field, the values kept.
    let page = browser
        .submit(
            "/dashboard/tenants/new",
            "/dashboard/tenants/new",
            &[("slug", "default"), ("name", "Another default")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("is already taken"), "{}", page.body);
    assert!(page.body.contains(r#"value="Another default""#));
}
