//! Platform administration (superadmins): tenants and their keys. Events
//! are recorded in the `system` tenant's audit log, which outlives the
//! tenants it describes.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::audit::{Audit, AuditEvent, AuditKind};
use super::authz::Actor;
use super::tenants::Tenants;
use crate::domain::{Page, TenantSettings, TenantSlug};
use crate::error::{Error, Result};
use crate::store::tenants::Tenant;
use crate::store::{self, Db};

pub struct Platform {
    db: Db,
    tenants: Arc<Tenants>,
    audit: Arc<Audit>,
}

/// A signing key without its private half.
pub struct KeyInfo {
    pub kid: String,
    pub algorithm: String,
    pub created_at: DateTime<Utc>,
    /// Unset while the key signs; once set, it verifies until then.
    pub retire_at: Option<DateTime<Utc>>,
}

impl KeyInfo {
    /// `signing`, `verifying` (rotated out, still in the JWKS) or `retired`.
    pub fn state(&self, now: DateTime<Utc>) -> &'static str {
        match self.retire_at {
            None => "signing",
            Some(at) if at > now => "verifying",
            Some(_) => "retired",
        }
    }
}

/// Unparsed input of `PATCH /admin/tenants/{tenant}`.
pub struct TenantChanges<F> {
    pub name: Option<String>,
    /// Applied to the current settings; the result is validated.
    pub settings: Option<F>,
}

impl Platform {
    pub fn new(db: Db, tenants: Arc<Tenants>, audit: Arc<Audit>) -> Self {
        Self { db, tenants, audit }
    }

    async fn record(&self, actor: &Actor, kind: AuditKind, detail: serde_json::Value) {
        match self.tenants.resolve(TenantSlug::SYSTEM).await {
            Ok(system) => {
                self.audit
                    .record(
                        AuditEvent::new(kind, system.id())
                            .actor(actor.user_id)
                            .client(&actor.client)
                            .detail(detail),
                    )
                    .await;
            }
            Err(e) => tracing::warn!(error = %e, "cannot record a platform audit event"),
        }
    }

    pub async fn create_tenant(
        &self,
        actor: &Actor,
        slug: &str,
        name: &str,
        settings: impl FnOnce(&mut TenantSettings),
    ) -> Result<Tenant> {
        let mut errors = Vec::new();
        let slug = TenantSlug::parse(slug)
            .map_err(|m| errors.push(crate::domain::FieldError::new("slug", m)))
            .ok();
        let name = parse_tenant_name(name)
            .map_err(|m| errors.push(crate::domain::FieldError::new("name", m)))
            .ok();
        let mut tenant_settings = TenantSettings::default();
        settings(&mut tenant_settings);
        if let Err(mut bad) = tenant_settings.validate() {
            errors.append(&mut bad);
        }
        let (Some(slug), Some(name)) = (slug, name) else {
            return Err(Error::Validation(errors));
        };
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let txn = store::begin(&self.db).await?;
        let tenant = self
            .tenants
            .create(&txn, slug, name, tenant_settings, Utc::now())
            .await?;
        store::commit(txn).await?;
        self.record(
            actor,
            AuditKind::TenantCreated,
            json!({"tenant": tenant.slug.as_str()}),
        )
        .await;
        Ok(tenant)
    }

    pub async fn update_tenant<F: FnOnce(&mut TenantSettings)>(
        &self,
        actor: &Actor,
        slug: &str,
        changes: TenantChanges<F>,
    ) -> Result<Tenant> {
        let mut tenant = self.tenants.get(slug).await?;
        let previous = tenant.settings.clone();
        if let Some(name) = changes.name {
            tenant.name = parse_tenant_name(&name).map_err(|m| Error::field("name", m))?;
        }
        if let Some(change) = changes.settings {
            change(&mut tenant.settings);
        }
        if tenant.slug.is_system() && tenant.settings.signup_enabled {
            return Err(Error::field(
                "settings.signupEnabled",
                "self-registration is always off in tenant system",
            ));
        }
        tenant.updated_at = Utc::now();
        let rotated = self.tenants.update(&tenant, &previous).await?;
        self.record(
            actor,
            AuditKind::TenantUpdated,
            json!({"tenant": tenant.slug.as_str(), "keyRotated": rotated}),
        )
        .await;
        Ok(tenant)
    }

    pub async fn delete_tenant(&self, actor: &Actor, slug: &str) -> Result<()> {
        let tenant = self.tenants.get(slug).await?;
        if tenant.slug.is_system() {
            return Err(Error::field(
                "tenant",
                "the system tenant cannot be deleted",
            ));
        }
        self.tenants.delete(&tenant).await?;
        self.record(
            actor,
            AuditKind::TenantDeleted,
            json!({"tenant": tenant.slug.as_str()}),
        )
        .await;
        Ok(())
    }

    pub async fn rotate_key(&self, actor: &Actor, slug: &str) -> Result<serde_json::Value> {
        let tenant = self.tenants.get(slug).await?;
        let (kid, jwk) = self.tenants.rotate_key(&tenant).await?;
        let detail = json!({"tenant": tenant.slug.as_str(), "kid": kid});
        self.record(actor, AuditKind::KeyRotated, detail.clone())
            .await;
        // Also in the tenant's own log, where its admins look.
        self.audit
            .record(
                AuditEvent::new(AuditKind::KeyRotated, tenant.id)
                    .actor(actor.user_id)
                    .client(&actor.client)
                    .detail(detail),
            )
            .await;
        Ok(jwk)
    }

    /// The tenant's signing keys, newest first.
    pub async fn list_keys(&self, slug: &str) -> Result<Vec<KeyInfo>> {
        let tenant = self.tenants.get(slug).await?;
        let keys = store::keys::list(&self.db, tenant.id).await?;
        Ok(keys
            .into_iter()
            .map(|key| KeyInfo {
                kid: key.kid,
                algorithm: key.algorithm,
                created_at: key.created_at,
                retire_at: key.retire_at,
            })
            .collect())
    }

    pub async fn list_tenants(&self, page: Page) -> Result<(Vec<Tenant>, u64)> {
        self.tenants.list(page).await
    }
}

fn parse_tenant_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        Err("must be 1-200 characters without control characters".into())
    } else {
        Ok(name.to_owned())
    }
}
