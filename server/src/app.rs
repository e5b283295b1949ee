//! Start-up: open the database, migrate, load the master key, start the
//! hashing threads and the mail worker, bootstrap a fresh install, bind,
//! serve until a signal.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::service::Services;
use crate::service::admin::Admin;
use crate::service::audit::Audit;
use crate::service::auth::Auth;
use crate::service::bootstrap::{self, Bootstrapped};
use crate::service::credentials::Credentials;
use crate::service::housekeeping;
use crate::service::limits::RateLimiters;
use crate::service::mail::Mailer;
use crate::service::master_key::MasterKey;
use crate::service::metrics::Metrics;
use crate::service::passwords::PasswordHasher;
use crate::service::platform::Platform;
use crate::service::sessions::Sessions;
use crate::service::tenants::Tenants;
use crate::store;

/// How long in-flight requests get to finish after SIGTERM/SIGINT.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How often idle rate-limit keys are forgotten.
const LIMITS_JANITOR_EVERY: Duration = Duration::from_secs(30);

pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    services: Arc<Services>,
    /// Set on the first start of a fresh database.
    pub bootstrapped: Option<Bootstrapped>,
    /// Whether this start generated `{dataDir}/master.key`.
    pub master_key_created: bool,
}

/// The services over an opened, migrated, bootstrapped database: what the
/// server and the administrative commands share.
pub struct Opened {
    pub services: Arc<Services>,
    pub bootstrapped: Option<Bootstrapped>,
    pub master_key_created: bool,
}

/// Opens the database (creating an SQLite file's directory), migrates it,
/// loads or creates the master key, starts the hashing threads and, on a
/// fresh database, creates the first tenants and superadmin.
pub async fn open(config: Config) -> anyhow::Result<Opened> {
    if let Some(dir) = sqlite_dir(&config.database_url) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let db = store::connect(&config.database_url)
        .await
        .context("cannot open the database (PORTCULLIS_DATABASE_URL)")?;
    store::migrate(&db)
        .await
        .context("database migration failed")?;
    let (master_key, master_key_created) =
        MasterKey::load_or_create(config.master_key.as_ref(), &config.data_dir)?;
    let hasher = Arc::new(PasswordHasher::start(config.argon2, config.hash_threads)?);
    let tenants = Arc::new(Tenants::new(
        db.clone(),
        Arc::new(master_key),
        config.public_url.clone(),
    ));
    let bootstrapped = bootstrap::run(
        &db,
        &tenants,
        &hasher,
        &config.bootstrap_admin_email,
        config.bootstrap_admin_password.as_ref(),
    )
    .await?;
    let audit = Arc::new(Audit::new(db.clone()));
    let mailer = Arc::new(Mailer::start(&config)?);
    let limits = Arc::new(RateLimiters::default());
    let credentials = Arc::new(Credentials::new(
        db.clone(),
        Arc::clone(&hasher),
        mailer,
        Arc::clone(&audit),
        Arc::clone(&limits),
    ));
    let config = Arc::new(config);
    let services = Arc::new(Services {
        auth: Auth::new(
            db.clone(),
            Arc::clone(&hasher),
            Arc::clone(&audit),
            config.refresh_reuse_grace,
            Arc::clone(&credentials),
            Arc::clone(&limits),
            config.token_cache,
        ),
        sessions: Sessions::new(db.clone(), Arc::clone(&audit)),
        admin: Admin::new(
            db.clone(),
            Arc::clone(&hasher),
            Arc::clone(&audit),
            Arc::clone(&credentials),
        ),
        platform: Platform::new(db.clone(), Arc::clone(&tenants), Arc::clone(&audit)),
        audit,
        tenants,
        hasher,
        db,
        config,
        credentials,
        limits,
        metrics: Metrics::default(),
    });
    Ok(Opened {
        services,
        bootstrapped,
        master_key_created,
    })
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listen = config.listen;
        let opened = open(config).await?;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen} (PORTCULLIS_LISTEN)"))?;
        let addr = listener
            .local_addr()
            .context("the listener has no address")?;
        Ok(Self {
            listener,
            addr,
            services: opened.services,
            bootstrapped: opened.bootstrapped,
            master_key_created: opened.master_key_created,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn services(&self) -> Arc<Services> {
        Arc::clone(&self.services)
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests
    /// finish (up to a grace period) and closes the database pool.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) {
        let housekeeping = housekeeping::spawn(
            self.services.db.clone(),
            self.services.config.audit_retention,
        );
        let janitor = self.services.limits.spawn_janitor(LIMITS_JANITOR_EVERY);
        let app = crate::api::app(Arc::clone(&self.services));
        let request_timeout = self.services.config.request_timeout;
        crate::http_server::serve(
            self.listener,
            app,
            shutdown,
            request_timeout,
            SHUTDOWN_GRACE,
        )
        .await;
        housekeeping.abort();
        janitor.abort();
        if let Err(e) = self.services.db.clone().close().await {
            tracing::warn!(error = %e, "closing the database");
        }
    }
}

/// The directory of an SQLite database file, to create before opening it.
fn sqlite_dir(url: &str) -> Option<&Path> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?
        .split('?')
        .next()?;
    if path.is_empty() || path.contains(":memory:") {
        return None;
    }
    Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::sqlite_dir;
    use std::path::Path;

    #[test]
    fn finds_the_database_directory() {
        assert_eq!(
            sqlite_dir("sqlite://data/portcullis.db?mode=rwc"),
            Some(Path::new("data"))
        );
        assert_eq!(
            sqlite_dir("sqlite:///tmp/x/p.db"),
            Some(Path::new("/tmp/x"))
        );
        assert_eq!(sqlite_dir("sqlite::memory:"), None);
        assert_eq!(sqlite_dir("sqlite://p.db"), None);
    }
}
