//! What `/readyz`, `/metrics` and the Socket.IO guard know of the database and Redis: one
//! probe at most every second, however many ask (these routes are unauthenticated).

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::cluster::redis::RedisClients;
use crate::hub::Hub;
use crate::telemetry::Metrics;

/// How long a probe's answer is reused.
const FRESH_FOR: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
pub struct Checks {
    pub database: bool,
    /// `None` without `REDIS_URL`.
    pub redis: Option<bool>,
}

pub struct Readiness {
    hub: Hub,
    redis: Option<RedisClients>,
    metrics: std::sync::Arc<Metrics>,
    last: Mutex<Option<(Instant, Checks)>>,
}

impl Readiness {
    pub fn new(hub: Hub, redis: Option<RedisClients>, metrics: std::sync::Arc<Metrics>) -> Self {
        Self {
            hub,
            redis,
            metrics,
            last: Mutex::new(None),
        }
    }

    /// The latest checks, probing when the last answer is older than a second. Concurrent
    /// callers wait for the same probe.
    pub async fn checks(&self) -> Checks {
        let mut last = self.last.lock().await;
        if let Some((at, checks)) = *last
            && at.elapsed() < FRESH_FOR
        {
            return checks;
        }
        self.metrics.readiness_probes.inc();
        let (database, redis) = tokio::join!(self.hub.database_up(), async {
            match &self.redis {
                None => None,
                Some(r) => Some(r.ping().await),
            }
        });
        let checks = Checks { database, redis };
        self.metrics.db_up.set(i64::from(checks.database));
        if let Some(up) = checks.redis {
            self.metrics.redis_up.set(i64::from(up));
        }
        *last = Some((Instant::now(), checks));
        checks
    }

    /// A request just failed to reach the database: say so until the next probe.
    pub async fn database_failed(&self) {
        let mut last = self.last.lock().await;
        let redis = last.and_then(|(_, c)| c.redis);
        *last = Some((
            Instant::now(),
            Checks {
                database: false,
                redis,
            },
        ));
        self.metrics.db_up.set(0);
    }
}
