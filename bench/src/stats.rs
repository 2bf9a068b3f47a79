//! Latency samples and their percentiles.

use serde_json::{Value, json};

/// Latencies in microseconds.
#[derive(Default)]
pub struct Latencies(Vec<u32>);

impl Latencies {
    pub fn push(&mut self, micros: u64) {
        self.0.push(micros.min(u64::from(u32::MAX)) as u32);
    }

    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// `{"p50_ms", "p90_ms", "p99_ms", "max_ms"}`.
    pub fn summary(mut self) -> Value {
        self.0.sort_unstable();
        let at = |q: f64| -> f64 {
            if self.0.is_empty() {
                return 0.0;
            }
            let i = ((self.0.len() - 1) as f64 * q).round() as usize;
            ms(self.0[i])
        };
        json!({
            "p50_ms": at(0.50),
            "p90_ms": at(0.90),
            "p99_ms": at(0.99),
            "max_ms": self.0.last().copied().map_or(0.0, ms),
        })
    }
}

fn ms(micros: u32) -> f64 {
    (f64::from(micros) / 10.0).round() / 100.0
}
