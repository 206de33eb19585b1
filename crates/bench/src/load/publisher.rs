//! B3's writer for the baselines that have no PostgreSQL (Bun, Node `ws`):
//! an open-loop publisher on one WebSocket. Each message is walcast's
//! `postgres_changes` payload for a `messages` INSERT (same keys, columns
//! and sizes) with `record.created_at` = the time it is sent, so the
//! subscribers time it exactly as they time walcast's frames.
//!
//! ```text
//!  Poisson schedule (rate/s) ──`<topic>\n<payload>`──▶ baseline server /publish ──frame──▶ K subscribers
//! ```
//!
//! Open loop as `pgbench -R` is: a message is sent at its scheduled time
//! whether or not the server kept up (a stalled socket delays the sends,
//! and that delay shows in the subscribers' latency because `created_at` is
//! the scheduled time).

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::SinkExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::load::chat::TENANT;
use crate::load::protocol::{conversation_uuid, format_timestamp, unix_micros_now};

/// What one publishing phase sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Published {
    /// Messages sent.
    pub sent: u64,
    /// Messages whose `created_at` fell inside the window.
    pub in_window: u64,
}

/// Publishes to `topic` on the server at `addr` at `rate` messages per
/// second (Poisson arrivals) for `duration`, counting the messages created
/// inside `window` (µs since the epoch).
pub async fn run(
    addr: SocketAddr,
    topic: &str,
    conversation: u32,
    rate: u32,
    duration: Duration,
    window: (i64, i64),
) -> anyhow::Result<Published> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let url = format!("ws://{addr}/publish");
    let (mut socket, _) = tokio_tungstenite::client_async(url, tcp).await?;
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let started = tokio::time::Instant::now();
    let mut due = Duration::ZERO;
    let mut published = Published::default();
    let mean_gap = 1.0 / f64::from(rate.max(1));
    loop {
        // Exponential gaps: the same arrival process as `pgbench -R`.
        let uniform: f64 = rng.random_range(f64::EPSILON..1.0);
        due += Duration::from_secs_f64(-uniform.ln() * mean_gap);
        if due >= duration {
            break;
        }
        tokio::time::sleep_until(started + due).await;
        let created = unix_micros_now();
        let text = format!(
            "{topic}\n{}",
            change_payload(published.sent, conversation, created)
        );
        socket.send(Message::text(text)).await?;
        published.sent += 1;
        if (window.0..window.1).contains(&created) {
            published.in_window += 1;
        }
    }
    let _ = socket.close(None).await;
    Ok(published)
}

/// walcast's `postgres_changes` payload for a `messages` INSERT of
/// conversation `conversation` (`crates/changes` `Change` as JSON inside
/// `{"ids":[…],"data":…}`), with a 120-byte body like B1's writer.
pub fn change_payload(sequence: u64, conversation: u32, created_at: i64) -> String {
    let created = format_timestamp(created_at);
    let body = &"the quick brown fox jumps over the lazy dog ".repeat(3)[..120];
    format!(
        concat!(
            r#"{{"ids":[38427157],"data":{{"schema":"public","table":"messages","commit_timestamp":"{created}","type":"INSERT","#,
            r#""columns":[{{"name":"id","type":"uuid"}},{{"name":"conversation_id","type":"uuid"}},{{"name":"tenant_id","type":"uuid"}},"#,
            r#"{{"name":"sender_type","type":"text"}},{{"name":"sender_id","type":"text"}},{{"name":"body","type":"text"}},"#,
            r#"{{"name":"metadata","type":"jsonb"}},{{"name":"created_at","type":"timestamptz"}}],"#,
            r#""record":{{"id":"00000000-0000-4000-9000-{sequence:012}","conversation_id":"{conversation}","tenant_id":"{tenant}","#,
            r#""sender_type":"visitor","sender_id":null,"body":"{body}","metadata":{{}},"created_at":"{created}"}},"#,
            r#""errors":null,"position":"1/0/1A2B3C4.{sequence}"}}}}"#
        ),
        created = created,
        sequence = sequence,
        conversation = conversation_uuid(conversation),
        tenant = TENANT,
        body = body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::protocol::{parse_frame, record_created_at};

    #[test]
    fn payload_is_json_and_timed_like_walcast() {
        let payload = change_payload(7, 0, 1_762_162_375_123_456);
        let value: serde_json::Value = serde_json::from_str(&payload).expect("json");
        assert_eq!(
            value["data"]["record"]["body"].as_str().map(str::len),
            Some(120)
        );
        let frame =
            format!(r#"[null,null,"realtime:conversation:0","postgres_changes",{payload}]"#);
        let frame = parse_frame(&frame).expect("a frame");
        assert_eq!(
            record_created_at(frame.payload.get()),
            Some(1_762_162_375_123_456)
        );
    }
}
