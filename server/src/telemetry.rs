//! Logging setup: `PORTCULLIS_LOG` is the filter, `PORTCULLIS_LOG_FORMAT`
//! picks text or JSON lines. Secrets never reach a log line: they travel in
//! [`crate::domain::Secret`], and request spans omit query strings.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init(filter: &str, json: bool) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("PORTCULLIS_LOG: {e}"))?;
    // Logs go to stderr; stdout is for what commands print.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
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
    result.map_err(|e| format!("cannot install the logger: {e}"))
}
