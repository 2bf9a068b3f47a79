//! The per-socket event token bucket (SPEC §7): capacity one second's worth, refilled evenly.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How far back rejections count towards disconnecting a flooding socket.
const FLOOD_WINDOW: Duration = Duration::from_secs(10);

pub struct RateLimiter {
    rate: f64,
    tokens: f64,
    last: Instant,
    rejected: VecDeque<Instant>,
}

pub enum Verdict {
    Allowed,
    /// Over the limit: answer `rate_limited` with this hint.
    Limited {
        retry_after_ms: u64,
    },
    /// More than ten seconds' worth of the limit rejected within ten seconds: disconnect.
    Flood,
}

impl RateLimiter {
    pub fn new(per_sec: u32) -> Self {
        Self {
            rate: f64::from(per_sec),
            tokens: f64::from(per_sec),
            last: Instant::now(),
            rejected: VecDeque::new(),
        }
    }

    pub fn check(&mut self) -> Verdict {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allowed;
        }
        while self
            .rejected
            .front()
            .is_some_and(|t| now.duration_since(*t) > FLOOD_WINDOW)
        {
            self.rejected.pop_front();
        }
        self.rejected.push_back(now);
        if self.rejected.len() as f64 > self.rate * FLOOD_WINDOW.as_secs_f64() {
            return Verdict::Flood;
        }
        let retry_after_ms = ((1.0 - self.tokens) / self.rate * 1000.0).ceil() as u64;
        Verdict::Limited {
            retry_after_ms: retry_after_ms.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_one_seconds_worth_is_limited() {
        let mut limiter = RateLimiter::new(5);
        for _ in 0..5 {
            assert!(matches!(limiter.check(), Verdict::Allowed));
        }
        match limiter.check() {
            Verdict::Limited { retry_after_ms } => {
                assert!(retry_after_ms > 0 && retry_after_ms <= 200)
            }
            _ => panic!("the sixth event in a burst is limited"),
        }
    }

    #[test]
    fn a_sustained_flood_is_detected() {
        let mut limiter = RateLimiter::new(2);
        let verdicts: Vec<Verdict> = (0..30).map(|_| limiter.check()).collect();
        assert!(matches!(verdicts.last(), Some(Verdict::Flood)));
    }
}
