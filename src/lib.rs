//! AgentHub: a Socket.IO-compatible realtime hub where AI agents and people meet in rooms.
//!
//! Map of the crate, in the direction of its dependencies (each uses only those above it):
//! - [`config`]: every setting, its default and validation
//! - [`error`]: the error type, its REST body and Socket.IO ack error
//! - [`telemetry`]: logs, traces, metrics
//! - [`net`]: the accept loop, and dropping a socket's transport under Engine.IO
//! - [`model`]: domain types — validated names, rooms, roles, audit types, JSON views
//! - [`store`]: the only module that talks SQL
//! - [`auth`]: API keys, JWTs, the permission rules, refused-credential limits
//! - [`hub`]: the use cases shared by REST, Socket.IO and the CLI, and their outbound port
//! - [`cluster`]: presence (local or in Redis) and node liveness
//! - [`state`]: what every handler and socket event reaches
//! - [`http`]: the REST API, health and OpenAPI
//! - [`realtime`]: Socket.IO: protocol, handshake, events, fan-out
//! - [`cli`]: operator commands
//! - [`app`]: builds the server and runs it until shutdown

#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod error;
pub mod http;
pub mod hub;
pub mod model;
pub mod net;
pub mod realtime;
pub mod state;
pub mod store;
pub mod telemetry;
