//! `walcast demo-traffic`: a simulated backend that drives whole support
//! conversations through SQL, for the demo pages and the tests. It talks
//! only to PostgreSQL; walcast picks every step up from the WAL.
//!
//! One conversation goes through these steps, one per tick:
//!
//! ```text
//!  new conversation ─▶ visitor typing (typing_indicators row) ─▶ visitor message ─▶ bot reply
//!  ─▶ visitor asks for a person ─▶ escalation (system message) ─▶ agent assigned (UPDATE)
//!  ─▶ agent typing (pg_logical_emit_message broadcast) ─▶ agent reply ─▶ visitor thanks ─▶ closed
//! ```
//!
//! `--conversations N` run side by side, their steps interleaved;
//! `--rate R` is the number of steps per second across all of them.

use std::time::Duration;

use anyhow::Context;
use replication::ConnectionConfig;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::store::{DEMO_TENANT_ID, DemoStore};
use crate::settings::Settings;

/// The arguments of `walcast demo-traffic`.
#[derive(Debug, clap::Args)]
pub(crate) struct TrafficArgs {
    /// How many conversations to play, side by side.
    #[arg(long, default_value_t = 3)]
    conversations: u32,
    /// Steps per second, across all conversations.
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// The database to write to [default: DATABASE_URL, which `walcast dev` prints].
    #[arg(long)]
    database_url: Option<String>,
}

/// The simulated visitors' opening questions.
const QUESTIONS: [&str; 4] = [
    "Hi! My order #4512 hasn't arrived yet.",
    "Hello, how do I change the email on my account?",
    "My invoice shows the wrong VAT number.",
    "Can I upgrade my plan in the middle of the month?",
];

/// The simulated agents.
const AGENTS: [&str; 2] = ["Sam (simulated)", "Kim (simulated)"];

/// One simulated conversation and how far it got.
struct Conversation {
    index: usize,
    id: Option<String>,
    visitor_id: String,
    /// The agent (id, name) who takes it over.
    agent: (String, String),
    step: u32,
}

/// Plays the conversations until all are closed or `shutdown` fires.
pub(crate) async fn run(
    options: TrafficArgs,
    settings: &Settings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let database = match &options.database_url {
        Some(url) => ConnectionConfig::from_url(url).context("--database-url")?,
        None => settings.database.clone().context(
            "no database: pass --database-url or set DATABASE_URL (walcast dev prints it)",
        )?,
    };
    anyhow::ensure!(
        options.rate.is_finite() && options.rate > 0.0 && options.rate <= 1000.0,
        "--rate must be more than 0 and at most 1000 steps per second"
    );
    let store = DemoStore::new(database);
    store
        .ensure_demo_tenant()
        .await
        .context("cannot reach the chat schema (is it migrated? see `walcast migrate`)")?;
    let mut agents = Vec::new();
    for name in AGENTS {
        let agent = store.upsert_agent(DEMO_TENANT_ID, name).await?;
        let id = agent["id"].as_str().unwrap_or_default().to_owned();
        agents.push((id, name.to_owned()));
    }
    let mut playing: Vec<Conversation> = (0..options.conversations as usize)
        .map(|index| Conversation {
            index,
            id: None,
            visitor_id: String::new(),
            agent: agents[index % agents.len()].clone(),
            step: 0,
        })
        .collect();
    println!(
        "demo-traffic: {} conversations at {} steps/s for tenant {DEMO_TENANT_ID}",
        options.conversations, options.rate
    );
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / options.rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next = 0;
    while !playing.is_empty() {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        next %= playing.len();
        if play_step(&store, &mut playing[next]).await? {
            next += 1;
        } else {
            playing.remove(next);
        }
    }
    Ok(())
}

/// Plays the conversation's next step; false once it is over.
async fn play_step(store: &DemoStore, conversation: &mut Conversation) -> anyhow::Result<bool> {
    let step = conversation.step;
    conversation.step += 1;
    let Some(id) = conversation.id.clone() else {
        let subject = format!("Visitor {} (simulated)", conversation.index + 1);
        let created = store.create_conversation(DEMO_TENANT_ID, &subject).await?;
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        conversation.visitor_id = created["visitor_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        println!("conversation {id}: opened by {subject}");
        conversation.id = Some(id);
        return Ok(true);
    };
    let visitor = conversation.visitor_id.clone();
    let (agent_id, agent_name) = conversation.agent.clone();
    let say = |sender_type: &'static str, sender_id: Option<String>, body: String| {
        let id = id.clone();
        async move {
            store
                .insert_message(&id, sender_type, sender_id.as_deref(), &body)
                .await?;
            println!("conversation {id}: {sender_type}: {body}");
            anyhow::Ok(())
        }
    };
    match step {
        1 => store.set_typing(&id, &visitor, "visitor", true).await?,
        2 => {
            let question = QUESTIONS[conversation.index % QUESTIONS.len()];
            say("visitor", Some(visitor.clone()), question.into()).await?;
            store.set_typing(&id, &visitor, "visitor", false).await?;
        }
        3 => {
            let reply = "I'm the assistant. I can look into that, or find you a person.";
            say("bot", Some("bot".into()), reply.into()).await?;
        }
        4 => say("visitor", Some(visitor), "A person, please.".into()).await?,
        5 => say("system", None, "Escalated to a human agent.".into()).await?,
        6 => {
            store.assign(&id, &agent_id).await?;
            println!("conversation {id}: assigned to {agent_name}");
        }
        7 => agent_typing(store, &id, &agent_id, true).await?,
        8 => {
            let reply = format!("Hi, I'm {agent_name}. I'm on it: give me a minute.");
            say("agent", Some(agent_id.clone()), reply).await?;
            agent_typing(store, &id, &agent_id, false).await?;
        }
        9 => say("visitor", Some(visitor), "Thanks!".into()).await?,
        _ => {
            store.close(&id).await?;
            println!("conversation {id}: closed");
            return Ok(false);
        }
    }
    Ok(true)
}

/// Agent typing is ephemeral: a logical message walcast routes as a
/// `typing` broadcast on the conversation's typing topic.
async fn agent_typing(
    store: &DemoStore,
    conversation_id: &str,
    agent_id: &str,
    is_typing: bool,
) -> anyhow::Result<()> {
    let payload = json!({
        "participant_id": agent_id,
        "participant_type": "agent",
        "is_typing": is_typing,
    });
    let topic = format!("conversation:{conversation_id}:typing");
    store.emit_broadcast(&topic, "typing", &payload).await?;
    Ok(())
}
