//! The audit log: one record per security event. Recording never fails
//! the request it describes: a write error is logged and dropped.

use chrono::Utc;
use serde_json::Value;

use super::auth::ClientInfo;
use crate::domain::{Page, TenantId, UserId};
use crate::error::Result;
use crate::store::audit::{AuditFilter, AuditRecord};
use crate::store::{self, Db};

/// What happened. The string forms are the stable `type` of `AuditEvent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    LoginSucceeded,
    LoginFailed,
    RefreshReuseDetected,
    Logout,
    LogoutAll,
    PasswordChanged,
    PasswordResetRequested,
    PasswordResetCompleted,
    EmailVerified,
    UserCreated,
    UserUpdated,
    UserDisabled,
    UserEnabled,
    UserDeleted,
    RolesChanged,
    SessionRevoked,
    TenantCreated,
    TenantUpdated,
    TenantDeleted,
    KeyRotated,
    AccountLocked,
    AccountUnlocked,
}

impl AuditKind {
    pub const ALL: [Self; 22] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::RefreshReuseDetected,
        Self::Logout,
        Self::LogoutAll,
        Self::PasswordChanged,
        Self::PasswordResetRequested,
        Self::PasswordResetCompleted,
        Self::EmailVerified,
        Self::UserCreated,
        Self::UserUpdated,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::UserDeleted,
        Self::RolesChanged,
        Self::SessionRevoked,
        Self::TenantCreated,
        Self::TenantUpdated,
        Self::TenantDeleted,
        Self::KeyRotated,
        Self::AccountLocked,
        Self::AccountUnlocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login.succeeded",
            Self::LoginFailed => "login.failed",
            Self::RefreshReuseDetected => "refresh.reuse_detected",
            Self::Logout => "logout",
            Self::LogoutAll => "logout.all",
            Self::PasswordChanged => "password.changed",
            Self::PasswordResetRequested => "password.reset_requested",
            Self::PasswordResetCompleted => "password.reset_completed",
            Self::EmailVerified => "email.verified",
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserDisabled => "user.disabled",
            Self::UserEnabled => "user.enabled",
            Self::UserDeleted => "user.deleted",
            Self::RolesChanged => "user.roles_changed",
            Self::SessionRevoked => "session.revoked",
            Self::TenantCreated => "tenant.created",
            Self::TenantUpdated => "tenant.updated",
            Self::TenantDeleted => "tenant.deleted",
            Self::KeyRotated => "key.rotated",
            Self::AccountLocked => "account.locked",
            Self::AccountUnlocked => "account.unlocked",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// One event to record. `detail` is a small JSON object and must never
/// hold a secret: ids, names, counts, reasons.
pub struct AuditEvent<'a> {
    pub kind: AuditKind,
    pub tenant: TenantId,
    pub actor: Option<UserId>,
    pub subject: Option<UserId>,
    pub client: Option<&'a ClientInfo>,
    pub detail: Value,
}

impl<'a> AuditEvent<'a> {
    pub fn new(kind: AuditKind, tenant: TenantId) -> Self {
        Self {
            kind,
            tenant,
            actor: None,
            subject: None,
            client: None,
            detail: Value::Object(serde_json::Map::new()),
        }
    }

    pub fn actor(mut self, user: impl Into<Option<UserId>>) -> Self {
        self.actor = user.into();
        self
    }

    pub fn subject(mut self, user: UserId) -> Self {
        self.subject = Some(user);
        self
    }

    pub fn client(mut self, client: &'a ClientInfo) -> Self {
        self.client = Some(client);
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }

    /// The row to store, stamped now; for a caller that writes it together
    /// with what it records (a login's session), rather than through
    /// [`Audit::record`].
    pub fn into_record(self) -> AuditRecord {
        AuditRecord {
            id: uuid::Uuid::now_v7(),
            tenant_id: self.tenant,
            occurred_at: Utc::now(),
            kind: self.kind.as_str().to_owned(),
            actor: self.actor,
            subject: self.subject,
            ip: self.client.and_then(|c| c.ip).map(|ip| ip.to_string()),
            user_agent: self
                .client
                .and_then(ClientInfo::user_agent)
                .map(str::to_owned),
            detail: self.detail,
        }
    }
}

pub struct Audit {
    db: Db,
}

impl Audit {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn record(&self, event: AuditEvent<'_>) {
        let record = event.into_record();
        if let Err(e) = store::audit::insert(&self.db, &record).await {
            tracing::warn!(error = %e, kind = record.kind, "could not record an audit event");
        }
    }

    pub async fn list(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<(Vec<AuditRecord>, u64)> {
        Ok(store::audit::page(&self.db, tenant, filter, page).await?)
    }
}
