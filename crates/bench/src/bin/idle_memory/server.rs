//! The measured process: a `gateway::Gateway` with no database behind it,
//! on the same multi-threaded tokio runtime walcast uses. Prints
//! `listening <addr>` and serves until its stdin closes.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use gateway::auth::{Authenticator, JwtSecret};
use gateway::{Gateway, Limits};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

/// Where the JWT secret comes from (never the command line, which `ps` shows).
pub(crate) const SECRET_ENV: &str = "IDLE_MEMORY_JWT_SECRET";

/// `idle-memory server`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Upgrade with warp's `ws()` (the baseline) instead of walcast's own.
    #[arg(long)]
    legacy_warp_ws: bool,
    /// The socket read buffer (`Limits::read_buffer_bytes`).
    #[arg(long)]
    read_buffer_bytes: Option<usize>,
    /// The socket write batch (`Limits::write_buffer_bytes`).
    #[arg(long)]
    write_buffer_bytes: Option<usize>,
}

pub(crate) fn run(args: ServerArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let secret = std::env::var(SECRET_ENV).with_context(|| format!("{SECRET_ENV} is not set"))?;
    let authenticator = Authenticator::new(Some(JwtSecret::new(secret)?), None)?;
    let defaults = Limits::default();
    let limits = Limits {
        legacy_warp_ws: args.legacy_warp_ws,
        read_buffer_bytes: args.read_buffer_bytes.unwrap_or(defaults.read_buffer_bytes),
        write_buffer_bytes: args
            .write_buffer_bytes
            .unwrap_or(defaults.write_buffer_bytes),
        ..defaults
    };
    let shutdown = CancellationToken::new();
    let gateway = Gateway::new(authenticator, limits, shutdown.clone());
    let (addr, server) = gateway.bind(args.addr).await?;
    let done = tokio::spawn(server);
    println!("listening {addr}");
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), done).await;
    Ok(())
}
