//! A PostgreSQL outage (RUNBOOK.md, "Database down") on a PostgreSQL instance the test owns
//! (`initdb` in a temp dir, never the machine's shared server), with the real binary as an OS
//! process: `/readyz` 503, REST `unavailable`, the process stays up, and everything recovers
//! by itself when the database returns.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::post_to;
use crate::support::processes::{Server, assert_succeeded};
use crate::support::services::OwnPostgres;

/// Polls `check` every 200 ms until it returns `Some`, or panics after `limit`.
async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not within {limit:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// A PostgreSQL outage (RUNBOOK.md, "Database down"): not ready, `unavailable`, alive, and
/// back by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_unavailable_and_recovers_by_itself() {
    let pg = OwnPostgres::new();
    pg.start();
    let work = tempfile::tempdir().unwrap();
    let mut server = Server::start_on(work.path(), &pg.url()).await;
    let admin = server.read_banner_key().await;
    server.api.create_room(&admin, "lobby").await;
    server.api.post_message(&admin, "lobby", "before").await;
    let (status, ready) = server.api.probe("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["checks"]["database"], "ok", "{ready}");

    // The database goes away hard (no clean disconnects).
    assert_succeeded(&pg.stop_immediately(), "pg_ctl stop -m immediate");
    let gone = Instant::now();

    let ready = eventually(Duration::from_secs(15), "/readyz turns 503", || async {
        let (status, body) = server.api.probe("/readyz").await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            Ok(body)
        } else {
            Err(format!("{status} {body}"))
        }
    })
    .await;
    eprintln!("/readyz was 503 {:?} after the stop", gone.elapsed());
    assert_eq!(ready["status"], "not_ready", "{ready}");
    assert_eq!(ready["checks"]["database"], "error", "{ready}");

    // Every REST call that needs the database answers 503 `unavailable`, never 500. The
    // first calls may meet pooled connections the shutdown killed: those count too.
    let mut answers = Vec::new();
    for (method, path, body) in [
        ("GET", "/api/v1/me", None),
        ("GET", "/api/v1/rooms/lobby/messages", None),
        (
            "POST",
            "/api/v1/rooms/lobby/messages",
            Some(json!({"body": "during"})),
        ),
        ("GET", "/api/v1/rooms", None),
    ] {
        let res = match body {
            None => server.api.get(path, &admin).await,
            Some(body) => server.api.post(path, &admin, body).await,
        };
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        answers.push(format!("{method} {path}: {status} {body}"));
    }
    eprintln!("during the outage:\n{}", answers.join("\n"));
    for answer in &answers {
        assert!(
            answer.contains(": 503 ") && answer.contains(r#""code":"unavailable""#),
            "during the outage every REST call answers 503 unavailable:\n{}",
            answers.join("\n")
        );
    }
    let (status, _) = server.api.probe("/healthz").await;
    assert_eq!(status, StatusCode::OK, "liveness holds during the outage");
    let metrics = server.api.metrics_text().await;
    assert!(
        metrics.lines().any(|l| l.trim() == "db_up 0"),
        "db_up is 0 during the outage"
    );
    server.assert_running();

    // The database comes back: readiness and REST recover with no restart.
    pg.start();
    let back = Instant::now();
    eventually(Duration::from_secs(30), "/readyz turns 200", || async {
        let (status, body) = server.api.probe("/readyz").await;
        if status == StatusCode::OK && body["checks"]["database"] == "ok" {
            Ok(())
        } else {
            Err(format!("{status} {body}"))
        }
    })
    .await;
    eprintln!(
        "/readyz was 200 again {:?} after the database",
        back.elapsed()
    );
    let sent: Value = eventually(Duration::from_secs(15), "REST works again", || async {
        let after = json!({"body": "after", "client_id": "after-1"});
        let res = post_to(&server.api, &admin, "lobby", after).await;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status == StatusCode::CREATED || status == StatusCode::OK {
            Ok(body)
        } else {
            Err(format!("{status} {body}"))
        }
    })
    .await;
    assert_eq!(
        sent["seq"], 2,
        "nothing was half-stored during the outage: {sent}"
    );
    let history = server.api.whole_history(&admin, "lobby").await;
    let bodies: Vec<&str> = history
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["before", "after"]);
    let metrics = server.api.metrics_text().await;
    assert!(
        metrics.lines().any(|l| l.trim() == "db_up 1"),
        "db_up is 1 again"
    );
    server.assert_running();
    drop(server);
    drop(pg);
}
