//! B5's baseline: the least a server can do for the same churn. It accepts
//! a WebSocket upgrade on any path (no token check), answers `phx_join`,
//! `phx_leave` and heartbeats with an ok `phx_reply` at once, and does
//! nothing else: no authentication, no subscription state, no system
//! message. What it sustains is the ceiling of this box, load generator
//! included, for connect + upgrade + one round trip.
//!
//! Same runtime shape as `walcast serve` (tokio multi-thread, one worker
//! per core) and the same socket buffers as walcast's defaults.

use std::net::SocketAddr;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::load::protocol::parse_frame;

/// `load ack-server`.
#[derive(Debug, Clone, clap::Args)]
pub struct AckServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
}

/// Serves until stdin closes; prints `{"listening": "<addr>"}` first.
pub fn run(args: AckServerArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: AckServerArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.addr).await?;
    println!(
        "{}",
        serde_json::json!({"listening": listener.local_addr()?.to_string()})
    );
    let accept = async {
        loop {
            if let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(answer(tcp));
            }
        }
    };
    let mut stdin = tokio::io::stdin();
    let mut sink = Vec::new();
    tokio::select! {
        () = accept => {}
        _ = stdin.read_to_end(&mut sink) => {}
    }
    Ok(())
}

async fn answer(tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    // walcast's `Limits::default()` buffers.
    let config = WebSocketConfig::default()
        .read_buffer_size(256)
        .write_buffer_size(4096);
    let Ok(mut socket) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await
    else {
        return;
    };
    loop {
        // Replies are batched like walcast's writer does: written when no
        // further frame is waiting.
        let next = match socket.next().now_or_never() {
            Some(next) => next,
            None => {
                if socket.flush().await.is_err() {
                    return;
                }
                socket.next().await
            }
        };
        let Some(Ok(message)) = next else {
            return;
        };
        let Message::Text(text) = message else {
            continue;
        };
        let Some(frame) = parse_frame(&text) else {
            continue;
        };
        if !matches!(frame.event, "phx_join" | "phx_leave" | "heartbeat") {
            continue;
        }
        let reply = serde_json::json!([
            frame.join_ref,
            frame.reference,
            frame.topic,
            "phx_reply",
            {"status": "ok", "response": {}}
        ]);
        if socket.feed(Message::text(reply.to_string())).await.is_err() {
            return;
        }
    }
}
