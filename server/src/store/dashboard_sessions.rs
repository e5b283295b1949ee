//! Dashboard sign-ins, looked up by the SHA-256 of their cookie.

use chrono::{DateTime, Utc};
use entity::{dashboard_session, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use super::users::User;
use super::{StoreResult, unless_user_gone};
use crate::domain::{TenantId, UserId};

#[derive(Debug, Clone)]
pub struct DashboardSession {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl From<dashboard_session::Model> for DashboardSession {
    fn from(row: dashboard_session::Model) -> Self {
        Self {
            id: row.id,
            tenant_id: TenantId(row.tenant_id),
            user_id: UserId(row.user_id),
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
            ip: row.ip,
            user_agent: row.user_agent,
        }
    }
}

/// Stores the session; `false` when its user is gone (deleted since the
/// caller read them).
pub async fn insert(
    db: &impl ConnectionTrait,
    session: &DashboardSession,
    token_hash: &str,
) -> StoreResult<bool> {
    let row = dashboard_session::ActiveModel {
        id: Set(session.id),
        tenant_id: Set(session.tenant_id.0),
        user_id: Set(session.user_id.0),
        token_hash: Set(token_hash.to_owned()),
        created_at: Set(session.created_at),
        last_seen_at: Set(session.last_seen_at),
        expires_at: Set(session.expires_at),
        ip: Set(session.ip.clone()),
        user_agent: Set(session.user_agent.clone()),
    };
    let result = dashboard_session::Entity::insert(row).exec_without_returning(db);
    unless_user_gone(result.await.map(|_| true))
}

/// The session with this cookie hash and its user, in one query.
pub async fn find_with_user(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> StoreResult<Option<(DashboardSession, User)>> {
    let found = dashboard_session::Entity::find()
        .filter(dashboard_session::Column::TokenHash.eq(token_hash))
        .find_also_related(user::Entity)
        .all(db) // a unique key: no `.one` (module docs)
        .await?
        .pop();
    match found {
        Some((session, Some(user))) => Ok(Some((session.into(), User::try_from(user)?))),
        _ => Ok(None),
    }
}

/// Records activity, for the idle timeout.
pub async fn touch(db: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
    dashboard_session::Entity::update_many()
        .col_expr(dashboard_session::Column::LastSeenAt, Expr::value(now))
        .filter(dashboard_session::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends the session with this cookie hash; `false` when there was none.
pub async fn delete(db: &impl ConnectionTrait, token_hash: &str) -> StoreResult<bool> {
    let result = dashboard_session::Entity::delete_many()
        .filter(dashboard_session::Column::TokenHash.eq(token_hash))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Deletes the user's sessions that are past either timeout: rows that
/// would only ever be refused again.
pub async fn delete_stale(
    db: &impl ConnectionTrait,
    user: UserId,
    expired_before: DateTime<Utc>,
    idle_before: DateTime<Utc>,
) -> StoreResult<u64> {
    let result = dashboard_session::Entity::delete_many()
        .filter(dashboard_session::Column::UserId.eq(user.0))
        .filter(
            Condition::any()
                .add(dashboard_session::Column::ExpiresAt.lte(expired_before))
                .add(dashboard_session::Column::LastSeenAt.lt(idle_before)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
