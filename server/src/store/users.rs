use chrono::{DateTime, Utc};
use entity::user;
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, ExprTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::{Connection, StoreError, StoreResult};
use crate::domain::{Email, Page, TenantId, UserId};

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
    /// Logins refused until then (too many failures); see `store::throttle`.
    pub locked_until: Option<DateTime<Utc>>,
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
            locked_until: row.locked_until,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Fails with [`StoreError::UniqueViolation`] when the tenant already has
/// a user with this email (`users_tenant_email_key`).
fn roles_json(roles: &[String]) -> StoreResult<String> {
    serde_json::to_string(roles).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub async fn insert(db: &impl ConnectionTrait, user: &User) -> StoreResult<()> {
    let roles = roles_json(&user.roles)?;
    let row = user::ActiveModel {
        id: Set(user.id.0),
        tenant_id: Set(user.tenant_id.0),
        email: Set(user.email.clone()),
        name: Set(user.name.clone()),
        password_hash: Set(user.password_hash.clone()),
        roles: Set(roles),
        email_verified: Set(user.email_verified),
        disabled: Set(user.disabled),
        locked_until: Set(user.locked_until),
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
        .all(db) // a unique key: no `.one` (module docs)
        .await?
        .pop()
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
        .all(db) // a unique key: no `.one` (module docs)
        .await?
        .pop()
        .map(User::try_from)
        .transpose()
}

/// Users of the tenant, oldest first, optionally those whose email or name
/// contains `search` (case-insensitive), with the total count.
pub async fn page(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    search: Option<&str>,
    page: Page,
) -> StoreResult<(Vec<User>, u64)> {
    let mut query = user::Entity::find().filter(user::Column::TenantId.eq(tenant.0));
    if let Some(search) = search {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        query = query.filter(
            Condition::any()
                .add(
                    Expr::col(user::Column::Email)
                        .like(sea_orm::sea_query::LikeExpr::new(&pattern).escape('\\')),
                )
                .add(
                    Expr::expr(Func::lower(Expr::col(user::Column::Name)))
                        .like(sea_orm::sea_query::LikeExpr::new(&pattern).escape('\\')),
                ),
        );
    }
    let total = query.clone().count(db).await?;
    let users = query
        .order_by_asc(user::Column::Id)
        .offset(page.offset())
        .limit(page.limit())
        .all(db)
        .await?
        .into_iter()
        .map(User::try_from)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((users, total))
}

/// How many of the tenant's users are locked out at `now`.
pub async fn count_locked(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant.0))
        .filter(user::Column::LockedUntil.gt(now))
        .count(db)
        .await?)
}

/// `%`, `_` and the escape character itself match literally.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Writes the user's mutable fields (name, roles, disabled, password hash,
/// verification) back.
pub async fn update(db: &impl Connection, user: &User) -> StoreResult<()> {
    let row = user::ActiveModel {
        id: Set(user.id.0),
        name: Set(user.name.clone()),
        roles: Set(roles_json(&user.roles)?),
        disabled: Set(user.disabled),
        locked_until: Set(user.locked_until),
        password_hash: Set(user.password_hash.clone()),
        email_verified: Set(user.email_verified),
        updated_at: Set(user.updated_at),
        ..Default::default()
    };
    user::Entity::update_many()
        .set(row)
        .filter(user::Column::TenantId.eq(user.tenant_id.0))
        .filter(user::Column::Id.eq(user.id.0))
        .exec(db)
        .await?;
    db.auth_changed();
    Ok(())
}

/// Deletes the user; their sessions and refresh tokens go with them
/// (foreign keys cascade). `false` when there was no such user.
pub async fn delete(db: &impl Connection, tenant: TenantId, id: UserId) -> StoreResult<bool> {
    let result = user::Entity::delete_many()
        .filter(user::Column::TenantId.eq(tenant.0))
        .filter(user::Column::Id.eq(id.0))
        .exec(db)
        .await?;
    db.auth_changed();
    Ok(result.rows_affected == 1)
}

/// Mirrors a lock (or its end) onto the user with this email, if any.
pub async fn set_locked_until(
    db: &impl Connection,
    tenant: TenantId,
    email: &str,
    until: Option<DateTime<Utc>>,
) -> StoreResult<()> {
    user::Entity::update_many()
        .col_expr(user::Column::LockedUntil, Expr::value(until))
        .filter(user::Column::TenantId.eq(tenant.0))
        .filter(user::Column::Email.eq(email))
        .exec(db)
        .await?;
    db.auth_changed();
    Ok(())
}
pub async fn set_password(
    db: &impl Connection,
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
    db.auth_changed();
    Ok(())
}

/// Records that the user proved they read mail at their address.
pub async fn mark_email_verified(
    db: &impl Connection,
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
    db.auth_changed();
    Ok(())
}
