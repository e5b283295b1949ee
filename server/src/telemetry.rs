//! Logging setup: `PORTCULLIS_LOG` is the filter, `PORTCULLIS_LOG_FORMAT`
//! picks text or JSON lines. Secrets never reach a log line: they travel in
//! [`crate::domain::Secret`], and request spans omit query strings.
//!
//! Lines are formatted where they happen but written by a thread of their
//! own, which writes whatever has queued up in one go. Written in place,
//! each request's access line cost a `write(2)` on the runtime thread
//! (the largest share of a `GET /me` after the socket itself, `cargo xtask
//! bench` under `perf`), and a log reader that stopped reading would have
//! stopped every request with it.

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Lines that may wait for the writer. When a stalled reader lets this
/// many pile up, further lines are dropped rather than holding requests
/// (at ~250 bytes a line, a few MiB at most).
const QUEUED_LINES: usize = 16_384;

/// Installs the logger. Lines still queued are written when the returned
/// guard is dropped, so `main` holds it until the process ends.
pub fn init(filter: &str, json: bool) -> Result<WorkerGuard, String> {
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("PORTCULLIS_LOG: {e}"))?;
    // Logs go to stderr; stdout is for what commands print.
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("log-writer")
        .finish(BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // Colours only for a person at a terminal: a log file or collector
        // would get escape codes in every line (and formatting them costs).
        .with_ansi(std::io::stderr().is_terminal());
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))?;
    Ok(guard)
}
