//! Account lockout: failed-login counts per (tenant, email), whether or not
//! the email names an account, and the lock mirrored on the user row so
//! rendering a user needs no second query.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginThrottle::Table)
                    .col(uuid(LoginThrottle::TenantId))
                    .col(string_len(LoginThrottle::Email, 254))
                    .col(integer(LoginThrottle::Failures))
                    .col(timestamp_with_time_zone(LoginThrottle::WindowStartedAt))
                    .col(timestamp_with_time_zone_null(LoginThrottle::LockedUntil))
                    .primary_key(
                        Index::create()
                            .col(LoginThrottle::TenantId)
                            .col(LoginThrottle::Email),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("login_throttle_tenant_fk")
                            .from(LoginThrottle::Table, LoginThrottle::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(timestamp_with_time_zone_null(Users::LockedUntil))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::LockedUntil)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(LoginThrottle::Table).to_owned())
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
    LockedUntil,
}

#[derive(DeriveIden)]
enum LoginThrottle {
    Table,
    TenantId,
    Email,
    Failures,
    WindowStartedAt,
    LockedUntil,
}
