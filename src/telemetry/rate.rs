//! A counter's rate over the last few seconds, from samples taken once a second (the
//! dashboard's messages per second).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How far back the rate looks.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct Rate {
    samples: Mutex<VecDeque<(Instant, u64)>>,
}

impl Rate {
    /// Records the counter's total now, keeping what the window needs.
    pub fn sample(&self, total: u64) {
        let now = Instant::now();
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.push_back((now, total));
        while samples
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > RATE_WINDOW)
        {
            samples.pop_front();
        }
    }

    /// Per second between the oldest and the newest sample (0 before two samples).
    pub fn per_second(&self) -> f64 {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        match (samples.front(), samples.back()) {
            (Some((t0, n0)), Some((t1, n1))) if t1 > t0 => {
                n1.saturating_sub(*n0) as f64 / t1.duration_since(*t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_the_counters_growth_over_the_time_between_samples() {
        let rate = Rate::default();
        assert_eq!(rate.per_second(), 0.0);
        rate.sample(100);
        std::thread::sleep(Duration::from_millis(200));
        rate.sample(300);
        let r = rate.per_second();
        assert!((800.0..=1000.0).contains(&r), "about 200 in 0.2 s: {r}");
    }
}
