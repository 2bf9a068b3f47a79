//! Several `agenthub serve` processes as one hub over Redis and one PostgreSQL database
//! (SPEC §8). Each cluster has its own database and its own `REDIS_PREFIX`.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use super::api::Api;
use super::app::{Backend, JWT_SECRET, TestDb};
use super::fixtures::send;
use super::processes::{KillOnDrop, free_port, read_banner_key, serve};
use super::services::remove_redis_keys;
use super::sio::Sio;

/// One `agenthub serve` process of a cluster; killed when dropped.
pub struct Node {
    child: KillOnDrop,
    pub addr: SocketAddr,
    pub api: Api,
}

impl Node {
    pub fn kill9(&mut self) {
        self.child.kill();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

pub struct Cluster {
    db: TestDb,
    redis_url: String,
    prefix: String,
    pub extra_env: Vec<(String, String)>,
    pub nodes: Vec<Node>,
    pub admin_key: String,
}

impl Drop for Cluster {
    /// Stops the nodes, then removes the test's keys from the shared Redis.
    fn drop(&mut self) {
        self.nodes.clear();
        remove_redis_keys(&self.redis_url, &self.prefix);
    }
}

impl Cluster {
    pub async fn start(n: usize, redis_url: String, extra_env: &[(&str, &str)]) -> Cluster {
        let db = TestDb::new(Backend::Postgres).await;
        let mut cluster = Cluster {
            db,
            redis_url,
            prefix: format!("ahtest-{}", uuid::Uuid::new_v4().simple()),
            extra_env: extra_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            nodes: Vec::new(),
            admin_key: String::new(),
        };
        for _ in 0..n {
            cluster.add_node().await;
        }
        cluster
    }

    /// Starts one more node; the first one's bootstrap banner gives the admin key.
    pub async fn add_node(&mut self) -> usize {
        let port = free_port();
        let first = self.nodes.is_empty() && self.admin_key.is_empty();
        let mut child = serve(self.db.dir.path(), port)
            .env("DATABASE_URL", &self.db.url)
            .env("JWT_SECRET", JWT_SECRET)
            .env("REDIS_URL", &self.redis_url)
            .env("REDIS_PREFIX", &self.prefix)
            .env("RATE_LIMIT_REST_AUTH_PER_MIN", "1000000")
            .env("RATE_LIMIT_REST_ANON_PER_MIN", "1000000")
            .env("RATE_LIMIT_WS_EVENTS_PER_SEC", "1000")
            .envs(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(if first { Stdio::piped() } else { Stdio::null() })
            .stderr(Stdio::inherit())
            .spawn()
            .expect("agenthub starts");
        if first {
            self.admin_key = read_banner_key(child.stdout.take().unwrap()).await;
        }
        let node = Node {
            child: KillOnDrop(child),
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            api: Api::new(format!("http://127.0.0.1:{port}")),
        };
        let up = Duration::from_secs(30);
        node.api
            .wait_for_ok("/readyz", up, "node did not become ready")
            .await;
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    pub fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].addr
    }

    /// Node `i`'s REST API.
    pub fn api(&self, i: usize) -> &Api {
        &self.nodes[i].api
    }

    /// `GET path` on node `i` as the admin, asserting 200.
    pub async fn get(&self, i: usize, path: &str) -> Value {
        self.api(i).get_ok(path, &self.admin_key).await
    }

    /// `/readyz` of node `i`.
    pub async fn readyz(&self, i: usize) -> (StatusCode, Value) {
        self.api(i).probe("/readyz").await
    }

    /// Creates an agent (on node 0) and returns its API key and token id.
    pub async fn agent(&self, name: &str, role: &str) -> (String, String) {
        self.api(0).create_agent(&self.admin_key, name, role).await
    }

    /// Creates agents named `names` (role `agent`, on node 0): their API keys.
    pub async fn agents<const N: usize>(&self, names: [&str; N]) -> [String; N] {
        let mut keys = Vec::with_capacity(N);
        for name in names {
            keys.push(self.agent(name, "agent").await.0);
        }
        keys.try_into().unwrap()
    }

    /// Another API token of `name` (created on node 0): its key and id.
    pub async fn token(&self, name: &str) -> (String, String) {
        let token = self
            .api(0)
            .create_token(&self.admin_key, name, serde_json::json!({}))
            .await;
        (
            token["key"].as_str().unwrap().to_owned(),
            token["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Every seq in a room's history, over REST on node `i`.
    pub async fn history_seqs(&self, i: usize, room: &str) -> Vec<i64> {
        self.api(i)
            .whole_history(&self.admin_key, room)
            .await
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect()
    }
}

/// How long the cluster tests wait to see that something does not happen (across nodes).
pub const CLUSTER_QUIET: Duration = Duration::from_millis(700);

/// Sends a message from `s` and answers its seq.
pub async fn send_seq(s: &Sio, room: &str, body: &str) -> i64 {
    send(s, room, body).await["seq"].as_i64().unwrap()
}

/// Waits up to `within` for a `message:new` whose body is `body`; false if none came.
pub async fn receives(s: &Sio, body: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(m) = tokio::time::timeout(
            Duration::from_millis(300),
            s.next_event_quiet("message:new"),
        )
        .await
            && m["body"] == body
        {
            return true;
        }
    }
    false
}

/// The next `name` event on `s` within `limit`; panics with `what` when none came.
pub async fn next_within(s: &Sio, name: &str, limit: Duration, what: &str) -> Value {
    tokio::time::timeout(limit, s.next_event_quiet(name))
        .await
        .expect(what)
}

/// The next `name` event that `pred` accepts (others of that name are skipped).
pub async fn about(s: &Sio, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let e = s.next_event_quiet(name).await;
        if pred(&e) {
            return e;
        }
    }
}
