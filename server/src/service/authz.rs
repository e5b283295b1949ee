//! Who may do what. Every Bearer route authenticates here, and every admin
//! route passes one of the two guards below — there are no per-handler
//! copies of these rules.
//!
//! - `/t/{tenant}/admin/...`: role `admin` in that tenant, or a `system`
//!   superadmin (whose token is accepted on every tenant's admin routes and
//!   nowhere else outside `system`). Tenant `system` itself is administered
//!   by superadmins only.
//! - `/admin/tenants...`: superadmins only.

use std::sync::Arc;

use super::Services;
use super::auth::{ClientInfo, Principal};
use super::tenants::TenantContext;
use super::tokens;
use crate::domain::{Role, TenantSlug, UserId};
use crate::error::{Error, Result};

/// Who performs an administrative action: an authenticated administrator,
/// or the operator at the command line.
pub struct Actor {
    /// `None` for the command line.
    pub user_id: Option<UserId>,
    roles: Vec<String>,
    /// A platform superadmin (of tenant `system`), or the operator.
    pub superadmin: bool,
    pub client: ClientInfo,
}

impl Actor {
    fn new(principal: Principal, client: ClientInfo) -> Self {
        let superadmin = principal.user.roles.iter().any(|r| r == Role::SUPERADMIN);
        Self {
            user_id: Some(principal.user.id),
            roles: principal.user.roles,
            superadmin,
            client,
        }
    }

    /// The operator running `portcullis` commands on the server: trusted
    /// like a superadmin, recorded in the audit log without a user.
    pub fn operator() -> Self {
        Self {
            user_id: None,
            roles: Vec::new(),
            superadmin: true,
            client: ClientInfo {
                ip: None,
                user_agent: Some("portcullis-cli".into()),
            },
        }
    }

    fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

impl Services {
    /// Resolves the tenant and authenticates a Bearer token issued by it.
    pub async fn authenticate(
        &self,
        slug: &str,
        token: &str,
    ) -> Result<(Arc<TenantContext>, Principal)> {
        let kid = tokens::unverified_kid(token);
        let tenant = self.tenants.resolve_for_kid(slug, kid.as_deref()).await?;
        let principal = self.auth.authenticate(&tenant, token).await?;
        Ok((tenant, principal))
    }

    /// The guard of `/t/{tenant}/admin/...`.
    pub async fn authorize_tenant_admin(
        &self,
        slug: &str,
        token: &str,
        client: ClientInfo,
    ) -> Result<(Arc<TenantContext>, Actor)> {
        let target = self.tenants.resolve(slug).await?;
        let system_issuer = self.tenants.issuer(&TenantSlug::system());
        let from_system =
            tokens::unverified_issuer(token).as_deref() == Some(system_issuer.as_str());
        if from_system && !target.tenant.slug.is_system() {
            let (_, principal) = self.authenticate(TenantSlug::SYSTEM, token).await?;
            let actor = Actor::new(principal, client);
            return if actor.superadmin {
                Ok((target, actor))
            } else {
                Err(Error::Forbidden)
            };
        }
        let (target, principal) = self.authenticate(slug, token).await?;
        let actor = Actor::new(principal, client);
        let allowed = if target.tenant.slug.is_system() {
            actor.superadmin
        } else {
            actor.has_role(Role::ADMIN)
        };
        if allowed {
            Ok((target, actor))
        } else {
            Err(Error::Forbidden)
        }
    }

    /// The guard of `/admin/tenants...`.
    pub async fn authorize_superadmin(&self, token: &str, client: ClientInfo) -> Result<Actor> {
        let (_, principal) = self.authenticate(TenantSlug::SYSTEM, token).await?;
        let actor = Actor::new(principal, client);
        if actor.superadmin {
            Ok(actor)
        } else {
            Err(Error::Forbidden)
        }
    }
}
