//! `walcast tail <topic> --token …`: joins one channel like a client would
//! and prints what arrives on it as JSON lines, for debugging routes,
//! policies and filters from a terminal.
//!
//! ```text
//! walcast tail conversation:c1:messages --token "$AGENT_TOKEN" --table messages
//! {"event":"postgres_changes","payload":{"data":{…,"position":"…"},"ids":[…]}}
//! ```
//!
//! Without `--table` the channel declares no binding: a routed topic then
//! delivers its table's changes as broadcast events, and broadcasts and
//! presence on the topic are printed too. A refused join prints the reason
//! and exits with an error.

use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::settings::Settings;

/// Phoenix's heartbeat interval.
const HEARTBEAT: Duration = Duration::from_secs(25);

/// `walcast tail` arguments.
#[derive(clap::Args)]
pub(crate) struct TailArgs {
    /// The topic, without `realtime:` (for example `conversation:<id>:messages`).
    topic: String,
    /// The JWT to connect and join with.
    #[arg(long, env = "WALCAST_TOKEN")]
    token: String,
    /// The gateway's WebSocket URL [default: ws://127.0.0.1:<port of WALCAST_LISTEN>/realtime/v1/websocket].
    #[arg(long)]
    url: Option<String>,
    /// Subscribe to this table's changes (`schema.table` or `table`).
    #[arg(long)]
    table: Option<String>,
    /// The binding's filter, in Supabase's grammar (`room_id=eq.1`).
    #[arg(long, requires = "table")]
    filter: Option<String>,
    /// INSERT, UPDATE, DELETE or * (default).
    #[arg(long, default_value = "*", requires = "table")]
    event: String,
    /// Resume after this position (`data.position` of the last event seen).
    #[arg(long)]
    resume: Option<String>,
    /// Join as a private channel.
    #[arg(long)]
    private: bool,
}

/// Tails the channel until interrupted or the server closes it.
pub(crate) async fn run(
    args: TailArgs,
    settings: &Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let base = args.url.clone().unwrap_or_else(|| {
        format!(
            "ws://127.0.0.1:{}/realtime/v1/websocket",
            settings.listen.port()
        )
    });
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}apikey={}&vsn=1.0.0", args.token);
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .with_context(|| format!("cannot connect to {base}"))?;

    let topic = format!("realtime:{}", args.topic);
    let mut config = json!({
        "broadcast": {"self": false, "ack": false},
        "presence": {"enabled": true, "key": ""},
        "postgres_changes": [],
        "private": args.private,
    });
    if let Some(table) = &args.table {
        let (schema, table) = table.split_once('.').unwrap_or(("public", table));
        let mut binding = json!({"event": args.event, "schema": schema, "table": table});
        if let Some(filter) = &args.filter {
            binding["filter"] = json!(filter);
        }
        config["postgres_changes"] = json!([binding]);
    }
    if let Some(position) = &args.resume {
        config["resume"] = json!({ "position": position });
    }
    let join = json!({
        "topic": topic,
        "event": "phx_join",
        "payload": {"config": config, "access_token": args.token},
        "ref": "1",
        "join_ref": "1",
    });
    socket.send(Message::text(join.to_string())).await?;

    let mut stdout = tokio::io::stdout();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut next_ref = 1u64;
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = heartbeat.tick() => {
                next_ref += 1;
                let beat = json!({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": next_ref.to_string()});
                socket.send(Message::text(beat.to_string())).await?;
                continue;
            }
            message = socket.next() => message,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                bail!("the server closed the connection: {frame:?}")
            }
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(err.into()),
            None => bail!("the server closed the connection"),
        };
        let frame: Value = serde_json::from_str(&text).context("a frame that is not JSON")?;
        if frame["topic"] != topic.as_str() {
            continue;
        }
        let event = frame["event"].as_str().unwrap_or_default();
        if event == "phx_reply" && frame["ref"] == "1" {
            if frame["payload"]["status"] != "ok" {
                bail!(
                    "join refused: {}",
                    frame["payload"]["response"]["reason"]
                        .as_str()
                        .unwrap_or("(no reason)")
                );
            }
            eprintln!("walcast tail: joined {topic}");
            continue;
        }
        if event == "phx_reply" {
            continue;
        }
        let line = json!({"event": event, "payload": frame["payload"]});
        stdout.write_all(format!("{line}\n").as_bytes()).await?;
        stdout.flush().await?;
        if event == "phx_close" {
            return Ok(());
        }
    }
}
