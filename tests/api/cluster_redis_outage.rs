//! Scale-out through a Redis outage (SPEC §8): with its own `redis-server` (never the
//! machine's shared one), two nodes degrade to local delivery while Redis is gone (ready but
//! degraded, sends acknowledged and stored) and recover cross-node delivery by themselves.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::cluster::{Cluster, receives, send_seq};
use crate::support::processes::free_port;
use crate::support::services::OwnRedis;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_degrades_to_local_delivery_and_recovers() {
    let mut redis = OwnRedis::start(free_port()).await;
    let mut c = Cluster::start(2, redis.url(), &[]).await;
    let [amy, bob, cat] = c.agents(["amy", "bob", "cat"]).await;
    let a = Sio::joined(c.addr(0), &amy, "room").await;
    let k = Sio::joined(c.addr(0), &cat, "room").await;
    let b = Sio::joined(c.addr(1), &bob, "room").await;
    let (status, ready) = c.readyz(0).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["redis"], "ok");
    let mut acked = vec![send_seq(&a, "room", "before").await];
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
    let metrics = c.api(0).metrics_text().await;
    assert!(metrics.contains("\nredis_up 0"), "{metrics}");

    // Local delivery goes on; sends are acknowledged and stored.
    for i in 0..3 {
        let body = format!("during {i}");
        let started = Instant::now();
        acked.push(send_seq(&a, "room", &body).await);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "a send did not hang"
        );
        assert!(
            receives(&k, &body, Duration::from_secs(3)).await,
            "{body} locally"
        );
    }
    acked.push(send_seq(&b, "room", "during on node 2").await);

    // Redis comes back (empty): cross-node delivery resumes by itself.
    let _redis = OwnRedis::start(redis.port).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    loop {
        let body = format!("after {n}");
        acked.push(send_seq(&a, "room", &body).await);
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
        .send_message(json!({"room": "room", "body": "back to node 1"}))
        .await;
    acked.push(assert_ok(&ack)["message"]["seq"].as_i64().unwrap());
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
