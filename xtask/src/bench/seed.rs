//! Bench users, written straight into the database the server uses, and
//! the argon2 figures the login targets are judged against.
//!
//! Creating users through the API would cost one argon2 hash each (10,000
//! users ≈ 3 minutes here). They all get one hash computed once, with the
//! parameters the server runs with, and are inserted in batches through
//! the server's own entities, so the rows are exactly what it writes.

use std::time::{Duration, Instant};

use anyhow::Context;
use argon2::password_hash::PasswordHasher as _;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use chrono::Utc;
use entity::user;
use portcullis::config::Argon2Config;
use portcullis::domain::{Limit, RateLimits, TenantSlug};
use portcullis::store::Db;
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;
use uuid::Uuid;

/// Every bench user's password.
pub const PASSWORD: &str = "bench password 1234";

/// Rows per INSERT: 10 columns each stays far below SQLite's and
/// PostgreSQL's bound-parameter limits.
const BATCH: u64 = 1_000;

pub fn email(index: u64) -> String {
    format!("user{index}@bench.test")
}

fn argon2(config: Argon2Config) -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(
        config.memory_kib,
        config.iterations,
        config.parallelism,
        None,
    )
    .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A PHC string for [`PASSWORD`], and how long one hash took.
fn hash_once(argon2: &Argon2<'static>) -> anyhow::Result<(String, Duration)> {
    let started = Instant::now();
    let hash = argon2
        .hash_password(PASSWORD.as_bytes())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
        .to_string();
    Ok((hash, started.elapsed()))
}

pub fn password_hash(config: Argon2Config) -> anyhow::Result<String> {
    Ok(hash_once(&argon2(config)?)?.0)
}

/// Times of single argon2id hashes with the server's parameters (a verify
/// costs the same), `samples` on each of `threads` threads hashing at once.
/// Each runs on a plain thread into memory it keeps, as the server's
/// hashing threads do: a fresh 19 MiB per hash would add its page faults
/// and understate the ceiling. With one thread this is the ceiling's
/// measure; with every core busy, hashes are slower where cores share
/// caches and memory bandwidth, and that is what the server meets under
/// load.
pub fn hash_times(
    config: Argon2Config,
    threads: usize,
    samples: usize,
) -> anyhow::Result<Vec<Duration>> {
    let argon2 = argon2(config)?;
    let hash_on_one_thread = || {
        let mut memory = vec![Block::default(); argon2.params().block_count()];
        let mut out = [0u8; 32];
        let mut time_one = || {
            let started = Instant::now();
            argon2
                .hash_password_into_with_memory(
                    PASSWORD.as_bytes(),
                    b"bench salt",
                    &mut out,
                    &mut memory,
                )
                .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
            anyhow::Ok(started.elapsed())
        };
        // The first hash touches the memory for the first time; not timed.
        time_one()?;
        (0..samples)
            .map(|_| time_one())
            .collect::<anyhow::Result<Vec<_>>>()
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| scope.spawn(hash_on_one_thread))
            .collect();
        let mut times = Vec::new();
        for handle in handles {
            let thread_times = handle
                .join()
                .map_err(|_| anyhow::anyhow!("a hashing thread panicked"))??;
            times.extend(thread_times);
        }
        anyhow::Ok(times)
    })
}

pub async fn tenant_id(db: &Db, slug: &str) -> anyhow::Result<Uuid> {
    let slug = TenantSlug::parse(slug).map_err(anyhow::Error::msg)?;
    let tenant = portcullis::store::tenants::find_by_slug(db, &slug)
        .await?
        .with_context(|| format!("no tenant `{slug}` (did the server bootstrap?)"))?;
    Ok(tenant.id.0)
}

/// Sets the tenant's rate limits. The throughput scenarios come from one
/// IP at thousands of requests a second, far past the defaults; the
/// key-flood scenario measures the limiters' memory.
pub async fn set_rate_limits(db: &Db, slug: &str, limits: RateLimits) -> anyhow::Result<()> {
    let slug = TenantSlug::parse(slug).map_err(anyhow::Error::msg)?;
    let mut tenant = portcullis::store::tenants::find_by_slug(db, &slug)
        .await?
        .with_context(|| format!("no tenant `{slug}`"))?;
    tenant.settings.rate_limits = limits;
    portcullis::store::tenants::update(db, &tenant).await?;
    Ok(())
}

/// Every limit at `limit`.
pub fn all_limits(limit: Limit) -> RateLimits {
    RateLimits {
        login_per_ip: limit,
        login_per_email: limit,
        register_per_ip: limit,
        forgot_password_per_ip: limit,
        forgot_password_per_email: limit,
        refresh_per_session: limit,
        requests_per_ip: limit,
    }
}

/// Inserts users `0..to` (emails `user{i}@bench.test`, role `user`,
/// verified) into `tenant`, one transaction per batch.
pub async fn users(db: &Db, tenant: Uuid, hash: &str, to: u64) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut start = 0;
    while start < to {
        let end = (start + BATCH).min(to);
        let rows = (start..end).map(|i| user::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant),
            email: Set(email(i)),
            name: Set(Some(format!("Bench User {i}"))),
            password_hash: Set(Some(hash.to_owned())),
            roles: Set(r#"["user"]"#.to_owned()),
            email_verified: Set(true),
            disabled: Set(false),
            locked_until: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        });
        let txn = db.begin().await?;
        user::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        start = end;
    }
    Ok(())
}
