//! B1's and B3's load process: `count` sockets, socket *i* joined to
//! conversation `i % conversations` (`realtime:conversation:<n>`, or the
//! routed `realtime:conversation:<uuid>:messages` of `config/walcast.toml`
//! with `--topic routed`; one binding `conversation_id=eq.<uuid>`), each
//! reading every frame and sending
//! realtime-js's heartbeat every 25 s. For every `postgres_changes` frame
//! it records receive time − `record.created_at`, when the row was created
//! inside the current window.
//!
//! ```text
//!  stdin: window / report ──▶ Tally ◀── socket tasks (one per socket, current-thread runtime)
//!  stdout: Ready, then one WorkerReport per `report`
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;

use crate::load::client::{self, Socket, TOKEN_ENV};
use crate::load::ipc::{Command, Ready, WorkerReport};
use crate::load::latency::Latencies;
use crate::load::lock;
use crate::load::process::Child;
use crate::load::protocol::{
    HEARTBEAT_SECONDS, conversation_uuid, heartbeat_frame, join_frame, parse_frame,
    record_created_at, unix_micros_now,
};

/// How long one socket may take to connect and join.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

/// `load subscribers`.
#[derive(Debug, Clone, clap::Args)]
pub struct SubscriberArgs {
    /// The gateway.
    #[arg(long)]
    pub addr: SocketAddr,
    /// Number of the first socket.
    #[arg(long, default_value_t = 0)]
    pub first: u32,
    /// Sockets to open.
    #[arg(long)]
    pub count: u32,
    /// Conversations the sockets are spread over.
    #[arg(long)]
    pub conversations: u32,
    /// Connects in flight at once.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Which topic each socket joins.
    #[arg(long, value_enum, default_value_t = TopicStyle::Plain)]
    pub topic: TopicStyle,
}

/// The topic a subscriber of conversation `n` joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TopicStyle {
    /// `realtime:conversation:<n>`: a topic no route names (open config).
    Plain,
    /// `realtime:conversation:<uuid>:messages`: the product configuration's
    /// route, with its join check and row policies.
    Routed,
}

impl TopicStyle {
    /// The topic of conversation `n`, with realtime-js's `realtime:` prefix.
    pub fn topic(self, conversation: u32) -> String {
        match self {
            Self::Plain => format!("realtime:conversation:{conversation}"),
            Self::Routed => format!(
                "realtime:conversation:{}:messages",
                conversation_uuid(conversation)
            ),
        }
    }
}

/// What the sockets of this process measured.
#[derive(Debug, Default)]
struct Tally {
    window: Option<(i64, i64)>,
    latencies: Latencies,
    /// Changes whose row was created outside the window.
    outside: u64,
    /// Change frames without a readable `record.created_at`.
    unreadable: u64,
    /// Bytes of the change frames counted in `latencies`.
    frame_bytes: u64,
    /// Sockets that closed after joining.
    closed: u64,
}

impl Tally {
    fn record(&mut self, received: i64, created: Option<i64>, bytes: usize) {
        match (created, self.window) {
            (Some(created), Some((start, end))) if (start..end).contains(&created) => {
                self.latencies.record(received - created);
                self.frame_bytes += bytes as u64;
            }
            (Some(_), _) => self.outside += 1,
            (None, _) => self.unreadable += 1,
        }
    }

    fn report(&self, label: String) -> WorkerReport {
        let mut report = WorkerReport {
            label,
            ..WorkerReport::default()
        }
        .with_histogram("delivery", &self.latencies);
        for (name, value) in [
            ("deliveries", self.latencies.count()),
            ("outside_window", self.outside),
            ("unreadable", self.unreadable),
            ("frame_bytes", self.frame_bytes),
            ("closed", self.closed),
        ] {
            report.counters.insert(name.to_owned(), value);
        }
        report
    }
}

/// Spawns `processes` load processes (`load subscribers`) holding `total`
/// sockets between them, spread over `conversations` conversations, and
/// waits until every socket has joined; any failed join fails the run.
pub async fn spawn_processes(
    addr: SocketAddr,
    token: &str,
    total: u32,
    processes: u32,
    conversations: u32,
    topic: TopicStyle,
) -> anyhow::Result<Vec<Child>> {
    let exe = std::env::current_exe()?;
    let processes = processes.clamp(1, total.max(1));
    let mut workers = Vec::new();
    let mut first = 0;
    for index in 0..processes {
        let count = total / processes + u32::from(index < total % processes);
        let mut command = tokio::process::Command::new(&exe);
        command
            .arg("subscribers")
            .arg(format!("--addr={addr}"))
            .arg(format!("--first={first}"))
            .arg(format!("--count={count}"))
            .arg(format!("--conversations={conversations}"))
            .arg(format!(
                "--topic={}",
                match topic {
                    TopicStyle::Plain => "plain",
                    TopicStyle::Routed => "routed",
                }
            ))
            .env(TOKEN_ENV, token);
        workers.push(Child::spawn(format!("load process {index}"), command)?);
        first += count;
    }
    for worker in &mut workers {
        let ready: Ready = worker.read_json(Duration::from_secs(300)).await?;
        if ready.failed > 0 {
            anyhow::bail!(
                "{}: {} sockets failed to join, first: {}",
                worker.name(),
                ready.failed,
                ready.first_error.unwrap_or_default()
            );
        }
    }
    Ok(workers)
}

/// Runs the load process on a current-thread runtime.
pub fn run(args: SubscriberArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: SubscriberArgs) -> anyhow::Result<()> {
    let token = std::env::var(TOKEN_ENV).with_context(|| format!("{TOKEN_ENV} is not set"))?;
    let url = Arc::new(client::websocket_url(args.addr, &token));
    let token = Arc::new(token);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let slots = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let (joined_tx, mut joined_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    for n in args.first..args.first + args.count {
        let permit = Arc::clone(&slots).acquire_owned().await?;
        let (url, token, joined_tx, tally) = (
            Arc::clone(&url),
            Arc::clone(&token),
            joined_tx.clone(),
            Arc::clone(&tally),
        );
        let conversation = n % args.conversations.max(1);
        tokio::spawn(async move {
            let opened = tokio::time::timeout(
                JOIN_TIMEOUT,
                open(args.addr, &url, &token, args.topic, conversation),
            )
            .await
            .map_err(|_| "join timed out".to_owned())
            .and_then(|opened| opened.map_err(|err| format!("{err:#}")));
            drop(permit);
            match opened {
                Ok(socket) => {
                    let _ = joined_tx.send(Ok(()));
                    listen(socket, &tally).await;
                    lock(&tally).closed += 1;
                }
                Err(err) => {
                    let _ = joined_tx.send(Err(err));
                }
            }
        });
    }
    drop(joined_tx);
    let mut ready = Ready::default();
    // Counted, not read to the end: a joined socket's task keeps its sender.
    for _ in 0..args.count {
        match joined_rx.recv().await.context("socket tasks ended early")? {
            Ok(()) => ready.ready += 1,
            Err(err) => {
                ready.failed += 1;
                ready.first_error.get_or_insert(err);
            }
        }
    }
    println!("{}", serde_json::to_string(&ready)?);

    let mut commands = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = commands.next_line().await? {
        match Command::parse(&line) {
            Some(Command::Window { start, end, .. }) => {
                let mut tally = lock(&tally);
                tally.window = Some((start, end));
                tally.latencies.clear();
                tally.outside = 0;
                tally.unreadable = 0;
                tally.frame_bytes = 0;
            }
            Some(Command::Report { label }) => {
                let report = lock(&tally).report(label);
                println!("{}", serde_json::to_string(&report)?);
            }
            None => anyhow::bail!("unknown command {line:?}"),
        }
    }
    Ok(())
}

async fn open(
    addr: SocketAddr,
    url: &str,
    token: &str,
    style: TopicStyle,
    conversation: u32,
) -> anyhow::Result<Socket> {
    let mut socket = client::connect(addr, url).await?;
    let topic = style.topic(conversation);
    let filter = format!("conversation_id=eq.{}", conversation_uuid(conversation));
    client::join(&mut socket, &topic, join_frame("1", &topic, &filter, token)).await?;
    Ok(socket)
}

/// Reads every frame, timing change frames, and heartbeats.
async fn listen(mut socket: Socket, tally: &Mutex<Tally>) {
    let period = Duration::from_secs(HEARTBEAT_SECONDS);
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let mut reference = 1u64;
    loop {
        tokio::select! {
            message = socket.next() => {
                let received = unix_micros_now();
                match message {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(frame) = parse_frame(&text)
                            && frame.event == "postgres_changes"
                        {
                            let created = record_created_at(frame.payload.get());
                            lock(tally).record(received, created, text.len());
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return,
                }
            }
            _ = heartbeat.tick() => {
                reference += 1;
                if socket.send(Message::text(heartbeat_frame(reference))).await.is_err() {
                    return;
                }
            }
        }
    }
}
