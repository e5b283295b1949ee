//! Sessions and the refresh tokens that keep them alive.

use chrono::{DateTime, Utc};
use entity::{refresh_token, session, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

use super::users::User;
use super::{Connection, StoreResult};
use crate::domain::{SessionId, TenantId, UserId};

#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Session {
    /// Not revoked and not past its absolute lifetime.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

impl From<session::Model> for Session {
    fn from(row: session::Model) -> Self {
        Self {
            id: SessionId(row.id),
            tenant_id: TenantId(row.tenant_id),
            user_id: UserId(row.user_id),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            ip: row.ip,
            user_agent: row.user_agent,
        }
    }
}

/// A refresh token row: which session it belongs to and whether it has
/// been rotated away.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub session_id: SessionId,
    pub retired_at: Option<DateTime<Utc>>,
}

pub async fn insert(db: &impl ConnectionTrait, session: &Session) -> StoreResult<()> {
    let row = session::ActiveModel {
        id: Set(session.id.0),
        tenant_id: Set(session.tenant_id.0),
        user_id: Set(session.user_id.0),
        created_at: Set(session.created_at),
        last_used_at: Set(session.last_used_at),
        expires_at: Set(session.expires_at),
        revoked_at: Set(session.revoked_at),
        ip: Set(session.ip.clone()),
        user_agent: Set(session.user_agent.clone()),
    };
    session::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn find(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    id: SessionId,
) -> StoreResult<Option<Session>> {
    Ok(session::Entity::find_by_id(id.0)
        .filter(session::Column::TenantId.eq(tenant.0))
        .all(db) // a unique key: no `.one` (module docs)
        .await?
        .pop()
        .map(Session::from))
}

/// The session and its user in one query: what every Bearer request needs.
pub async fn find_with_user(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    id: SessionId,
) -> StoreResult<Option<(Session, User)>> {
    let found = session::Entity::find_by_id(id.0)
        .filter(session::Column::TenantId.eq(tenant.0))
        .find_also_related(user::Entity)
        .all(db) // a unique key: no `.one` (module docs)
        .await?
        .pop();
    match found {
        Some((session, Some(user))) => Ok(Some((session.into(), User::try_from(user)?))),
        _ => Ok(None),
    }
}

/// The user's sessions that are not revoked, newest first. Expired ones
/// are left to the caller, which knows the time.
pub async fn list_unrevoked(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    user: UserId,
) -> StoreResult<Vec<Session>> {
    Ok(session::Entity::find()
        .filter(session::Column::TenantId.eq(tenant.0))
        .filter(session::Column::UserId.eq(user.0))
        .filter(session::Column::RevokedAt.is_null())
        .order_by_desc(session::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Session::from)
        .collect())
}

/// Revokes one live session; with `owner`, only if it belongs to that
/// user (a user revoking their own). `false` when there was none to revoke.
pub async fn revoke(
    db: &impl Connection,
    tenant: TenantId,
    id: SessionId,
    owner: Option<UserId>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let mut update = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(session::Column::TenantId.eq(tenant.0))
        .filter(session::Column::Id.eq(id.0))
        .filter(session::Column::RevokedAt.is_null());
    if let Some(user) = owner {
        update = update.filter(session::Column::UserId.eq(user.0));
    }
    let revoked = update.exec(db).await?.rows_affected == 1;
    db.auth_changed();
    Ok(revoked)
}

/// Revokes every live session of the user; returns how many.
pub async fn revoke_all(
    db: &impl Connection,
    tenant: TenantId,
    user: UserId,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let result = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(session::Column::TenantId.eq(tenant.0))
        .filter(session::Column::UserId.eq(user.0))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    db.auth_changed();
    Ok(result.rows_affected)
}

/// Records a refresh: when and from where the session was last used.
/// Only a live session is touched; `false` when it no longer is (revoked
/// or expired since it was read), so the caller can refuse the refresh.
pub async fn touch(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    id: SessionId,
    now: DateTime<Utc>,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> StoreResult<bool> {
    let result = session::Entity::update_many()
        .col_expr(session::Column::LastUsedAt, Expr::value(now))
        .col_expr(session::Column::Ip, Expr::value(ip.map(str::to_owned)))
        .col_expr(
            session::Column::UserAgent,
            Expr::value(user_agent.map(str::to_owned)),
        )
        .filter(session::Column::TenantId.eq(tenant.0))
        .filter(session::Column::Id.eq(id.0))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn insert_refresh_token(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    session: SessionId,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let row = refresh_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.0),
        session_id: Set(session.0),
        token_hash: Set(token_hash.to_owned()),
        created_at: Set(now),
        retired_at: Set(None),
    };
    refresh_token::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Retires the token if it is still live, as one conditional UPDATE: of
/// several concurrent callers exactly one gets its session back.
pub async fn retire_refresh_token(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<SessionId>> {
    let retired = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RetiredAt, Expr::value(now))
        .filter(refresh_token::Column::TenantId.eq(tenant.0))
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .filter(refresh_token::Column::RetiredAt.is_null())
        .exec_with_returning(db)
        .await?;
    Ok(retired.first().map(|row| SessionId(row.session_id)))
}

pub async fn find_refresh_token(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    token_hash: &str,
) -> StoreResult<Option<RefreshToken>> {
    Ok(refresh_token::Entity::find()
        .filter(refresh_token::Column::TenantId.eq(tenant.0))
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .all(db) // a unique key: no `.one` (module docs)
        .await?
        .pop()
        .map(|row| RefreshToken {
            session_id: SessionId(row.session_id),
            retired_at: row.retired_at,
        }))
}

/// How many of the tenant's sessions are live at `now`.
pub async fn count_live(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    Ok(session::Entity::find()
        .filter(session::Column::TenantId.eq(tenant.0))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .count(db)
        .await?)
}
