//! Per-tenant rate limits (governor's GCRA, a token bucket without a
//! timer). Each tenant and kind of limit has its own keyed limiter, so one
//! tenant's traffic never uses up another's budget; keys are a client IP,
//! an email or a session id.
//!
//! The state lives in this process. With several instances behind a load
//! balancer each keeps its own count, so a client spread over `n`
//! instances gets up to `n` times a limit (README: "Several instances").
//! Lockout, which must hold everywhere, is stored in the database instead.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::domain::{Limit, RateLimits, TenantId};
use crate::error::{Error, Result, Throttled};

/// What a limit counts, each with its own budget in `RateLimits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    LoginPerIp,
    LoginPerEmail,
    RegisterPerIp,
    ForgotPasswordPerIp,
    ForgotPasswordPerEmail,
    RefreshPerSession,
    RequestsPerIp,
}

impl LimitKind {
    fn limit(self, limits: &RateLimits) -> Limit {
        match self {
            Self::LoginPerIp => limits.login_per_ip,
            Self::LoginPerEmail => limits.login_per_email,
            Self::RegisterPerIp => limits.register_per_ip,
            Self::ForgotPasswordPerIp => limits.forgot_password_per_ip,
            Self::ForgotPasswordPerEmail => limits.forgot_password_per_email,
            Self::RefreshPerSession => limits.refresh_per_session,
            Self::RequestsPerIp => limits.requests_per_ip,
        }
    }
}

type Keyed =
    RateLimiter<String, DashMapStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// One limiter, and the setting it was built from: a changed setting gets
/// a fresh limiter (and forgets the old counts).
struct Limiter {
    limit: Limit,
    keys: Keyed,
}

#[derive(Default)]
pub struct RateLimiters {
    clock: DefaultClock,
    limiters: RwLock<HashMap<(TenantId, LimitKind), Arc<Limiter>>>,
}

impl RateLimiters {
    /// Counts one request for `key`; over the limit, `Error::RateLimited`.
    pub fn check(
        &self,
        tenant: TenantId,
        limits: &RateLimits,
        kind: LimitKind,
        key: &str,
    ) -> Result<()> {
        let limit = kind.limit(limits);
        let Some(limiter) = self.limiter(tenant, kind, limit) else {
            // A limit the settings validation would refuse (max 0): treat
            // it as no limit rather than refusing every request.
            return Ok(());
        };
        match limiter.keys.check_key(&key.to_owned()) {
            Ok(_) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Err(Error::RateLimited(Throttled {
                    limit: limit.max,
                    retry_after_secs: whole_seconds(wait),
                }))
            }
        }
    }

    /// `check` keyed by a client IP, if the request has one. IPv6 clients
    /// are keyed by their /64: one host usually holds the whole prefix and
    /// could otherwise pick a fresh address per request.
    pub fn check_ip(
        &self,
        tenant: TenantId,
        limits: &RateLimits,
        kind: LimitKind,
        ip: Option<IpAddr>,
    ) -> Result<()> {
        match ip {
            Some(ip) => self.check(tenant, limits, kind, &ip_key(ip)),
            None => Ok(()),
        }
    }

    fn limiter(&self, tenant: TenantId, kind: LimitKind, limit: Limit) -> Option<Arc<Limiter>> {
        let key = (tenant, kind);
        if let Ok(map) = self.limiters.read()
            && let Some(found) = map.get(&key).filter(|l| l.limit == limit)
        {
            return Some(Arc::clone(found));
        }
        let quota = quota(limit)?;
        let fresh = Arc::new(Limiter {
            limit,
            keys: RateLimiter::dashmap_with_clock(quota, self.clock.clone())
                .with_middleware::<StateInformationMiddleware>(),
        });
        let mut map = self.limiters.write().ok()?;
        // Another request may have built it meanwhile; keep the first.
        let entry = map.entry(key).or_insert_with(|| Arc::clone(&fresh));
        if entry.limit != limit {
            *entry = fresh;
        }
        Some(Arc::clone(entry))
    }

    /// Forgets keys whose budget is full again (idle for a whole period),
    /// so random IPs or emails cannot grow memory without bound. Returns
    /// how many keys are still tracked.
    pub fn forget_idle(&self) -> usize {
        let Ok(map) = self.limiters.read() else {
            return 0;
        };
        map.values()
            .map(|limiter| {
                limiter.keys.retain_recent();
                limiter.keys.shrink_to_fit();
                limiter.keys.len()
            })
            .sum()
    }

    /// How many keys the limiters track now.
    pub fn tracked_keys(&self) -> usize {
        self.limiters
            .read()
            .map_or(0, |map| map.values().map(|l| l.keys.len()).sum())
    }

    /// Runs [`Self::forget_idle`] every `every` until the task is aborted.
    pub fn spawn_janitor(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let limiters = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let tracked = limiters.forget_idle();
                tracing::debug!(tracked, "rate-limit keys after forgetting idle ones");
            }
        })
    }
}

/// `max` requests per `per_seconds`, all of them usable in one burst.
fn quota(limit: Limit) -> Option<Quota> {
    let max = NonZeroU32::new(limit.max)?;
    let period = Duration::from_secs(u64::from(limit.per_seconds)) / limit.max;
    Some(Quota::with_period(period)?.allow_burst(max))
}

fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Rounded up, and at least 1: `Retry-After: 0` would invite a retry storm.
fn whole_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: u32, per_seconds: u32) -> RateLimits {
        RateLimits {
            login_per_email: Limit { max, per_seconds },
            ..RateLimits::default()
        }
    }

    #[test]
    fn allows_the_burst_then_refuses_with_a_wait() {
        let limiters = RateLimiters::default();
        let tenant = TenantId(uuid::Uuid::now_v7());
        let settings = limits(3, 3600);
        for _ in 0..3 {
            limiters
                .check(tenant, &settings, LimitKind::LoginPerEmail, "a@x.io")
                .unwrap();
        }
        let Err(Error::RateLimited(throttled)) =
            limiters.check(tenant, &settings, LimitKind::LoginPerEmail, "a@x.io")
        else {
            panic!("the fourth request passed");
        };
        assert_eq!(throttled.limit, 3);
        assert!((1_190..=1_200).contains(&throttled.retry_after_secs));
        // Other keys, kinds and tenants have their own budgets.
        limiters
            .check(tenant, &settings, LimitKind::LoginPerEmail, "b@x.io")
            .unwrap();
        limiters
            .check(
                tenant,
                &settings,
                LimitKind::ForgotPasswordPerEmail,
                "a@x.io",
            )
            .unwrap();
        let other = TenantId(uuid::Uuid::now_v7());
        limiters
            .check(other, &settings, LimitKind::LoginPerEmail, "a@x.io")
            .unwrap();
    }

    #[test]
    fn a_changed_setting_takes_effect() {
        let limiters = RateLimiters::default();
        let tenant = TenantId(uuid::Uuid::now_v7());
        limiters
            .check(tenant, &limits(1, 60), LimitKind::LoginPerEmail, "a@x.io")
            .unwrap();
        assert!(
            limiters
                .check(tenant, &limits(1, 60), LimitKind::LoginPerEmail, "a@x.io")
                .is_err()
        );
        limiters
            .check(tenant, &limits(5, 60), LimitKind::LoginPerEmail, "a@x.io")
            .unwrap();
    }

    #[test]
    fn ipv6_hosts_are_keyed_by_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(ip_key(mapped), "10.0.0.1");
    }

    #[test]
    fn rounds_waits_up() {
        assert_eq!(whole_seconds(Duration::from_millis(10)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1_500)), 2);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
    }
}
