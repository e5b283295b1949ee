//! The dashboard in a real browser: headless Chromium driven through
//! WebDriver (chromedriver), the way an administrator uses it. It fails,
//! never skips, when the browser cannot start: install Debian's `chromium`
//! and `chromium-driver` (`.ci/run` does). Screenshots go to
//! `target/screenshots/`; with `PORTCULLIS_UPDATE_SCREENSHOTS=1` the users
//! page also replaces `docs/dashboard-users.png`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

// The API tests' helpers (spawn the app, log in through the API); this
// binary uses only some of them.
#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::{Element, ElementRef};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use helpers::{PASSWORD, TestApp, spawn_app_with};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver as a child process, stopped with the test.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// Starts chromedriver on a free port and a headless Chromium through it.
async fn start_browser() -> (Driver, Client) {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {CHROMEDRIVER}: {e}. Install the browser: \
                 apt-get install chromium chromium-driver"
            )
        });
    let driver = Driver(child);
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            // No sandbox: CI runs as root, where Chromium's sandbox cannot start.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,900"],
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut last_error = String::new();
    // chromedriver needs a moment before it listens.
    for _ in 0..100 {
        match ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the browser did not start through {CHROMEDRIVER}: {last_error}");
}

fn screenshots_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `target/tmp`; the screenshots sit beside it.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshots dir");
    dir
}

async fn screenshot(browser: &Client, name: &str) -> Vec<u8> {
    let png = browser.screenshot().await.expect("screenshot");
    std::fs::write(screenshots_dir().join(format!("{name}.png")), &png).expect("write screenshot");
    png
}

struct Session<'a> {
    app: &'a TestApp,
    browser: Client,
}

impl Session<'_> {
    async fn open(&self, path: &str) {
        self.browser.goto(&self.app.url(path)).await.expect("goto");
    }

    async fn current_path(&self) -> String {
        self.browser
            .current_url()
            .await
            .expect("url")
            .path()
            .to_owned()
    }

    async fn find(&self, css: &str) -> Element {
        self.browser
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
    }

    /// The id WebDriver gives the current document's root element: a new
    /// page load gives a new one.
    async fn document_id(&self) -> Option<ElementRef> {
        let root = self.browser.find(Locator::Css("html")).await.ok()?;
        Some(root.element_id())
    }

    /// Fills the named inputs of the form and clicks its (first) button.
    async fn fill_and_submit(&self, form: &str, fields: &[(&str, &str)]) {
        for (name, value) in fields {
            let input = self.find(&format!("{form} [name=\"{name}\"]")).await;
            input.clear().await.expect("clear");
            input.send_keys(value).await.expect("type");
        }
        self.click(&format!("{form} button[type=submit]")).await;
    }

    /// Clicks a link or submit button and waits for the page it leads to:
    /// WebDriver's click may return before the navigation it starts has
    /// replaced the document, and the next lookup would read the old page.
    async fn click(&self, css: &str) {
        let before = self.document_id().await;
        self.find(css).await.click().await.expect("click");
        for _ in 0..200 {
            let now = self.document_id().await;
            if now.is_some() && now != before {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("clicking {css} did not load a new page");
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }
}

#[tokio::test]
async fn an_administrator_works_through_the_dashboard() {
    let (_driver, browser) = start_browser().await;
    let app = spawn_app_with(&[("PORTCULLIS_COOKIE_SECURE", "false")]).await;
    let s = Session { app: &app, browser };

    // Signed out, the dashboard is the sign-in form.
    s.open("/dashboard").await;
    assert_eq!(s.current_path().await, "/dashboard/sign-in");
    screenshot(&s.browser, "sign-in").await;
    s.fill_and_submit(
        "form[action=\"/dashboard/sign-in\"]",
        &[
            ("tenant", "system"),
            ("email", "admin@example.com"),
            ("password", "bootstrap password"),
        ],
    )
    .await;
    assert_eq!(s.current_path().await, "/dashboard/t/system");
    screenshot(&s.browser, "overview").await;

    // A tenant.
    s.open("/dashboard/tenants/new").await;
    s.fill_and_submit(
        "form[action=\"/dashboard/tenants/new\"]",
        &[("slug", "acme"), ("name", "Acme Inc")],
    )
    .await;
    assert_eq!(s.current_path().await, "/dashboard/t/acme/settings");
    assert_eq!(s.text(".notice").await, "Created.");
    screenshot(&s.browser, "tenant-settings").await;

    // A user in it, opened.
    s.open("/dashboard/t/acme/users/new").await;
    s.fill_and_submit(
        "form[action=\"/dashboard/t/acme/users/new\"]",
        &[
            ("email", "ada@acme.test"),
            ("name", "Ada Lovelace"),
            ("password", PASSWORD),
            ("roles", "admin"),
        ],
    )
    .await;
    let user_page = s.current_path().await;
    assert!(
        user_page.starts_with("/dashboard/t/acme/users/"),
        "{user_page}"
    );
    assert_eq!(s.text("h1").await, "ada@acme.test");

    // A session opened through the API, revoked here.
    let tokens = app.login("acme", "ada@acme.test").await;
    s.open(&user_page).await;
    screenshot(&s.browser, "user").await;
    s.click("form[action$=\"/sessions/revoke\"] button").await;
    assert_eq!(s.text(".notice").await, "The session is revoked.");
    app.assert_signed_out("acme", &[&tokens]).await;

    // The users page, the one in the README.
    for (email, name) in [
        ("grace@acme.test", "Grace Hopper"),
        ("edsger@acme.test", "Edsger Dijkstra"),
    ] {
        s.open("/dashboard/t/acme/users/new").await;
        s.fill_and_submit(
            "form[action=\"/dashboard/t/acme/users/new\"]",
            &[("email", email), ("name", name), ("password", PASSWORD)],
        )
        .await;
    }
    s.open("/dashboard/t/acme/users").await;
    assert!(s.text("table").await.contains("Grace Hopper"));
    let png = screenshot(&s.browser, "users").await;
    if std::env::var("PORTCULLIS_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        std::fs::create_dir_all(&docs).expect("docs dir");
        std::fs::write(docs.join("dashboard-users.png"), &png).expect("write docs screenshot");
    }
    s.browser
        .set_window_size(390, 844)
        .await
        .expect("phone size");
    screenshot(&s.browser, "users-phone").await;
    s.browser
        .set_window_size(1280, 900)
        .await
        .expect("laptop size");

    // The tenant's key, rotated.
    s.open("/dashboard/t/acme/keys").await;
    let before = s.text("tbody").await;
    assert!(before.contains("signing"), "{before}");
    s.click("a[href=\"/dashboard/t/acme/keys/rotate\"]").await;
    s.click("form[action=\"/dashboard/t/acme/keys/rotate\"] button")
        .await;
    assert_eq!(s.current_path().await, "/dashboard/t/acme/keys");
    let after = s.text("tbody").await;
    assert!(after.contains("verifying"), "{after}");
    assert_eq!(
        s.browser
            .find_all(Locator::Css("tbody tr"))
            .await
            .expect("rows")
            .len(),
        2
    );
    screenshot(&s.browser, "keys").await;

    // Signed out, the pages are closed again.
    s.click("form[action=\"/dashboard/sign-out\"] button").await;
    assert_eq!(s.current_path().await, "/dashboard/sign-in");
    assert_eq!(s.text(".notice").await, "You are signed out.");
    s.open("/dashboard/t/acme/users").await;
    assert_eq!(s.current_path().await, "/dashboard/sign-in");

    s.browser.close().await.expect("close the browser");
}
