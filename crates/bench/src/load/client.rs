//! One client socket, opened the way realtime-js opens it: TCP, then the
//! WebSocket upgrade on `/realtime/v1/websocket` with the token as the
//! `apikey` query parameter and `vsn=2.0.0`.
//!
//! Buffers are small because a load process holds up to 19,000 sockets:
//! a 4 KiB read buffer (a change frame is under 1 KiB) and no write buffer
//! (every frame is flushed as it is sent, or batched by the caller with
//! `feed` + `flush`).

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::load::protocol::parse_frame;

/// Where a load process finds its token (never the command line, which
/// `ps` shows).
pub const TOKEN_ENV: &str = "WALCAST_LOAD_TOKEN";

/// A client socket.
pub type Socket = WebSocketStream<TcpStream>;

/// The read buffer of every client socket.
const READ_BUFFER_BYTES: usize = 4096;

/// The realtime-js endpoint with the token in the query.
pub fn websocket_url(addr: SocketAddr, token: &str) -> String {
    format!("ws://{addr}/realtime/v1/websocket?apikey={token}&vsn=2.0.0")
}

/// Connects and upgrades.
pub async fn connect(addr: SocketAddr, url: &str) -> anyhow::Result<Socket> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0);
    let (socket, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config)).await?;
    Ok(socket)
}

/// Sends `join` and waits for its `phx_reply`; frames for other topics
/// (none on a fresh socket) are skipped. Returns an error for an error
/// reply or a close.
pub async fn join(socket: &mut Socket, topic: &str, join: String) -> anyhow::Result<()> {
    socket.send(Message::text(join)).await?;
    loop {
        let Some(message) = socket.next().await else {
            anyhow::bail!("closed before the join reply");
        };
        let Message::Text(text) = message? else {
            continue;
        };
        let Some(frame) = parse_frame(&text) else {
            anyhow::bail!("unreadable frame: {}", text.as_str());
        };
        if frame.topic != topic || frame.event != "phx_reply" {
            continue;
        }
        if frame.is_ok_reply() {
            return Ok(());
        }
        anyhow::bail!("join refused: {}", frame.payload.get());
    }
}

/// Sends a close frame and reads until the server's close (or the end),
/// so that the server ends the TCP connection first, as RFC 6455 asks.
pub async fn close(mut socket: Socket) {
    if socket.close(None).await.is_err() {
        return;
    }
    while let Some(Ok(_)) = socket.next().await {}
}
