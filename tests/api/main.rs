//! AgentHub's integration tests: the real server over real HTTP, on PostgreSQL and SQLite.

mod helpers;
mod sio;

mod agents;
mod audit;
mod auth;
mod hardening;
mod messages;
mod processes;
mod realtime;
mod rooms;
