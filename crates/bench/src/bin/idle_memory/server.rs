//! The measured process: a `gateway::Gateway` with no database behind it,
//! or with `--floor` the stack's floor (`floor.rs`), on the same
//! multi-threaded tokio runtime walcast uses. Prints `listening <addr>`
//! and serves until its stdin closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use changes::{Change, ChangeKind, Column, Datum, Event, PgType, Position, Relation, Row};
use gateway::auth::{Authenticator, JwtSecret};
use gateway::{Gateway, Limits};
use pgoutput::ReplicaIdentity;
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
    #[arg(long, conflicts_with = "floor")]
    legacy_warp_ws: bool,
    /// Serve the floor instead of the gateway: one task per socket holding
    /// its `TcpStream`, as walcast's accept loop does, answering the
    /// upgrade and the join, with no session, hub or router.
    #[arg(long)]
    floor: bool,
    /// Publish one INSERT of `public.messages` before serving, as if the
    /// table had had a change: the index then knows its layout and binds
    /// each filter as it joins (filed by value), as in production. The
    /// floor has no table and ignores it.
    #[arg(long)]
    table_seen: bool,
}

pub(crate) fn run(args: ServerArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    if args.floor {
        let shutdown = CancellationToken::new();
        let (addr, server) = crate::floor::bind(args.addr, shutdown.clone())?;
        return serve_until_stdin_closes(addr, server, shutdown).await;
    }
    let secret = std::env::var(SECRET_ENV).with_context(|| format!("{SECRET_ENV} is not set"))?;
    let authenticator = Authenticator::new(Some(JwtSecret::new(secret)?), None)?;
    let limits = Limits {
        legacy_warp_ws: args.legacy_warp_ws,
        ..Limits::default()
    };
    let shutdown = CancellationToken::new();
    let gateway = Gateway::new(authenticator, limits, shutdown.clone());
    if args.table_seen {
        // Without a replication stream the window is ready at once; the
        // change is then matched live, which files the table's layout.
        gateway.hub().set_replay_ready();
        gateway
            .publish(&mut vec![Event::Change(messages_insert()?)])
            .await;
    }
    let (addr, server) = gateway.bind(args.addr).await?;
    serve_until_stdin_closes(addr, server, shutdown).await
}

/// Announces `addr`, runs `server` until stdin closes, then shuts it down.
async fn serve_until_stdin_closes(
    addr: SocketAddr,
    server: impl Future<Output = ()> + Send + 'static,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let done = tokio::spawn(server);
    println!("listening {addr}");
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), done).await;
    Ok(())
}

/// An INSERT of `public.messages (id int8)`, the table the load processes'
/// bindings select.
fn messages_insert() -> anyhow::Result<Change> {
    let int8 = PgType::builtin(20).context("int8 is a built-in type")?;
    let relation = Relation {
        oid: 16_384,
        schema: "public".into(),
        table: "messages".into(),
        identity: ReplicaIdentity::Default,
        columns: vec![Column {
            name: "id".into(),
            ty: int8,
            is_key: true,
        }],
    };
    Ok(Change {
        position: Position::default(),
        xid: 1,
        kind: ChangeKind::Insert,
        relation: Arc::new(relation),
        commit_ts: 0,
        record: Some(Row(vec![Some(Datum::Int(-1))])),
        old_record: None,
    })
}
