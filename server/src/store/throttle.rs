//! Failed-login counting for account lockout. Keyed by (tenant, email)
//! whether or not the email names an account, so a lock reveals nothing.

use chrono::{DateTime, Utc};
use entity::login_throttle;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, QueryFilter,
};

use super::StoreResult;
use crate::domain::TenantId;

/// Until when logins for this email are refused, if they are.
pub async fn locked_until(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    email: &str,
) -> StoreResult<Option<DateTime<Utc>>> {
    Ok(
        login_throttle::Entity::find_by_id((tenant.0, email.to_owned()))
            .one(db)
            .await?
            .and_then(|row| row.locked_until),
    )
}

/// Counts one more failure. A window older than `window_start` restarts
/// at 1. Atomic per row (one UPDATE, or an upsert), so concurrent
/// failures are all counted. Returns the failures in the current window.
pub async fn record_failure(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    email: &str,
    now: DateTime<Utc>,
    window_start: DateTime<Utc>,
) -> StoreResult<u32> {
    let counted = login_throttle::Entity::update_many()
        .col_expr(
            login_throttle::Column::Failures,
            Expr::col(login_throttle::Column::Failures).add(1),
        )
        .filter(login_throttle::Column::TenantId.eq(tenant.0))
        .filter(login_throttle::Column::Email.eq(email))
        .filter(login_throttle::Column::WindowStartedAt.gte(window_start))
        .exec(db)
        .await?;
    if counted.rows_affected == 0 {
        let row = login_throttle::ActiveModel {
            tenant_id: Set(tenant.0),
            email: Set(email.to_owned()),
            failures: Set(1),
            window_started_at: Set(now),
            locked_until: Set(None),
        };
        login_throttle::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    login_throttle::Column::TenantId,
                    login_throttle::Column::Email,
                ])
                .update_columns([
                    login_throttle::Column::Failures,
                    login_throttle::Column::WindowStartedAt,
                    login_throttle::Column::LockedUntil,
                ])
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    let failures = login_throttle::Entity::find_by_id((tenant.0, email.to_owned()))
        .one(db)
        .await?
        .map_or(1, |row| row.failures);
    Ok(u32::try_from(failures).unwrap_or(0))
}

pub async fn lock(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    email: &str,
    until: DateTime<Utc>,
) -> StoreResult<()> {
    login_throttle::Entity::update_many()
        .col_expr(login_throttle::Column::LockedUntil, Expr::value(until))
        .filter(login_throttle::Column::TenantId.eq(tenant.0))
        .filter(login_throttle::Column::Email.eq(email))
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets the failures and any lock (a successful login, or an admin's unlock).
pub async fn clear(db: &impl ConnectionTrait, tenant: TenantId, email: &str) -> StoreResult<bool> {
    let result = login_throttle::Entity::delete_many()
        .filter(login_throttle::Column::TenantId.eq(tenant.0))
        .filter(login_throttle::Column::Email.eq(email))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}
