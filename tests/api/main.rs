//! AgentHub's integration tests: the real server over real HTTP, on PostgreSQL and SQLite.

mod common;
mod helpers;
mod sio;

mod abuse;
mod agents;
mod audit;
mod auth;
mod clients;
mod cluster;
mod dashboard;
mod fleet;
mod handshakes;
mod hardening;
mod limits;
mod messages;
mod metrics;
mod operations;
mod otlp;
mod private_rooms;
mod processes;
mod quotas;
mod realtime;
mod realtime_auth;
mod realtime_dms;
mod realtime_events;
mod realtime_garbage;
mod realtime_presence;
mod realtime_sends;
mod restarts;
mod rooms;
mod security;
mod shutdown;
mod tokens;
