//! The load generator: closed-loop virtual clients, one keep-alive
//! HTTP/1.1 connection each, latencies in an HDR histogram.
//!
//! Closed loop means a client sends its next request only when the last
//! one answered, so a stalled server is seen as fewer requests rather than
//! as queueing delay (coordinated omission): the latencies are service
//! times under that concurrency. The paced mode (`/health` probes) sends on
//! a fixed clock instead, which is the right model for a probe.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

pub type Req = Request<Full<Bytes>>;

/// No request of ours should take this long; past it the server is stuck.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the server listens, and the `Host` header HTTP/1.1 requires.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    host: String,
}

impl Target {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            host: addr.to_string(),
        }
    }

    pub fn get(&self, path: &str, bearer: Option<&str>) -> anyhow::Result<Req> {
        let mut builder = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(HOST, &self.host);
        if let Some(token) = bearer {
            builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        Ok(builder.body(Full::new(Bytes::new()))?)
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<Req> {
        Ok(Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(serde_json::to_vec(body)?)))?)
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect to {addr}"))?;
        // Small request/response pairs: Nagle would add up to 40 ms each.
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        // The connection future does the I/O; when it fails, the next
        // `send` fails too, which is where the error is counted.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self { sender })
    }

    pub async fn send(&mut self, req: Req) -> anyhow::Result<(StatusCode, Bytes)> {
        self.sender.ready().await?;
        let response = self.sender.send_request(req).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// What one virtual client sends, and what it learns from the answers.
pub trait Workload: Send + 'static {
    /// The next request, and whether its latency is part of the figure (a
    /// refresh chain re-opened by a login is not).
    fn next(&mut self) -> anyhow::Result<(Req, bool)>;

    /// Sees each answer, e.g. to take the rotated refresh token.
    fn answer(&mut self, _status: StatusCode, _body: &Bytes) {}
}

/// Requests answered, by status, with their latencies.
pub struct Outcome {
    /// Microseconds, counted requests only.
    pub latency: Histogram<u64>,
    /// Count per status code, or `io`/`timeout` for transport failures.
    pub statuses: BTreeMap<String, u64>,
    /// Counted requests answered 2xx.
    pub ok: u64,
    pub elapsed: Duration,
}

impl Outcome {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            // 1 µs .. 10 min at 3 significant digits.
            latency: Histogram::new_with_bounds(1, 600_000_000, 3)?,
            statuses: BTreeMap::new(),
            ok: 0,
            elapsed: Duration::ZERO,
        })
    }

    fn merge(&mut self, other: &Self) -> anyhow::Result<()> {
        self.latency.add(&other.latency)?;
        for (status, count) in &other.statuses {
            *self.statuses.entry(status.clone()).or_default() += count;
        }
        self.ok += other.ok;
        Ok(())
    }

    fn record(&mut self, status: &str, latency: Duration) {
        self.latency
            .saturating_record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        *self.statuses.entry(status.to_owned()).or_default() += 1;
    }

    pub fn ok_per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency at `quantile`, in milliseconds.
    pub fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.latency.max() as f64 / 1000.0
    }

    /// Answers that were not 2xx, by status.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.statuses
            .iter()
            .filter(|(status, _)| !status.starts_with('2'))
            .map(|(s, n)| (s.clone(), *n))
            .collect()
    }
}

/// Runs one task per workload for `duration`, each on its own connection
/// (all opened before the clock starts). With `pace`, each client sends on
/// that period instead of back to back.
pub async fn run<W: Workload>(
    target: &Target,
    workloads: Vec<W>,
    duration: Duration,
    pace: Option<Duration>,
) -> anyhow::Result<Outcome> {
    let mut clients = Vec::with_capacity(workloads.len());
    for workload in workloads {
        clients.push((workload, Conn::open(target.addr).await?));
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for (workload, conn) in clients {
        tasks.spawn(drive(target.addr, workload, conn, deadline, pace));
    }
    let mut total = Outcome::new()?;
    while let Some(result) = tasks.join_next().await {
        total.merge(&result??)?;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

async fn drive<W: Workload>(
    addr: SocketAddr,
    mut workload: W,
    mut conn: Conn,
    deadline: Instant,
    pace: Option<Duration>,
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::new()?;
    let mut ticker = pace.map(|period| {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker
    });
    while Instant::now() < deadline {
        if let Some(ticker) = ticker.as_mut() {
            ticker.tick().await;
        }
        let (req, counted) = workload.next()?;
        let sent = Instant::now();
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, conn.send(req)).await;
        let latency = sent.elapsed();
        let status = match answer {
            Ok(Ok((status, body))) => {
                workload.answer(status, &body);
                if counted && status.is_success() {
                    outcome.ok += 1;
                }
                status.as_u16().to_string()
            }
            // A broken connection is replaced; the failure is counted.
            Ok(Err(_)) => {
                conn = Conn::open(addr).await?;
                "io".to_owned()
            }
            Err(_) => {
                conn = Conn::open(addr).await?;
                "timeout".to_owned()
            }
        };
        if counted {
            outcome.record(&status, latency);
        }
    }
    Ok(outcome)
}

/// Sends every request at once, each on its own connection (all opened
/// first, then released together), and waits for every answer.
pub async fn burst(target: &Target, requests: Vec<Req>) -> anyhow::Result<Outcome> {
    let mut conns = Vec::with_capacity(requests.len());
    for _ in &requests {
        conns.push(Conn::open(target.addr).await?);
    }
    let gate = Arc::new(tokio::sync::Barrier::new(requests.len() + 1));
    let mut tasks = JoinSet::new();
    for (req, mut conn) in requests.into_iter().zip(conns) {
        let gate = Arc::clone(&gate);
        tasks.spawn(async move {
            let mut outcome = Outcome::new()?;
            gate.wait().await;
            let sent = Instant::now();
            let status = match tokio::time::timeout(REQUEST_TIMEOUT, conn.send(req)).await {
                Ok(Ok((status, _))) => {
                    if status.is_success() {
                        outcome.ok += 1;
                    }
                    status.as_u16().to_string()
                }
                Ok(Err(_)) => "io".to_owned(),
                Err(_) => "timeout".to_owned(),
            };
            outcome.record(&status, sent.elapsed());
            anyhow::Ok(outcome)
        });
    }
    let started = Instant::now();
    gate.wait().await;
    let mut total = Outcome::new()?;
    while let Some(result) = tasks.join_next().await {
        total.merge(&result??)?;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}
