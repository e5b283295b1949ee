//! The `portcullis` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use portcullis::app::{Application, shutdown_signal};
use portcullis::config::Config;

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "A self-hosted, multi-tenant identity server"
)]
struct Cli {
    /// A TOML file of settings; `PORTCULLIS_*` environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        println!("{}", portcullis::api::spec_json());
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("portcullis: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = portcullis::telemetry::init(&config.log, config.log_json) {
        eprintln!("portcullis: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("portcullis: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Some(Command::Migrate) => migrate(&config).await,
            _ => serve(config).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portcullis: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = portcullis::store::connect(&config.database_url).await?;
    portcullis::store::migrate(&db).await?;
    println!("migrations applied");
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let public_url = config.public_url.clone();
    let app = Application::build(config).await?;
    print_banner(&app, &public_url);
    app.run_until(shutdown_signal()).await?;
    Ok(())
}

/// What a newcomer needs after `cargo run --release`: where everything is,
/// and — on the first start only — how to sign in.
fn print_banner(app: &Application, public_url: &str) {
    println!();
    println!("  Portcullis is listening on http://{}", app.addr());
    println!("  API            {public_url}/t/default/...  (tenants: system, default)");
    println!("  Swagger UI     {public_url}/docs/");
    println!("  OpenAPI        {public_url}/openapi.json");
    if app.master_key_created {
        println!("  Master key     generated into the data directory (keep it safe; back it up)");
    }
    if let Some(boot) = &app.bootstrapped {
        println!();
        println!("  First start: created the platform superadmin in tenant `system`:");
        println!("    email     {}", boot.admin_email);
        match &boot.generated_password {
            Some(password) => {
                println!("    password  {}", password.expose());
                println!("  This password is shown only now.");
            }
            None => println!("    password  (from PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD)"),
        }
    }
    println!();
}
