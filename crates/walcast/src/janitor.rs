//! Typing indicators expire: a `typing_indicators` row not refreshed for
//! [`TYPING_TTL`] stops counting (clients ignore it) and is deleted here,
//! so a client that vanished mid-sentence does not type for ever. The
//! DELETE is an ordinary committed change: subscribers see the row go.

use std::time::Duration;

use replication::ConnectionConfig;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::sql::SqlConnection;

/// How long a typing row counts after its last update.
pub(crate) const TYPING_TTL: Duration = Duration::from_secs(10);

/// The table the chat schema keeps typing rows in.
pub(crate) const TYPING_TABLE: &str = "public.typing_indicators";

/// Deletes expired typing rows every half TTL until `shutdown`.
pub(crate) async fn run(database: ConnectionConfig, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(TYPING_TTL / 2);
    let connection = SqlConnection::new(database);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Ok(connected) = connection.get().await else {
            continue;
        };
        let sql = format!(
            "DELETE FROM {TYPING_TABLE} WHERE updated_at < now() - make_interval(secs => {})",
            TYPING_TTL.as_secs()
        );
        match connected.execute(&sql, &[]).await {
            Ok(0) => {}
            Ok(deleted) => debug!(deleted, "expired typing indicators removed"),
            Err(err) => warn!(error = %err, "cannot remove expired typing indicators"),
        }
    }
}
