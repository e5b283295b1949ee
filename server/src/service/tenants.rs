//! Tenants: resolving a slug to everything a request needs (row, settings,
//! issuer, keys), creating tenants with their first key, and the cache
//! that keeps this off the database on the hot path.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::keys::{self, KeyRing};
use super::master_key::MasterKey;
use super::tokens::Verifier;
use crate::domain::{TenantId, TenantSettings, TenantSlug};
use crate::error::{Error, Result};
use crate::store::{self, ConnectionTrait, DatabaseConnection, StoreError, tenants::Tenant};

/// How long a resolved tenant is reused before it is read again. Settings
/// and keys changed by another instance take effect within this time; the
/// instance that made the change sees it at once.
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// A tenant as a request sees it.
pub struct TenantContext {
    pub tenant: Tenant,
    /// `{publicUrl}/t/{slug}`: the `iss` of its tokens.
    pub issuer: String,
    pub audience: String,
    pub keys: KeyRing,
}

impl TenantContext {
    pub fn id(&self) -> TenantId {
        self.tenant.id
    }

    pub fn settings(&self) -> &TenantSettings {
        &self.tenant.settings
    }

    pub fn verifier(&self) -> Verifier<'_> {
        Verifier {
            issuer: &self.issuer,
            audience: &self.audience,
            keys: &self.keys,
        }
    }
}

pub struct Tenants {
    db: DatabaseConnection,
    master: Arc<MasterKey>,
    public_url: String,
    cache: RwLock<HashMap<String, (Instant, Arc<TenantContext>)>>,
}

impl Tenants {
    pub fn new(db: DatabaseConnection, master: Arc<MasterKey>, public_url: String) -> Self {
        Self {
            db,
            master,
            public_url,
            cache: RwLock::new(HashMap::new()),
        }
    }

    pub fn issuer(&self, slug: &TenantSlug) -> String {
        format!("{}/t/{slug}", self.public_url)
    }

    /// The tenant named by a path segment. A malformed slug cannot name a
    /// tenant, so it gets the same `tenant_not_found` as an unknown one.
    pub async fn resolve(&self, slug: &str) -> Result<Arc<TenantContext>> {
        if let Some(hit) = self.cached(slug) {
            return Ok(hit);
        }
        let slug = TenantSlug::parse(slug).map_err(|_| Error::TenantNotFound)?;
        let tenant = store::tenants::find_by_slug(&self.db, &slug)
            .await?
            .ok_or(Error::TenantNotFound)?;
        let now = Utc::now();
        let stored = store::keys::list(&self.db, tenant.id).await?;
        let context = Arc::new(TenantContext {
            issuer: self.issuer(&slug),
            audience: tenant
                .settings
                .audience
                .clone()
                .unwrap_or_else(|| slug.to_string()),
            keys: KeyRing::load(&self.master, &stored, now)?,
            tenant,
        });
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(slug.to_string(), (Instant::now(), Arc::clone(&context)));
        }
        Ok(context)
    }

    fn cached(&self, slug: &str) -> Option<Arc<TenantContext>> {
        let cache = self.cache.read().ok()?;
        let (loaded, context) = cache.get(slug)?;
        (loaded.elapsed() < CACHE_TTL).then(|| Arc::clone(context))
    }

    /// Drops the cached copy so this instance sees a change at once.
    pub fn invalidate(&self, slug: &TenantSlug) {
        if let Ok(mut cache) = self.cache.write() {
            cache.remove(slug.as_str());
        }
    }

    /// Creates the tenant and its first signing key in `db` (which may be a
    /// transaction the caller commits).
    pub async fn create(
        &self,
        db: &impl ConnectionTrait,
        slug: TenantSlug,
        name: String,
        settings: TenantSettings,
        now: DateTime<Utc>,
    ) -> Result<Tenant> {
        let tenant = Tenant {
            id: TenantId::generate(),
            slug,
            name,
            settings,
            created_at: now,
            updated_at: now,
        };
        store::tenants::insert(db, &tenant)
            .await
            .map_err(|e| match e {
                StoreError::UniqueViolation => Error::field("slug", "is already taken"),
                other => other.into(),
            })?;
        let key = keys::generate(&self.master, tenant.id, now)?;
        store::keys::insert(db, &key).await?;
        Ok(tenant)
    }

    /// Replaces the tenant's settings; takes effect here at once and on
    /// other instances within [`CACHE_TTL`].
    pub async fn update_settings(&self, slug: &TenantSlug, settings: TenantSettings) -> Result<()> {
        let txn = store::begin(&self.db).await?;
        let tenant = store::tenants::find_by_slug(&txn, slug)
            .await?
            .ok_or(Error::TenantNotFound)?;
        store::tenants::update_settings(&txn, tenant.id, &settings, Utc::now()).await?;
        store::commit(txn).await?;
        self.invalidate(slug);
        Ok(())
    }
}
