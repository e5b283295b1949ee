use sea_orm::entity::prelude::*;

/// A signed-in dashboard browser. Separate from `sessions`: it holds no
/// refresh token and is never accepted by the API.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dashboard_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The tenant the administrator signed in to (`system` for superadmins).
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    /// Hex SHA-256 of the cookie's value; the value itself is never stored.
    #[sea_orm(unique)]
    pub token_hash: String,
    pub created_at: DateTimeUtc,
    /// For the idle timeout.
    pub last_seen_at: DateTimeUtc,
    /// The absolute timeout: activity never extends it.
    pub expires_at: DateTimeUtc,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
