use chrono::{DateTime, Utc};
use entity::tenant;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::{Connection, StoreError, StoreResult};
use crate::domain::{Page, TenantId, TenantSettings, TenantSlug};

#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: TenantSlug,
    pub name: String,
    pub settings: TenantSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<tenant::Model> for Tenant {
    type Error = StoreError;

    fn try_from(row: tenant::Model) -> StoreResult<Self> {
        Ok(Self {
            id: TenantId(row.id),
            slug: TenantSlug::parse(&row.slug).map_err(StoreError::Corrupt)?,
            name: row.name,
            settings: serde_json::from_str(&row.settings)
                .map_err(|e| StoreError::Corrupt(format!("tenant settings: {e}")))?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn settings_json(settings: &TenantSettings) -> StoreResult<String> {
    serde_json::to_string(settings).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub async fn find_by_slug(
    db: &impl ConnectionTrait,
    slug: &TenantSlug,
) -> StoreResult<Option<Tenant>> {
    tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug.as_str()))
        .all(db) // a unique key: no `.one` (module docs)
        .await?
        .pop()
        .map(Tenant::try_from)
        .transpose()
}

pub async fn find(db: &impl ConnectionTrait, id: TenantId) -> StoreResult<Option<Tenant>> {
    tenant::Entity::find_by_id(id.0)
        .all(db) // a unique key: no `.one` (module docs)
        .await?
        .pop()
        .map(Tenant::try_from)
        .transpose()
}

pub async fn count(db: &impl ConnectionTrait) -> StoreResult<u64> {
    Ok(tenant::Entity::find().count(db).await?)
}

/// Fails with [`StoreError::UniqueViolation`] when the slug is taken.
pub async fn insert(db: &impl ConnectionTrait, tenant: &Tenant) -> StoreResult<()> {
    let row = tenant::ActiveModel {
        id: Set(tenant.id.0),
        slug: Set(tenant.slug.as_str().to_owned()),
        name: Set(tenant.name.clone()),
        settings: Set(settings_json(&tenant.settings)?),
        created_at: Set(tenant.created_at),
        updated_at: Set(tenant.updated_at),
    };
    tenant::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Tenants in slug order, with the total count.
pub async fn page(db: &impl ConnectionTrait, page: Page) -> StoreResult<(Vec<Tenant>, u64)> {
    let total = tenant::Entity::find().count(db).await?;
    let tenants = tenant::Entity::find()
        .order_by_asc(tenant::Column::Slug)
        .offset(page.offset())
        .limit(page.limit())
        .all(db)
        .await?
        .into_iter()
        .map(Tenant::try_from)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((tenants, total))
}

/// Writes name and settings back.
pub async fn update(db: &impl Connection, tenant: &Tenant) -> StoreResult<()> {
    let row = tenant::ActiveModel {
        id: Set(tenant.id.0),
        name: Set(tenant.name.clone()),
        settings: Set(settings_json(&tenant.settings)?),
        updated_at: Set(tenant.updated_at),
        ..Default::default()
    };
    tenant::Entity::update(row).exec(db).await?;
    db.auth_changed();
    Ok(())
}

/// Deletes the tenant and, by cascading foreign keys, everything it owns:
/// users, sessions, refresh tokens, keys, audit events.
pub async fn delete(db: &impl Connection, id: TenantId) -> StoreResult<bool> {
    let result = tenant::Entity::delete_by_id(id.0).exec(db).await?;
    db.auth_changed();
    Ok(result.rows_affected == 1)
}
