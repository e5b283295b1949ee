//! The `portcullis` command line.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use portcullis::app::{self, Application, Opened, shutdown_signal};
use portcullis::config::Config;
use portcullis::domain::Page;
use portcullis::service::admin::NewUser;
use portcullis::service::authz::Actor;
use portcullis::service::bootstrap::Bootstrapped;

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
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant with default settings.
    Create {
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// List tenants.
    List,
    /// Delete a tenant and everything in it.
    Delete {
        slug: String,
        /// Confirm: the tenant's users, sessions and keys are gone for good.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password is prompted for (or read as one line
    /// from standard input when it is not a terminal), never taken from the
    /// command line, where other users of the machine could see it.
    Create(CreateUser),
}

#[derive(Args)]
struct CreateUser {
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    email: String,
    #[arg(long)]
    name: Option<String>,
    /// A role to grant (repeatable); `user` is always granted.
    #[arg(long = "role")]
    roles: Vec<String>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Rotate a tenant's signing key.
    Rotate {
        #[arg(long)]
        tenant: String,
    },
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
    let log_writer = match portcullis::telemetry::init(&config.log, config.log_json) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("portcullis: {e}");
            return ExitCode::from(2);
        }
    };
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
            None | Some(Command::Serve) => serve(config).await,
            Some(Command::Migrate) => migrate(&config).await,
            Some(Command::Tenant(command)) => tenant(config, command).await,
            Some(Command::User(UserCommand::Create(args))) => create_user(config, args).await,
            Some(Command::Keys(KeysCommand::Rotate { tenant })) => rotate(config, &tenant).await,
            Some(Command::Openapi) => Ok(()),
        }
    });
    // Queued log lines first, so that they come before the error below.
    drop(log_writer);
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
    println!();
    println!("  Portcullis is listening on http://{}", app.addr());
    println!("  API            {public_url}/t/default/...  (tenants: system, default)");
    println!("  Swagger UI     {public_url}/docs/");
    println!("  OpenAPI        {public_url}/openapi.json");
    println!("  Dashboard      {public_url}/dashboard  (sign in with tenant `system`)");
    if app.master_key_created {
        println!("  Master key     generated into the data directory (keep it safe; back it up)");
    }
    print_bootstrap(app.bootstrapped.as_ref());
    println!();
    app.run_until(shutdown_signal()).await;
    Ok(())
}

/// On the first start only: how to sign in. Printed by any command that
/// happened to create the database, so the password is never lost.
fn print_bootstrap(bootstrapped: Option<&Bootstrapped>) {
    let Some(boot) = bootstrapped else {
        return;
    };
    println!();
    println!("  First start: created the platform superadmin; sign in to the dashboard with");
    println!("    tenant    system");
    println!("    email     {}", boot.admin_email);
    match &boot.generated_password {
        Some(password) => {
            println!("    password  {}", password.expose());
            println!("  This password is shown only now.");
        }
        None => println!("    password  (from PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD)"),
    }
}

async fn open(config: Config) -> anyhow::Result<Opened> {
    let opened = app::open(config).await?;
    print_bootstrap(opened.bootstrapped.as_ref());
    Ok(opened)
}

async fn tenant(config: Config, command: TenantCommand) -> anyhow::Result<()> {
    let services = open(config).await?.services;
    let operator = Actor::operator();
    match command {
        TenantCommand::Create { slug, name } => {
            let tenant = services
                .platform
                .create_tenant(&operator, &slug, &name, |_| {})
                .await?;
            println!("created tenant {} ({})", tenant.slug, tenant.name);
        }
        TenantCommand::List => {
            let mut number = 1;
            loop {
                let page = Page {
                    number,
                    size: Page::MAX_SIZE,
                };
                let (tenants, total) = services.platform.list_tenants(page).await?;
                for tenant in &tenants {
                    println!(
                        "{}\t{}\t{}",
                        tenant.slug,
                        tenant.name,
                        tenant.created_at.to_rfc3339()
                    );
                }
                if number * Page::MAX_SIZE >= total || tenants.is_empty() {
                    break;
                }
                number += 1;
            }
        }
        TenantCommand::Delete { slug, yes } => {
            anyhow::ensure!(
                yes,
                "deleting tenant {slug} removes all its users, sessions and keys; add --yes to confirm"
            );
            services.platform.delete_tenant(&operator, &slug).await?;
            println!("deleted tenant {slug}");
        }
    }
    Ok(())
}

async fn create_user(config: Config, args: CreateUser) -> anyhow::Result<()> {
    let services = open(config).await?.services;
    let tenant = services.tenants.resolve(&args.tenant).await?;
    let password = read_password()?;
    let user = services
        .admin
        .create_user(
            &Actor::operator(),
            &tenant,
            NewUser {
                email: args.email,
                password: Some(password),
                name: args.name,
                roles: Some(args.roles),
            },
        )
        .await
        .map_err(|e| match e {
            portcullis::error::Error::Validation(errors) => anyhow::anyhow!(
                "invalid input: {}",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            other => other.into(),
        })?;
    println!(
        "created user {} ({}) with roles {}",
        user.email,
        user.id,
        user.roles.join(", ")
    );
    Ok(())
}

/// From the terminal without echo, or one line of standard input.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let again =
            rpassword::prompt_password("Password (again): ").context("reading the password")?;
        anyhow::ensure!(first == again, "the passwords differ");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

async fn rotate(config: Config, tenant: &str) -> anyhow::Result<()> {
    let services = open(config).await?.services;
    let jwk = services
        .platform
        .rotate_key(&Actor::operator(), tenant)
        .await?;
    println!("{jwk}");
    Ok(())
}
