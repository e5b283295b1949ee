//! The server under test: built in release, run as a child process, watched
//! through `/proc` (memory, CPU time).

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::load::{Conn, Target};

/// Kernel ticks per second in `/proc/*/stat`: `USER_HZ`, which is part of
/// the Linux ABI and 100 on every architecture we run on.
const TICKS_PER_SEC: f64 = 100.0;

/// How long a start may take before the bench gives up on it.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// `cargo build --release -p portcullis`; returns the binary.
pub fn build_release(root: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "-p", "portcullis"])
        .current_dir(root);
    // `cargo run` gave this process the xtask package's variables; some
    // build scripts (ring's) watch them, so passing them on would rebuild
    // half the release tree here and again at the next plain `cargo build`.
    for (key, _) in std::env::vars() {
        let from_cargo_run = key.starts_with("CARGO_PKG_")
            || matches!(
                key.as_str(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            );
        if from_cargo_run {
            command.env_remove(key);
        }
    }
    let status = command.status().context("cannot run cargo")?;
    anyhow::ensure!(status.success(), "the release build failed");
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target_dir.join("release").join("portcullis"))
}

/// A free loopback port. Another process could take it before the server
/// binds it; the start then fails loudly rather than measuring the wrong thing.
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

pub struct Server {
    child: Child,
    pub pid: u32,
    pub target: Target,
    log: PathBuf,
}

impl Server {
    /// Starts `portcullis serve` with exactly `env` as its `PORTCULLIS_*`
    /// settings (none inherited), output appended to `log`, and waits for
    /// `/ready`. Returns the server and the time from spawn to ready.
    pub async fn start(
        binary: &Path,
        env: &[(String, String)],
        addr: SocketAddr,
        log: &Path,
    ) -> anyhow::Result<(Self, Duration)> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        for (key, _) in std::env::vars() {
            if key.starts_with("PORTCULLIS_") {
                command.env_remove(key);
            }
        }
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let started = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut server = Self {
            pid: child.id(),
            child,
            target: Target::new(addr),
            log: log.to_owned(),
        };
        loop {
            if server.ready().await {
                return Ok((server, started.elapsed()));
            }
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!(
                    "the server exited ({status}) before it was ready; see {}",
                    server.log.display()
                );
            }
            if started.elapsed() > START_TIMEOUT {
                server.stop()?;
                anyhow::bail!(
                    "the server was not ready within {START_TIMEOUT:?}; see {}",
                    server.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn ready(&self) -> bool {
        let Ok(mut conn) = Conn::open(self.target.addr).await else {
            return false;
        };
        let Ok(req) = self.target.get("/ready", None) else {
            return false;
        };
        matches!(conn.send(req).await, Ok((status, _)) if status.is_success())
    }

    /// SIGTERM (a graceful stop, as in production), then SIGKILL if it
    /// lingers. std has no way to send SIGTERM and the workspace forbids
    /// `unsafe`, hence `kill(1)`.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let asked = Instant::now();
        while asked.elapsed() < Duration::from_secs(15) {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Resident memory now and its peak (`VmRSS`, `VmHWM`), in KiB.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse::<u64>().ok())
                .with_context(|| format!("no {name} in /proc/{}/status", self.pid))
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }

    /// Resets `VmHWM` to the current RSS (Linux ≥ 4.0), so the next peak
    /// is that of what follows. `false` when the kernel refused.
    pub fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok()
    }

    pub fn cpu(&self) -> anyhow::Result<CpuMeter> {
        CpuMeter::start(self.pid)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Never leave a server behind, whatever failed.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

/// Who used the CPU while a scenario ran: the server, the bench itself
/// (load generator), and everything else on the machine (other builds).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuShare {
    /// Percent of one core: 200 is both cores of a 2-core machine.
    pub server: f64,
    pub bench: f64,
    pub other: f64,
}

pub struct CpuMeter {
    pid: u32,
    started: Instant,
    server: u64,
    bench: u64,
    machine_busy: u64,
}

impl CpuMeter {
    fn start(pid: u32) -> anyhow::Result<Self> {
        Ok(Self {
            pid,
            started: Instant::now(),
            server: process_ticks(&pid.to_string())?,
            bench: process_ticks("self")?,
            machine_busy: machine_busy_ticks()?,
        })
    }

    pub fn finish(&self) -> anyhow::Result<CpuShare> {
        let wall = self.started.elapsed().as_secs_f64().max(1e-9) * TICKS_PER_SEC / 100.0;
        let server = (process_ticks(&self.pid.to_string())? - self.server) as f64 / wall;
        let bench = (process_ticks("self")? - self.bench) as f64 / wall;
        let machine = machine_busy_ticks()?.saturating_sub(self.machine_busy) as f64 / wall;
        Ok(CpuShare {
            server,
            bench,
            other: (machine - server - bench).max(0.0),
        })
    }
}

/// utime + stime of a process, all threads (`/proc/PID/stat` fields 14, 15).
fn process_ticks(pid: &str) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; fields are counted after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(i)
            .context("short /proc/PID/stat")?
            .parse::<u64>()?)
    };
    // After ")" the first field is field 3 (state): utime is 14, stime 15.
    Ok(tick(11)? + tick(12)?)
}

/// Busy ticks of the whole machine: everything in `/proc/stat`'s `cpu`
/// line but idle and iowait.
fn machine_busy_ticks() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Ok(total - idle)
}

/// The machine, for the report: cores and CPU model.
pub fn machine() -> (usize, String) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    (cores, model)
}
