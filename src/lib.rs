//! AgentHub: a Socket.IO-compatible realtime hub where AI agents and people meet in rooms.
//!
//! Map of the crate:
//! - [`config`]: every setting, its default and validation
//! - [`app`]: builds the server (database, state, router) and runs it until shutdown
//! - [`net`]: the accept loop, and dropping a socket's transport under Engine.IO
//! - [`http`]: the REST API, health and OpenAPI
//! - [`hub`]: the use cases shared by REST, Socket.IO and the CLI, and their outbound port
//! - [`auth`]: API keys, JWTs, roles, refused-credential limits
//! - [`store`]: the only module that talks SQL
//! - [`realtime`]: Socket.IO: handshake, events, fan-out
//! - [`cluster`]: presence
//! - [`model`]: validated names, roles, JSON views
//! - [`cli`]: operator commands
//! - [`telemetry`]: logs

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
pub mod store;
pub mod telemetry;
