//! Graceful shutdown (SPEC §10): SIGTERM during a burst of sends. Readiness turns 503, the
//! sockets are closed, the process exits 0 within SHUTDOWN_TIMEOUT_SECONDS, and every message
//! that was acknowledged is in the database.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::json;
use tokio::sync::Mutex;

use crate::support::processes::{agenthub, free_port, read_banner_key, sigterm};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_a_burst_loses_no_acknowledged_message() {
    let db = TestDb::new(Backend::Postgres).await;
    let port = free_port();
    // No subcommand: serving is the default.
    let mut child = agenthub(db.dir.path())
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("DATABASE_URL", &db.url)
        .env("JWT_SECRET", JWT_SECRET)
        .env("SHUTDOWN_TIMEOUT_SECONDS", "5")
        .env("RATE_LIMIT_WS_EVENTS_PER_SEC", "10000")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let key = read_banner_key(stdout).await;
    let base = format!("http://127.0.0.1:{port}");
    let addr = format!("127.0.0.1:{port}").parse().unwrap();

    let mut sockets = Vec::new();
    for _ in 0..4 {
        sockets.push(Arc::new(Sio::joined(addr, &key, "burst").await));
    }
    // Each socket sends until it gets no ack; it remembers what was acknowledged.
    let acked: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let mut senders = Vec::new();
    for (n, s) in sockets.iter().enumerate() {
        let (s, acked) = (s.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            for i in 0.. {
                let body = format!("s{n} m{i}");
                let ack = s
                    .try_emit(
                        "message:send",
                        json!({"room": "burst", "body": body}),
                        Duration::from_secs(3),
                    )
                    .await;
                match ack {
                    Some(ack) if ack["ok"] == true => {
                        acked
                            .lock()
                            .await
                            .push((ack["message"]["seq"].as_i64().unwrap(), body));
                    }
                    _ => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let before = acked.lock().await.len();
    assert!(before > 0, "the burst is running");

    let stopped_at = Instant::now();
    assert!(sigterm(&child));

    // Readiness turns 503 while the node drains (fresh connections, no pooling).
    let probe = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut saw_not_ready = false;
    while stopped_at.elapsed() < Duration::from_secs(2) && !saw_not_ready {
        if let Ok(res) = probe.get(format!("{base}/readyz")).send().await
            && res.status() == StatusCode::SERVICE_UNAVAILABLE
        {
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["status"], "not_ready");
            assert_eq!(body["checks"]["shutdown"], "draining");
            saw_not_ready = true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(saw_not_ready, "/readyz answered 503 while draining");

    // Exit 0 within the timeout.
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(
        stopped_at.elapsed() < Duration::from_secs(5 + 1),
        "exited within SHUTDOWN_TIMEOUT_SECONDS"
    );
    assert_eq!(status.code(), Some(0));
    for s in &sockets {
        assert!(
            s.closed_within(Duration::from_secs(2)).await,
            "clients are disconnected"
        );
    }
    for t in senders {
        t.await.unwrap();
    }

    // Every acknowledged message is stored, with its seq and body.
    let conn = Database::connect(&db.url).await.unwrap();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT seq, body FROM messages ORDER BY seq",
        ))
        .await
        .unwrap();
    let stored: Vec<(i64, String)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get("", "seq").unwrap(),
                r.try_get("", "body").unwrap(),
            )
        })
        .collect();
    let acked = acked.lock().await.clone();
    assert!(acked.len() >= before);
    for message in &acked {
        assert!(
            stored.contains(message),
            "acknowledged {message:?} is missing"
        );
    }
    let seqs: Vec<i64> = stored.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "no gaps");
    conn.close().await.unwrap();
}
