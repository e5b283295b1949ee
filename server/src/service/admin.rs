//! Tenant administration: users and their sessions, and the audit log.
//! Callers have passed `Services::authorize_tenant_admin`; the rules here
//! are about what an actor may do to a user, not whether they may administer.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use serde_json::json;

use super::audit::{Audit, AuditEvent, AuditKind};
use super::authz::Actor;
use super::credentials::{Credentials, UserGone};
use super::passwords::PasswordHasher;
use super::tenants::TenantContext;
use crate::domain::{DisplayName, Email, Page, Password, Role, SessionId, UserId, Validator};
use crate::error::{Error, Result};
use crate::store::audit::{AuditFilter, AuditRecord};
use crate::store::sessions::Session;
use crate::store::users::User;
use crate::store::{self, Db, StoreError};

/// Unparsed input of `POST /admin/users`.
pub struct NewUser {
    pub email: String,
    pub password: Option<String>,
    pub name: Option<String>,
    pub roles: Option<Vec<String>>,
}

/// Unparsed input of `PATCH /admin/users/{id}`; `None` leaves a field as is.
#[derive(Default)]
pub struct UserChanges {
    /// `Some(None)` clears the name.
    pub name: Option<Option<String>>,
    pub roles: Option<Vec<String>>,
    pub disabled: Option<bool>,
    /// Only `false` is accepted: it lifts a lockout. (Blocking an account
    /// is what `disabled` is for.)
    pub locked: Option<bool>,
}

pub struct Admin {
    db: Db,
    hasher: Arc<PasswordHasher>,
    audit: Arc<Audit>,
    /// Mails users created without a password a link to choose one.
    credentials: Arc<Credentials>,
}

impl Admin {
    pub fn new(
        db: Db,
        hasher: Arc<PasswordHasher>,
        audit: Arc<Audit>,
        credentials: Arc<Credentials>,
    ) -> Self {
        Self {
            db,
            hasher,
            audit,
            credentials,
        }
    }

    pub async fn list_users(
        &self,
        tenant: &TenantContext,
        search: Option<&str>,
        page: Page,
    ) -> Result<(Vec<User>, u64)> {
        let search = search.map(str::trim).filter(|q| !q.is_empty());
        Ok(store::users::page(&self.db, tenant.id(), search, page).await?)
    }

    pub async fn get_user(&self, tenant: &TenantContext, id: UserId) -> Result<User> {
        store::users::find(&self.db, tenant.id(), id)
            .await?
            .ok_or(Error::NotFound)
    }

    /// Creates a user. Without a password the account cannot log in until
    /// one is set: the user is mailed a link to choose it.
    pub async fn create_user(
        &self,
        actor: &Actor,
        tenant: &TenantContext,
        input: NewUser,
    ) -> Result<User> {
        let mut v = Validator::default();
        let email = v.check("email", Email::parse(&input.email));
        let password = match input.password {
            Some(p) => v
                .check_all(
                    "password",
                    Password::parse_new(p, &tenant.settings().password_policy, email.as_ref()),
                )
                .map(Some),
            None => Some(None),
        };
        let name = v.check("name", DisplayName::parse_optional(input.name.as_deref()));
        let roles = v.check("roles", parse_roles(input.roles.unwrap_or_default()));
        v.finish().map_err(Error::Validation)?;
        let (Some(email), Some(password), Some(name), Some(roles)) = (email, password, name, roles)
        else {
            return Err(Error::Internal("validator passed without values".into()));
        };
        check_grant(actor, tenant, &roles)?;
        let password_hash = match &password {
            Some(p) => Some(self.hasher.hash(p).await?.expose().clone()),
            None => None,
        };
        let now = Utc::now();
        let user = User {
            id: UserId::generate(),
            tenant_id: tenant.id(),
            email: email.as_str().to_owned(),
            name: name.map(|n| n.as_str().to_owned()),
            password_hash,
            roles: roles.into_iter().collect(),
            email_verified: false,
            disabled: false,
            locked_until: None,
            created_at: now,
            updated_at: now,
        };
        store::users::insert(&self.db, &user)
            .await
            .map_err(|e| match e {
                StoreError::UniqueViolation => Error::EmailTaken,
                other => other.into(),
            })?;
        self.audit
            .record(
                AuditEvent::new(AuditKind::UserCreated, tenant.id())
                    .actor(actor.user_id)
                    .subject(user.id)
                    .client(&actor.client)
                    .detail(
                        json!({"roles": user.roles, "withPassword": user.password_hash.is_some()}),
                    ),
            )
            .await;
        if user.password_hash.is_none() {
            match self.credentials.send_invitation(tenant, &user).await {
                Ok(Ok(())) => {}
                Ok(Err(UserGone)) => {
                    tracing::info!(user_id = %user.id, "deleted before their invitation");
                }
                // The account exists; an admin can have the link sent again
                // through forgot-password. Failing now would only invite a
                // retry into `email_taken`.
                Err(e) => tracing::error!(user_id = %user.id, error = %e, "invitation not issued"),
            }
        }
        Ok(user)
    }

    /// Applies the changes. Disabling revokes every session of the user
    /// in the same transaction; re-enabling revives none.
    pub async fn update_user(
        &self,
        actor: &Actor,
        tenant: &TenantContext,
        id: UserId,
        changes: UserChanges,
    ) -> Result<User> {
        let mut v = Validator::default();
        let name = match changes.name {
            Some(name) => v
                .check("name", DisplayName::parse_optional(name.as_deref()))
                .map(Some),
            None => Some(None),
        };
        let roles = match changes.roles {
            Some(roles) => v.check("roles", parse_roles(roles)).map(Some),
            None => Some(None),
        };
        if changes.locked == Some(true) {
            v.check::<()>(
                "locked",
                Err(
                    "can only be set to false (to unlock); set disabled to block an account".into(),
                ),
            );
        }
        v.finish().map_err(Error::Validation)?;
        let (Some(name), Some(roles)) = (name, roles) else {
            return Err(Error::Internal("validator passed without values".into()));
        };

        let txn = store::begin(&self.db).await?;
        let mut user = store::users::find(&txn, tenant.id(), id)
            .await?
            .ok_or(Error::NotFound)?;
        let before = user.clone();
        if let Some(name) = name {
            user.name = name.map(|n| n.as_str().to_owned());
        }
        if let Some(roles) = roles {
            check_grant(actor, tenant, &roles)?;
            check_not_self(
                actor,
                &user,
                !roles.contains(Role::ADMIN) && !roles.contains(Role::SUPERADMIN),
            )?;
            user.roles = roles.into_iter().collect();
        }
        if let Some(disabled) = changes.disabled {
            check_not_self(actor, &user, disabled)?;
            user.disabled = disabled;
        }
        user.updated_at = Utc::now();
        let unlock = changes.locked == Some(false);
        let unlocked = unlock
            && store::throttle::clear(&txn, tenant.id(), &user.email).await?
            && before
                .locked_until
                .is_some_and(|until| until > user.updated_at);
        if unlock {
            user.locked_until = None;
        }
        store::users::update(&txn, &user).await?;
        let newly_disabled = user.disabled && !before.disabled;
        if newly_disabled {
            store::sessions::revoke_all(&txn, tenant.id(), user.id, user.updated_at).await?;
        }
        store::commit(txn).await?;

        let event = |kind| {
            AuditEvent::new(kind, tenant.id())
                .actor(actor.user_id)
                .subject(user.id)
                .client(&actor.client)
        };
        if before.roles != user.roles {
            self.audit
                .record(
                    event(AuditKind::RolesChanged)
                        .detail(json!({"from": before.roles, "to": user.roles})),
                )
                .await;
        }
        if before.disabled != user.disabled {
            let kind = if user.disabled {
                AuditKind::UserDisabled
            } else {
                AuditKind::UserEnabled
            };
            self.audit.record(event(kind)).await;
        }
        if unlocked {
            self.audit.record(event(AuditKind::AccountUnlocked)).await;
        }
        if before.name != user.name {
            self.audit
                .record(event(AuditKind::UserUpdated).detail(json!({"fields": ["name"]})))
                .await;
        }
        Ok(user)
    }

    /// Deletes the user with their sessions and refresh tokens.
    pub async fn delete_user(
        &self,
        actor: &Actor,
        tenant: &TenantContext,
        id: UserId,
    ) -> Result<()> {
        let user = self.get_user(tenant, id).await?;
        check_not_self(actor, &user, true)?;
        if !store::users::delete(&self.db, tenant.id(), id).await? {
            return Err(Error::NotFound);
        }
        self.audit
            .record(
                AuditEvent::new(AuditKind::UserDeleted, tenant.id())
                    .actor(actor.user_id)
                    .subject(id)
                    .client(&actor.client)
                    .detail(json!({"email": user.email})),
            )
            .await;
        Ok(())
    }

    /// The user's live sessions, newest first.
    pub async fn user_sessions(&self, tenant: &TenantContext, id: UserId) -> Result<Vec<Session>> {
        self.get_user(tenant, id).await?;
        let now = Utc::now();
        let sessions = store::sessions::list_unrevoked(&self.db, tenant.id(), id).await?;
        Ok(sessions.into_iter().filter(|s| s.is_live(now)).collect())
    }

    pub async fn revoke_session(
        &self,
        actor: &Actor,
        tenant: &TenantContext,
        id: SessionId,
    ) -> Result<()> {
        let session = store::sessions::find(&self.db, tenant.id(), id)
            .await?
            .ok_or(Error::NotFound)?;
        if !store::sessions::revoke(&self.db, tenant.id(), id, None, Utc::now()).await? {
            return Err(Error::NotFound);
        }
        self.audit
            .record(
                AuditEvent::new(AuditKind::SessionRevoked, tenant.id())
                    .actor(actor.user_id)
                    .subject(session.user_id)
                    .client(&actor.client)
                    .detail(json!({"sessionId": id.0})),
            )
            .await;
        Ok(())
    }

    /// Revokes every live session of the user (signs them out everywhere).
    pub async fn revoke_user_sessions(
        &self,
        actor: &Actor,
        tenant: &TenantContext,
        id: UserId,
    ) -> Result<u64> {
        self.get_user(tenant, id).await?;
        let revoked = store::sessions::revoke_all(&self.db, tenant.id(), id, Utc::now()).await?;
        self.audit
            .record(
                AuditEvent::new(AuditKind::SessionRevoked, tenant.id())
                    .actor(actor.user_id)
                    .subject(id)
                    .client(&actor.client)
                    .detail(json!({"sessionsRevoked": revoked})),
            )
            .await;
        Ok(revoked)
    }

    pub async fn audit_events(
        &self,
        tenant: &TenantContext,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<(Vec<AuditRecord>, u64)> {
        self.audit.list(tenant.id(), filter, page).await
    }
}

/// Role names, deduplicated, always with `user`.
fn parse_roles(input: Vec<String>) -> Result<BTreeSet<String>, String> {
    let mut roles = BTreeSet::from([Role::USER.to_owned()]);
    if input.len() > 32 {
        return Err("at most 32 roles".into());
    }
    for role in input {
        roles.insert(Role::parse(&role)?.as_str().to_owned());
    }
    Ok(roles)
}

/// `superadmin` exists only in `system` and only a superadmin grants it.
fn check_grant(actor: &Actor, tenant: &TenantContext, roles: &BTreeSet<String>) -> Result<()> {
    if roles.contains(Role::SUPERADMIN) {
        if !tenant.tenant.slug.is_system() {
            return Err(Error::field(
                "roles",
                "superadmin exists only in tenant system",
            ));
        }
        if !actor.superadmin {
            return Err(Error::Forbidden);
        }
    }
    Ok(())
}

/// Administrators cannot lock themselves out: no disabling, deleting or
/// demoting their own account (another administrator can).
fn check_not_self(actor: &Actor, user: &User, harmful: bool) -> Result<()> {
    if harmful && actor.user_id == Some(user.id) {
        return Err(Error::field(
            "userId",
            "you cannot disable, delete or demote your own account",
        ));
    }
    Ok(())
}
