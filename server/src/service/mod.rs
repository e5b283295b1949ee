//! Services own the rules. They take domain types and plain data, call
//! `store` for persistence, and return [`crate::error::Error`]. They know
//! nothing of HTTP, so they are usable from the API, the CLI and tests.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod bootstrap;
pub mod credentials;
pub mod dashboard;
pub mod housekeeping;
pub mod keys;
pub mod limits;
pub mod mail;
pub mod master_key;
pub mod metrics;
pub mod passwords;
pub mod platform;
pub mod sessions;
pub mod tenants;
pub mod token_cache;
pub mod tokens;

use std::sync::Arc;

use crate::config::Config;
use crate::store::Db;

/// Everything the request handlers need, built once at start.
pub struct Services {
    pub config: Arc<Config>,
    pub db: Db,
    pub tenants: Arc<tenants::Tenants>,
    pub auth: auth::Auth,
    pub sessions: sessions::Sessions,
    pub admin: admin::Admin,
    pub platform: platform::Platform,
    pub audit: Arc<audit::Audit>,
    pub hasher: Arc<passwords::PasswordHasher>,
    pub credentials: Arc<credentials::Credentials>,
    pub limits: Arc<limits::RateLimiters>,
    pub metrics: metrics::Metrics,
}
