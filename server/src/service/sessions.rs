//! A user's view of their own sessions.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;

use super::audit::{Audit, AuditEvent, AuditKind};

use super::auth::Principal;
use super::tenants::TenantContext;
use crate::domain::SessionId;
use crate::error::{Error, Result};
use crate::store::sessions::Session;
use crate::store::{self, Db};

pub struct Sessions {
    db: Db,
    audit: Arc<Audit>,
}

impl Sessions {
    pub fn new(db: Db, audit: Arc<Audit>) -> Self {
        Self { db, audit }
    }

    /// The caller's live sessions, newest first, each with whether it is
    /// the caller's own.
    pub async fn list_own(
        &self,
        tenant: &TenantContext,
        principal: &Principal,
    ) -> Result<Vec<(Session, bool)>> {
        let now = Utc::now();
        let sessions =
            store::sessions::list_unrevoked(&self.db, tenant.id(), principal.user.id).await?;
        Ok(sessions
            .into_iter()
            .filter(|s| s.is_live(now))
            .map(|s| {
                let current = s.id == principal.session_id;
                (s, current)
            })
            .collect())
    }

    /// Revokes one of the caller's sessions (the current one included: that
    /// is a logout). Another user's session is `not_found`, as if absent.
    pub async fn revoke_own(
        &self,
        tenant: &TenantContext,
        principal: &Principal,
        id: SessionId,
    ) -> Result<()> {
        let revoked = store::sessions::revoke(
            &self.db,
            tenant.id(),
            id,
            Some(principal.user.id),
            Utc::now(),
        )
        .await?;
        if revoked {
            tracing::info!(session_id = %id, "session revoked by its user");
            self.audit
                .record(
                    AuditEvent::new(AuditKind::SessionRevoked, tenant.id())
                        .actor(principal.user.id)
                        .subject(principal.user.id)
                        .detail(json!({"sessionId": id.0})),
                )
                .await;
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }
}
