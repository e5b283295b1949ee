//! Counters for `GET /metrics` (Prometheus text format). Kept to what an
//! operator of an identity server watches: answers by status class (429s
//! and 503s show limits and shedding at work), the rate limiters' tracked
//! keys (memory under a flood of random IPs or emails), and uptime.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

pub struct Metrics {
    started: Instant,
    /// Answers by status class: index 0 is 1xx ... 4 is 5xx.
    responses: [AtomicU64; 5],
    too_many_requests: AtomicU64,
    unavailable: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            responses: Default::default(),
            too_many_requests: AtomicU64::new(0),
            unavailable: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub fn count_response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
        match status {
            429 => self.too_many_requests.fetch_add(1, Ordering::Relaxed),
            503 => self.unavailable.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }

    /// The exposition text; `rate_limit_keys` is read by the caller from
    /// the limiters.
    pub fn render(&self, rate_limit_keys: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP portcullis_http_responses_total HTTP answers by status class.\n\
             # TYPE portcullis_http_responses_total counter"
        );
        for (i, count) in self.responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "portcullis_http_responses_total{{class=\"{}xx\"}} {}",
                i + 1,
                count.load(Ordering::Relaxed)
            );
        }
        let counters = [
            (
                "portcullis_http_429_total",
                "Answers 429 (rate_limited, account_locked).",
                self.too_many_requests.load(Ordering::Relaxed),
            ),
            (
                "portcullis_http_503_total",
                "Answers 503 (database unreachable, hashing saturated, request timeout).",
                self.unavailable.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP portcullis_rate_limit_keys Keys (IPs, emails, sessions) the rate limiters track.\n\
             # TYPE portcullis_rate_limit_keys gauge\nportcullis_rate_limit_keys {rate_limit_keys}"
        );
        let _ = writeln!(
            out,
            "# HELP portcullis_uptime_seconds Seconds since the process started.\n\
             # TYPE portcullis_uptime_seconds gauge\nportcullis_uptime_seconds {}",
            self.started.elapsed().as_secs()
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_class_and_renders() {
        let metrics = Metrics::default();
        for status in [200, 204, 429, 503, 404] {
            metrics.count_response(status);
        }
        let text = metrics.render(7);
        assert!(text.contains("portcullis_http_responses_total{class=\"2xx\"} 2"));
        assert!(text.contains("portcullis_http_responses_total{class=\"4xx\"} 2"));
        assert!(text.contains("portcullis_http_429_total 1"));
        assert!(text.contains("portcullis_http_503_total 1"));
        assert!(text.contains("portcullis_rate_limit_keys 7"));
    }
}
