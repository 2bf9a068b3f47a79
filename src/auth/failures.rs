//! Refused credentials per client address (SPEC §7): a token bucket of
//! `RATE_LIMIT_AUTH_FAILURES_PER_MIN` per address that only failures draw from. While an
//! address's bucket is empty its new handshakes and token exchanges are refused before any
//! database lookup. Successful handshakes draw nothing: a fleet behind one address (one host,
//! one NAT) must all get back at once after a deploy.
//!
//! A hand-written bucket rather than `governor`: the gate must *look* at a bucket without
//! drawing from it, which governor's keyed limiters cannot do.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The key of an address: IPv4 as is, IPv6 by its /64 (one host or one site usually holds a
/// whole /64, so per-/128 keys would cost an attacker nothing).
pub fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
            )),
        },
    }
}

/// Requests with no known address (not over TCP) share one bucket.
const UNKNOWN: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

pub struct AuthFailures {
    /// Bucket capacity: a minute's quota.
    capacity: f64,
    /// Refill per second.
    rate: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn refilled(self, capacity: f64, rate: f64, now: Instant) -> f64 {
        (self.tokens + now.duration_since(self.at).as_secs_f64() * rate).min(capacity)
    }
}

impl AuthFailures {
    pub fn new(per_min: u32) -> Self {
        let capacity = f64::from(per_min.max(1));
        Self {
            capacity,
            rate: capacity / 60.0,
            buckets: Mutex::default(),
        }
    }

    fn buckets(&self) -> MutexGuard<'_, HashMap<IpAddr, Bucket>> {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long `ip` must wait while it has no refused credential left; `None`: let it try.
    pub fn blocked(&self, ip: Option<IpAddr>) -> Option<Duration> {
        let key = ip.map_or(UNKNOWN, ip_key);
        let bucket = *self.buckets().get(&key)?;
        let tokens = bucket.refilled(self.capacity, self.rate, Instant::now());
        (tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - tokens) / self.rate))
    }

    /// Records one refused credential from `ip`.
    pub fn record(&self, ip: Option<IpAddr>) {
        let key = ip.map_or(UNKNOWN, ip_key);
        let now = Instant::now();
        let mut buckets = self.buckets();
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.capacity,
            at: now,
        });
        let tokens = bucket.refilled(self.capacity, self.rate, now);
        *bucket = Bucket {
            tokens: (tokens - 1.0).max(0.0),
            at: now,
        };
    }

    /// Forgets addresses whose bucket is full again.
    pub fn prune(&self) {
        let now = Instant::now();
        let (capacity, rate) = (self.capacity, self.rate);
        self.buckets()
            .retain(|_, b| b.refilled(capacity, rate, now) < capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ip_keys_are_stable_and_group_ipv6_by_64(ip in any::<Ipv6Addr>(), low in any::<u64>()) {
            let key = ip_key(IpAddr::V6(ip));
            prop_assert_eq!(ip_key(key), key);
            let same_64 = Ipv6Addr::from((u128::from(ip) & !u128::from(u64::MAX)) | u128::from(low));
            if ip.to_ipv4_mapped().is_none() && same_64.to_ipv4_mapped().is_none() {
                prop_assert_eq!(ip_key(IpAddr::V6(same_64)), key);
            }
        }
    }

    #[test]
    fn an_address_is_blocked_once_its_failures_are_spent_and_others_are_not() {
        let failures = AuthFailures::new(3);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..2 {
            failures.record(Some(ip));
            assert!(failures.blocked(Some(ip)).is_none());
        }
        failures.record(Some(ip));
        let wait = failures
            .blocked(Some(ip))
            .expect("blocked after three failures");
        assert!(wait <= Duration::from_secs(20), "{wait:?}");
        assert!(
            failures
                .blocked(Some("192.0.2.8".parse().unwrap()))
                .is_none()
        );
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let failures = AuthFailures::new(1);
        failures.record(Some("2001:db8:1:2::1".parse().unwrap()));
        assert!(
            failures
                .blocked(Some("2001:db8:1:2:ffff::9".parse().unwrap()))
                .is_some()
        );
        assert!(
            failures
                .blocked(Some("2001:db8:1:3::1".parse().unwrap()))
                .is_none()
        );
        assert_eq!(
            ip_key("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn full_buckets_are_pruned() {
        let failures = AuthFailures::new(60);
        failures.record(Some("192.0.2.1".parse().unwrap()));
        {
            let mut buckets = failures.buckets();
            let b = buckets.values_mut().next().unwrap();
            b.at -= Duration::from_secs(2);
        }
        failures.prune();
        assert!(failures.buckets().is_empty());
    }
}
