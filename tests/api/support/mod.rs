//! What the test files share: the in-process server and its macros (`app`), a hub's REST API
//! (`api`), the raw Socket.IO client (`sio`), the binary as OS processes (`processes`,
//! `cluster`, `services`), stock-client fleets (`fleet`), JWT forgery (`jwt`), and the
//! assertions and fixtures most tests use (`asserts`, `fixtures`, re-exported here).

pub mod api;
pub mod app;
pub mod asserts;
pub mod cluster;
pub mod fixtures;
pub mod fleet;
pub mod jwt;
pub mod processes;
pub mod services;
pub mod sio;

pub use api::Api;
pub use app::{Backend, JWT_SECRET, TestApp, TestDb, spawn_app, spawn_app_with};
pub use asserts::*;
pub use fixtures::*;
pub use sio::{Ending, QUIET, Refused, Sio};
