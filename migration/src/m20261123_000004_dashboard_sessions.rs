//! Dashboard sign-ins: a session per browser, kept apart from API sessions
//! and tokens. Only the SHA-256 of the cookie's random id is stored.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DashboardSessions::Table)
                    .col(pk_uuid(DashboardSessions::Id))
                    .col(uuid(DashboardSessions::TenantId))
                    .col(uuid(DashboardSessions::UserId))
                    .col(string_len_uniq(DashboardSessions::TokenHash, 64))
                    .col(timestamp_with_time_zone(DashboardSessions::CreatedAt))
                    .col(timestamp_with_time_zone(DashboardSessions::LastSeenAt))
                    .col(timestamp_with_time_zone(DashboardSessions::ExpiresAt))
                    .col(string_len_null(DashboardSessions::Ip, 64))
                    .col(string_len_null(DashboardSessions::UserAgent, 512))
                    .foreign_key(
                        ForeignKey::create()
                            .name("dashboard_sessions_tenant_fk")
                            .from(DashboardSessions::Table, DashboardSessions::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("dashboard_sessions_user_fk")
                            .from(DashboardSessions::Table, DashboardSessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Signing in drops the expired sessions of the same user.
        manager
            .create_index(
                Index::create()
                    .name("dashboard_sessions_user_idx")
                    .table(DashboardSessions::Table)
                    .col(DashboardSessions::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DashboardSessions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum DashboardSessions {
    Table,
    Id,
    TenantId,
    UserId,
    TokenHash,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    Ip,
    UserAgent,
}
