//! SeaORM entities for the AgentHub database schema (one module per table).

#![forbid(unsafe_code)]

pub mod prelude;

pub mod agent_card_keys;
pub mod agent_cards;
pub mod agents;
pub mod api_tokens;
pub mod audit_events;
pub mod messages;
pub mod read_cursors;
pub mod room_members;
pub mod rooms;
