//! The walcast binary: parses the command line, loads settings, and wires
//! the crates together. Everything else lives in the library crates.

mod auth;
mod demo;
mod dev;
mod janitor;
mod join_checks;
mod migrate;
mod pipeline;
mod settings;
mod sql;
mod tail;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gateway::{Gateway, Limits};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Realtime gateway for PostgreSQL: streams committed row changes from the
/// WAL (logical replication, pgoutput) to subscribers.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Configuration file [env: WALCAST_CONFIG] [default: config/walcast.toml]
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway for DATABASE_URL (the default command).
    Serve {
        /// Also print every committed change as a JSON line on stdout.
        #[arg(long)]
        print_changes: bool,
    },
    /// Start an embedded PostgreSQL (no DATABASE_URL needed), migrate it, and stream its changes.
    Dev {
        /// Where the embedded cluster keeps its data.
        #[arg(long, default_value = ".walcast/pgdata")]
        data_dir: PathBuf,
        /// Wipe the data directory first.
        #[arg(long)]
        fresh: bool,
        /// Also print every committed change as a JSON line on stdout.
        #[arg(long)]
        print_changes: bool,
    },
    /// Play simulated support conversations through SQL (for the demo of `walcast dev`).
    DemoTraffic(demo::traffic::TrafficArgs),
    /// Print a channel's events as JSON lines (for debugging).
    Tail(tail::TailArgs),
    /// Apply the chat schema migrations to DATABASE_URL.
    Migrate,
    /// Validate the configuration and exit.
    CheckConfig,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match std::env::var("WALCAST_LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().init(),
        Ok("text") | Err(_) => logs.init(),
        Ok(other) => {
            eprintln!("walcast: WALCAST_LOG_FORMAT: {other:?} is not `text` or `json`");
            return std::process::ExitCode::FAILURE;
        }
    }
    // On a worker, not as `block_on`'s future on the main thread: the
    // consume loop is woken for every transaction by the replication task,
    // and a wake-up across threads per transaction cost measurable latency
    // (BENCHMARKS.md, B1) and CPU (the drain benchmark).
    match tokio::spawn(run(Cli::parse())).await {
        Ok(Ok(())) => std::process::ExitCode::SUCCESS,
        Ok(Err(err)) => {
            eprintln!("walcast: {err:#}");
            std::process::ExitCode::FAILURE
        }
        Err(panic) => {
            eprintln!("walcast: {panic}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = settings::load(cli.config.as_deref(), |k| std::env::var(k).ok())?;
    let shutdown = shutdown_on_signal();
    match cli.command.unwrap_or(Command::Serve {
        print_changes: false,
    }) {
        Command::Serve { print_changes } => {
            let database = settings
                .database
                .clone()
                .context("DATABASE_URL is not set (use `walcast dev` for a local database)")?;
            let gateway = Gateway::new(
                auth::authenticator(&settings)?,
                Limits::default(),
                shutdown.clone(),
            )
            .with_access(
                settings.access.clone(),
                Some(join_checks::checker(database.clone())),
            );
            pipeline::run(
                &settings,
                &database,
                gateway,
                print_changes,
                shutdown,
                |_| {},
            )
            .await
        }
        Command::Dev {
            data_dir,
            fresh,
            print_changes,
        } => {
            let settings = auth::with_dev_secret(settings);
            let gateway = Gateway::new(
                auth::authenticator(&settings)?,
                Limits::default(),
                shutdown.clone(),
            );
            let (cluster, database) = match settings.database.clone() {
                Some(database) => (None, database),
                None => {
                    let (cluster, database) = dev::start_database(&data_dir, fresh).await?;
                    (Some(cluster), database)
                }
            };
            let demo = demo::Demo::start(&settings, &database).await?;
            let gateway = gateway
                .with_access(
                    settings.access.clone(),
                    Some(join_checks::checker(database.clone())),
                )
                .with_routes(demo.routes());
            let banner = |addr| dev::print_banner(cluster.as_ref(), &settings, &demo, addr);
            let result = pipeline::run(
                &settings,
                &database,
                gateway,
                print_changes,
                shutdown,
                banner,
            )
            .await;
            drop(cluster);
            result
        }
        Command::Tail(args) => tail::run(args, &settings, shutdown).await,
        Command::DemoTraffic(args) => demo::traffic::run(args, &settings, shutdown).await,
        Command::Migrate => {
            let database = settings.database.context("DATABASE_URL is not set")?;
            migrate::run(&database).await
        }
        Command::CheckConfig => {
            let database = match &settings.database {
                Some(db) => format!("{}:{}/{}", db.host, db.port, db.dbname),
                None => "none (walcast dev starts its own)".to_owned(),
            };
            println!(
                "configuration is valid: database {database}, slot {}, publication {}, listen {}",
                settings.slot, settings.publication, settings.listen
            );
            Ok(())
        }
    }
}

/// Cancels the returned token on the first SIGINT or SIGTERM; a second
/// signal exits at once.
fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        for n in 0.. {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if n > 0 {
                std::process::exit(130);
            }
            tracing::info!("shutting down (signal again to exit at once)");
            cancel.cancel();
        }
    });
    token
}
