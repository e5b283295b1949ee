//! Failed-login counting for account lockout. Keyed by (tenant, email)
//! whether or not the email names an account, so a lock reveals nothing.

use chrono::{DateTime, Utc};
use entity::{login_throttle, user};
use sea_orm::sea_query::{Condition, Expr, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, FromQueryResult,
    Iterable, QueryFilter,
};

use super::StoreResult;
use super::users::User;
use crate::domain::{Email, TenantId};

/// The failures counted for an email, and until when it is locked.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    pub failures: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

/// Aliases of the throttle's columns next to the user's.
const THROTTLE_FAILURES: &str = "throttle_failures";
const THROTTLE_LOCKED_UNTIL: &str = "throttle_locked_until";

/// What a sign-in reads before it hashes, in one query: the email's
/// failures on record (`None`: none) and the account it names (`None`:
/// none). One row always comes back, joined to both tables from a
/// one-row table, so a known and an unknown email cost the same.
pub async fn find_with_user(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    email: &Email,
) -> StoreResult<(Option<Throttle>, Option<User>)> {
    let matches = |tenant_column: Expr, email_column: Expr| {
        Condition::all()
            .add(tenant_column.eq(tenant.0))
            .add(email_column.eq(email.as_str()))
    };
    let query = Query::select()
        // Each column by name, not `users.*`: SQLite expands `*` again when
        // it re-prepares a statement after a schema change, and sqlx kept
        // the column count of the first preparation (a panic in its row
        // decoding, seen once in the test suite).
        .columns(user::Column::iter().map(|column| (user::Entity, column)))
        .expr_as(
            Expr::col((login_throttle::Entity, login_throttle::Column::Failures)),
            THROTTLE_FAILURES,
        )
        .expr_as(
            Expr::col((login_throttle::Entity, login_throttle::Column::LockedUntil)),
            THROTTLE_LOCKED_UNTIL,
        )
        .from_subquery(Query::select().expr(Expr::cust("1")).to_owned(), "one_row")
        .left_join(
            user::Entity,
            matches(
                Expr::col((user::Entity, user::Column::TenantId)),
                Expr::col((user::Entity, user::Column::Email)),
            ),
        )
        .left_join(
            login_throttle::Entity,
            matches(
                Expr::col((login_throttle::Entity, login_throttle::Column::TenantId)),
                Expr::col((login_throttle::Entity, login_throttle::Column::Email)),
            ),
        )
        .to_owned();
    let Some(row) = db.query_one(&query).await? else {
        return Ok((None, None));
    };
    let throttle = match row.try_get::<Option<i32>>("", THROTTLE_FAILURES)? {
        Some(failures) => Some(Throttle {
            failures: u32::try_from(failures).unwrap_or(0),
            locked_until: row.try_get("", THROTTLE_LOCKED_UNTIL)?,
        }),
        None => None,
    };
    // The users columns come unprefixed; a missing account leaves them NULL.
    let user = match row.try_get::<Option<uuid::Uuid>>("", "id")? {
        Some(_) => Some(User::try_from(user::Model::from_query_result(&row, "")?)?),
        None => None,
    };
    Ok((throttle, user))
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
