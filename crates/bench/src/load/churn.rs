//! B5's load processes, open loop: each schedules its attempts at fixed
//! times and starts them when due, whether or not earlier ones have been
//! answered, and times each one from its *scheduled* start, so that a
//! stalled server or a saturated load process shows up as latency instead of
//! quietly lowering the offered rate.
//!
//! * `churn`: per attempt a new TCP connection → WebSocket upgrade (token as
//!   `apikey`) → `phx_join` with one filtered binding → `phx_reply` ok →
//!   close. Two latencies: scheduled start → join reply (`connect_join`) and
//!   join sent → join reply (`join_ack`).
//! * `joins`: `connections` sockets opened first (not timed); then each one
//!   joins a new topic at its share of the rate and leaves it once the reply
//!   is there, writes batched per tick. Latencies: scheduled → join reply
//!   (`connect_join`, includes up to one tick of batching) and written →
//!   join reply (`join_ack`).
//!
//! ```text
//!  stdout: Ready ─▶ stdin: window <label> <start> <end> ─▶ schedule runs from now to <end>,
//!          counting attempts scheduled in [start, end) ─▶ stdin: report ─▶ stdout: WorkerReport
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::load::client::{self, Socket, TOKEN_ENV};
use crate::load::ipc::{Command, Ready, WorkerReport};
use crate::load::latency::Latencies;
use crate::load::lock;
use crate::load::protocol::{
    conversation_uuid, join_frame, leave_frame, parse_frame, unix_micros_now,
};

/// How long one attempt may take before it counts as timed out.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long answers are awaited after the schedule ends.
const DRAIN: Duration = Duration::from_secs(3);

/// Conversations the join filters are spread over (the chat fixture's).
const CONVERSATIONS: u32 = 1000;

/// `load churn` and `load joins`.
#[derive(Debug, Clone, clap::Args)]
pub struct ChurnArgs {
    /// The server.
    #[arg(long)]
    pub addr: SocketAddr,
    /// Attempts (churn) or joins (joins) per second offered by this process.
    #[arg(long)]
    pub rate: f64,
    /// `joins` only: sockets opened before the schedule starts.
    #[arg(long, default_value_t = 0)]
    pub connections: u32,
    /// `churn` only: attempts in flight before new ones are skipped (the
    /// process has 20,000 file descriptors).
    #[arg(long, default_value_t = 15_000)]
    pub max_in_flight: usize,
    /// `churn` only: rise linearly from 0 to `rate` over the warm-up (the
    /// time before the measured window) instead of starting at `rate`.
    #[arg(long)]
    pub ramp: bool,
    /// `joins` only: how often each socket writes its due joins and leaves.
    #[arg(long, default_value_t = 10)]
    pub tick_ms: u64,
    /// `joins` only: unanswered joins per socket before due joins are
    /// skipped (walcast allows 100 channels per socket, and a join is left
    /// only once its reply is in).
    #[arg(long, default_value_t = 50)]
    pub max_pending: usize,
}

/// What this process measured in the current window.
#[derive(Debug, Default)]
struct Tally {
    window: (i64, i64),
    /// Scheduled start → join reply.
    total: Latencies,
    /// Join sent → join reply (churn only).
    join_ack: Latencies,
    counters: HashMap<&'static str, u64>,
    first_error: Option<String>,
}

impl Tally {
    fn counts(&self, scheduled: i64) -> bool {
        (self.window.0..self.window.1).contains(&scheduled)
    }

    fn add(&mut self, name: &'static str) {
        *self.counters.entry(name).or_default() += 1;
    }

    fn fail(&mut self, kind: &'static str, err: String) {
        self.add(kind);
        self.first_error.get_or_insert(err);
    }

    fn report(&self, label: String) -> WorkerReport {
        let mut report = WorkerReport {
            label,
            first_error: self.first_error.clone(),
            ..WorkerReport::default()
        }
        .with_histogram("connect_join", &self.total)
        .with_histogram("join_ack", &self.join_ack);
        for (name, value) in &self.counters {
            report.counters.insert((*name).to_owned(), *value);
        }
        report
    }
}

type Shared = Arc<Mutex<Tally>>;

/// Runs `load churn` on a current-thread runtime.
pub fn run_churn(args: ChurnArgs) -> anyhow::Result<()> {
    current_thread()?.block_on(churn(args))
}

/// Runs `load joins` on a current-thread runtime.
pub fn run_joins(args: ChurnArgs) -> anyhow::Result<()> {
    current_thread()?.block_on(joins(args))
}

fn current_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Reads the next window; `None` when stdin has closed.
async fn next_window(commands: &mut Lines<BufReader<Stdin>>) -> anyhow::Result<Option<(i64, i64)>> {
    while let Some(line) = commands.next_line().await? {
        match Command::parse(&line) {
            Some(Command::Window { start, end, .. }) => return Ok(Some((start, end))),
            Some(Command::Report { .. }) => {}
            None => anyhow::bail!("unknown command {line:?}"),
        }
    }
    Ok(None)
}

/// Answers `report` commands until stdin closes.
async fn report_until_closed(
    commands: &mut Lines<BufReader<Stdin>>,
    tally: &Shared,
) -> anyhow::Result<()> {
    while let Some(line) = commands.next_line().await? {
        if let Some(Command::Report { label }) = Command::parse(&line) {
            let report = lock(tally).report(label);
            println!("{}", serde_json::to_string(&report)?);
        }
    }
    Ok(())
}

async fn churn(args: ChurnArgs) -> anyhow::Result<()> {
    let token =
        Arc::new(std::env::var(TOKEN_ENV).with_context(|| format!("{TOKEN_ENV} is not set"))?);
    let url = Arc::new(client::websocket_url(args.addr, &token));
    println!("{}", serde_json::to_string(&Ready::default())?);
    let mut commands = BufReader::new(tokio::io::stdin()).lines();
    let Some(window) = next_window(&mut commands).await? else {
        return Ok(());
    };
    let tally: Shared = Arc::new(Mutex::new(Tally {
        window,
        ..Tally::default()
    }));
    let in_flight = Arc::new(Semaphore::new(args.max_in_flight));
    let begin = unix_micros_now();
    let ramp = if args.ramp {
        (window.0 - begin).max(0) as f64
    } else {
        0.0
    };
    let schedule = Ramp {
        per_micro: args.rate.max(1e-3) / 1e6,
        ramp,
    };
    let mut attempt = 0u64;
    loop {
        let scheduled = begin + schedule.offset(attempt) as i64;
        if scheduled >= window.1 {
            break;
        }
        let wait = scheduled - unix_micros_now();
        if wait > 0 {
            tokio::time::sleep(Duration::from_micros(wait.unsigned_abs())).await;
        }
        attempt += 1;
        let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
            let mut tally = lock(&tally);
            if tally.counts(scheduled) {
                tally.add("skipped_in_flight_limit");
            }
            continue;
        };
        let (url, token, tally) = (Arc::clone(&url), Arc::clone(&token), Arc::clone(&tally));
        let n = attempt;
        tokio::spawn(async move {
            let outcome = tokio::time::timeout(
                ATTEMPT_TIMEOUT,
                connect_join_close(args.addr, &url, &token, n),
            )
            .await;
            let done = unix_micros_now();
            let mut tally = lock(&tally);
            if tally.counts(scheduled) {
                tally.add("attempts");
                match outcome {
                    Ok(Ok(join_sent)) => {
                        tally.add("ok");
                        tally.total.record(done - scheduled);
                        tally.join_ack.record(done - join_sent);
                    }
                    Ok(Err((kind, err))) => tally.fail(kind, err),
                    Err(_) => tally.fail("timeout", "attempt timed out".to_owned()),
                }
            }
            drop(tally);
            drop(permit);
        });
    }
    // Lets the last attempts finish (each is bounded by ATTEMPT_TIMEOUT).
    let _ = tokio::time::timeout(
        ATTEMPT_TIMEOUT + DRAIN,
        in_flight.acquire_many(u32::try_from(args.max_in_flight)?),
    )
    .await;
    report_until_closed(&mut commands, &tally).await
}

/// When each attempt is due: at a fixed rate, or rising linearly from 0
/// to it over `ramp` µs first.
struct Ramp {
    /// The rate, per µs.
    per_micro: f64,
    /// µs of ramp (0: none).
    ramp: f64,
}

impl Ramp {
    /// µs from the start to attempt `n` (from 0). During the ramp the rate
    /// is `per_micro · t / ramp`, so `n(t) = per_micro · t² / (2 ramp)`.
    fn offset(&self, n: u64) -> f64 {
        let n = n as f64;
        let in_ramp = self.per_micro * self.ramp / 2.0;
        if n < in_ramp {
            (2.0 * self.ramp * n / self.per_micro).sqrt()
        } else {
            self.ramp + (n - in_ramp) / self.per_micro
        }
    }
}

/// One churn attempt; returns when the join was sent (µs). The close is
/// started but not awaited, so it does not count in the latency.
async fn connect_join_close(
    addr: SocketAddr,
    url: &str,
    token: &str,
    n: u64,
) -> Result<i64, (&'static str, String)> {
    let mut socket = client::connect(addr, url)
        .await
        .map_err(|err| ("connect_or_upgrade_failed", format!("{err:#}")))?;
    let conversation = u32::try_from(n % u64::from(CONVERSATIONS)).unwrap_or(0);
    let topic = format!("realtime:churn-{n}");
    let filter = format!("conversation_id=eq.{}", conversation_uuid(conversation));
    let join_sent = unix_micros_now();
    client::join(&mut socket, &topic, join_frame("1", &topic, &filter, token))
        .await
        .map_err(|err| ("join_failed", format!("{err:#}")))?;
    tokio::spawn(client::close(socket));
    Ok(join_sent)
}

async fn joins(args: ChurnArgs) -> anyhow::Result<()> {
    let token =
        Arc::new(std::env::var(TOKEN_ENV).with_context(|| format!("{TOKEN_ENV} is not set"))?);
    let url = client::websocket_url(args.addr, &token);
    let mut sockets = Vec::with_capacity(args.connections as usize);
    let mut ready = Ready::default();
    for _ in 0..args.connections {
        match client::connect(args.addr, &url).await {
            Ok(socket) => sockets.push(socket),
            Err(err) => {
                ready.failed += 1;
                ready.first_error.get_or_insert(format!("{err:#}"));
            }
        }
    }
    ready.ready = sockets.len() as u64;
    println!("{}", serde_json::to_string(&ready)?);
    let mut commands = BufReader::new(tokio::io::stdin()).lines();
    let Some(window) = next_window(&mut commands).await? else {
        return Ok(());
    };
    let tally: Shared = Arc::new(Mutex::new(Tally {
        window,
        ..Tally::default()
    }));
    // Each socket's share of the rate, its schedule offset so that the
    // sockets' joins interleave instead of coming in one burst per tick.
    let count = sockets.len().max(1) as f64;
    let period = count * 1e6 / args.rate.max(1e-3);
    let begin = unix_micros_now();
    let mut tasks = Vec::with_capacity(sockets.len());
    for (index, socket) in sockets.into_iter().enumerate() {
        let schedule = Schedule {
            next: begin as f64 + index as f64 * period / count,
            period,
            end: window.1,
        };
        let (token, tally) = (Arc::clone(&token), Arc::clone(&tally));
        let tick = Duration::from_millis(args.tick_ms.max(1));
        let max_pending = args.max_pending.max(1);
        tasks.push(tokio::spawn(async move {
            join_and_leave(socket, schedule, tick, max_pending, &token, &tally).await;
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    report_until_closed(&mut commands, &tally).await
}

/// One socket's join times.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    next: f64,
    period: f64,
    end: i64,
}

/// Joins a new topic whenever one is due, leaves each topic once its join
/// reply is in, until the schedule ends and the answers are in (or
/// [`DRAIN`] has passed).
async fn join_and_leave(
    mut socket: Socket,
    mut schedule: Schedule,
    tick: Duration,
    max_pending: usize,
    token: &str,
    tally: &Mutex<Tally>,
) {
    let mut ticks = tokio::time::interval(tick);
    // ref → (scheduled µs, sent µs, topic)
    let mut pending: HashMap<u64, (i64, i64, String)> = HashMap::new();
    let mut next_ref = 1u64;
    let drain_until = schedule.end + i64::try_from(DRAIN.as_micros()).unwrap_or(i64::MAX);
    loop {
        tokio::select! {
            message = socket.next() => {
                let received = unix_micros_now();
                let Some(Ok(Message::Text(text))) = message else {
                    if !matches!(message, Some(Ok(_))) {
                        lock(tally).fail("socket_closed", "the socket closed".to_owned());
                        return;
                    }
                    continue;
                };
                let Some(frame) = parse_frame(&text) else { continue };
                if frame.event != "phx_reply" {
                    continue;
                }
                let Some(reference) = frame.reference.and_then(|r| r.parse::<u64>().ok()) else { continue };
                let Some((scheduled, sent, topic)) = pending.remove(&reference) else { continue };
                let ok = frame.is_ok_reply();
                {
                    let mut tally = lock(tally);
                    if tally.counts(scheduled) {
                        if ok {
                            tally.add("ok");
                            tally.total.record(received - scheduled);
                            tally.join_ack.record(received - sent);
                        } else {
                            tally.fail("join_failed", frame.payload.get().to_owned());
                        }
                    }
                }
                if ok {
                    let leave = leave_frame(&reference.to_string(), &next_ref.to_string(), &topic);
                    next_ref += 1;
                    if socket.feed(Message::text(leave)).await.is_err() {
                        return;
                    }
                }
            }
            _ = ticks.tick() => {
                let now = unix_micros_now();
                if now >= drain_until || (now >= schedule.end && pending.is_empty()) {
                    let mut tally = lock(tally);
                    for (scheduled, _, _) in pending.values() {
                        if tally.counts(*scheduled) {
                            tally.add("unanswered");
                        }
                    }
                    return;
                }
                while (schedule.next as i64) <= now && (schedule.next as i64) < schedule.end {
                    let scheduled = schedule.next as i64;
                    schedule.next += schedule.period;
                    if pending.len() >= max_pending {
                        let mut tally = lock(tally);
                        if tally.counts(scheduled) {
                            tally.add("skipped_pending_limit");
                        }
                        continue;
                    }
                    let reference = next_ref;
                    next_ref += 1;
                    let topic = format!("realtime:j-{reference}");
                    let conversation = u32::try_from(reference % u64::from(CONVERSATIONS)).unwrap_or(0);
                    let filter = format!("conversation_id=eq.{}", conversation_uuid(conversation));
                    let join = join_frame(&reference.to_string(), &topic, &filter, token);
                    {
                        let mut tally = lock(tally);
                        if tally.counts(scheduled) {
                            tally.add("attempts");
                        }
                    }
                    pending.insert(reference, (scheduled, now, topic));
                    if socket.feed(Message::text(join)).await.is_err() {
                        return;
                    }
                }
                if socket.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Ramp;

    #[test]
    fn a_ramp_rises_to_the_rate_then_holds_it() {
        let fixed = Ramp {
            per_micro: 0.01,
            ramp: 0.0,
        };
        assert_eq!(fixed.offset(0), 0.0);
        assert_eq!(fixed.offset(100), 10_000.0);
        // 10,000/s over a 2 s ramp: 10,000 attempts in the ramp, then 10/ms.
        let ramp = Ramp {
            per_micro: 0.01,
            ramp: 2e6,
        };
        assert_eq!(ramp.offset(0), 0.0);
        assert!(
            (ramp.offset(2_500) - 1e6).abs() < 1.0,
            "a quarter by half-time"
        );
        assert!((ramp.offset(10_000) - 2e6).abs() < 1.0);
        assert!((ramp.offset(10_100) - 2.01e6).abs() < 1.0);
    }
}
