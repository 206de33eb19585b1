//! The demo of `walcast dev`: a chat widget and an agent dashboard (static
//! pages in `web/`), the dev-only HTTP API that stands in for the
//! application's backend, and `walcast demo-traffic`, a simulated backend.
//! None of it runs in `walcast serve`.
//!
//! ```text
//!  browser ──GET /demo/*──────▶ pages (web/ on disk, client bundle from web/node_modules)
//!  browser ──/dev/api/*──────▶ api ──SQL──▶ PostgreSQL ──WAL──▶ walcast ──WebSocket──▶ browser
//!  demo-traffic ────────────────────SQL──▶ PostgreSQL
//! ```
//!
//! The pages write through the API and read through walcast, as an
//! application would: nothing here calls into the gateway.

mod api;
mod pages;
mod store;
pub(crate) mod traffic;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use futures_util::StreamExt;
use gateway::auth::Authenticator;
use replication::ConnectionConfig;
use warp::filters::BoxedFilter;
use warp::http::{Method, StatusCode};
use warp::{Buf, Filter};

use crate::settings::Settings;
use api::{ApiError, ApiRequest};
use pages::WebRoot;
use store::DemoStore;

/// Largest dev API request body.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The demo's shared state: its SQL connection, token keys and pages.
pub(crate) struct Demo {
    store: DemoStore,
    /// Checks the tokens callers send (the gateway's own rules).
    authenticator: Authenticator,
    /// The HS256 secret demo tokens are signed with; `None` with JWKS only.
    secret: Option<String>,
    web: WebRoot,
    /// The walk-through agent's id (`Alice` of the demo tenant).
    walkthrough_agent: String,
}

/// Names and tokens for the README's walk-through, printed by the banner.
pub(crate) struct Walkthrough {
    pub(crate) tenant_id: &'static str,
    pub(crate) conversation_id: &'static str,
    pub(crate) visitor_token: String,
    pub(crate) agent_token: String,
}

impl Demo {
    /// Creates the demo tenant (idempotent) and finds the pages.
    pub(crate) async fn start(
        settings: &Settings,
        database: &ConnectionConfig,
    ) -> anyhow::Result<Arc<Self>> {
        let store = DemoStore::new(database.clone());
        store.ensure_demo_tenant().await.context(
            "cannot create the demo tenant (is the chat schema migrated? see `walcast migrate`)",
        )?;
        store
            .ensure_demo_conversation()
            .await
            .context("cannot create the walk-through conversation")?;
        let agent = store
            .upsert_agent(store::DEMO_TENANT_ID, "Alice")
            .await
            .context("cannot create the walk-through agent")?;
        let walkthrough_agent = agent["id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| agent["id"].to_string());
        Ok(Arc::new(Self {
            walkthrough_agent,
            store,
            authenticator: crate::auth::authenticator(settings)?,
            secret: settings.jwt_secret.as_ref().map(|s| s.0.clone()),
            web: WebRoot::locate(),
        }))
    }

    /// Tokens for the walk-through conversation (30 days), when tokens are
    /// signed with a secret.
    pub(crate) fn walkthrough(&self) -> Option<Walkthrough> {
        let secret = self.secret.as_deref()?;
        let visitor = crate::auth::sign(
            secret,
            "visitor",
            serde_json::json!({
                "sub": store::DEMO_VISITOR_ID,
                "tenant_id": store::DEMO_TENANT_ID,
                "conversation_id": store::DEMO_CONVERSATION_ID,
            }),
            30,
        )
        .ok()?;
        let agent = crate::auth::sign(
            secret,
            "agent",
            serde_json::json!({
                "sub": self.walkthrough_agent,
                "tenant_id": store::DEMO_TENANT_ID,
                "name": "Alice",
            }),
            30,
        )
        .ok()?;
        Some(Walkthrough {
            tenant_id: store::DEMO_TENANT_ID,
            conversation_id: store::DEMO_CONVERSATION_ID,
            visitor_token: visitor,
            agent_token: agent,
        })
    }

    /// Why the pages cannot be served, for the banner.
    pub(crate) fn setup_problem(&self) -> Option<String> {
        self.web.problem()
    }

    /// `/`, `/demo/*` and `/dev/api/*`, to mount on the gateway.
    pub(crate) fn routes(self: &Arc<Self>) -> BoxedFilter<(warp::reply::Response,)> {
        let demo = Arc::clone(self);
        let api = warp::path("dev")
            .and(warp::path("api"))
            .and(warp::method())
            .and(warp::path::tail())
            .and(warp::query::<HashMap<String, String>>())
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::body::stream())
            .then(
                move |method: Method, tail: warp::path::Tail, query, authorization, body| {
                    let demo = Arc::clone(&demo);
                    async move {
                        let request = ApiRequest {
                            method,
                            segments: tail.as_str().split('/').map(str::to_owned).collect(),
                            query,
                            authorization,
                            body: read_body(body).await,
                        };
                        api::handle(&demo, request).await
                    }
                },
            );
        let demo = Arc::clone(self);
        let pages = warp::get()
            .and(warp::path("demo"))
            .and(warp::path::tail())
            .then(move |tail: warp::path::Tail| {
                let demo = Arc::clone(&demo);
                async move { demo.web.serve(tail.as_str()).await }
            });
        let demo = Arc::clone(self);
        let index = warp::get().and(warp::path::end()).then(move || {
            let demo = Arc::clone(&demo);
            async move { demo.web.serve("").await }
        });
        api.or(pages).unify().or(index).unify().boxed()
    }
}

/// Reads a request body of at most [`MAX_REQUEST_BYTES`].
async fn read_body<B: Buf>(
    body: impl futures_util::Stream<Item = Result<B, warp::Error>>,
) -> Result<Vec<u8>, ApiError> {
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk
            .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "cannot read the request body"))?;
        if bytes.len() + chunk.remaining() > MAX_REQUEST_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is larger than 64 KiB",
            ));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            bytes.extend_from_slice(part);
            let read = part.len();
            chunk.advance(read);
        }
    }
    Ok(bytes)
}
