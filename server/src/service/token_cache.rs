//! Bearer tokens this process has checked recently, and what the check
//! found.
//!
//! A full check costs a signature verification and a query (session live,
//! user enabled): most of the CPU of `GET /me`. A client presents the
//! same access token many times over its lifetime, so a successful check
//! is kept and its result reused while nothing it read can have changed:
//!
//! - the same copy of the tenant (issuer, audience, keys) checked it;
//! - no auth change has been committed in this process since (the store
//!   counts them: a session revoked, a user changed or deleted, a tenant
//!   changed), so a revocation made here applies to the next request;
//! - it was checked less than the configured lifetime ago (default 1 s,
//!   `token_cache_secs`): how long a change made by another instance or
//!   the CLI may take to apply here. 0 turns the cache off;
//! - neither the token nor its session has expired.
//!
//! Entries are keyed by the token's SHA-256, so the cache holds no usable
//! token, and their number is bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ring::digest::{SHA256, digest};

use super::auth::Principal;
use super::tenants::TenantContext;
use crate::domain::TenantId;

/// Enough for every token in use on a busy instance within a lifetime;
/// beyond it the cache sheds entries rather than grow.
const CAPACITY: usize = 8192;

/// The SHA-256 of a token.
pub type TokenKey = [u8; 32];

pub struct TokenCache {
    lifetime: Duration,
    entries: Mutex<HashMap<TokenKey, Entry>>,
}

struct Entry {
    tenant: TenantId,
    /// `loaded_at` of the tenant copy that verified the token.
    tenant_loaded_at: Instant,
    /// The store's count of auth changes, read before the check's query.
    auth_changes: u64,
    checked_at: Instant,
    session_expires_at: DateTime<Utc>,
    principal: Principal,
}

impl Entry {
    fn holds(
        &self,
        tenant: &TenantContext,
        auth_changes: u64,
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> bool {
        self.tenant == tenant.id()
            && self.tenant_loaded_at == tenant.loaded_at
            && self.auth_changes == auth_changes
            && self.checked_at.elapsed() < lifetime
            && self.principal.claims.exp > now.timestamp()
            && self.session_expires_at > now
    }
}

impl TokenCache {
    pub fn new(lifetime: Duration) -> Self {
        Self {
            lifetime,
            entries: Mutex::default(),
        }
    }

    pub fn key(token: &str) -> TokenKey {
        let mut key = [0; 32];
        key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        key
    }

    /// The principal a check of this token found, if that still holds.
    /// `auth_changes` is the store's count, read before this call.
    pub fn get(
        &self,
        key: &TokenKey,
        tenant: &TenantContext,
        auth_changes: u64,
        now: DateTime<Utc>,
    ) -> Option<Principal> {
        if self.lifetime.is_zero() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(key)?;
        entry
            .holds(tenant, auth_changes, self.lifetime, now)
            .then(|| entry.principal.clone())
    }

    /// Keeps what a successful check found. `auth_changes` is the count
    /// read before the check's query, so a change committed meanwhile
    /// leaves the entry stale from the start.
    pub fn put(
        &self,
        key: TokenKey,
        tenant: &TenantContext,
        auth_changes: u64,
        session_expires_at: DateTime<Utc>,
        principal: &Principal,
    ) {
        if self.lifetime.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= CAPACITY {
            let lifetime = self.lifetime;
            entries.retain(|_, e| e.checked_at.elapsed() < lifetime);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                tenant: tenant.id(),
                tenant_loaded_at: tenant.loaded_at,
                auth_changes,
                checked_at: Instant::now(),
                session_expires_at,
                principal: principal.clone(),
            },
        );
    }
}
