//! Background deletion of what has outlived its use: audit events past
//! the retention, and failed-login counts whose window and lock are over
//! (random emails tried once would otherwise stay forever).

use std::time::Duration;

use chrono::Utc;

use crate::store::{self, Db};

/// How often housekeeping runs (and once at start).
const EVERY: Duration = Duration::from_secs(3600);

/// The longest lockout window a tenant may set: counts older than this
/// can no longer lead to a lock.
const LONGEST_WINDOW: chrono::Duration = chrono::Duration::days(1);

pub fn spawn(db: Db, audit_retention: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let now = Utc::now();
            let cutoff = now - chrono::Duration::from_std(audit_retention).unwrap_or_default();
            report("audit events", store::audit::prune(&db, cutoff).await);
            report(
                "failed-login counts",
                store::throttle::prune(&db, now, now - LONGEST_WINDOW).await,
            );
        }
    })
}

fn report(what: &str, result: store::StoreResult<u64>) {
    match result {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "pruned old {what}"),
        Err(e) => tracing::warn!(error = %e, "pruning {what} failed"),
    }
}
