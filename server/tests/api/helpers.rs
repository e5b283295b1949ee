use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Once};
use std::time::Duration;

use portcullis::app::Application;
use portcullis::config::Config;
use portcullis::domain::{TenantSettings, TenantSlug, UserId};
use portcullis::service::Services;
use reqwest::{Response, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub services: Arc<Services>,
    pub data_dir: PathBuf,
    /// The settings it started with, for a second instance on its database.
    env: BTreeMap<String, String>,
    /// Only the first instance on a data directory removes it.
    owns_data_dir: bool,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        if self.owns_data_dir {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// Says once, past the test harness's capture, which database the suite
/// runs on, so a skipped PostgreSQL run never goes unnoticed.
fn announce_backend(postgres: Option<&str>) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let note = match postgres {
            Some(_) => "integration tests: running on PostgreSQL (PORTCULLIS_TEST_DATABASE_URL)\n",
            None => "integration tests: running on SQLite; PostgreSQL run SKIPPED because PORTCULLIS_TEST_DATABASE_URL is unset\n",
        };
        let _ = std::io::stderr().write_all(note.as_bytes());
    });
}

/// A fresh database URL: a temp SQLite file, or a new schema in the
/// PostgreSQL database of `PORTCULLIS_TEST_DATABASE_URL`.
async fn fresh_database(data_dir: &std::path::Path) -> String {
    let postgres = std::env::var("PORTCULLIS_TEST_DATABASE_URL").ok();
    announce_backend(postgres.as_deref());
    match postgres {
        None => format!("sqlite://{}/test.db?mode=rwc", data_dir.display()),
        Some(base) => {
            let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
            let admin = sea_orm::Database::connect(&base)
                .await
                .expect("connect to PostgreSQL");
            SWEPT.get_or_init(|| drop_stale_schemas(&admin)).await;
            admin
                .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                .await
                .expect("create schema");
            admin.close().await.expect("close");
            let separator = if base.contains('?') { '&' } else { '?' };
            format!("{base}{separator}options=-c%20search_path%3D{schema}")
        }
    }
}

/// Set once this run has dropped the schemas earlier runs left behind.
static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// A test's schema outlives it (its server may still be running when the
/// test ends), so every run would add one per test to the database for
/// good. The first test of a run drops those of runs that started over an
/// hour ago; the schema name's UUIDv7 says when. Younger ones may belong
/// to a run still going.
async fn drop_stale_schemas(admin: &sea_orm::DatabaseConnection) {
    let cutoff = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let rows = admin
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            r"SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\_%'",
        ))
        .await
        .expect("list schemas");
    for row in rows {
        let name: String = row.try_get_by_index(0).expect("schema name");
        let created = uuid::Uuid::try_parse(&name[2..])
            .ok()
            .and_then(|id| id.get_timestamp())
            .map(|ts| {
                let (secs, nanos) = ts.to_unix();
                std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos)
            });
        if created.is_some_and(|created| created < cutoff) {
            admin
                .execute_unprepared(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .await
                .expect("drop a stale schema");
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the server; `overrides` are extra `PORTCULLIS_*` settings.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let data_dir = std::env::temp_dir().join(format!("portcullis-test-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&data_dir).expect("temp dir");
    let database_url = fresh_database(&data_dir).await;
    let mut env: BTreeMap<String, String> = [
        ("PORTCULLIS_LISTEN", "127.0.0.1:0"),
        ("PORTCULLIS_PUBLIC_URL", "http://localhost:8080"),
        ("PORTCULLIS_BOOTSTRAP_ADMIN_EMAIL", "admin@example.com"),
        ("PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD", "bootstrap password"),
        // Cheap hashing keeps the suite fast; the parameters are not under test.
        ("PORTCULLIS_ARGON2_MEMORY_KIB", "1024"),
        ("PORTCULLIS_ARGON2_ITERATIONS", "1"),
        ("PORTCULLIS_HASH_THREADS", "2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.insert("PORTCULLIS_DATA_DIR".into(), data_dir.display().to_string());
    env.insert("PORTCULLIS_DATABASE_URL".into(), database_url);
    for (k, v) in overrides {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    start(env, data_dir, true).await
}

async fn start(env: BTreeMap<String, String>, data_dir: PathBuf, owns_data_dir: bool) -> TestApp {
    let config = Config::from_sources(None, &env).expect("test config");
    let app = Application::build(config).await.expect("build app");
    let base = format!("http://{}", app.addr());
    let services = app.services();
    let server = tokio::spawn(async move {
        app.run_until(std::future::pending()).await;
    });
    TestApp {
        base,
        client: reqwest::Client::new(),
        services,
        data_dir,
        env,
        owns_data_dir,
        server,
    }
}

impl TestApp {
    /// Another server instance on the same database and master key, with
    /// its own port, caches and rate limiters: a second process behind a
    /// load balancer, or this one after a restart.
    pub async fn sibling(&self) -> TestApp {
        start(self.env.clone(), self.data_dir.clone(), false).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An unauthenticated request without a body.
    pub async fn request(&self, method: reqwest::Method, path: &str) -> Response {
        self.client
            .request(method, self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// The JSON body of an unauthenticated GET.
    pub async fn get_json(&self, path: &str) -> Value {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json body")
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// POST with a Bearer token and an optional JSON body.
    pub async fn post_bearer(&self, path: &str, token: &str, body: Option<&Value>) -> Response {
        let request = self.client.post(self.url(path)).bearer_auth(token);
        let request = match body {
            Some(body) => request.json(body),
            None => request,
        };
        request.send().await.expect("request")
    }

    pub async fn forgot_password(&self, tenant: &str, email: &str) -> Response {
        self.post_json(
            &format!("/t/{tenant}/auth/forgot-password"),
            &json!({ "email": email }),
        )
        .await
    }

    pub async fn reset_password(&self, tenant: &str, token: &str, password: &str) -> Response {
        self.post_json(
            &format!("/t/{tenant}/auth/reset-password"),
            &json!({ "token": token, "password": password }),
        )
        .await
    }

    /// Logs in with an explicit password; returns the raw answer.
    pub async fn login_with(&self, tenant: &str, email: &str, password: &str) -> Response {
        self.post_json(
            &format!("/t/{tenant}/auth/login"),
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Asserts that neither the access nor the refresh token of these
    /// sessions works any more.
    pub async fn assert_signed_out(&self, tenant: &str, sessions: &[&Tokens]) {
        for tokens in sessions {
            let me = self
                .get_bearer(&format!("/t/{tenant}/me"), &tokens.access)
                .await;
            assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
            let refresh = self.refresh(tenant, &tokens.refresh).await;
            assert_problem(refresh, StatusCode::UNAUTHORIZED, "invalid_token").await;
        }
    }

    /// Disables a user straight in the database, and says so the way the
    /// store's writers do, so this instance's token checks see it at once.
    pub async fn disable_user(&self, email: &str) {
        use portcullis::store::Connection;
        self.services
            .db
            .execute_unprepared(&format!(
                "UPDATE users SET disabled = TRUE WHERE email = '{email}'"
            ))
            .await
            .expect("disable user");
        self.services.db.auth_changed();
    }

    pub async fn register(&self, tenant: &str, email: &str) -> Value {
        let response = self
            .post_json(
                &format!("/t/{tenant}/auth/register"),
                &json!({"email": email, "password": PASSWORD, "name": "Test User"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("user json")
    }

    pub async fn login(&self, tenant: &str, email: &str) -> Tokens {
        let response = self
            .post_json(
                &format!("/t/{tenant}/auth/login"),
                &json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("token json");
        Tokens::from(&body)
    }

    /// A registered, logged-in user of `tenant`.
    pub async fn user(&self, tenant: &str, email: &str) -> Tokens {
        self.register(tenant, email).await;
        self.login(tenant, email).await
    }

    pub async fn refresh(&self, tenant: &str, refresh_token: &str) -> Response {
        self.post_json(
            &format!("/t/{tenant}/auth/refresh"),
            &json!({"refreshToken": refresh_token}),
        )
        .await
    }

    /// Creates a tenant through the same service the API uses.
    pub async fn create_tenant(&self, slug: &str) {
        let slug = TenantSlug::parse(slug).expect("slug");
        self.services
            .tenants
            .create(
                &self.services.db,
                slug,
                "Test tenant".into(),
                TenantSettings::default(),
                chrono::Utc::now(),
            )
            .await
            .expect("create tenant");
    }

    pub async fn update_settings(&self, slug: &str, change: impl FnOnce(&mut TenantSettings)) {
        let context = self.services.tenants.resolve(slug).await.expect("tenant");
        let mut settings = context.settings().clone();
        change(&mut settings);
        let slug = TenantSlug::parse(slug).expect("slug");
        self.services
            .tenants
            .update_settings(&slug, settings)
            .await
            .expect("update settings");
    }
}

impl TestApp {
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request")
    }

    /// The bootstrap superadmin, logged in to `system`.
    pub async fn superadmin(&self) -> Tokens {
        let response = self
            .post_json(
                "/t/system/auth/login",
                &json!({"email": "admin@example.com", "password": "bootstrap password"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        Tokens::from(&response.json::<Value>().await.expect("json"))
    }

    /// Creates `email` in `tenant` with `roles` through the admin API (as
    /// the superadmin) and logs them in. Returns the tokens and the user id.
    pub async fn member(&self, tenant: &str, email: &str, roles: &[&str]) -> (Tokens, String) {
        let root = self.superadmin().await;
        let response = self
            .send(
                reqwest::Method::POST,
                &format!("/t/{tenant}/admin/users"),
                &root.access,
                Some(&json!({"email": email, "password": PASSWORD, "roles": roles})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let user: Value = response.json().await.expect("json");
        let id = user["id"].as_str().expect("id").to_owned();
        (self.login(tenant, email).await, id)
    }

    /// Writes settings straight to the row, skipping validation: for tests
    /// that need values the API refuses (a 1-second token lifetime).
    pub async fn force_settings(&self, slug: &str, change: impl FnOnce(&mut TenantSettings)) {
        use sea_orm::{ConnectionTrait, Statement};
        let context = self.services.tenants.resolve(slug).await.expect("tenant");
        let mut settings = context.settings().clone();
        change(&mut settings);
        let backend = self.services.db.get_database_backend();
        let sql = match backend {
            sea_orm::DatabaseBackend::Postgres => {
                "UPDATE tenants SET settings = $1 WHERE slug = $2"
            }
            _ => "UPDATE tenants SET settings = ? WHERE slug = ?",
        };
        let json = serde_json::to_string(&settings).expect("settings json");
        self.services
            .db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [json.into(), slug.into()],
            ))
            .await
            .expect("update settings");
        self.services
            .tenants
            .invalidate(&TenantSlug::parse(slug).expect("slug"));
    }

    /// Rows of `table` (raw SQL, for checking what deletes leave behind;
    /// without a tenant, `table` may carry a WHERE clause of its own).
    pub async fn count_rows(&self, table: &str, tenant_id: Option<&str>) -> i64 {
        match tenant_id {
            None => self.count(table, None).await,
            Some(id) => {
                let id = uuid::Uuid::parse_str(id).expect("uuid");
                let rows = format!("{table} WHERE tenant_id");
                self.count(&rows, Some(id.into())).await
            }
        }
    }

    /// `SELECT COUNT(*) FROM {rows} = key`: `rows` ends in the column that
    /// must equal `key`.
    pub async fn count_where(&self, rows: &str, key: sea_orm::Value) -> i64 {
        self.count(rows, Some(key)).await
    }

    async fn count(&self, rows: &str, key: Option<sea_orm::Value>) -> i64 {
        let backend = self.services.db.get_database_backend();
        let sql = match (&key, backend) {
            (None, _) => format!("SELECT COUNT(*) AS n FROM {rows}"),
            (Some(_), DatabaseBackend::Postgres) => {
                format!("SELECT COUNT(*) AS n FROM {rows} = $1")
            }
            (Some(_), _) => format!("SELECT COUNT(*) AS n FROM {rows} = ?"),
        };
        let row = self
            .services
            .db
            .query_one_raw(Statement::from_sql_and_values(backend, sql, key))
            .await
            .expect("count")
            .expect("a row");
        row.try_get::<i64>("", "n").expect("n")
    }

    /// Runs `request` while a transaction that deletes `user` is open, and
    /// commits the delete once the request waits on it: for the race of a
    /// request that read the user just before the delete committed. On
    /// PostgreSQL "waits" means `pg_blocking_pids` shows it blocked; on
    /// SQLite, where the wait for the write turn cannot be seen from
    /// outside, that it is still running after a second. A request that
    /// finishes first, or never blocks, fails the test: it would not be
    /// testing the race.
    pub async fn while_deleting<T>(
        &self,
        tenant: &str,
        user: UserId,
        request: impl Future<Output = T>,
    ) -> T {
        let db = &self.services.db;
        let backend = db.get_database_backend();
        let tenant = self.services.tenants.resolve(tenant).await.expect("tenant");
        let delete = db.begin().await.expect("begin");
        let deleted = portcullis::store::users::delete(&delete, tenant.id(), user).await;
        assert!(deleted.expect("delete"), "the user existed");
        let blocker = match backend {
            DatabaseBackend::Postgres => {
                let pid = Statement::from_string(backend, "SELECT pg_backend_pid() AS pid");
                let row = delete
                    .query_one_raw(pid)
                    .await
                    .expect("pid")
                    .expect("a row");
                Some(row.try_get::<i32>("", "pid").expect("pid"))
            }
            _ => None,
        };
        let waited_on = async {
            let Some(pid) = blocker else {
                return tokio::time::sleep(Duration::from_secs(1)).await;
            };
            let waiting = Statement::from_sql_and_values(
                backend,
                "SELECT COUNT(*) AS n FROM pg_stat_activity \
                 WHERE $1 = ANY(pg_blocking_pids(pid))",
                [pid.into()],
            );
            for _ in 0..500 {
                let row = db.query_one_raw(waiting.clone()).await.expect("waiting");
                if row.expect("a row").try_get::<i64>("", "n").expect("n") > 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("the request never waited on the delete");
        };
        let mut request = std::pin::pin!(request);
        tokio::select! {
            _ = &mut request => panic!("the request finished before the delete committed"),
            () = waited_on => {}
        }
        delete.commit().await.expect("commit the delete");
        request.await
    }
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl Tokens {
    /// The user the tokens were issued to (the access token's `sub`).
    pub fn user_id(&self) -> UserId {
        let sub = jwt_claims(&self.access)["sub"].as_str().map(str::parse);
        UserId(sub.expect("sub").expect("a uuid"))
    }
}

impl From<&Value> for Tokens {
    fn from(body: &Value) -> Self {
        Self {
            access: body["accessToken"]
                .as_str()
                .expect("accessToken")
                .to_owned(),
            refresh: body["refreshToken"]
                .as_str()
                .expect("refreshToken")
                .to_owned(),
        }
    }
}

/// Asserts a problem+json answer with `status` and `code`; returns the body.
pub async fn assert_problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/problem+json"),
        "content type was {content_type:?}"
    );
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    body
}

/// The claims of a JWT, read without checking it.
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("claims json")
}
