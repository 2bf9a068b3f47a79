//! Credential rows the database gave lately, so a burst of uses of one credential (a fleet of
//! sockets reconnecting after a deploy, an agent's REST calls) costs one lookup per token per
//! [`ACCEPTED_FOR`] instead of one per use.
//!
//! SPEC §4 lets every use check against state up to 2 s old. A socket let in on a remembered
//! row is checked again once that row is older than [`ACCEPTED_FOR`] (`realtime::expiry`), and
//! that check reads a fresh row, so a revocation made on another node or with the CLI reaches
//! it within about `2 × ACCEPTED_FOR` even when the kick's broadcast went out before it
//! connected. Changes made on this node clear the rows at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use entity::{agents, api_tokens};
use uuid::Uuid;

/// How long a row is used without looking it up again.
pub const ACCEPTED_FOR: Duration = Duration::from_secs(1);
/// At most this many rows (and key digests) are kept; then the memory starts over.
const MAX: usize = 10_000;

/// A token and its agent as the database had them at `as_of`.
#[derive(Clone)]
pub struct Row {
    pub as_of: Instant,
    pub token: api_tokens::Model,
    pub agent: agents::Model,
}

#[derive(Default)]
pub struct Accepted {
    rows: Mutex<HashMap<Uuid, Row>>,
    /// API key digest → token id (a key never changes token, so these do not age).
    key_ids: Mutex<HashMap<String, Uuid>>,
}

impl Accepted {
    /// The row of `token_id`, if one younger than [`ACCEPTED_FOR`] is kept.
    pub fn fresh(&self, token_id: Uuid) -> Option<Row> {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        rows.get(&token_id)
            .filter(|r| r.as_of.elapsed() < ACCEPTED_FOR)
            .cloned()
    }

    pub fn keep(&self, row: Row) {
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        if rows.len() >= MAX {
            rows.retain(|_, r| r.as_of.elapsed() < ACCEPTED_FOR);
            if rows.len() >= MAX {
                rows.clear();
            }
        }
        rows.insert(row.token.id, row);
    }

    pub fn key_id(&self, digest: &str) -> Option<Uuid> {
        let ids = self.key_ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.get(digest).copied()
    }

    pub fn keep_key_id(&self, digest: String, token_id: Uuid) {
        let mut ids = self.key_ids.lock().unwrap_or_else(|e| e.into_inner());
        if ids.len() >= MAX {
            ids.clear();
        }
        ids.insert(digest, token_id);
    }

    /// Forgets every row: a token or agent changed on this node.
    pub fn clear(&self) {
        self.rows.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
