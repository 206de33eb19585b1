//! A load process: opens sockets (vsn 2.0.0, the current realtime-js
//! default), joins each to its own channel with one filtered
//! `postgres_changes` binding the way realtime-js words a join, waits for
//! the join reply and the "Subscribed to PostgreSQL" system message, prints
//! `ready <n>`, then idles: it reads everything and sends realtime-js's
//! heartbeat every 25 s, until its stdin closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Where the client token comes from (never the command line).
pub(crate) const TOKEN_ENV: &str = "IDLE_MEMORY_TOKEN";

/// realtime-js's `heartbeatIntervalMs`.
const HEARTBEAT: Duration = Duration::from_secs(25);

/// How long one socket may take to connect and join.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

/// `idle-memory clients`.
#[derive(Debug, clap::Args)]
pub(crate) struct ClientArgs {
    /// The gateway.
    #[arg(long)]
    addr: SocketAddr,
    /// Sockets to open.
    #[arg(long)]
    count: u32,
    /// Number of the first socket (channel `idle-<n>`, filter `id=eq.<n>`).
    #[arg(long, default_value_t = 0)]
    first: u32,
    /// Connects in flight at once.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
}

pub(crate) fn run(args: ClientArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(open_all(args))
}

async fn open_all(args: ClientArgs) -> anyhow::Result<()> {
    let token = std::env::var(TOKEN_ENV).with_context(|| format!("{TOKEN_ENV} is not set"))?;
    let url = format!(
        "ws://{}/realtime/v1/websocket?apikey={token}&vsn=2.0.0",
        args.addr
    );
    let slots = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let (joined_tx, mut joined_rx) = mpsc::unbounded_channel::<anyhow::Result<()>>();
    for n in args.first..args.first + args.count {
        let permit = Arc::clone(&slots).acquire_owned().await?;
        let (url, token, joined_tx) = (url.clone(), token.clone(), joined_tx.clone());
        tokio::spawn(async move {
            let opened =
                tokio::time::timeout(JOIN_TIMEOUT, open_and_join(args.addr, &url, &token, n))
                    .await
                    .context("join timed out")
                    .and_then(|joined| joined);
            drop(permit);
            match opened {
                Ok(socket) => {
                    let _ = joined_tx.send(Ok(()));
                    idle(socket).await;
                }
                Err(err) => {
                    let _ = joined_tx.send(Err(err));
                }
            }
        });
    }
    drop(joined_tx);
    for _ in 0..args.count {
        match joined_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(err)) => return Err(err.context("a socket failed to join")),
            None => bail!("client tasks ended early"),
        }
    }
    println!("ready {}", args.count);
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    Ok(())
}

type Socket = WebSocketStream<TcpStream>;

async fn open_and_join(addr: SocketAddr, url: &str, token: &str, n: u32) -> anyhow::Result<Socket> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    // Small client buffers: the load processes hold thousands of sockets.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut socket, _) =
        tokio_tungstenite::client_async_with_config(url, tcp, Some(config)).await?;
    let topic = format!("realtime:idle-{n}");
    let join = json!(["1", "1", topic, "phx_join", {
        "config": {
            "broadcast": {"ack": false, "self": false},
            "presence": {"key": "", "enabled": false},
            "postgres_changes": [{"event": "*", "schema": "public", "table": "messages", "filter": format!("id=eq.{n}")}],
            "private": false
        },
        "access_token": token
    }]);
    socket.send(Message::text(join.to_string())).await?;
    let mut replied = false;
    let mut subscribed = false;
    while !(replied && subscribed) {
        let Some(message) = socket.next().await else {
            bail!("closed during the join");
        };
        let Message::Text(text) = message? else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text)?;
        match frame[3].as_str() {
            Some("phx_reply") if frame[4]["status"] == "ok" => replied = true,
            Some("system") if frame[4]["status"] == "ok" => subscribed = true,
            _ => bail!("unexpected answer to the join: {text}"),
        }
    }
    Ok(socket)
}

/// Reads whatever comes, sends a heartbeat every [`HEARTBEAT`].
async fn idle(mut socket: Socket) {
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    let mut reference = 1u64;
    loop {
        tokio::select! {
            message = socket.next() => {
                if !matches!(message, Some(Ok(_))) {
                    return;
                }
            }
            _ = heartbeat.tick() => {
                reference += 1;
                let frame = json!([null, reference.to_string(), "phoenix", "heartbeat", {}]);
                if socket.send(Message::text(frame.to_string())).await.is_err() {
                    return;
                }
            }
        }
    }
}
