use chrono::{DateTime, Utc};
use entity::user;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::{StoreError, StoreResult};
use crate::domain::{Email, TenantId, UserId};

#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    /// Stored trimmed and lower-cased, as [`Email`] made it.
    pub email: String,
    pub name: Option<String>,
    pub password_hash: Option<String>,
    pub roles: Vec<String>,
    pub email_verified: bool,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<user::Model> for User {
    type Error = StoreError;

    fn try_from(row: user::Model) -> StoreResult<Self> {
        Ok(Self {
            id: UserId(row.id),
            tenant_id: TenantId(row.tenant_id),
            email: row.email,
            name: row.name,
            password_hash: row.password_hash,
            roles: serde_json::from_str(&row.roles)
                .map_err(|e| StoreError::Corrupt(format!("user roles: {e}")))?,
            email_verified: row.email_verified,
            disabled: row.disabled,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Fails with [`StoreError::UniqueViolation`] when the tenant already has
/// a user with this email (`users_tenant_email_key`).
pub async fn insert(db: &impl ConnectionTrait, user: &User) -> StoreResult<()> {
    let roles =
        serde_json::to_string(&user.roles).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let row = user::ActiveModel {
        id: Set(user.id.0),
        tenant_id: Set(user.tenant_id.0),
        email: Set(user.email.clone()),
        name: Set(user.name.clone()),
        password_hash: Set(user.password_hash.clone()),
        roles: Set(roles),
        email_verified: Set(user.email_verified),
        disabled: Set(user.disabled),
        created_at: Set(user.created_at),
        updated_at: Set(user.updated_at),
    };
    user::Entity::insert(row).exec_without_returning(db).await?;
    Ok(())
}

pub async fn find(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    id: UserId,
) -> StoreResult<Option<User>> {
    user::Entity::find_by_id(id.0)
        .filter(user::Column::TenantId.eq(tenant.0))
        .one(db)
        .await?
        .map(User::try_from)
        .transpose()
}

pub async fn find_by_email(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    email: &Email,
) -> StoreResult<Option<User>> {
    user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant.0))
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db)
        .await?
        .map(User::try_from)
        .transpose()
}

/// Replaces the password hash.
pub async fn set_password(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    id: UserId,
    password_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    user::Entity::update_many()
        .col_expr(
            user::Column::PasswordHash,
            Expr::value(password_hash.to_owned()),
        )
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::TenantId.eq(tenant.0))
        .filter(user::Column::Id.eq(id.0))
        .exec(db)
        .await?;
    Ok(())
}

/// Records that the user proved they read mail at their address.
pub async fn mark_email_verified(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    id: UserId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    user::Entity::update_many()
        .col_expr(user::Column::EmailVerified, Expr::value(true))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::TenantId.eq(tenant.0))
        .filter(user::Column::Id.eq(id.0))
        .filter(user::Column::EmailVerified.eq(false))
        .exec(db)
        .await?;
    Ok(())
}
