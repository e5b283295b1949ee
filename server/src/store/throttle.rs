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

/// The failures counted for an email, and until when it is locked.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    pub failures: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

/// `None` when the email has no failure on record.
pub async fn find(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    email: &str,
) -> StoreResult<Option<Throttle>> {
    Ok(
        login_throttle::Entity::find_by_id((tenant.0, email.to_owned()))
            .all(db) // a unique key: no `.one` (module docs)
            .await?
            .pop()
            .map(|row| Throttle {
                failures: u32::try_from(row.failures).unwrap_or(0),
                locked_until: row.locked_until,
            }),
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
        .all(db) // a unique key: no `.one` (module docs)
        .await?
        .pop()
        .map_or(1, |row| row.failures);
    Ok(u32::try_from(failures).unwrap_or(0))
}

/// Locks the email until `until`. The count starts again from zero at
/// the end of the lock, so one more failure then does not lock it again.
pub async fn lock(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    email: &str,
    until: DateTime<Utc>,
) -> StoreResult<()> {
    login_throttle::Entity::update_many()
        .col_expr(login_throttle::Column::LockedUntil, Expr::value(until))
        .col_expr(login_throttle::Column::Failures, Expr::value(0))
        .col_expr(login_throttle::Column::WindowStartedAt, Expr::value(until))
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

/// Deletes counts whose window started before `stale` and that hold no
/// lock after `now`. Returns how many went.
pub async fn prune(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    stale: DateTime<Utc>,
) -> StoreResult<u64> {
    let result = login_throttle::Entity::delete_many()
        .filter(login_throttle::Column::WindowStartedAt.lt(stale))
        .filter(
            login_throttle::Column::LockedUntil
                .is_null()
                .or(login_throttle::Column::LockedUntil.lt(now)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
