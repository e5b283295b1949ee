//! Single-use tokens mailed to users: password reset and email
//! verification. Stored only as hashes; see `service::tokens`.

use chrono::{DateTime, Utc};
use entity::user_token;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{StoreResult, unless_user_gone};
use crate::domain::{TenantId, UserId};

/// What a token is for. A token is only ever looked up with its own kind
/// (and its hash covers the kind), so none is accepted where another is
/// expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserTokenKind {
    PasswordReset,
    EmailVerification,
}

impl UserTokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
        }
    }
}

pub struct NewUserToken<'a> {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub kind: UserTokenKind,
    pub token_hash: &'a str,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Stores the token; `false` when its user is gone (deleted since the
/// caller read them).
pub async fn insert(db: &impl ConnectionTrait, token: &NewUserToken<'_>) -> StoreResult<bool> {
    let row = user_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(token.tenant_id.0),
        user_id: Set(token.user_id.0),
        kind: Set(token.kind.as_str().to_owned()),
        token_hash: Set(token.token_hash.to_owned()),
        created_at: Set(token.created_at),
        expires_at: Set(token.expires_at),
        used_at: Set(None),
    };
    let result = user_token::Entity::insert(row).exec_without_returning(db);
    unless_user_gone(result.await.map(|_| true))
}

/// Deletes the user's tokens of this kind: issuing a new one invalidates
/// the earlier ones, and a used reset token must not leave siblings alive.
pub async fn delete_for_user(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    user: UserId,
    kind: UserTokenKind,
) -> StoreResult<u64> {
    let result = user_token::Entity::delete_many()
        .filter(user_token::Column::TenantId.eq(tenant.0))
        .filter(user_token::Column::UserId.eq(user.0))
        .filter(user_token::Column::Kind.eq(kind.as_str()))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// The user a live (unused, unexpired) token belongs to, without using it
/// up: what the hosted pages check on GET.
pub async fn find_live(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    kind: UserTokenKind,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<UserId>> {
    Ok(user_token::Entity::find()
        .filter(user_token::Column::TenantId.eq(tenant.0))
        .filter(user_token::Column::Kind.eq(kind.as_str()))
        .filter(user_token::Column::TokenHash.eq(token_hash))
        .filter(user_token::Column::UsedAt.is_null())
        .filter(user_token::Column::ExpiresAt.gt(now))
        .all(db) // a unique key: no `.one` (module docs)
        .await?
        .pop()
        .map(|row| UserId(row.user_id)))
}

/// Uses the token up if it is live and belongs to `user`, as one
/// conditional UPDATE: of several concurrent callers exactly one sees
/// `true`. On SQLite it also takes the write lock first thing in the
/// transaction.
pub async fn consume(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    user: UserId,
    kind: UserTokenKind,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let result = user_token::Entity::update_many()
        .col_expr(user_token::Column::UsedAt, Expr::value(now))
        .filter(user_token::Column::TenantId.eq(tenant.0))
        .filter(user_token::Column::UserId.eq(user.0))
        .filter(user_token::Column::Kind.eq(kind.as_str()))
        .filter(user_token::Column::TokenHash.eq(token_hash))
        .filter(user_token::Column::UsedAt.is_null())
        .filter(user_token::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
