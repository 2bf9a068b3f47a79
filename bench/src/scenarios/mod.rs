//! One file per scenario; each prints what it measured as one JSON object.

pub mod fanout;
pub mod idle;
pub mod send;

use std::sync::OnceLock;
use std::time::Instant;

/// Microseconds since the benchmark started: the clock senders write into message bodies and
/// receivers read back (both are this process).
pub fn now_micros() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}
