//! Scale-out (SPEC §8): several `agenthub` processes as one hub over Redis and PostgreSQL.
//! Each test has its own database and its own `REDIS_PREFIX`; the outage test runs its own
//! `redis-server` so it never touches the machine's shared one.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, JWT_SECRET, TestDb};
use crate::sio::{Refused, Sio};

const BIN: &str = env!("CARGO_BIN_EXE_agenthub");

/// The machine's Redis (tests share it, each under its own prefix).
pub fn shared_redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `agenthub serve` process; killed when dropped.
struct Node {
    child: Child,
    addr: SocketAddr,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

struct Cluster {
    db: TestDb,
    redis_url: String,
    prefix: String,
    extra_env: Vec<(String, String)>,
    nodes: Vec<Node>,
    admin_key: String,
    http: reqwest::Client,
}

impl Drop for Cluster {
    /// Stops the nodes, then removes the test's keys from the shared Redis.
    fn drop(&mut self) {
        self.nodes.clear();
        remove_redis_keys(&self.redis_url, &self.prefix);
    }
}

/// Removes (best effort) every key under `prefix` from the Redis at `url`.
pub fn remove_redis_keys(url: &str, prefix: &str) {
    let Ok(out) = Command::new("redis-cli")
        .args(["-u", url, "--scan", "--pattern"])
        .arg(format!("{prefix}*"))
        .output()
    else {
        return;
    };
    let keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    for chunk in keys.chunks(100) {
        let _ = Command::new("redis-cli")
            .args(["-u", url, "DEL"])
            .args(chunk)
            .stdout(Stdio::null())
            .status();
    }
}

impl Cluster {
    async fn start(n: usize, redis_url: String, extra_env: &[(&str, &str)]) -> Cluster {
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
            http: reqwest::Client::new(),
        };
        for _ in 0..n {
            cluster.add_node().await;
        }
        cluster
    }

    /// Starts one more node; the first one's bootstrap banner gives the admin key.
    async fn add_node(&mut self) -> usize {
        let port = free_port();
        let first = self.nodes.is_empty() && self.admin_key.is_empty();
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.db.dir.path())
            .env_clear()
            .env("RUST_LOG", "warn")
            .env("DATABASE_URL", &self.db.url)
            .env("JWT_SECRET", JWT_SECRET)
            .env("REDIS_URL", &self.redis_url)
            .env("REDIS_PREFIX", &self.prefix)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("RATE_LIMIT_REST_AUTH_PER_MIN", "1000000")
            .env("RATE_LIMIT_REST_ANON_PER_MIN", "1000000")
            .env("RATE_LIMIT_WS_EVENTS_PER_SEC", "1000")
            .envs(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .arg("serve")
            .stdout(if first { Stdio::piped() } else { Stdio::null() })
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("agenthub starts");
        if first {
            let stdout = child.stdout.take().unwrap();
            self.admin_key = crate::helpers::read_banner_key(stdout).await;
        }
        let node = Node {
            child,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(res) = self.http.get(format!("{}/readyz", node.base)).send().await
                && res.status() == StatusCode::OK
            {
                break;
            }
            assert!(Instant::now() < deadline, "node did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].addr
    }

    async fn post(&self, i: usize, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.nodes[i].base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, i: usize, path: &str, token: &str) -> Value {
        let res = self
            .http
            .get(format!("{}{path}", self.nodes[i].base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.unwrap()
    }

    async fn readyz(&self, i: usize) -> (StatusCode, Value) {
        let res = self
            .http
            .get(format!("{}/readyz", self.nodes[i].base))
            .send()
            .await
            .unwrap();
        (res.status(), res.json().await.unwrap())
    }

    /// Creates an agent (on node 0) and returns its API key and token id.
    async fn agent(&self, name: &str, role: &str) -> (String, String) {
        let res = self
            .post(
                0,
                "/api/v1/agents",
                &self.admin_key,
                json!({"name": name, "role": role}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        self.token(name).await
    }

    async fn token(&self, name: &str) -> (String, String) {
        let res = self
            .post(
                0,
                &format!("/api/v1/agents/{name}/tokens"),
                &self.admin_key,
                json!({}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let v: Value = res.json().await.unwrap();
        (
            v["key"].as_str().unwrap().to_owned(),
            v["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Every seq in a room's history, over REST.
    async fn history_seqs(&self, i: usize, room: &str) -> Vec<i64> {
        let mut seqs = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .get(
                    i,
                    &format!("/api/v1/rooms/{room}/messages?after={after}&limit=100"),
                    &self.admin_key,
                )
                .await;
            let batch: Vec<i64> = page["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["seq"].as_i64().unwrap())
                .collect();
            seqs.extend(&batch);
            if page["has_more"] != true || batch.is_empty() {
                return seqs;
            }
            after = *batch.last().unwrap();
        }
    }
}

fn ok(ack: &Value) -> &Value {
    assert_eq!(ack["ok"], true, "ack: {ack}");
    ack
}

async fn joined(addr: SocketAddr, key: &str, room: &str) -> Sio {
    let s = Sio::connect(addr, key).await;
    ok(&s.emit("room:join", json!({"room": room})).await);
    s
}

async fn send(s: &Sio, room: &str, body: &str) -> i64 {
    let ack = s
        .emit("message:send", json!({"room": room, "body": body}))
        .await;
    ok(&ack)["message"]["seq"].as_i64().unwrap()
}

/// Waits up to `within` for a `message:new` whose body is `body`; false if none came.
async fn receives(s: &Sio, body: &str, within: Duration) -> bool {
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

/// The next `name` event that `pred` accepts (others of that name are skipped).
async fn about(s: &Sio, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let e = s.next_event_quiet(name).await;
        if pred(&e) {
            return e;
        }
    }
}

const QUIET: Duration = Duration::from_millis(700);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_deliver_messages_dms_and_kicks_across_nodes() {
    let c = Cluster::start(3, shared_redis_url(), &[]).await;
    let (amy, _) = c.agent("amy", "agent").await;
    let (bob, _) = c.agent("bob", "agent").await;
    let (cat, _) = c.agent("cat", "agent").await;
    let a = joined(c.addr(0), &amy, "lobby").await;
    let b = joined(c.addr(1), &bob, "lobby").await;
    let k = joined(c.addr(2), &cat, "lobby").await;

    // A socket message on node 1 reaches nodes 2 and 3 once each, and not the sender.
    let seq = send(&a, "lobby", "hello from node 1").await;
    for s in [&b, &k] {
        let m = s.next_event("message:new").await;
        assert_eq!(m["body"], "hello from node 1");
        assert_eq!(m["seq"], seq);
        s.assert_no_event("message:new", QUIET).await;
    }
    a.assert_no_event("message:new", Duration::ZERO).await;

    // A REST post on node 3 reaches a socket on node 1.
    let res = c
        .post(
            2,
            "/api/v1/rooms/lobby/messages",
            &c.admin_key,
            json!({"body": "over rest on node 3"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    for s in [&a, &b, &k] {
        assert_eq!(
            s.next_event("message:new").await["body"],
            "over rest on node 3"
        );
    }

    // A DM crosses nodes: amy on node 1 to bob on node 2, once; cat sees nothing.
    let ack = a
        .emit("dm:send", json!({"to": "bob", "body": "psst"}))
        .await;
    ok(&ack);
    let m = b.next_event("message:new").await;
    assert_eq!(m["body"], "psst");
    assert_eq!(m["room"], "dm:amy:bob");
    b.assert_no_event("message:new", QUIET).await;
    k.assert_no_event("message:new", Duration::ZERO).await;

    // A token revoked over REST on node 2 kicks its socket on node 1 within 2 s.
    let (cat2, cat2_id) = c.token("cat").await;
    let victim = Sio::connect(c.addr(0), &cat2).await;
    let revoked_at = Instant::now();
    let res = c
        .http
        .delete(format!("{}/api/v1/tokens/{cat2_id}", c.nodes[1].base))
        .bearer_auth(&c.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(
        victim.closed_within(Duration::from_secs(2)).await,
        "the kicked socket on another node is closed"
    );
    assert!(revoked_at.elapsed() < Duration::from_millis(2500));
    assert!(
        !k.is_closed().await,
        "the agent's other token's socket stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presence_counts_an_agent_once_across_nodes() {
    let c = Cluster::start(3, shared_redis_url(), &[("MAX_SOCKETS_PER_AGENT", "2")]).await;
    let (amy, _) = c.agent("amy", "agent").await;
    let res = c
        .post(0, "/api/v1/rooms", &c.admin_key, json!({"name": "hall"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let mut watchers = Vec::new();
    for (i, name) in ["w1", "w2", "w3"].iter().enumerate() {
        let (key, _) = c.agent(name, "observer").await;
        watchers.push(joined(c.addr(i), &key, "hall").await);
    }
    let a1 = joined(c.addr(0), &amy, "hall").await;
    let a2 = joined(c.addr(1), &amy, "hall").await;
    for w in &watchers {
        let e = tokio::time::timeout(
            Duration::from_secs(5),
            about(w, "presence:join", |e| {
                e["member"]["agent"]["name"] == "amy"
            }),
        )
        .await
        .expect("presence:join for amy on every node");
        assert_eq!(e["member"]["connections"], 1);
    }
    tokio::time::sleep(QUIET).await;
    for w in &watchers {
        assert!(
            tokio::time::timeout(
                Duration::from_millis(50),
                about(w, "presence:join", |e| e["member"]["agent"]["name"]
                    == "amy")
            )
            .await
            .is_err(),
            "one presence:join for amy's two sockets"
        );
    }

    // One member with two connections, seen from a third node.
    let list = watchers[2]
        .emit("presence:list", json!({"room": "hall"}))
        .await;
    let members = ok(&list)["members"].as_array().unwrap().clone();
    let amy_member = members
        .iter()
        .find(|m| m["agent"]["name"] == "amy")
        .expect("amy is a member");
    assert_eq!(amy_member["connections"], 2);
    assert_eq!(members.len(), 4, "{members:?}");
    let rest = c.get(2, "/api/v1/rooms/hall/presence", &c.admin_key).await;
    assert_eq!(rest["members"].as_array().unwrap().len(), 4);
    let agent = c.get(2, "/api/v1/agents/amy", &c.admin_key).await;
    assert_eq!(agent["online"], true);

    // The socket cap is cluster-wide: a third socket on a third node is refused.
    match Sio::connect_with(c.addr(2), Some(json!({"token": amy})), &[]).await {
        Err(Refused::ConnectError(m)) => assert_eq!(m, "too_many_connections"),
        Err(other) => panic!("refused otherwise: {other:?}"),
        Ok(_) => panic!("a third socket got in over a cap of 2"),
    }

    // Status is the agent's, cluster-wide.
    ok(&a1
        .emit(
            "presence:set",
            json!({"status": "busy", "note": "deep work"}),
        )
        .await);
    let update = watchers[1].next_event("presence:update").await;
    assert_eq!(update["member"]["status"], "busy");
    assert_eq!(update["member"]["connections"], 2);

    // Closing one socket emits nothing; closing the second, one leave seen on every node.
    a1.close().await;
    for w in &watchers {
        w.assert_no_event("presence:leave", QUIET).await;
    }
    a2.close().await;
    for w in &watchers {
        let e = w.next_event("presence:leave").await;
        assert_eq!(e["agent"]["name"], "amy");
        assert_eq!(e["room"], "hall");
        w.assert_no_event("presence:leave", QUIET).await;
    }
    let agent = c.get(0, "/api/v1/agents/amy", &c.admin_key).await;
    assert_eq!(agent["online"], false);

    // Status and note reset once the last socket anywhere is gone.
    let again = joined(c.addr(2), &amy, "hall").await;
    let list = again.emit("presence:list", json!({"room": "hall"})).await;
    let amy_member = ok(&list)["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["agent"]["name"] == "amy")
        .cloned()
        .unwrap();
    assert_eq!(amy_member["status"], "online");
    assert_eq!(amy_member["note"], Value::Null);
    assert_eq!(amy_member["connections"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_node_leaves_presence_and_loses_nothing_acknowledged() {
    let mut c = Cluster::start(3, shared_redis_url(), &[]).await;
    let (amy, _) = c.agent("amy", "agent").await;
    let (bob, _) = c.agent("bob", "agent").await;
    let (cat, _) = c.agent("cat", "agent").await;
    let b = joined(c.addr(0), &bob, "ops").await;
    let k = joined(c.addr(2), &cat, "ops").await;
    let a = joined(c.addr(1), &amy, "ops").await;
    b.next_event("presence:join").await;
    k.next_event("presence:join").await;

    let mut acked = Vec::new();
    for i in 0..5 {
        acked.push(send(&a, "ops", &format!("before {i}")).await);
    }
    let last_seen = *acked.last().unwrap();

    c.nodes[1].kill9();
    let killed = Instant::now();
    assert!(a.closed_within(Duration::from_secs(5)).await);
    // Messages sent while amy is away.
    let mut missed = Vec::new();
    for i in 0..3 {
        let seq = send(&b, "ops", &format!("while away {i}")).await;
        acked.push(seq);
        missed.push(seq);
    }
    // Both live nodes see amy leave within 15 s.
    for s in [&b, &k] {
        let left = tokio::time::timeout(
            Duration::from_secs(15).saturating_sub(killed.elapsed()),
            s.next_event_quiet("presence:leave"),
        )
        .await
        .expect("presence:leave within 15 s of the kill");
        assert_eq!(left["agent"]["name"], "amy");
        assert_eq!(left["room"], "ops");
    }
    let members = c.get(0, "/api/v1/rooms/ops/presence", &c.admin_key).await;
    let names: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["agent"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bob", "cat"]);

    // Nothing acknowledged before the kill is missing from history.
    let history = c.history_seqs(2, "ops").await;
    for seq in &acked {
        assert!(history.contains(seq), "seq {seq} is in history {history:?}");
    }
    assert_eq!(history, (1..=history.len() as i64).collect::<Vec<_>>());

    // Amy reconnects to another node and gets exactly what she missed.
    let a = Sio::connect(c.addr(2), &amy).await;
    let ack = a
        .emit("room:join", json!({"room": "ops", "since": last_seen}))
        .await;
    let got: Vec<i64> = ok(&ack)["missed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(got, missed);
    assert_eq!(ack["missed_truncated"], false);
}

/// A redis-server of the test's own, on a free port.
struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    async fn start(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--bind",
                "127.0.0.1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        OwnRedis { child, port }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_degrades_to_local_delivery_and_recovers() {
    let mut redis = OwnRedis::start(free_port()).await;
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let mut c = Cluster::start(2, url, &[]).await;
    let (amy, _) = c.agent("amy", "agent").await;
    let (bob, _) = c.agent("bob", "agent").await;
    let (cat, _) = c.agent("cat", "agent").await;
    let a = joined(c.addr(0), &amy, "room").await;
    let k = joined(c.addr(0), &cat, "room").await;
    let b = joined(c.addr(1), &bob, "room").await;
    let (status, ready) = c.readyz(0).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["redis"], "ok");
    let mut acked = vec![send(&a, "room", "before").await];
    assert!(receives(&b, "before", Duration::from_secs(5)).await);

    redis.stop();
    // Degraded, not dead: still in the load balancer.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, ready) = c.readyz(0).await;
        assert_eq!(status, StatusCode::OK, "{ready}");
        if ready["status"] == "degraded" {
            assert_eq!(ready["checks"]["redis"], "error");
            assert_eq!(ready["checks"]["database"], "ok");
            break;
        }
        assert!(Instant::now() < deadline, "readyz never said degraded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = c
        .http
        .get(format!("{}/metrics", c.nodes[0].base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("\nredis_up 0"), "{metrics}");

    // Local delivery goes on; sends are acknowledged and stored.
    for i in 0..3 {
        let body = format!("during {i}");
        let started = Instant::now();
        acked.push(send(&a, "room", &body).await);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "a send did not hang"
        );
        assert!(
            receives(&k, &body, Duration::from_secs(3)).await,
            "{body} locally"
        );
    }
    acked.push(send(&b, "room", "during on node 2").await);

    // Redis comes back (empty): cross-node delivery resumes by itself.
    let _redis = OwnRedis::start(redis.port).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    loop {
        let body = format!("after {n}");
        acked.push(send(&a, "room", &body).await);
        if receives(&b, &body, Duration::from_secs(1)).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cross-node delivery did not resume"
        );
        n += 1;
    }
    let ack = b
        .emit(
            "message:send",
            json!({"room": "room", "body": "back to node 1"}),
        )
        .await;
    acked.push(ok(&ack)["message"]["seq"].as_i64().unwrap());
    assert!(receives(&a, "back to node 1", Duration::from_secs(5)).await);
    // Each node's clients reconnect on their own schedule (every 500 ms): readiness follows.
    let deadline = Instant::now() + Duration::from_secs(5);
    for i in 0..2 {
        loop {
            let (status, ready) = c.readyz(i).await;
            assert_eq!(status, StatusCode::OK);
            if ready["status"] == "ready" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {i} not ready again: {ready}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    for node in &mut c.nodes {
        assert!(node.is_running(), "no node crashed");
    }
    let history = c.history_seqs(1, "room").await;
    for seq in &acked {
        assert!(history.contains(seq), "acked seq {seq} in {history:?}");
    }
    assert_eq!(history, (1..=history.len() as i64).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seq_is_gap_free_with_concurrent_senders_on_different_nodes() {
    let c = Cluster::start(3, shared_redis_url(), &[]).await;
    const EACH: usize = 20;
    let mut keys = Vec::new();
    for name in ["s1", "s2", "s3"] {
        keys.push(c.agent(name, "agent").await.0);
    }
    let mut sockets = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        sockets.push(std::sync::Arc::new(joined(c.addr(i), key, "busy").await));
    }
    let mut tasks = Vec::new();
    for (i, s) in sockets.iter().enumerate() {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..EACH {
                seqs.push(send(&s, "busy", &format!("s{i} m{n}")).await);
            }
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    assert_eq!(all, (1..=(3 * EACH) as i64).collect::<Vec<_>>());
    // Every socket got every other sender's message exactly once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for s in &sockets {
        assert_eq!(s.count("message:new").await, 2 * EACH);
    }
    assert_eq!(
        c.history_seqs(1, "busy").await,
        (1..=(3 * EACH) as i64).collect::<Vec<_>>()
    );
}

/// A node that comes back with the same `NODE_ID` clears what its previous life left in
/// Redis at once, well before the reaper would (a node is dead after ~8 s of silence).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_restarting_with_its_id_clears_its_stale_presence_at_once() {
    let mut c = Cluster::start(1, shared_redis_url(), &[]).await;
    let (amy, _) = c.agent("amy", "agent").await;
    let (bob, _) = c.agent("bob", "agent").await;
    c.extra_env
        .push(("NODE_ID".into(), "restarting-node".into()));
    let first = c.add_node().await;
    let b = joined(c.addr(0), &bob, "ops").await;
    let a = joined(c.addr(first), &amy, "ops").await;
    b.next_event("presence:join").await;

    c.nodes[first].kill9();
    let killed = Instant::now();
    assert!(a.closed_within(Duration::from_secs(5)).await);
    let again = c.add_node().await;
    c.extra_env.pop();
    let left = tokio::time::timeout(
        Duration::from_secs(6).saturating_sub(killed.elapsed()),
        b.next_event_quiet("presence:leave"),
    )
    .await
    .expect("the restarted node cleared amy's stale presence before any reaper could");
    assert_eq!(left["agent"]["name"], "amy");

    // Back on the restarted node, amy is one member with one connection.
    let _a = joined(c.addr(again), &amy, "ops").await;
    let members = c.get(0, "/api/v1/rooms/ops/presence", &c.admin_key).await;
    let amy_member: Vec<&Value> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["agent"]["name"] == "amy")
        .collect();
    assert_eq!(amy_member.len(), 1, "{members}");
    assert_eq!(amy_member[0]["connections"], 1, "{members}");
}
