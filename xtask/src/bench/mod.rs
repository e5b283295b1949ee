//! `cargo xtask bench`: builds the release server, runs it as child
//! processes on fresh databases (SQLite, and PostgreSQL with `--pg`): one
//! per user count (1k, `--users`, 100k), each seeded with its users. It
//! drives them over HTTP, alternating between them, and writes
//! `BENCHMARKS.md`.
//!
//! - `load`: the load generator (hyper client, HDR histograms)
//! - `server`: spawning the server, `/proc` memory and CPU readings
//! - `seed`: bench users straight into the database, argon2 timings
//! - `report`: the table on stdout and `BENCHMARKS.md`

mod load;
mod report;
mod seed;
mod server;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use hyper::StatusCode;
use portcullis::config::Config;
use portcullis::domain::{Limit, RateLimits};
use portcullis::store::Db;
use sea_orm::ConnectionTrait;
use serde::Deserialize;
use serde_json::json;

use load::{Outcome, Req, Target, Workload};
use server::{CpuShare, Memory, Server};

const TENANT: &str = "default";
const ME_PATH: &str = "/t/default/me";
const LOGIN_PATH: &str = "/t/default/auth/login";
const REFRESH_PATH: &str = "/t/default/auth/refresh";
const JWKS_PATH: &str = "/t/default/.well-known/jwks.json";
const FORGOT_PATH: &str = "/t/default/auth/forgot-password";
/// Limits so high that the throughput scenarios, all from one IP, never
/// meet them.
const OPEN_LIMIT: Limit = Limit {
    max: 1_000_000_000,
    per_seconds: 1,
};
/// The key-flood scenario's per-email limit: the default 3, per minute
/// rather than per hour, so idle keys are forgotten within the run.
const KEY_FLOOD_LIMIT: Limit = Limit {
    max: 3,
    per_seconds: 60,
};
/// Times a pool login tries again after a 503 from the hashing queue.
const LOGIN_RETRIES: usize = 40;
/// Connections of the key flood.
const KEY_FLOOD_CONNECTIONS: usize = 64;
/// The server's tenant cache lifetime (5 s), and a little more.
const SETTINGS_SEEN: Duration = Duration::from_secs(6);

/// Connections per scenario, as the issue fixes them.
const ME_CONNECTIONS: usize = 64;
const REFRESH_CONNECTIONS: usize = 32;
const LOGIN_CONNECTIONS: usize = 16;
const JWKS_CONNECTIONS: usize = 64;
/// Hashes per argon2 timing. This machine's neighbours make single hashes
/// vary by half; with 3 samples one burst of theirs moved the ceiling by a
/// third between runs.
const HASH_SAMPLES: usize = 15;
/// `/health` is probed 100 times a second during the login scenario.
const HEALTH_PERIOD: Duration = Duration::from_millis(10);
/// User counts the scaling comparison always covers.
const SCALE_SMALL: u64 = 1_000;
const SCALE_LARGE: u64 = 100_000;

/// Benchmarks against a release build of the server.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask bench")]
pub struct Options {
    /// Also run on PostgreSQL: a fresh schema is created in this database
    /// and dropped afterwards (e.g. postgres://postgres@127.0.0.1:5432/test).
    #[arg(long, value_name = "URL")]
    pg: Option<String>,
    /// Users in the tenant for the main scenarios.
    #[arg(long, default_value_t = 10_000)]
    users: u64,
    /// Seconds each scenario run lasts.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Runs per scenario; the figures are their medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Concurrent logins in the flood scenario.
    #[arg(long, default_value_t = 1000)]
    flood: usize,
    /// The server's log filter (`PORTCULLIS_LOG`); its output goes to a
    /// file in the bench's temp directory.
    #[arg(long, default_value = "info")]
    log: String,
    /// Measure only at `--users`, without the 1k/100k user-count
    /// comparison (quicker, for trying a change).
    #[arg(long)]
    no_scaling: bool,
    /// Where to write the report, relative to the workspace root.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let options = Options::try_parse_from(
        std::iter::once("cargo xtask bench".to_owned()).chain(args.iter().cloned()),
    )?;
    anyhow::ensure!(options.runs >= 1, "--runs must be at least 1");
    anyhow::ensure!(options.users >= 64, "--users must be at least 64");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let binary = server::build_release(&root)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut backends = Vec::new();
    let sqlite = runtime.block_on(bench_backend(&options, &binary, Backend::Sqlite))?;
    backends.push(sqlite);
    if let Some(url) = &options.pg {
        let pg = runtime.block_on(bench_backend(&options, &binary, Backend::Postgres(url)))?;
        backends.push(pg);
    }
    let command = std::iter::once("cargo xtask bench".to_owned())
        .chain(args.iter().map(|a| report::shell_word(a)))
        .collect::<Vec<_>>()
        .join(" ");
    let text = report::render(&options, &command, &backends);
    println!("{text}");
    let out = root.join(&options.out);
    std::fs::write(&out, text).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("bench: wrote {}", out.display());
    Ok(())
}

enum Backend<'a> {
    Sqlite,
    Postgres(&'a str),
}

/// Figures of one scenario: medians over the runs.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub connections: usize,
    pub ok_per_sec: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    /// The largest of the runs' maxima.
    pub max: f64,
    /// Non-2xx answers by status, summed over the runs.
    pub errors: BTreeMap<String, u64>,
    pub cpu: CpuShare,
    /// Each run's requests/s in run order, to show the spread; run `i` of
    /// every site ran in the same turn ([`interleave`]), so they pair up.
    pub per_run: Vec<f64>,
}

impl Summary {
    fn of(connections: usize, runs: &[(Outcome, CpuShare)]) -> Self {
        let pick = |f: &dyn Fn(&(Outcome, CpuShare)) -> f64| median(runs.iter().map(f).collect());
        let mut errors = BTreeMap::new();
        for (outcome, _) in runs {
            for (status, count) in outcome.errors() {
                *errors.entry(status).or_default() += count;
            }
        }
        Self {
            connections,
            ok_per_sec: pick(&|(o, _)| o.ok_per_sec()),
            p50: pick(&|(o, _)| o.ms(0.5)),
            p90: pick(&|(o, _)| o.ms(0.9)),
            p99: pick(&|(o, _)| o.ms(0.99)),
            max: runs.iter().map(|(o, _)| o.max_ms()).fold(0.0, f64::max),
            errors,
            cpu: CpuShare {
                server: pick(&|(_, c)| c.server),
                bench: pick(&|(_, c)| c.bench),
                other: pick(&|(_, c)| c.other),
            },
            per_run: runs.iter().map(|(o, _)| o.ok_per_sec()).collect(),
        }
    }
}

/// The scenarios run at every user count.
#[derive(Debug, Clone, Default)]
pub struct Core {
    pub users: u64,
    pub me: Summary,
    pub refresh: Summary,
    pub login: Summary,
    /// `/health` probed during the login scenario.
    pub health: Summary,
    /// Median single-thread argon2id time, measured before and after each
    /// login run.
    pub hash_time: Duration,
    /// cores ÷ `hash_time`: logins/s if hashing were all the server did.
    pub ceiling: f64,
    /// Median argon2id time while every core hashes at once.
    pub loaded_hash_time: Duration,
    /// cores ÷ `loaded_hash_time`: the same with the cores slowing each
    /// other's hashes (shared cache and memory bandwidth).
    pub loaded_ceiling: f64,
}

/// Forgot-password requests for distinct random emails: each is a new
/// key of the per-email limiter, which must forget them when idle.
#[derive(Debug, Clone, Default)]
pub struct KeyFlood {
    pub requests: u64,
    pub per_sec: f64,
    pub statuses: BTreeMap<String, u64>,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    /// After the limiter's period and a janitor pass.
    pub rss_later_kib: u64,
    /// Keys the rate limiters track (`/metrics`) before, right after, later.
    pub keys: [u64; 3],
    pub later: Duration,
}

/// The 1000-login flood.
#[derive(Debug, Clone, Default)]
pub struct Flood {
    pub logins: usize,
    pub statuses: BTreeMap<String, u64>,
    pub elapsed: Duration,
    pub peak_rss_kib: u64,
    /// Whether the peak was reset before the flood (else it is the peak
    /// since start, an upper bound).
    pub peak_reset: bool,
}

pub struct BackendReport {
    pub name: &'static str,
    pub cores: usize,
    pub hash_threads: usize,
    pub argon2: portcullis::config::Argon2Config,
    pub first_start: Duration,
    /// Median over the restarts on the existing database.
    pub restart: Duration,
    /// Median RSS right after those restarts.
    pub idle: Memory,
    /// One per user count, ascending; the main one has `users == --users`.
    pub points: Vec<Core>,
    pub main_users: u64,
    pub jwks: Summary,
    pub flood: Flood,
    pub key_flood: KeyFlood,
    pub after: Memory,
}

impl BackendReport {
    pub fn main(&self) -> Option<&Core> {
        self.points.iter().find(|p| p.users == self.main_users)
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// 1k, 100k and `--users`, ascending, each once.
fn user_counts(users: u64, scaling: bool) -> Vec<u64> {
    if !scaling {
        return vec![users];
    }
    let mut counts = vec![SCALE_SMALL, SCALE_LARGE, users];
    counts.sort_unstable();
    counts.dedup();
    counts
}

/// Where one server's data lives: a temp directory (the SQLite file, the
/// server's log) and, on PostgreSQL, a fresh schema.
struct Place {
    /// The bench users it will hold.
    users: u64,
    work: PathBuf,
    database_url: String,
    /// The PostgreSQL database and the schema to drop afterwards.
    schema: Option<(String, String)>,
}

impl Place {
    async fn new(backend: &Backend<'_>, users: u64) -> anyhow::Result<Self> {
        let (database_url, schema) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres(base) => {
                let (url, schema) = fresh_schema(base).await?;
                (Some(url), Some(((*base).to_owned(), schema)))
            }
        };
        let work = std::env::temp_dir().join(format!("portcullis-bench-{}", uuid::Uuid::now_v7()));
        let place = Self {
            users,
            database_url: database_url
                .unwrap_or_else(|| format!("sqlite://{}/bench.db?mode=rwc", work.display())),
            work,
            schema,
        };
        if let Err(e) = std::fs::create_dir_all(&place.work) {
            place.remove(false).await;
            return Err(e.into());
        }
        Ok(place)
    }

    /// Drops the schema; removes the directory only after a good run, so
    /// a failed one leaves the server's log to read. A failure is only
    /// reported: it must not hide the bench's own result or stop the
    /// other places' cleanup.
    async fn remove(self, keep_log: bool) {
        if let Some((base, schema)) = &self.schema
            && let Err(e) = drop_schema(base, schema).await
        {
            eprintln!("bench: cannot drop schema {schema}: {e:#}");
        }
        if !keep_log
            && let Err(e) = std::fs::remove_dir_all(&self.work)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("bench: cannot remove {}: {e}", self.work.display());
        }
    }
}

/// One server under test, on its own database with `users` bench users.
struct Site {
    users: u64,
    db: Db,
    server: Server,
    first_start: Duration,
    /// Restarts on the existing database (only the main site's are
    /// reported): time to ready, RSS right after.
    restarts: Vec<(Duration, Memory)>,
}

impl Site {
    /// Starts the server once for its migrations and bootstrap, seeds the
    /// users, then starts it `starts` times on that database (at least once)
    /// and leaves the last one running.
    async fn open(
        options: &Options,
        binary: &Path,
        name: &str,
        place: &Place,
        starts: usize,
    ) -> anyhow::Result<(Self, Config)> {
        let users = place.users;
        let addr = server::free_addr()?;
        let env = server_env(options, place, addr);
        // The settings the server will run with, read the way it reads
        // them: the argon2 parameters for the seed hash and the ceiling.
        let config = Config::from_sources(None, &env.iter().cloned().collect())?;
        let log = place.work.join("server.log");
        eprintln!(
            "bench: {name}: {users} users: server output in {}",
            place.work.display()
        );
        let (mut first, first_start) = Server::start(binary, &env, addr, &log).await?;
        first.stop()?;
        drop(first);

        let db = portcullis::store::connect(&place.database_url).await?;
        let tenant = seed::tenant_id(&db, TENANT).await?;
        seed::set_rate_limits(&db, TENANT, seed::all_limits(OPEN_LIMIT)).await?;
        eprintln!("bench: {name}: seeding {users} users");
        seed::users(&db, tenant, &seed::password_hash(config.argon2)?, users).await?;

        let mut restarts = Vec::new();
        let mut running: Option<Server> = None;
        for _ in 0..starts.max(1) {
            if let Some(mut server) = running.take() {
                server.stop()?;
            }
            let (server, took) = Server::start(binary, &env, addr, &log).await?;
            // Let start-up work (pool connections, first allocations) settle.
            tokio::time::sleep(Duration::from_millis(500)).await;
            restarts.push((took, server.memory()?));
            running = Some(server);
        }
        let site = Self {
            users,
            db,
            server: running.context("no server running")?,
            first_start,
            restarts,
        };
        Ok((site, config))
    }

    async fn close(mut self) -> anyhow::Result<()> {
        self.server.stop()?;
        self.db.close().await?;
        Ok(())
    }
}

fn server_env(
    options: &Options,
    place: &Place,
    addr: std::net::SocketAddr,
) -> Vec<(String, String)> {
    [
        ("PORTCULLIS_LISTEN", addr.to_string()),
        ("PORTCULLIS_PUBLIC_URL", format!("http://{addr}")),
        ("PORTCULLIS_DATA_DIR", place.work.display().to_string()),
        ("PORTCULLIS_DATABASE_URL", place.database_url.clone()),
        (
            "PORTCULLIS_BOOTSTRAP_ADMIN_EMAIL",
            "admin@bench.test".into(),
        ),
        (
            "PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD",
            "bench root passphrase".into(),
        ),
        // Plain HTTP on loopback; the cookie is not used by the bench.
        ("PORTCULLIS_COOKIE_SECURE", "false".into()),
        ("PORTCULLIS_LOG", options.log.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// One server per user count, each on a database of its own, all running
/// at once; the core scenarios alternate between them run by run (see
/// [`interleave`]). Only the `--users` one gets the other scenarios.
async fn bench_backend(
    options: &Options,
    binary: &Path,
    backend: Backend<'_>,
) -> anyhow::Result<BackendReport> {
    let name = match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres(_) => "PostgreSQL",
    };
    let mut places = Vec::new();
    let report = async {
        for users in user_counts(options.users, !options.no_scaling) {
            places.push(Place::new(&backend, users).await?);
        }
        bench_places(options, binary, name, &places).await
    }
    .await;
    for place in places {
        place.remove(report.is_err()).await;
    }
    report
}

async fn bench_places(
    options: &Options,
    binary: &Path,
    name: &'static str,
    places: &[Place],
) -> anyhow::Result<BackendReport> {
    let mut sites = Vec::new();
    let mut config = None;
    for place in places {
        let starts = if place.users == options.users {
            options.runs
        } else {
            1
        };
        let (site, site_config) = Site::open(options, binary, name, place, starts).await?;
        sites.push(site);
        config = Some(site_config);
    }
    let config = config.context("no site")?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let ctxs: Vec<Ctx> = sites
        .iter()
        .map(|site| Ctx {
            db: &site.db,
            target: site.server.target.clone(),
            server: &site.server,
            users: site.users,
            duration: Duration::from_secs(options.duration),
            runs: options.runs,
            config: &config,
            cores,
        })
        .collect();
    let counts: Vec<String> = sites.iter().map(|s| s.users.to_string()).collect();
    eprintln!(
        "bench: {name}: /me, refresh, login at {} users",
        counts.join(", ")
    );
    let points = core_scenarios(&ctxs).await?;
    let main = ctxs
        .iter()
        .find(|c| c.users == options.users)
        .context("no site with --users users")?;
    eprintln!("bench: {name}: JWKS");
    let jwks = main
        .repeat(JWKS_CONNECTIONS, |_| {
            Ok((0..JWKS_CONNECTIONS)
                .map(|_| Get::new(&main.target, JWKS_PATH, None))
                .collect())
        })
        .await?;
    eprintln!("bench: {name}: flood of {} logins", options.flood);
    let flood = run_flood(main, options.flood).await?;
    eprintln!("bench: {name}: flood of random emails (rate-limiter memory)");
    let key_flood = run_key_flood(main).await?;
    let after = main.server.memory()?;
    drop(ctxs);

    let main_site = sites
        .iter()
        .find(|s| s.users == options.users)
        .context("no site with --users users")?;
    let restart_secs = median(
        main_site
            .restarts
            .iter()
            .map(|(t, _)| t.as_secs_f64())
            .collect(),
    );
    let idle_rss = median(
        main_site
            .restarts
            .iter()
            .map(|(_, m)| m.rss_kib as f64)
            .collect(),
    );
    let idle = main_site
        .restarts
        .iter()
        .map(|(_, m)| *m)
        .min_by_key(|m| m.rss_kib.abs_diff(idle_rss as u64))
        .unwrap_or_default();
    let first_start = main_site.first_start;
    for site in sites {
        site.close().await?;
    }
    Ok(BackendReport {
        name,
        cores,
        hash_threads: config.hash_threads,
        argon2: config.argon2,
        first_start,
        restart: Duration::from_secs_f64(restart_secs),
        idle,
        points,
        main_users: options.users,
        jwks,
        flood,
        key_flood,
        after,
    })
}

/// On PostgreSQL, what autovacuum does soon after a bulk load in
/// production, done up front as `pgbench -i` does: fresh statistics
/// (without them it plans with the table sizes of before the load) and a
/// vacuum of the new rows, which autovacuum would otherwise start in the
/// middle of a measurement (it is due once 1000 rows and a fifth of the
/// table have been inserted). (Not on SQLite: its ANALYZE samples make
/// bound parameters re-plan every statement.)
async fn settle(db: &Db) -> anyhow::Result<()> {
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.execute_unprepared("VACUUM (ANALYZE) users, sessions, refresh_tokens")
            .await?;
    }
    Ok(())
}

/// One site as the scenarios see it.
struct Ctx<'a> {
    db: &'a Db,
    target: Target,
    server: &'a Server,
    users: u64,
    duration: Duration,
    runs: usize,
    config: &'a Config,
    cores: usize,
}

/// Runs the workloads `make(site, run)` gives (fresh for each run) `runs`
/// times on every site, alternating between the sites run by run: the
/// machine's speed drifts by a third over minutes (its neighbours), and
/// this way a drift hits run `i` of every site alike, so the sites'
/// paired runs compare fairly ([`paired_ratio`]). `make` runs before the
/// run's clock and CPU meter start.
async fn interleave<W: Workload>(
    ctxs: &[Ctx<'_>],
    connections: usize,
    mut make: impl AsyncFnMut(usize, usize) -> anyhow::Result<Vec<W>>,
) -> anyhow::Result<Vec<Summary>> {
    let mut runs: Vec<Vec<(Outcome, CpuShare)>> = ctxs.iter().map(|_| Vec::new()).collect();
    for run in 0..ctxs.first().map_or(0, |c| c.runs) {
        for site in turn(ctxs.len(), run) {
            let ctx = &ctxs[site];
            let workloads = make(site, run).await?;
            let cpu = ctx.server.cpu()?;
            let outcome = load::run(&ctx.target, workloads, ctx.duration, None).await?;
            runs[site].push((outcome, cpu.finish()?));
        }
    }
    Ok(runs
        .iter()
        .map(|runs| Summary::of(connections, runs))
        .collect())
}

/// The order of the sites in turn `run`: forwards, then backwards (1k,
/// 10k, 100k, 100k, 10k, 1k, ...), so that no site always goes first, and
/// a drift within a turn does not always favour the same one.
fn turn(sites: usize, run: usize) -> Box<dyn Iterator<Item = usize>> {
    if run.is_multiple_of(2) {
        Box::new(0..sites)
    } else {
        Box::new((0..sites).rev())
    }
}

/// The median of `large`'s runs each divided by `small`'s run of the same
/// turn ([`interleave`]).
pub fn paired_ratio(large: &Summary, small: &Summary) -> f64 {
    let ratios = large
        .per_run
        .iter()
        .zip(&small.per_run)
        .map(|(l, s)| l / s)
        .collect();
    median(ratios)
}

impl Ctx<'_> {
    /// Runs the workloads `make` gives (fresh for each run) `runs` times.
    async fn repeat<W: Workload>(
        &self,
        connections: usize,
        mut make: impl FnMut(usize) -> anyhow::Result<Vec<W>>,
    ) -> anyhow::Result<Summary> {
        let one = std::slice::from_ref(self);
        let mut summaries = interleave(one, connections, async |_, run| make(run)).await?;
        summaries.pop().context("no summary")
    }

    /// Logs `count` different users in (concurrently) for their tokens.
    async fn login_pool(&self, count: usize, salt: u64) -> anyhow::Result<Vec<Tokens>> {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..count as u64 {
            let target = self.target.clone();
            let user = (i * 7919 + salt * 104_729) % self.users;
            tasks.spawn(async move {
                let mut conn = load::Conn::open(target.addr).await?;
                let mut answer = conn.send(login_request(&target, user)?).await?;
                // The hashing queue sheds a burst this size with 503: wait
                // and ask again, as a client honouring Retry-After would.
                for _ in 0..LOGIN_RETRIES {
                    if answer.0 != StatusCode::SERVICE_UNAVAILABLE {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    answer = conn.send(login_request(&target, user)?).await?;
                }
                let (status, body) = answer;
                anyhow::ensure!(
                    status == StatusCode::OK,
                    "login of {} answered {status}",
                    seed::email(user)
                );
                anyhow::Ok(serde_json::from_slice::<Tokens>(&body)?)
            });
        }
        let mut tokens = Vec::with_capacity(count);
        while let Some(result) = tasks.join_next().await {
            tokens.push(result??);
        }
        Ok(tokens)
    }
}

/// Argon2id times on one thread and on every core, in seconds.
#[derive(Default)]
struct HashTimes {
    single: Vec<f64>,
    loaded: Vec<f64>,
}

impl HashTimes {
    async fn take(&mut self, ctx: &Ctx<'_>) -> anyhow::Result<()> {
        let (argon2, cores) = (ctx.config.argon2, ctx.cores);
        let (one, all) = tokio::task::spawn_blocking(move || {
            anyhow::Ok((
                seed::hash_times(argon2, 1, HASH_SAMPLES)?,
                seed::hash_times(argon2, cores, HASH_SAMPLES)?,
            ))
        })
        .await??;
        self.single.extend(one.iter().map(Duration::as_secs_f64));
        self.loaded.extend(all.iter().map(Duration::as_secs_f64));
        Ok(())
    }
}

/// `/me`, refresh and login on every site, interleaved ([`interleave`]).
async fn core_scenarios(ctxs: &[Ctx<'_>]) -> anyhow::Result<Vec<Core>> {
    // Each refresh run gets fresh chains; all are logged in up front, so
    // that the statistics below see their sessions.
    let mut chains = Vec::new();
    for ctx in ctxs {
        let mut site_chains = Vec::new();
        for run in 0..ctx.runs {
            let salt = (ctx.runs + run) as u64;
            site_chains.push(ctx.login_pool(REFRESH_CONNECTIONS, salt).await?);
        }
        // After the seeding and the chains' sessions, not only after the
        // seeding: else refresh ran on the statistics of empty session and
        // token tables, and PostgreSQL scanned `sessions` sequentially
        // (`pg_stat_user_tables`: 1377 sequential scans in a quick run, 76
        // with this; refresh at 1k users 2449/s → 2881/s, and 1806/s against
        // 3056/s at 10k in a full run).
        settle(ctx.db).await?;
        chains.push(site_chains);
    }
    // Access tokens are logged in right before their run: logged in up
    // front, the last of runs × sites × duration could outlive their
    // 15-minute lifetime.
    let me = interleave(ctxs, ME_CONNECTIONS, async |site, run| {
        let ctx = &ctxs[site];
        let pool = ctx.login_pool(ME_CONNECTIONS, run as u64).await?;
        Ok(pool
            .iter()
            .map(|t| Get::new(&ctx.target, ME_PATH, Some(t.access_token.clone())))
            .collect())
    })
    .await?;
    let refresh = interleave(ctxs, REFRESH_CONNECTIONS, async |site, run| {
        let ctx = &ctxs[site];
        Ok(chains[site]
            .get(run)
            .context("no refresh chains")?
            .iter()
            .enumerate()
            .map(|(i, t)| Refresh::new(ctx.target.clone(), t.refresh_token.clone(), i as u64))
            .collect())
    })
    .await?;

    let mut login_runs: Vec<Vec<_>> = ctxs.iter().map(|_| Vec::new()).collect();
    let mut health_runs: Vec<Vec<_>> = ctxs.iter().map(|_| Vec::new()).collect();
    // Hash times taken right before and right after each login run, so the
    // ceiling is of the moment the logins ran in; the figures are the
    // medians of all of them.
    let mut hashes: Vec<HashTimes> = ctxs.iter().map(|_| HashTimes::default()).collect();
    for run in 0..ctxs.first().map_or(0, |c| c.runs) {
        for site in turn(ctxs.len(), run) {
            let ctx = &ctxs[site];
            hashes[site].take(ctx).await?;
            let logins: Vec<Login> = (0..LOGIN_CONNECTIONS)
                .map(|i| {
                    let seed = (run * LOGIN_CONNECTIONS + i) as u64;
                    Login::new(ctx.target.clone(), ctx.users, seed)
                })
                .collect();
            let probe = vec![Get::new(&ctx.target, "/health", None)];
            let cpu = ctx.server.cpu()?;
            let (login, health) = tokio::try_join!(
                load::run(&ctx.target, logins, ctx.duration, None),
                load::run(&ctx.target, probe, ctx.duration, Some(HEALTH_PERIOD)),
            )?;
            let cpu = cpu.finish()?;
            login_runs[site].push((login, cpu));
            health_runs[site].push((health, cpu));
            hashes[site].take(ctx).await?;
        }
    }
    let mut cores = Vec::new();
    for (site, ctx) in ctxs.iter().enumerate() {
        let hash_time = Duration::from_secs_f64(median(std::mem::take(&mut hashes[site].single)));
        let loaded_hash_time =
            Duration::from_secs_f64(median(std::mem::take(&mut hashes[site].loaded)));
        cores.push(Core {
            users: ctx.users,
            me: me[site].clone(),
            refresh: refresh[site].clone(),
            login: Summary::of(LOGIN_CONNECTIONS, &login_runs[site]),
            health: Summary::of(1, &health_runs[site]),
            hash_time,
            ceiling: ctx.cores as f64 / hash_time.as_secs_f64(),
            loaded_hash_time,
            loaded_ceiling: ctx.cores as f64 / loaded_hash_time.as_secs_f64(),
        });
    }
    Ok(cores)
}

async fn run_flood(ctx: &Ctx<'_>, logins: usize) -> anyhow::Result<Flood> {
    let requests = (0..logins as u64)
        .map(|i| login_request(&ctx.target, (i * 7919) % ctx.users))
        .collect::<anyhow::Result<Vec<Req>>>()?;
    let peak_reset = ctx.server.reset_peak();
    let burst = load::burst(&ctx.target, requests);
    tokio::pin!(burst);
    let mut sampled = 0;
    let outcome = loop {
        tokio::select! {
            outcome = &mut burst => break outcome?,
            () = tokio::time::sleep(Duration::from_millis(10)) => {
                sampled = ctx.server.memory()?.rss_kib.max(sampled);
            }
        }
    };
    let memory = ctx.server.memory()?;
    let peak = if peak_reset {
        memory.hwm_kib.max(sampled)
    } else {
        sampled.max(memory.rss_kib)
    };
    Ok(Flood {
        logins,
        statuses: outcome.statuses,
        elapsed: outcome.elapsed,
        peak_rss_kib: peak,
        peak_reset,
    })
}

async fn run_key_flood(ctx: &Ctx<'_>) -> anyhow::Result<KeyFlood> {
    seed::set_rate_limits(
        ctx.db,
        TENANT,
        RateLimits {
            forgot_password_per_email: KEY_FLOOD_LIMIT,
            ..seed::all_limits(OPEN_LIMIT)
        },
    )
    .await?;
    tokio::time::sleep(SETTINGS_SEEN).await;
    let before = ctx.server.memory()?;
    let keys_before = tracked_keys(&ctx.target).await?;
    let clients = (0..KEY_FLOOD_CONNECTIONS as u64)
        .map(|i| RandomForgot::new(ctx.target.clone(), i))
        .collect();
    let outcome = load::run(&ctx.target, clients, ctx.duration, None).await?;
    let after = ctx.server.memory()?;
    let keys_after = tracked_keys(&ctx.target).await?;
    let later = Duration::from_secs(u64::from(KEY_FLOOD_LIMIT.per_seconds) + 35);
    tokio::time::sleep(later).await;
    let settled = ctx.server.memory()?;
    let keys_later = tracked_keys(&ctx.target).await?;
    let requests = outcome.statuses.values().sum();
    Ok(KeyFlood {
        requests,
        per_sec: outcome.ok_per_sec(),
        statuses: outcome.statuses,
        rss_before_kib: before.rss_kib,
        rss_after_kib: after.rss_kib,
        rss_later_kib: settled.rss_kib,
        keys: [keys_before, keys_after, keys_later],
        later,
    })
}

/// `portcullis_rate_limit_keys` from the server's `/metrics`.
async fn tracked_keys(target: &Target) -> anyhow::Result<u64> {
    let mut conn = load::Conn::open(target.addr).await?;
    let (status, body) = conn.send(target.get("/metrics", None)?).await?;
    anyhow::ensure!(status == StatusCode::OK, "/metrics answered {status}");
    let text = String::from_utf8_lossy(&body);
    text.lines()
        .find_map(|line| line.strip_prefix("portcullis_rate_limit_keys "))
        .context("no portcullis_rate_limit_keys in /metrics")?
        .trim()
        .parse()
        .context("portcullis_rate_limit_keys is not a number")
}

/// Forgot-password for a new random email each time.
struct RandomForgot {
    target: Target,
    client: u64,
    sent: u64,
}

impl RandomForgot {
    fn new(target: Target, client: u64) -> Self {
        Self {
            target,
            client,
            sent: 0,
        }
    }
}

impl Workload for RandomForgot {
    fn next(&mut self) -> anyhow::Result<(Req, bool)> {
        self.sent += 1;
        let email = format!("nobody-{}-{}@flood.test", self.client, self.sent);
        Ok((
            self.target
                .post_json(FORGOT_PATH, &json!({"email": email}))?,
            true,
        ))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tokens {
    access_token: String,
    refresh_token: String,
}

fn login_request(target: &Target, user: u64) -> anyhow::Result<Req> {
    target.post_json(
        LOGIN_PATH,
        &json!({"email": seed::email(user), "password": seed::PASSWORD}),
    )
}

/// A GET of one path, with or without a Bearer token.
struct Get {
    target: Target,
    path: &'static str,
    bearer: Option<String>,
}

impl Get {
    fn new(target: &Target, path: &'static str, bearer: Option<String>) -> Self {
        Self {
            target: target.clone(),
            path,
            bearer,
        }
    }
}

/// Logins of users picked at random from the whole tenant, so lookups are
/// spread over the email index rather than served from one hot page.
struct Login {
    target: Target,
    users: u64,
    rng: u64,
}

impl Login {
    fn new(target: Target, users: u64, seed: u64) -> Self {
        Self {
            target,
            users,
            // xorshift needs a non-zero state.
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }
}

impl Workload for Login {
    fn next(&mut self) -> anyhow::Result<(Req, bool)> {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        Ok((login_request(&self.target, self.rng % self.users)?, true))
    }
}

/// One client's refresh chain: each answer's refresh token is the next
/// request's. If the chain breaks (an error), the client logs in again,
/// uncounted, and starts a new one.
struct Refresh {
    target: Target,
    token: String,
    user: u64,
    broken: bool,
}

impl Refresh {
    fn new(target: Target, token: String, user: u64) -> Self {
        Self {
            target,
            token,
            user,
            broken: false,
        }
    }
}

impl Workload for Refresh {
    fn next(&mut self) -> anyhow::Result<(Req, bool)> {
        if self.broken {
            return Ok((login_request(&self.target, self.user)?, false));
        }
        let body = json!({"refreshToken": self.token});
        Ok((self.target.post_json(REFRESH_PATH, &body)?, true))
    }

    fn answer(&mut self, status: StatusCode, body: &Bytes) {
        match serde_json::from_slice::<Tokens>(body) {
            Ok(tokens) if status.is_success() => {
                self.token = tokens.refresh_token;
                self.broken = false;
            }
            _ => self.broken = true,
        }
    }
}

impl Workload for Get {
    fn next(&mut self) -> anyhow::Result<(Req, bool)> {
        Ok((self.target.get(self.path, self.bearer.as_deref())?, true))
    }
}

/// A fresh schema in the PostgreSQL database at `base`, and a URL that
/// makes it the search path (as the integration tests do).
async fn fresh_schema(base: &str) -> anyhow::Result<(String, String)> {
    let schema = format!("bench_{}", uuid::Uuid::now_v7().simple());
    let admin = sea_orm::Database::connect(base)
        .await
        .context("cannot connect to PostgreSQL (--pg)")?;
    admin
        .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
        .await?;
    admin.close().await?;
    let separator = if base.contains('?') { '&' } else { '?' };
    Ok((
        format!("{base}{separator}options=-c%20search_path%3D{schema}"),
        schema,
    ))
}

async fn drop_schema(base: &str, schema: &str) -> anyhow::Result<()> {
    let admin = sea_orm::Database::connect(base).await?;
    admin
        .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
        .await?;
    admin.close().await?;
    Ok(())
}
