//! The command line: `serve` (default), `migrate`, and the operator commands of SPEC §2.
//!
//! Operator commands use the same `DATABASE_URL` and store code as the server and may run
//! while it runs. `token create` prints the key alone on stdout; everything else goes to
//! stderr, so scripts can capture the key.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use uuid::Uuid;

use crate::config::Settings;
use crate::hub::{Actor, Hub};
use crate::model::{AgentName, Role, timestamp};

#[derive(Debug, Parser)]
#[command(
    name = "agenthub",
    version,
    about = "A realtime hub where AI agents and people meet in rooms"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Run database migrations and exit.
    Migrate,
    /// Manage agents.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Create an agent.
    Create {
        name: String,
        #[arg(long, default_value = "agent")]
        role: Role,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List agents.
    List,
    /// Disable an agent: its credentials stop working.
    Disable { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; prints the key alone on stdout.
    Create {
        agent: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// List an agent's tokens (never their keys).
    List { agent: String },
    /// Revoke a token by id.
    Revoke { id: Uuid },
}

/// Runs an operator command against the configured database.
pub async fn run_operator(settings: Settings, command: Command) -> anyhow::Result<()> {
    settings.validate()?;
    // The CLI reaches no sockets: running servers' periodic re-check disconnects what a
    // revocation or a disabled agent ended.
    let hub = Hub::without_sockets(std::sync::Arc::new(settings)).await?;
    let result = operate(&hub, command).await;
    hub.close().await;
    result
}

async fn agent_named(hub: &Hub, name: &str) -> anyhow::Result<entity::agents::Model> {
    let name = AgentName::parse(name).map_err(|e| anyhow::anyhow!(e.message))?;
    hub.find_agent(&name)
        .await?
        .with_context(|| format!("no agent named {name}"))
}

async fn operate(hub: &Hub, command: Command) -> anyhow::Result<()> {
    let operator = Actor::default();
    match command {
        Command::Serve => unreachable!("serve is not an operator command"),
        Command::Migrate => eprintln!("migrations are up to date"),
        Command::Agent(AgentCommand::Create {
            name,
            role,
            display_name,
        }) => {
            let agent = hub
                .create_agent(operator, &name, display_name.as_deref(), role)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            eprintln!(
                "created agent {} ({}, id {})",
                agent.name, agent.role, agent.id
            );
        }
        Command::Agent(AgentCommand::List) => {
            let mut cursor: Option<String> = None;
            println!(
                "{:<24} {:<9} {:<9} {:<25} display_name",
                "name", "role", "disabled", "created_at"
            );
            loop {
                let page = hub.list_agents(cursor.as_deref(), 100).await?;
                for a in &page.items {
                    println!(
                        "{:<24} {:<9} {:<9} {:<25} {}",
                        a.name,
                        a.role,
                        a.disabled_at.is_some(),
                        timestamp(a.created_at),
                        a.display_name
                    );
                }
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        Command::Agent(AgentCommand::Disable { name }) => {
            let agent = agent_named(hub, &name).await?;
            hub.update_agent(operator, agent, None, Some(true))
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            eprintln!("disabled agent {name}; its live sockets are disconnected within 60 s");
        }
        Command::Token(TokenCommand::Create {
            agent,
            name,
            expires_in_days,
        }) => {
            let agent = agent_named(hub, &agent).await?;
            let issued = hub
                .create_token(operator, &agent, name.as_deref(), expires_in_days)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            eprintln!(
                "created token {} ({}) for {}; the key below is shown once",
                issued.token.id, issued.token.prefix, agent.name
            );
            println!("{}", issued.key);
        }
        Command::Token(TokenCommand::List { agent }) => {
            let agent = agent_named(hub, &agent).await?;
            println!(
                "{:<36} {:<12} {:<25} {:<25} name",
                "id", "prefix", "expires_at", "revoked_at"
            );
            let mut after = None;
            loop {
                let page = hub.list_tokens(agent.id, after, 100).await?;
                for t in &page.items {
                    println!(
                        "{:<36} {:<12} {:<25} {:<25} {}",
                        t.id,
                        t.prefix,
                        t.expires_at.map(timestamp).unwrap_or_else(|| "-".into()),
                        t.revoked_at.map(timestamp).unwrap_or_else(|| "-".into()),
                        t.name
                    );
                }
                match page.items.last() {
                    Some(last) if page.next.is_some() => after = Some(last.id),
                    _ => break,
                }
            }
        }
        Command::Token(TokenCommand::Revoke { id }) => {
            let Some((token, owner)) = hub.token_by_id(id).await? else {
                bail!("no token with id {id}");
            };
            hub.revoke_token(operator, token, &owner)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            eprintln!("revoked token {id}; live sockets using it are disconnected within 60 s");
        }
    }
    Ok(())
}
