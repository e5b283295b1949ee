//! The append-only audit log.

use chrono::{DateTime, Utc};
use entity::audit_event;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::{StoreError, StoreResult};
use crate::domain::{Page, TenantId, UserId};

#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    pub occurred_at: DateTime<Utc>,
    pub kind: String,
    pub actor: Option<UserId>,
    pub subject: Option<UserId>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: serde_json::Value,
}

/// Which events to list; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// Events where this user acted or was acted upon.
    pub user: Option<UserId>,
    pub kind: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

pub async fn insert(db: &impl ConnectionTrait, record: &AuditRecord) -> StoreResult<()> {
    let row = audit_event::ActiveModel {
        id: Set(record.id),
        tenant_id: Set(record.tenant_id.0),
        occurred_at: Set(record.occurred_at),
        kind: Set(record.kind.clone()),
        actor_user_id: Set(record.actor.map(|u| u.0)),
        subject_user_id: Set(record.subject.map(|u| u.0)),
        ip: Set(record.ip.clone()),
        user_agent: Set(record.user_agent.clone()),
        detail: Set(record.detail.to_string()),
    };
    audit_event::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Newest first.
pub async fn page(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    filter: &AuditFilter,
    page: Page,
) -> StoreResult<(Vec<AuditRecord>, u64)> {
    let mut query = audit_event::Entity::find().filter(audit_event::Column::TenantId.eq(tenant.0));
    if let Some(user) = filter.user {
        query = query.filter(
            Condition::any()
                .add(audit_event::Column::ActorUserId.eq(user.0))
                .add(audit_event::Column::SubjectUserId.eq(user.0)),
        );
    }
    if let Some(kind) = &filter.kind {
        query = query.filter(audit_event::Column::Kind.eq(kind.as_str()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_event::Column::OccurredAt.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_event::Column::OccurredAt.lt(to));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(audit_event::Column::OccurredAt)
        .order_by_desc(audit_event::Column::Id)
        .offset(page.offset())
        .limit(page.limit())
        .all(db)
        .await?;
    let records = rows
        .into_iter()
        .map(|row| {
            Ok(AuditRecord {
                id: row.id,
                tenant_id: TenantId(row.tenant_id),
                occurred_at: row.occurred_at,
                kind: row.kind,
                actor: row.actor_user_id.map(UserId),
                subject: row.subject_user_id.map(UserId),
                ip: row.ip,
                user_agent: row.user_agent,
                detail: serde_json::from_str(&row.detail)
                    .map_err(|e| StoreError::Corrupt(format!("audit detail: {e}")))?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((records, total))
}

/// Deletes every event older than `before`; returns how many.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> StoreResult<u64> {
    let result = audit_event::Entity::delete_many()
        .filter(audit_event::Column::OccurredAt.lt(before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
