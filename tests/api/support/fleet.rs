//! Fleets of stock Socket.IO clients (`clients/node/fleet.mjs`, `clients/python/fleet.py`) in
//! OS processes driven over their stdin/stdout, a REST producer that retries with
//! `client_id`, a round-robin TCP load balancer, and the check that a fleet came back from a
//! restart with everything.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};

use super::processes::KillOnDrop;

const CLIENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/clients");

/// Which client library a fleet runs.
#[derive(Debug, Clone, Copy)]
pub enum Library {
    Node,
    Python,
}

/// A fleet of stock-client sockets in one OS process, following its plan (see the
/// program's header); its stdout lines arrive as JSON values.
pub struct Fleet {
    library: Library,
    child: KillOnDrop,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    _plan: tempfile::NamedTempFile,
}

impl Fleet {
    pub fn start(library: Library, plan: &Value) -> Fleet {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(plan.to_string().as_bytes()).unwrap();
        let clients = Path::new(CLIENTS);
        let mut cmd = match library {
            Library::Node => {
                assert!(
                    clients.join("node/node_modules/socket.io-client").exists(),
                    "run `bash .ci/run` once: it installs the client programs' dependencies"
                );
                let mut cmd = Command::new("node");
                cmd.current_dir(clients.join("node")).arg("fleet.mjs");
                cmd
            }
            Library::Python => {
                let python = clients.join("python/.venv/bin/python");
                assert!(
                    python.exists(),
                    "run `bash .ci/run` once: it makes clients/python/.venv"
                );
                let mut cmd = Command::new(python);
                cmd.current_dir(clients.join("python"))
                    .env("PYTHONUNBUFFERED", "1")
                    .env("PYTHONDONTWRITEBYTECODE", "1")
                    .arg("fleet.py");
                cmd
            }
        };
        let mut child = cmd
            .arg("--plan")
            .arg(file.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the fleet program starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        let _ = tx.send(v);
                    }
                    Err(_) => eprintln!("fleet: {line}"),
                }
            }
        });
        Fleet {
            library,
            child: KillOnDrop(child),
            stdin,
            lines,
            _plan: file,
        }
    }

    /// Waits for the next line whose `event` is `name`, panicking after `limit`.
    pub async fn next(&mut self, name: &str, limit: Duration) -> Value {
        let library = self.library;
        tokio::time::timeout(limit, async {
            loop {
                let line = self
                    .lines
                    .recv()
                    .await
                    .unwrap_or_else(|| panic!("the {library:?} fleet exited"));
                if line["event"] == name {
                    return line;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the {library:?} fleet printed no {name} within {limit:?}"))
    }

    pub async fn report(&mut self) -> Value {
        writeln!(self.stdin, "report").unwrap();
        self.stdin.flush().unwrap();
        self.next("report", Duration::from_secs(10)).await
    }

    /// Polls reports until every socket (and the producer) is connected again after
    /// at least `connects` connections each.
    pub async fn wait_all_back(&mut self, connects: u64, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let report = self.report().await;
            let sockets = report["sockets"].as_array().unwrap();
            let producer_back =
                report["producer"].is_null() || report["producer"]["connected"] == true;
            if producer_back
                && sockets.iter().all(|s| {
                    s["connected"] == true && s["connects"].as_u64().unwrap_or(0) >= connects
                })
            {
                return report;
            }
            assert!(
                Instant::now() < deadline,
                "{:?} fleet not all back within {limit:?}: {report}",
                self.library
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn stop(mut self) {
        let _ = writeln!(self.stdin, "stop");
        let _ = self.stdin.flush();
        let mut child = std::mem::replace(&mut self.child.0, Command::new("true").spawn().unwrap());
        let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    }
}

/// Messages acknowledged to a producer: seq → body, per room.
pub type Acked = BTreeMap<String, BTreeMap<i64, String>>;

/// Posts to `rooms` round-robin every `every` over REST until stopped. A send that fails
/// (the node restarting) is retried with the same `client_id` until it is acknowledged, so
/// each body is stored once.
pub struct RestProducer {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    acked: Arc<Mutex<Acked>>,
}

impl RestProducer {
    pub fn start(bases: Vec<String>, key: String, rooms: Vec<String>, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acked: Arc<Mutex<Acked>> = Arc::default();
        let task = tokio::spawn({
            let (stop, acked) = (stop.clone(), acked.clone());
            async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(3))
                    .build()
                    .unwrap();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let room = &rooms[n % rooms.len()];
                    let body = format!("rest-{n}");
                    let mut attempt = 0usize;
                    loop {
                        let base = &bases[(n + attempt) % bases.len()];
                        let res = http
                            .post(format!("{base}/api/v1/rooms/{room}/messages"))
                            .bearer_auth(&key)
                            .json(&json!({"body": body, "client_id": body}))
                            .send()
                            .await;
                        if let Ok(res) = res
                            && res.status().is_success()
                        {
                            let message: Value = res.json().await.unwrap();
                            assert_eq!(message["body"], body.as_str());
                            let seq = message["seq"].as_i64().unwrap();
                            acked
                                .lock()
                                .await
                                .entry(room.clone())
                                .or_default()
                                .insert(seq, body.clone());
                            break;
                        }
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    n += 1;
                    tokio::time::sleep(every).await;
                }
            }
        });
        RestProducer { stop, task, acked }
    }

    pub async fn count(&self) -> usize {
        self.acked.lock().await.values().map(BTreeMap::len).sum()
    }

    pub async fn finish(self) -> Acked {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        self.acked.lock().await.clone()
    }
}

/// A round-robin TCP load balancer over `backends`: each client connection goes to the next
/// backend that accepts it. Runs until dropped.
pub struct Balancer {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Balancer {
    pub async fn start(backends: Vec<SocketAddr>) -> Balancer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let next = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                let (backends, next) = (backends.clone(), next.clone());
                tokio::spawn(async move {
                    let first = next.fetch_add(1, Ordering::Relaxed);
                    for k in 0..backends.len() {
                        let backend = backends[(first + k) % backends.len()];
                        if let Ok(mut upstream) = tokio::net::TcpStream::connect(backend).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                            return;
                        }
                    }
                    // No backend is up: the client sees its connection close and retries.
                });
            }
        });
        Balancer { port, task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Server refusals a stock client never comes back from by itself: none may ever reach a
/// fleet socket in a restart. (Failed reconnection attempts are reported as `connect_error`
/// too, with transport-level messages such as `xhr poll error`: those are expected.)
const FINAL_REFUSALS: [&str; 4] = [
    "unauthorized",
    "too_many_connections",
    "unavailable",
    "Invalid namespace",
];

/// Checks a fleet's report after a restart: every socket came back by itself, only ever
/// ended by a dropped transport, never got a server refusal, and holds every message
/// `expected` of its rooms exactly once after dedupe by seq (with the body acknowledged).
pub fn assert_came_back_with_everything(report: &Value, expected: &Acked) {
    let sockets = report["sockets"].as_array().expect("sockets");
    assert!(!sockets.is_empty());
    for (i, s) in sockets.iter().enumerate() {
        assert_eq!(s["connected"], true, "socket {i} is connected: {s}");
        assert!(
            s["connects"].as_u64().unwrap() >= 2,
            "socket {i} reconnected: {s}"
        );
        for e in s["connect_errors"].as_array().unwrap() {
            let text = e.to_string();
            assert!(
                !FINAL_REFUSALS.iter().any(|r| text.contains(r)),
                "socket {i} got a server refusal as connect_error: {text}"
            );
        }
        let reasons = s["disconnect_reasons"].as_array().unwrap();
        assert!(!reasons.is_empty(), "socket {i} saw the restart: {s}");
        for reason in reasons {
            assert!(
                reason == "transport close" || reason == "transport error",
                "socket {i} ended as {reason}: only a dropped transport makes clients retry"
            );
        }
        assert_eq!(s["conflicts"], json!([]), "socket {i}: one body per seq");
        assert!(
            s["join_errors"].as_array().is_none_or(|e| e.is_empty()),
            "socket {i} rejoined its rooms: {s}"
        );
        let rooms = s["rooms"].as_object().unwrap();
        for (room, seen) in rooms {
            let missing: Vec<String> = expected
                .get(room)
                .into_iter()
                .flatten()
                .filter(|(seq, body)| seen[seq.to_string()].as_str() != Some(body.as_str()))
                .map(|(seq, body)| format!("#{seq} {body}"))
                .collect();
            let highest = seen
                .as_object()
                .and_then(|m| m.keys().filter_map(|k| k.parse::<i64>().ok()).max());
            assert!(
                missing.is_empty(),
                "socket {i} is missing in {room} (highest seen {highest:?}): {missing:?}; {s}"
            );
        }
    }
}

/// Adds a fleet producer's acknowledged messages (from a report) to `into`.
pub fn add_producer_acks(into: &mut Acked, report: &Value, room: &str) {
    let Some(acked) = report["producer"]["acked"].as_object() else {
        return;
    };
    for (seq, body) in acked {
        into.entry(room.to_owned())
            .or_default()
            .insert(seq.parse().unwrap(), body.as_str().unwrap().to_owned());
    }
}
