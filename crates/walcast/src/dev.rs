//! `walcast dev`: a throwaway local PostgreSQL (kept in a data directory
//! across runs, wiped with `--fresh`), migrated, with walcast in front of it.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use pgcluster::{Cluster, ClusterOptions};
use replication::ConnectionConfig;
use serde_json::json;

use crate::demo::Demo;
use crate::settings::Settings;

/// Starts (or reuses) the embedded cluster and applies the migrations.
pub(crate) async fn start_database(
    data_dir: &Path,
    fresh: bool,
) -> anyhow::Result<(Cluster, ConnectionConfig)> {
    let data_dir = data_dir.to_path_buf();
    let cluster = tokio::task::spawn_blocking(move || -> anyhow::Result<Cluster> {
        if fresh {
            pgcluster::wipe(&data_dir)
                .with_context(|| format!("cannot wipe {}", data_dir.display()))?;
        }
        Ok(Cluster::start(ClusterOptions::persistent(&data_dir))?)
    })
    .await??;
    let database = ConnectionConfig::from_url(&cluster.url("postgres"))?;
    crate::migrate::run(&database).await?;
    Ok((cluster, database))
}

/// Tells the developer how to reach the database and the gateway, with
/// working tokens; printed once walcast serves, so anything written after
/// it is delivered.
pub(crate) fn print_banner(
    cluster: Option<&Cluster>,
    settings: &Settings,
    demo: &Demo,
    addr: SocketAddr,
) {
    eprintln!();
    if let Some(cluster) = cluster {
        let url = cluster.url("postgres");
        eprintln!(
            "  walcast dev: PostgreSQL is up ({})",
            cluster.data_dir().display()
        );
        eprintln!("  DATABASE_URL={url}");
    }
    let port = addr.port();
    eprintln!(
        "  WebSocket: ws://127.0.0.1:{port}/realtime/v1/websocket   health: http://127.0.0.1:{port}/health"
    );
    match demo.setup_problem() {
        None => {
            eprintln!("  Demo widget:    http://127.0.0.1:{port}/demo/widget");
            eprintln!("  Demo dashboard: http://127.0.0.1:{port}/demo/dashboard");
            eprintln!("  Simulated traffic: walcast demo-traffic --database-url <DATABASE_URL>");
        }
        Some(problem) => eprintln!("  Demo pages unavailable: {problem}"),
    }
    if let Some(secret) = &settings.jwt_secret {
        for (name, role) in [("ANON_TOKEN", "anon"), ("SERVICE_TOKEN", "service_role")] {
            match crate::auth::sign(&secret.0, role, json!({}), 30) {
                Ok(token) => eprintln!("  {name}={token}"),
                Err(err) => eprintln!("  cannot sign a {role} token: {err}"),
            }
        }
    }
    if let Some(walkthrough) = demo.walkthrough() {
        eprintln!("  For the README walk-through (a visitor and an agent of the demo tenant):");
        eprintln!("  TENANT_ID={}", walkthrough.tenant_id);
        eprintln!("  CONVERSATION_ID={}", walkthrough.conversation_id);
        eprintln!("  VISITOR_TOKEN={}", walkthrough.visitor_token);
        eprintln!("  AGENT_TOKEN={}", walkthrough.agent_token);
    }
    eprintln!();
}
