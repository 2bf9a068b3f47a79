//! Database migrations for AgentHub (PostgreSQL 15+ and SQLite).

#![forbid(unsafe_code)]

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_create_agents;
mod m20261128_000002_create_api_tokens;
mod m20261128_000003_create_rooms;
mod m20261128_000004_create_room_members;
mod m20261128_000005_create_messages;
mod m20261128_000006_create_audit_events;
mod m20261201_000007_add_threads_and_streams;
mod m20261201_000008_create_read_cursors;
mod m20261201_000009_create_agent_cards;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_agents::Migration),
            Box::new(m20261128_000002_create_api_tokens::Migration),
            Box::new(m20261128_000003_create_rooms::Migration),
            Box::new(m20261128_000004_create_room_members::Migration),
            Box::new(m20261128_000005_create_messages::Migration),
            Box::new(m20261128_000006_create_audit_events::Migration),
            Box::new(m20261201_000007_add_threads_and_streams::Migration),
            Box::new(m20261201_000008_create_read_cursors::Migration),
            Box::new(m20261201_000009_create_agent_cards::Migration),
        ]
    }
}
