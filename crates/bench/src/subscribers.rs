//! Subscriptions for the drain benchmark (B2): a `gateway::Gateway` in the
//! measured process, and a separate client process that holds its channels
//! over real WebSocket connections and counts what it receives.
//!
//! ```text
//!  bench process: ChangeStream ─▶ Gateway::publish ─▶ window + index ─▶ socket queues ──┐
//!  client process (`drain subscribers`): S sockets × C channels, filter              ◀──┘
//!      conversation_id=eq.<id>; prints `ready`, then `received <n>` four times a second
//! ```
//!
//! Subscription `g` sits on socket `g % S`. The first ones watch
//! conversations the fill writes to (one each, on different sockets), the
//! others watch ids that never occur: a row is delivered to one channel or
//! none, whatever the number of subscriptions, so a run measures what the
//! subscriptions cost the ingest path (index size, window, memory, the
//! frames of the watched rows), not fan-out, and the client process can
//! check that every watched row arrived once.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use gateway::auth::{Authenticator, JwtSecret};
use gateway::{Gateway, Limits};

use crate::load::protocol;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

/// The client process's token (never on the command line).
const TOKEN_ENV: &str = "WALCAST_BENCH_SUBSCRIBER_TOKEN";

/// Channels per socket (Supabase's and walcast's default limit).
pub const CHANNELS_PER_SOCKET: usize = 100;

/// A gateway with `count` subscriptions held by a client process.
pub struct Subscribers {
    /// The gateway the drain publishes into.
    pub gateway: Gateway,
    /// Subscriptions held.
    pub count: usize,
    received: Arc<AtomicU64>,
    client: Child,
    shutdown: CancellationToken,
}

impl Subscribers {
    /// Starts the gateway on loopback and a client process (this program
    /// run as `drain subscribers`) that joins `count` channels, 100 of them
    /// watching `watched`. Returns once every join is answered.
    pub async fn start(count: usize, watched: &[String]) -> anyhow::Result<Self> {
        let secret = format!("bench-{:016x}", rand::random::<u64>());
        let authenticator = Authenticator::new(Some(JwtSecret::new(secret.clone())?), None)?;
        let shutdown = CancellationToken::new();
        let gateway = Gateway::new(authenticator, Limits::default(), shutdown.clone());
        let (addr, server) = gateway.bind("127.0.0.1:0".parse()?).await?;
        tokio::spawn(server);

        let token = protocol::sign_token(&secret, "anon", 24 * 3600)?;
        let mut client = Command::new(std::env::current_exe()?)
            .args(["subscribers", "--addr", &addr.to_string()])
            .args(["--count", &count.to_string()])
            .args(["--watched", &watched.join(",")])
            .env(TOKEN_ENV, token)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the subscriber process")?;
        let stdout = client.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        match lines.next_line().await? {
            Some(line) if line == "ready" => {}
            other => bail!("the subscriber process did not get ready: {other:?}"),
        }
        let received = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&received);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(n) = line.strip_prefix("received ").and_then(|n| n.parse().ok()) {
                    counter.store(n, Ordering::Relaxed);
                }
            }
        });
        Ok(Self {
            gateway,
            count,
            received,
            client,
            shutdown,
        })
    }

    /// Waits until the client process has received `total` change events
    /// in all (at most `timeout`); returns how many it had.
    pub async fn wait_received(&self, total: u64, timeout: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let received = self.received.load(Ordering::Relaxed);
            if received >= total || tokio::time::Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Slow-consumer evictions so far (a run with any is not valid).
    pub fn evictions(&self) -> u64 {
        self.gateway.hub().metrics().slow_consumer_closes()
    }

    /// Stops the client process and the gateway.
    pub async fn stop(mut self) {
        drop(self.client.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.client.wait()).await;
        self.shutdown.cancel();
    }
}

/// `drain subscribers`: the client process.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// The gateway.
    #[arg(long)]
    addr: SocketAddr,
    /// Subscriptions (channels) to join.
    #[arg(long)]
    count: usize,
    /// The conversation ids the first subscriptions watch, comma-separated.
    #[arg(long, value_delimiter = ',')]
    watched: Vec<String>,
}

/// Runs the client process until its stdin closes.
pub fn client_main(args: ClientArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(hold(args))
}

async fn hold(args: ClientArgs) -> anyhow::Result<()> {
    let token = std::env::var(TOKEN_ENV).with_context(|| format!("{TOKEN_ENV} is not set"))?;
    let sockets = args
        .count
        .div_ceil(CHANNELS_PER_SOCKET)
        .max(args.watched.len().min(args.count));
    let received = Arc::new(AtomicU64::new(0));
    let opening = Arc::new(Semaphore::new(64));
    let (joined_tx, mut joined_rx) = mpsc::unbounded_channel::<anyhow::Result<()>>();
    for socket in 0..sockets {
        // Subscription g sits on socket g % sockets.
        let filters: Vec<String> = (socket..args.count)
            .step_by(sockets)
            .map(|g| match args.watched.get(g) {
                Some(id) => id.clone(),
                None => format!("00000000-0000-4000-8000-{g:012x}"),
            })
            .collect();
        let permit = Arc::clone(&opening).acquire_owned().await?;
        let (token, received, joined_tx) =
            (token.clone(), Arc::clone(&received), joined_tx.clone());
        tokio::spawn(async move {
            match open(args.addr, &token, socket, &filters).await {
                Ok(ws) => {
                    drop(permit);
                    let _ = joined_tx.send(Ok(()));
                    read(ws, &received).await;
                }
                Err(err) => {
                    let _ = joined_tx.send(Err(err));
                }
            }
        });
    }
    drop(joined_tx);
    for _ in 0..sockets {
        joined_rx
            .recv()
            .await
            .context("socket tasks ended early")?
            .context("a socket failed to join")?;
    }
    println!("ready");
    let report = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            println!("received {}", received.load(Ordering::Relaxed));
        }
    });
    let _ = tokio::io::stdin().read_to_end(&mut Vec::new()).await;
    report.abort();
    Ok(())
}

type Socket = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Opens one socket and joins one channel per filter, the way realtime-js
/// words a join (vsn 2.0.0), waiting for every reply.
async fn open(
    addr: SocketAddr,
    token: &str,
    socket: usize,
    filters: &[String],
) -> anyhow::Result<Socket> {
    let url = format!("ws://{addr}/realtime/v1/websocket?apikey={token}&vsn=2.0.0");
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let config = WebSocketConfig::default().read_buffer_size(16 << 10);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config)).await?;
    for (k, id) in filters.iter().enumerate() {
        let join = protocol::join_frame_on(
            "walcast_bench",
            &k.to_string(),
            &format!("realtime:b2-{socket}-{k}"),
            &format!("conversation_id=eq.{id}"),
            token,
        );
        ws.feed(Message::text(join)).await?;
    }
    ws.flush().await?;
    let mut replies = 0;
    while replies < filters.len() {
        let Some(message) = ws.next().await else {
            bail!("closed during the joins");
        };
        let Message::Text(text) = message? else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text)?;
        match frame[3].as_str() {
            Some("phx_reply") if frame[4]["status"] == "ok" => replies += 1,
            Some("phx_reply") => bail!("join refused: {text}"),
            _ => {}
        }
    }
    Ok(ws)
}

/// realtime-js's heartbeat interval (the gateway closes a socket silent
/// for 60 s).
const HEARTBEAT: Duration = Duration::from_secs(protocol::HEARTBEAT_SECONDS);

/// Reads until the socket closes, counting `postgres_changes` events, and
/// sends realtime-js's heartbeat.
async fn read(mut ws: Socket, received: &AtomicU64) {
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    let mut reference = 0u64;
    loop {
        tokio::select! {
            message = ws.next() => {
                let Some(Ok(message)) = message else { return };
                if let Message::Text(text) = message {
                    // [join_ref, ref, "realtime:…", "postgres_changes", {…}]: the
                    // event name is near the start; no need to parse the row.
                    if text.as_bytes().windows(20).take(96).any(|w| w == b"\"postgres_changes\",{") {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            _ = heartbeat.tick() => {
                reference += 1;
                if ws.send(Message::text(protocol::heartbeat_frame(reference))).await.is_err() {
                    return;
                }
            }
        }
    }
}
