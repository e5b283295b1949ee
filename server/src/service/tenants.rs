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
use crate::domain::{Page, SigningAlgorithm, TenantId, TenantSettings, TenantSlug};
use crate::error::{Error, Result};
use crate::store::keys::StoredKey;
use crate::store::{self, ConnectionTrait, Db, StoreError, tenants::Tenant};

/// How long a resolved tenant is reused before it is read again. Settings
/// and keys changed by another instance take effect within this time; the
/// instance that made the change sees it at once.
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// A tenant as a request sees it.
pub struct TenantContext {
    pub tenant: Tenant,
    /// When this copy was read from the database.
    pub loaded_at: Instant,
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
    db: Db,
    master: Arc<MasterKey>,
    public_url: String,
    cache: RwLock<HashMap<String, Arc<TenantContext>>>,
}

impl Tenants {
    pub fn new(db: Db, master: Arc<MasterKey>, public_url: String) -> Self {
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
            loaded_at: Instant::now(),
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
            cache.insert(slug.to_string(), Arc::clone(&context));
        }
        Ok(context)
    }

    fn cached(&self, slug: &str) -> Option<Arc<TenantContext>> {
        let cache = self.cache.read().ok()?;
        let context = cache.get(slug)?;
        (context.loaded_at.elapsed() < CACHE_TTL).then(|| Arc::clone(context))
    }

    /// Like [`Self::resolve`], for verifying a token signed with `kid`. A
    /// kid this copy does not know may be a key another instance rotated in
    /// moments ago: then the tenant is read again (at most once a second,
    /// so random kids cannot hammer the database).
    pub async fn resolve_for_kid(
        &self,
        slug: &str,
        kid: Option<&str>,
    ) -> Result<Arc<TenantContext>> {
        let context = self.resolve(slug).await?;
        let unknown = kid.is_some_and(|kid| context.keys.verifying_key(kid).is_none());
        if unknown && context.loaded_at.elapsed() > Duration::from_secs(1) {
            self.invalidate(&context.tenant.slug);
            return self.resolve(slug).await;
        }
        Ok(context)
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
                StoreError::UniqueViolation => Error::TenantExists,
                other => other.into(),
            })?;
        let key = self
            .generate_key(tenant.id, tenant.settings.signing_algorithm, now)
            .await?;
        store::keys::insert(db, &key).await?;
        Ok(tenant)
    }

    async fn generate_key(
        &self,
        tenant: TenantId,
        algorithm: SigningAlgorithm,
        now: DateTime<Utc>,
    ) -> Result<StoredKey> {
        let master = Arc::clone(&self.master);
        tokio::task::spawn_blocking(move || keys::generate(&master, tenant, algorithm, now))
            .await
            .map_err(|e| Error::Internal(format!("key generation task: {e}")))?
    }

    /// A tenant as stored now (not the cached copy).
    pub async fn get(&self, slug: &str) -> Result<Tenant> {
        let slug = TenantSlug::parse(slug).map_err(|_| Error::TenantNotFound)?;
        store::tenants::find_by_slug(&self.db, &slug)
            .await?
            .ok_or(Error::TenantNotFound)
    }

    pub async fn list(&self, page: Page) -> Result<(Vec<Tenant>, u64)> {
        Ok(store::tenants::page(&self.db, page).await?)
    }

    /// Writes the tenant's name and (validated) settings. A new signing
    /// algorithm takes effect at once: the key is rotated in the same
    /// transaction. Returns whether a key was rotated.
    pub async fn update(&self, tenant: &Tenant, previous: &TenantSettings) -> Result<bool> {
        tenant.settings.validate().map_err(Error::Validation)?;
        let txn = store::begin(&self.db).await?;
        store::tenants::update(&txn, tenant).await?;
        let rotate = tenant.settings.signing_algorithm != previous.signing_algorithm;
        if rotate {
            let longest_ttl = previous
                .access_token_ttl_seconds
                .max(tenant.settings.access_token_ttl_seconds);
            self.rotate_in(&txn, tenant, longest_ttl).await?;
        }
        store::commit(txn).await?;
        self.invalidate(&tenant.slug);
        Ok(rotate)
    }

    /// Deletes the tenant and everything it owns in one transaction.
    pub async fn delete(&self, tenant: &Tenant) -> Result<()> {
        let txn = store::begin(&self.db).await?;
        if !store::tenants::delete(&txn, tenant.id).await? {
            return Err(Error::TenantNotFound);
        }
        store::commit(txn).await?;
        self.invalidate(&tenant.slug);
        Ok(())
    }

    /// A new key signs from now on; the old one keeps verifying until every
    /// token it signed has expired, then leaves the JWKS. Returns the new
    /// public JWK.
    pub async fn rotate_key(&self, tenant: &Tenant) -> Result<(String, serde_json::Value)> {
        let txn = store::begin(&self.db).await?;
        let key = self
            .rotate_in(&txn, tenant, tenant.settings.access_token_ttl_seconds)
            .await?;
        store::commit(txn).await?;
        self.invalidate(&tenant.slug);
        let jwk = serde_json::from_str(&key.public_jwk)
            .map_err(|e| Error::Internal(format!("public key: {e}")))?;
        Ok((key.kid, jwk))
    }

    async fn rotate_in(
        &self,
        db: &impl ConnectionTrait,
        tenant: &Tenant,
        access_ttl_seconds: u32,
    ) -> Result<StoredKey> {
        let now = Utc::now();
        // Another instance may sign with the old key until its cache expires.
        let retire_at = now
            + chrono::Duration::seconds(i64::from(access_ttl_seconds))
            + chrono::Duration::from_std(CACHE_TTL).unwrap_or_default();
        store::keys::retire_current(db, tenant.id, retire_at).await?;
        let key = self
            .generate_key(tenant.id, tenant.settings.signing_algorithm, now)
            .await?;
        store::keys::insert(db, &key).await?;
        Ok(key)
    }

    /// Replaces the tenant's settings (see [`Self::update`]).
    pub async fn update_settings(&self, slug: &TenantSlug, settings: TenantSettings) -> Result<()> {
        let mut tenant = self.get(slug.as_str()).await?;
        let previous = std::mem::replace(&mut tenant.settings, settings);
        tenant.updated_at = Utc::now();
        self.update(&tenant, &previous).await?;
        Ok(())
    }
}
