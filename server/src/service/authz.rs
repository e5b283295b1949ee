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
use crate::domain::{Role, TenantId, TenantSlug, UserId};
use crate::error::{Error, Result};
use crate::store::users::User;

/// Who performs an administrative action: an authenticated administrator,
/// or the operator at the command line.
pub struct Actor {
    /// `None` for the command line.
    pub user_id: Option<UserId>,
    /// The tenant the user belongs to; `None` for the command line.
    home: Option<TenantId>,
    roles: Vec<String>,
    /// A platform superadmin (of tenant `system`), or the operator.
    pub superadmin: bool,
    pub client: ClientInfo,
}

impl Actor {
    /// A signed-in user of `home` (by Bearer token or dashboard session).
    pub fn new(home: &TenantContext, user: User, client: ClientInfo) -> Self {
        // `superadmin` means something only in `system`; granting it
        // elsewhere is refused, and this keeps a stray one powerless.
        let superadmin =
            home.tenant.slug.is_system() && user.roles.iter().any(|r| r == Role::SUPERADMIN);
        Self {
            user_id: Some(user.id),
            home: Some(home.id()),
            roles: user.roles,
            superadmin,
            client,
        }
    }

    /// The operator running `portcullis` commands on the server: trusted
    /// like a superadmin, recorded in the audit log without a user.
    pub fn operator() -> Self {
        Self {
            user_id: None,
            home: None,
            roles: Vec::new(),
            superadmin: true,
            client: ClientInfo::new(None, Some("portcullis-cli")),
        }
    }

    /// The one rule of who administers a tenant: a superadmin any tenant;
    /// an `admin` their own, except `system`, which is superadmins' only.
    pub fn may_administer(&self, target: &TenantContext) -> bool {
        self.superadmin
            || (self.home == Some(target.id())
                && !target.tenant.slug.is_system()
                && self.roles.iter().any(|r| r == Role::ADMIN))
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

    /// The guard of `/t/{tenant}/admin/...`. The token is checked against
    /// `system` when `system` issued it (a superadmin's), else against the
    /// tenant of the path.
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
        let home = if from_system {
            TenantSlug::SYSTEM
        } else {
            slug
        };
        let (home, principal) = self.authenticate(home, token).await?;
        let actor = Actor::new(&home, principal.user, client);
        if actor.may_administer(&target) {
            Ok((target, actor))
        } else {
            Err(Error::Forbidden)
        }
    }

    /// The guard of `/admin/tenants...`.
    pub async fn authorize_superadmin(&self, token: &str, client: ClientInfo) -> Result<Actor> {
        let (home, principal) = self.authenticate(TenantSlug::SYSTEM, token).await?;
        let actor = Actor::new(&home, principal.user, client);
        if actor.superadmin {
            Ok(actor)
        } else {
            Err(Error::Forbidden)
        }
    }
}
