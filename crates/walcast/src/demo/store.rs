//! The SQL the demo backend runs against the chat schema: what an
//! application's own backend would do when a visitor writes, an agent takes
//! a conversation, or someone types. walcast never sees these calls; it
//! sees their commits in the WAL, like any other write.
//!
//! Every statement uses bind parameters; ids travel as text and are cast in
//! SQL (`$1::text::uuid`), so no value is ever spliced into a query. Rows
//! come back as JSON built by PostgreSQL, in the session time zone UTC, so
//! timestamps look like the ones in `postgres_changes` payloads.
//!
//! Agents' display names live in `walcast_demo.agents`, a table of the
//! demo's own outside the publication: the widget needs the assigned
//! agent's name, and the chat schema only stores its id.

use std::sync::Arc;

use replication::ConnectionConfig;
use serde_json::Value;
use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use crate::sql::SqlConnection;

/// The demo tenant `walcast dev` creates at start. Fixed, so links, tokens
/// and scripts stay valid across restarts.
pub(crate) const DEMO_TENANT_ID: &str = "d3300000-0000-4000-8000-000000000001";

/// The conversation the README's walk-through uses (tokens in the banner).
pub(crate) const DEMO_CONVERSATION_ID: &str = "d3300000-0000-4000-8000-0000000000c1";

/// Its visitor.
pub(crate) const DEMO_VISITOR_ID: &str = "visitor-demo";

/// The demo tenant's display name.
const DEMO_TENANT_NAME: &str = "Acme Support (demo)";

/// Creates what the demo needs beside the chat schema; idempotent.
const SETUP_SQL: &str = "
CREATE SCHEMA IF NOT EXISTS walcast_demo;
CREATE TABLE IF NOT EXISTS walcast_demo.agents (
    id         text PRIMARY KEY DEFAULT 'agent-' || gen_random_uuid(),
    tenant_id  uuid NOT NULL,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS agents_tenant_name_idx ON walcast_demo.agents (tenant_id, lower(name));
";

/// The columns of a conversation as the API returns them.
const CONVERSATION_JSON: &str = "json_build_object(
    'id', c.id, 'tenant_id', c.tenant_id, 'visitor_id', c.visitor_id, 'status', c.status,
    'assigned_agent_id', c.assigned_agent_id, 'assigned_agent_name', a.name,
    'subject', c.subject, 'created_at', c.created_at, 'updated_at', c.updated_at)";

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// No connection could be made; retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A statement failed.
    #[error("database error: {0}")]
    Query(#[from] tokio_postgres::Error),
    /// PostgreSQL returned JSON we could not read (a bug).
    #[error("unreadable row: {0}")]
    Json(#[from] serde_json::Error),
}

/// A conversation's routing facts, for authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConversationRef {
    pub(crate) tenant_id: String,
    pub(crate) visitor_id: String,
    pub(crate) status: String,
}

/// The demo's SQL, on one connection made on first use and remade after it
/// drops (a PostgreSQL restart, for example).
pub(crate) struct DemoStore {
    connection: SqlConnection,
}

impl DemoStore {
    /// A store for `database`; connects lazily.
    pub(crate) fn new(database: ConnectionConfig) -> Self {
        Self {
            connection: SqlConnection::with_setup(
                database,
                "SET TimeZone = 'UTC'; SET client_min_messages = warning",
            ),
        }
    }

    async fn client(&self) -> Result<Arc<Client>, StoreError> {
        self.connection.get().await.map_err(StoreError::Unavailable)
    }

    /// Runs `sql` (which yields one JSON text column) and parses the first
    /// row, if any.
    async fn json_row(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Value>, StoreError> {
        let client = self.client().await?;
        let row = client.query_opt(sql, params).await?;
        match row {
            Some(row) => Ok(Some(serde_json::from_str(row.get::<_, &str>(0))?)),
            None => Ok(None),
        }
    }

    /// Creates the demo's agents table and the demo tenant; idempotent.
    pub(crate) async fn ensure_demo_tenant(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.batch_execute(SETUP_SQL).await?;
        client
            .execute(
                "INSERT INTO tenants (id, name) VALUES ($1::text::uuid, $2::text) ON CONFLICT (id) DO NOTHING",
                &[&DEMO_TENANT_ID, &DEMO_TENANT_NAME],
            )
            .await?;
        Ok(())
    }

    /// The README's walk-through conversation (fixed id, visitor
    /// [`DEMO_VISITOR_ID`]); idempotent.
    pub(crate) async fn ensure_demo_conversation(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO conversations (id, tenant_id, visitor_id, subject)
                 VALUES ($1::text::uuid, $2::text::uuid, $3::text, 'Walk-through')
                 ON CONFLICT (id) DO NOTHING",
                &[&DEMO_CONVERSATION_ID, &DEMO_TENANT_ID, &DEMO_VISITOR_ID],
            )
            .await?;
        Ok(())
    }

    /// Starts a conversation for a new visitor (`subject` names them).
    pub(crate) async fn create_conversation(
        &self,
        tenant_id: &str,
        subject: &str,
    ) -> Result<Value, StoreError> {
        let sql = "INSERT INTO conversations AS c (tenant_id, visitor_id, subject)
             VALUES ($1::text::uuid, 'visitor-' || gen_random_uuid(), $2::text)
             RETURNING json_build_object('id', c.id, 'tenant_id', c.tenant_id, 'visitor_id', c.visitor_id)::text";
        self.json_row(sql, &[&tenant_id, &subject])
            .await?
            .ok_or_else(|| StoreError::Unavailable("insert returned no row".into()))
    }

    /// The agent named `name` in the tenant, created on first use.
    pub(crate) async fn upsert_agent(
        &self,
        tenant_id: &str,
        name: &str,
    ) -> Result<Value, StoreError> {
        let sql = "WITH inserted AS (
                 INSERT INTO walcast_demo.agents (tenant_id, name) VALUES ($1::text::uuid, $2::text)
                 ON CONFLICT (tenant_id, lower(name)) DO NOTHING RETURNING id, name)
             SELECT json_build_object('id', id, 'name', name)::text FROM inserted
             UNION ALL
             SELECT json_build_object('id', id, 'name', name)::text FROM walcast_demo.agents
              WHERE tenant_id = $1::text::uuid AND lower(name) = lower($2::text)
             LIMIT 1";
        self.json_row(sql, &[&tenant_id, &name])
            .await?
            .ok_or_else(|| StoreError::Unavailable("agent upsert returned no row".into()))
    }

    /// Tenant, visitor and status of a conversation, for authorization.
    pub(crate) async fn conversation_ref(
        &self,
        id: &str,
    ) -> Result<Option<ConversationRef>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT tenant_id::text, visitor_id, status FROM conversations WHERE id = $1::text::uuid",
                &[&id],
            )
            .await?;
        Ok(row.map(|row| ConversationRef {
            tenant_id: row.get(0),
            visitor_id: row.get(1),
            status: row.get(2),
        }))
    }

    /// One conversation with its assigned agent's name.
    pub(crate) async fn conversation(&self, id: &str) -> Result<Option<Value>, StoreError> {
        let sql = format!(
            "SELECT {CONVERSATION_JSON}::text FROM conversations c
               LEFT JOIN walcast_demo.agents a ON a.id = c.assigned_agent_id
              WHERE c.id = $1::text::uuid"
        );
        self.json_row(&sql, &[&id]).await
    }

    /// A tenant's conversations, most recently updated first.
    pub(crate) async fn conversations(&self, tenant_id: &str) -> Result<Value, StoreError> {
        let sql = format!(
            "SELECT coalesce(json_agg(row ORDER BY updated_at DESC), '[]')::text FROM (
               SELECT {CONVERSATION_JSON} AS row, c.updated_at FROM conversations c
                 LEFT JOIN walcast_demo.agents a ON a.id = c.assigned_agent_id
                WHERE c.tenant_id = $1::text::uuid
                ORDER BY c.updated_at DESC LIMIT 200) recent"
        );
        Ok(self
            .json_row(&sql, &[&tenant_id])
            .await?
            .unwrap_or_default())
    }

    /// A conversation's messages in commit order (created_at, then id).
    pub(crate) async fn messages(&self, conversation_id: &str) -> Result<Value, StoreError> {
        let sql = "SELECT coalesce(json_agg(m ORDER BY m.created_at, m.id), '[]')::text FROM (
               SELECT id, conversation_id, tenant_id, sender_type, sender_id, body, metadata, created_at
                 FROM messages WHERE conversation_id = $1::text::uuid) m";
        Ok(self
            .json_row(sql, &[&conversation_id])
            .await?
            .unwrap_or_default())
    }

    /// Inserts a message and bumps the conversation's `updated_at` in the
    /// same transaction, so the conversation list learns of it too.
    pub(crate) async fn insert_message(
        &self,
        conversation_id: &str,
        sender_type: &str,
        sender_id: Option<&str>,
        body: &str,
    ) -> Result<Option<Value>, StoreError> {
        let sql = "WITH bumped AS (
                 UPDATE conversations SET updated_at = now()
                  WHERE id = $1::text::uuid RETURNING id, tenant_id),
             inserted AS (
                 INSERT INTO messages (conversation_id, tenant_id, sender_type, sender_id, body)
                 SELECT id, tenant_id, $2::text, $3::text, $4::text FROM bumped
                 RETURNING id, conversation_id, tenant_id, sender_type, sender_id, body, metadata, created_at)
             SELECT row_to_json(inserted)::text FROM inserted";
        self.json_row(sql, &[&conversation_id, &sender_type, &sender_id, &body])
            .await
    }

    /// Assigns the conversation to an agent and makes it active.
    pub(crate) async fn assign(
        &self,
        conversation_id: &str,
        agent_id: &str,
    ) -> Result<Option<Value>, StoreError> {
        let sql = "UPDATE conversations
                SET assigned_agent_id = $2::text, status = 'active', updated_at = now()
              WHERE id = $1::text::uuid
          RETURNING json_build_object('id', id, 'status', status, 'assigned_agent_id', assigned_agent_id)::text";
        self.json_row(sql, &[&conversation_id, &agent_id]).await
    }

    /// Closes the conversation.
    pub(crate) async fn close(&self, conversation_id: &str) -> Result<Option<Value>, StoreError> {
        let sql = "UPDATE conversations SET status = 'closed', updated_at = now()
              WHERE id = $1::text::uuid
          RETURNING json_build_object('id', id, 'status', status)::text";
        self.json_row(sql, &[&conversation_id]).await
    }

    /// Records whether a participant is typing (the `typing_indicators` row).
    pub(crate) async fn set_typing(
        &self,
        conversation_id: &str,
        participant_id: &str,
        participant_type: &str,
        is_typing: bool,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO typing_indicators (conversation_id, participant_id, participant_type, is_typing, updated_at)
                 VALUES ($1::text::uuid, $2::text, $3::text, $4::bool, now())
                 ON CONFLICT (conversation_id, participant_id)
                 DO UPDATE SET participant_type = EXCLUDED.participant_type,
                               is_typing = EXCLUDED.is_typing, updated_at = now()",
                &[&conversation_id, &participant_id, &participant_type, &is_typing],
            )
            .await?;
        Ok(())
    }

    /// Sends an ephemeral event through the WAL: walcast routes a
    /// transactional `walcast` logical message as a broadcast on `topic`.
    pub(crate) async fn emit_broadcast(
        &self,
        topic: &str,
        event: &str,
        payload: &Value,
    ) -> Result<(), StoreError> {
        let message = serde_json::json!({"topic": topic, "event": event, "payload": payload});
        let client = self.client().await?;
        client
            .execute(
                "SELECT pg_logical_emit_message(true, 'walcast', $1::text)",
                &[&message.to_string()],
            )
            .await?;
        Ok(())
    }
}

/// Whether `text` is a UUID in its canonical 8-4-4-4-12 hex form.
pub(crate) fn is_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_recognised_strictly() {
        assert!(is_uuid(DEMO_TENANT_ID));
        assert!(is_uuid("0D9A3C1E-0000-4000-8000-00000000abcd"));
        assert!(!is_uuid("d3300000-0000-4000-8000-00000000000"));
        assert!(!is_uuid("d3300000x0000-4000-8000-000000000001"));
        assert!(!is_uuid("'; drop table messages; --------------"));
        assert!(!is_uuid(""));
    }
}
