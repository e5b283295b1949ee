//! `cargo xtask <task>`: the project's chores, in plain Rust.
//!
//! - `openapi [--check]`: write `openapi/openapi.json`, or fail if it is stale.
//! - `bench [--pg URL] [--users N] [--duration S] [--runs N]`: load-test a
//!   release build and write `BENCHMARKS.md` (see `bench/mod.rs`).

mod bench;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("openapi") => openapi(args.iter().any(|a| a == "--check")),
        Some("bench") => bench::run(&args[1..]),
        _ => Err(anyhow::anyhow!(
            "usage: cargo xtask openapi [--check] | cargo xtask bench [--help]"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn spec_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("openapi")
        .join("openapi.json")
}

fn openapi(check: bool) -> anyhow::Result<()> {
    let spec = portcullis::api::spec_json() + "\n";
    let path = spec_path();
    if check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != spec {
            anyhow::bail!(
                "{} is stale: run `cargo xtask openapi` and commit the result",
                path.display()
            );
        }
        println!("openapi/openapi.json is current");
    } else {
        std::fs::write(&path, spec)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
