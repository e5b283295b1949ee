use chrono::{DateTime, Utc};
use entity::signing_key;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::StoreResult;
use crate::domain::TenantId;

/// A signing key as stored: the private half still sealed.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub tenant_id: TenantId,
    pub kid: String,
    pub algorithm: String,
    pub public_jwk: String,
    pub sealed_private_key: String,
    pub created_at: DateTime<Utc>,
    pub retire_at: Option<DateTime<Utc>>,
}

pub async fn insert(db: &impl ConnectionTrait, key: &StoredKey) -> StoreResult<()> {
    let row = signing_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(key.tenant_id.0),
        kid: Set(key.kid.clone()),
        algorithm: Set(key.algorithm.clone()),
        public_jwk: Set(key.public_jwk.clone()),
        private_key: Set(key.sealed_private_key.clone()),
        created_at: Set(key.created_at),
        retire_at: Set(key.retire_at),
    };
    signing_key::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The tenant's keys, newest first (ids are time-ordered v7).
pub async fn list(db: &impl ConnectionTrait, tenant: TenantId) -> StoreResult<Vec<StoredKey>> {
    let rows = signing_key::Entity::find()
        .filter(signing_key::Column::TenantId.eq(tenant.0))
        .order_by_desc(signing_key::Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| StoredKey {
            tenant_id: TenantId(row.tenant_id),
            kid: row.kid,
            algorithm: row.algorithm,
            public_jwk: row.public_jwk,
            sealed_private_key: row.private_key,
            created_at: row.created_at,
            retire_at: row.retire_at,
        })
        .collect())
}

/// Schedules the tenant's current key(s) to stop verifying at `retire_at`;
/// from now on they no longer sign.
pub async fn retire_current(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    retire_at: DateTime<Utc>,
) -> StoreResult<()> {
    signing_key::Entity::update_many()
        .col_expr(signing_key::Column::RetireAt, Expr::value(retire_at))
        .filter(signing_key::Column::TenantId.eq(tenant.0))
        .filter(signing_key::Column::RetireAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
