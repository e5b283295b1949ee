//! The dashboard's sign-in and sessions, and the figures of its overview.
//!
//! A dashboard session is not an API session: a random 256-bit id in an
//! HttpOnly cookie, stored only as a hash, with an idle and an absolute
//! timeout, and never accepted as a token. Who may sign in is decided by
//! the API's own rules: `Auth::check_credentials` (the login's password,
//! disabled-account and verification checks, and whatever throttling it
//! applies) and `Actor::may_administer`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use super::Services;
use super::audit::{AuditEvent, AuditKind};
use super::auth::ClientInfo;
use super::authz::Actor;
use super::tenants::TenantContext;
use super::tokens;
use crate::domain::{Page, Secret};
use crate::error::{Error, Result};
use crate::store;
use crate::store::audit::{AuditFilter, AuditRecord};
use crate::store::dashboard_sessions::DashboardSession;
use crate::store::users::User;

/// A session unused for this long is over (OWASP Session Management:
/// 15-30 minutes for high-value applications).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session is over this long after sign-in, however busy.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * 3600);

/// A signed-in administrator, as each dashboard request sees them.
pub struct DashboardAdmin {
    /// The tenant they signed in to (`system` for superadmins).
    pub home: Arc<TenantContext>,
    pub user: User,
    pub actor: Actor,
}

/// The overview of one tenant.
pub struct Overview {
    pub users: u64,
    pub active_sessions: u64,
    /// Failed logins of the last 24 hours (audit events).
    pub failed_logins: u64,
    /// Lockouts of the last 24 hours (audit events).
    pub lockouts: u64,
    /// Users locked out now.
    pub locked_users: u64,
    /// The newest audit events.
    pub latest: Vec<AuditRecord>,
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or_default()
}

impl Services {
    /// Checks the credentials exactly as the API login does, then that the
    /// user administers the tenant they sign in to; opens a dashboard
    /// session and returns the cookie value. No API session is opened.
    pub async fn dashboard_sign_in(
        &self,
        slug: &str,
        email: &str,
        password: String,
        client: ClientInfo,
    ) -> Result<Secret<String>> {
        let home = self.tenants.resolve(slug).await?;
        let user = self
            .auth
            .check_credentials(&home, email, password, &client)
            .await?;
        let user_id = user.id;
        let actor = Actor::new(&home, user, client.clone());
        if !actor.may_administer(&home) {
            self.audit
                .record(
                    AuditEvent::new(AuditKind::LoginFailed, home.id())
                        .subject(user_id)
                        .client(&client)
                        .detail(json!({"reason": "not_an_administrator", "via": "dashboard"})),
                )
                .await;
            return Err(Error::Forbidden);
        }
        let now = Utc::now();
        store::dashboard_sessions::delete_stale(
            &self.db,
            user_id,
            now,
            now - chrono_duration(IDLE_TIMEOUT),
        )
        .await?;
        let (token, hash) = tokens::new_dashboard_token()?;
        let session = DashboardSession {
            id: Uuid::now_v7(),
            tenant_id: home.id(),
            user_id,
            created_at: now,
            last_seen_at: now,
            expires_at: now + chrono_duration(ABSOLUTE_TIMEOUT),
            ip: client.ip.map(|ip| ip.to_string()),
            user_agent: client.user_agent().map(str::to_owned),
        };
        if !store::dashboard_sessions::insert(&self.db, &session, &hash).await? {
            // Deleted since their credentials were checked: as if unknown,
            // which is what the API login answers too.
            return Err(Error::InvalidCredentials);
        }
        self.audit
            .record(
                AuditEvent::new(AuditKind::LoginSucceeded, home.id())
                    .actor(user_id)
                    .subject(user_id)
                    .client(&client)
                    .detail(json!({"via": "dashboard"})),
            )
            .await;
        tracing::info!(user_id = %user_id, "dashboard sign-in");
        Ok(token)
    }

    /// The administrator behind a session cookie. `invalid_token` when the
    /// session is unknown, past a timeout, or its user may no longer
    /// administer (disabled, demoted): then the row is gone too.
    pub async fn dashboard_session(
        &self,
        token: &str,
        client: ClientInfo,
    ) -> Result<DashboardAdmin> {
        let hash = tokens::hash_dashboard_token(token);
        let (session, user) = store::dashboard_sessions::find_with_user(&self.db, &hash)
            .await?
            .ok_or(Error::InvalidToken)?;
        let now = Utc::now();
        let timed_out = session.expires_at <= now
            || session.last_seen_at + chrono_duration(IDLE_TIMEOUT) <= now;
        let home = match store::tenants::find(&self.db, session.tenant_id).await? {
            Some(tenant) => Some(self.tenants.resolve(tenant.slug.as_str()).await?),
            None => None,
        };
        let Some(home) = home.filter(|_| !timed_out && !user.disabled) else {
            store::dashboard_sessions::delete(&self.db, &hash).await?;
            return Err(Error::InvalidToken);
        };
        let actor = Actor::new(&home, user.clone(), client);
        if !actor.may_administer(&home) {
            store::dashboard_sessions::delete(&self.db, &hash).await?;
            return Err(Error::InvalidToken);
        }
        store::dashboard_sessions::touch(&self.db, session.id, now).await?;
        tracing::Span::current().record("user_id", tracing::field::display(user.id));
        Ok(DashboardAdmin { home, user, actor })
    }

    /// Ends the session of this cookie (if it still exists).
    pub async fn dashboard_sign_out(&self, token: &str) -> Result<()> {
        let hash = tokens::hash_dashboard_token(token);
        store::dashboard_sessions::delete(&self.db, &hash).await?;
        Ok(())
    }

    /// The tenant of a dashboard page, if this administrator may see it;
    /// `forbidden` otherwise.
    pub async fn dashboard_tenant(
        &self,
        admin: &DashboardAdmin,
        slug: &str,
    ) -> Result<Arc<TenantContext>> {
        let target = self.tenants.resolve(slug).await?;
        if admin.actor.may_administer(&target) {
            Ok(target)
        } else {
            Err(Error::Forbidden)
        }
    }

    pub async fn overview(&self, tenant: &TenantContext) -> Result<Overview> {
        let now = Utc::now();
        let one = Page { number: 1, size: 1 };
        let (_, users) = store::users::page(&self.db, tenant.id(), None, one).await?;
        let active_sessions = store::sessions::count_live(&self.db, tenant.id(), now).await?;
        let locked_users = store::users::count_locked(&self.db, tenant.id(), now).await?;
        let last_day = |kind: AuditKind| AuditFilter {
            kind: Some(kind.as_str().to_owned()),
            from: Some(now - chrono::Duration::hours(24)),
            ..AuditFilter::default()
        };
        let (_, failed_logins) = self
            .audit
            .list(tenant.id(), &last_day(AuditKind::LoginFailed), one)
            .await?;
        let (_, lockouts) = self
            .audit
            .list(tenant.id(), &last_day(AuditKind::AccountLocked), one)
            .await?;
        let (latest, _) = self
            .audit
            .list(
                tenant.id(),
                &AuditFilter::default(),
                Page {
                    number: 1,
                    size: 10,
                },
            )
            .await?;
        Ok(Overview {
            users,
            active_sessions,
            failed_logins,
            lockouts,
            locked_users,
            latest,
        })
    }
}
