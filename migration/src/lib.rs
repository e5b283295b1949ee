//! Schema migrations, one file per change. A migration never imports the
//! `entity` crate and is never edited after it lands: later changes get a
//! new file, so history replays the same on every database.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_core;
mod m20261123_000002_audit;
mod m20261123_000003_password_lifecycle;
mod m20261123_000004_dashboard_sessions;
mod m20261123_000005_lockout;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_core::Migration),
            Box::new(m20261123_000002_audit::Migration),
            Box::new(m20261123_000003_password_lifecycle::Migration),
            Box::new(m20261123_000004_dashboard_sessions::Migration),
            Box::new(m20261123_000005_lockout::Migration),
        ]
    }
}
