//! The report: Markdown, printed and written to `BENCHMARKS.md`, with a
//! pass/miss line for each target of issue 7.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{BackendReport, Core, Options, SCALE_SMALL, Summary, paired_ratio, server};

/// Quotes an argument for the "exact command" line when the shell needs it.
pub fn shell_word(arg: &str) -> String {
    if arg
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,%".contains(c))
    {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

const MB: f64 = 1_000_000.0;

fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / MB
}

fn errors(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "0".into();
    }
    map.iter()
        .map(|(status, n)| format!("{n}×{status}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn verdict(pass: bool) -> &'static str {
    if pass { "**pass**" } else { "**MISS**" }
}

/// Judges one target on one backend: the figure and pass/miss, or `None`
/// where the backend has no such figure.
type Judge = Box<dyn Fn(&BackendReport) -> Option<(String, bool)>>;

/// One target, judged on each backend; `None` where it does not apply.
struct Target {
    name: String,
    cells: Vec<Option<(String, bool)>>,
}

fn targets(backends: &[BackendReport]) -> Vec<Target> {
    let mut rows: Vec<(String, Judge)> = vec![
        (
            "login ≥ 0.9 × hash ceiling".into(),
            Box::new(|b| {
                let m = b.main()?;
                let ratio = m.login.ok_per_sec / m.ceiling;
                // Judged on the single-thread ceiling, as the issue sets it;
                // the all-cores one shows how much of a miss is the cores
                // slowing each other's hashes.
                let loaded = m.login.ok_per_sec / m.loaded_ceiling;
                Some((
                    format!(
                        "{ratio:.2} ({:.1}/s of {:.1}/s; {loaded:.2} of all cores hashing at once)",
                        m.login.ok_per_sec, m.ceiling
                    ),
                    ratio >= 0.9,
                ))
            }),
        ),
        (
            "`/health` p99 < 5 ms during the login load".into(),
            Box::new(|b| {
                let h = &b.main()?.health;
                Some((format!("{:.2} ms", h.p99), h.p99 < 5.0))
            }),
        ),
        (
            "1000-login flood: peak RSS < 300 MB, no 500s".into(),
            Box::new(|b| {
                let f = &b.flood;
                let fives = f.statuses.get("500").copied().unwrap_or(0);
                let peak = mb(f.peak_rss_kib);
                Some((
                    format!("{peak:.0} MB, {fives}×500"),
                    peak < 300.0 && fives == 0,
                ))
            }),
        ),
        (
            "refresh ≥ 3,000/s (SQLite), ≥ 2,000/s (PostgreSQL)".into(),
            Box::new(|b| {
                let r = b.main()?.refresh.ok_per_sec;
                let goal = if b.name == "SQLite" { 3000.0 } else { 2000.0 };
                Some((format!("{r:.0}/s"), r >= goal))
            }),
        ),
        (
            "`GET /me` ≥ 15,000/s, p99 < 5 ms (SQLite)".into(),
            Box::new(|b| {
                let me = &b.main()?.me;
                let text = format!("{:.0}/s, p99 {:.2} ms", me.ok_per_sec, me.p99);
                if b.name == "SQLite" {
                    Some((text, me.ok_per_sec >= 15_000.0 && me.p99 < 5.0))
                } else {
                    Some((format!("{text} (no target)"), true))
                }
            }),
        ),
        (
            "idle RSS ≤ 25 MB".into(),
            Box::new(|b| {
                let idle = mb(b.idle.rss_kib);
                Some((format!("{idle:.1} MB"), idle <= 25.0))
            }),
        ),
        (
            "start to ready ≤ 0.5 s (existing database)".into(),
            Box::new(|b| {
                let s = b.restart.as_secs_f64();
                Some((format!("{:.0} ms", s * 1000.0), s <= 0.5))
            }),
        ),
    ];
    for (label, pick) in [
        ("`/me`", (|c: &Core| &c.me) as fn(&Core) -> &Summary),
        ("refresh", |c: &Core| &c.refresh),
        ("login", |c: &Core| &c.login),
    ] {
        rows.push((
            format!("{label} at the most users within 20% of 1k (paired runs)"),
            Box::new(move |b| {
                let small = b.points.iter().find(|p| p.users == SCALE_SMALL)?;
                let large = b.points.last()?;
                let ratio = paired_ratio(pick(large), pick(small));
                Some((
                    format!("×{ratio:.2} at {}", large.users),
                    (0.8..=1.2).contains(&ratio),
                ))
            }),
        ));
    }
    rows.into_iter()
        .map(|(name, judge)| Target {
            name,
            cells: backends.iter().map(&judge).collect(),
        })
        .collect()
}

fn scenario_row(out: &mut String, name: &str, s: &Summary) {
    let spread = s
        .per_run
        .iter()
        .map(|r| format!("{r:.0}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "| {name} | {} | {:.0} ({spread}) | {:.2} | {:.2} | {:.2} | {:.1} | {} | {:.0} / {:.0} / {:.0} |",
        s.connections,
        s.ok_per_sec,
        s.p50,
        s.p90,
        s.p99,
        s.max,
        errors(&s.errors),
        s.cpu.server,
        s.cpu.bench,
        s.cpu.other,
    );
}

pub fn render(options: &Options, command: &str, backends: &[BackendReport]) -> String {
    let (cores, model) = server::machine();
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Figures of the last `cargo xtask bench` run. Re-run them with the command below; \
         this file is rewritten by it.\n"
    );
    let _ = writeln!(
        out,
        "- Date: {} UTC",
        chrono::Utc::now().format("%Y-%m-%d %H:%M")
    );
    let _ = writeln!(out, "- Machine: {cores} cores, {model}");
    let _ = writeln!(out, "- Command: `{command}`");
    if let Some(b) = backends.first() {
        let _ = writeln!(
            out,
            "- Server: release build, argon2id m={} KiB t={} p={}, {} hashing threads, \
             `PORTCULLIS_LOG={}`, everything else default",
            b.argon2.memory_kib,
            b.argon2.iterations,
            b.argon2.parallelism,
            b.hash_threads,
            options.log
        );
    }
    let _ = writeln!(
        out,
        "- Each scenario: {} run(s) of {} s; figures are medians of the runs (requests/s of \
         each run in brackets). Main scenarios with {} users in tenant `default`.",
        options.runs, options.duration, options.users
    );
    let _ = writeln!(
        out,
        "- The load generator runs on the same cores as the server. CPU columns are percent \
         of one core ({}% = the whole machine): server / bench (load generator) / other \
         processes (concurrent builds; on PostgreSQL also the database server itself). Figures taken while `other` is high are noisy.\n",
        cores * 100
    );

    let _ = writeln!(out, "## Targets\n");
    let mut header = String::from("| Target |");
    let mut rule = String::from("|---|");
    for b in backends {
        let _ = write!(header, " {} |", b.name);
        rule.push_str("---|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for target in targets(backends) {
        let mut line = format!("| {} |", target.name);
        for cell in &target.cells {
            match cell {
                Some((text, pass)) => {
                    let _ = write!(line, " {text} {} |", verdict(*pass));
                }
                None => line.push_str(" — |"),
            }
        }
        let _ = writeln!(out, "{line}");
    }

    for b in backends {
        let _ = writeln!(out, "\n## {}\n", b.name);
        let _ = writeln!(
            out,
            "| Scenario | Conns | ok/s | p50 ms | p90 ms | p99 ms | max ms | Errors | CPU % server / bench / other |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
        if let Some(m) = b.main() {
            scenario_row(&mut out, "`GET /me`", &m.me);
            scenario_row(&mut out, "refresh chains", &m.refresh);
            scenario_row(&mut out, "login", &m.login);
            scenario_row(&mut out, "`/health` during login (100/s)", &m.health);
            scenario_row(&mut out, "JWKS", &b.jwks);
            let _ = writeln!(
                out,
                "\nHash ceiling: one argon2id hash takes {:.1} ms on one thread \
                 → {} cores ÷ that = {:.1} logins/s; login reached {:.2} of it. \
                 With all {} cores hashing at once, a hash takes {:.1} ms \
                 → {:.1} logins/s; login reached {:.2} of that.",
                m.hash_time.as_secs_f64() * 1000.0,
                b.cores,
                m.ceiling,
                m.login.ok_per_sec / m.ceiling,
                b.cores,
                m.loaded_hash_time.as_secs_f64() * 1000.0,
                m.loaded_ceiling,
                m.login.ok_per_sec / m.loaded_ceiling
            );
        }
        let f = &b.flood;
        let _ = writeln!(
            out,
            "\nFlood: {} concurrent logins answered in {:.1} s: {}; 503 share {:.1}%; \
             peak RSS {:.0} MB{}.",
            f.logins,
            f.elapsed.as_secs_f64(),
            errors(&f.statuses),
            100.0 * f.statuses.get("503").copied().unwrap_or(0) as f64 / f.logins.max(1) as f64,
            mb(f.peak_rss_kib),
            if f.peak_reset {
                ""
            } else {
                " (peak since start: the kernel refused to reset it)"
            }
        );
        let k = &b.key_flood;
        let _ = writeln!(
            out,
            "\nKey flood (rate-limiter memory): {} forgot-password requests for distinct emails \
             ({:.0}/s; {}), each a new key of the per-email limiter (3 per 60 s): tracked keys \
             {} before, {} right after, {} {} s later; RSS {:.1} MB before, {:.1} MB right after, \
             {:.1} MB later.",
            k.requests,
            k.per_sec,
            errors(&k.statuses),
            k.keys[0],
            k.keys[1],
            k.keys[2],
            k.later.as_secs(),
            mb(k.rss_before_kib),
            mb(k.rss_after_kib),
            mb(k.rss_later_kib),
        );
        let _ = writeln!(
            out,
            "\nMemory and start: first start (migrations, bootstrap) to ready {:.0} ms; \
             restart on the existing database to ready {:.0} ms (median); idle RSS {:.1} MB; \
             after the run RSS {:.1} MB, peak (VmHWM) {:.1} MB.",
            b.first_start.as_secs_f64() * 1000.0,
            b.restart.as_secs_f64() * 1000.0,
            mb(b.idle.rss_kib),
            mb(b.after.rss_kib),
            mb(b.after.hwm_kib),
        );
    }

    let _ = writeln!(out, "\n## User-count scaling (requests/s, p99 ms)\n");
    let _ = writeln!(
        out,
        "Each user count has a server and a database of its own (on PostgreSQL a schema of \
         its own, in the one database server); all of them run at once, and every \
         scenario's runs alternate between them (run 1 on each, then run 2 in the reverse \
         order, ...), so a drift of the machine's speed meets them alike. The scaling \
         targets compare these paired runs: the median of each pair's ratio.\n"
    );
    let mut header = String::from("| Users |");
    let mut rule = String::from("|---|");
    for b in backends {
        let _ = write!(header, " {0} `/me` | {0} refresh | {0} login |", b.name);
        rule.push_str("---|---|---|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    let users: Vec<u64> = backends
        .first()
        .map(|b| b.points.iter().map(|p| p.users).collect())
        .unwrap_or_default();
    for n in users {
        let mut line = format!("| {n} |");
        for b in backends {
            match b.points.iter().find(|p| p.users == n) {
                Some(p) => {
                    for s in [&p.me, &p.refresh, &p.login] {
                        let _ = write!(line, " {:.0} ({:.1}) |", s.ok_per_sec, s.p99);
                    }
                }
                None => line.push_str(" — | — | — |"),
            }
        }
        let _ = writeln!(out, "{line}");
    }
    out
}
