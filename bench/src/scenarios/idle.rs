//! `idle`: `sockets` authenticated WebSocket sockets that connect as fast as the server
//! lets them (`concurrency` handshakes in flight) and then stay. Reported: handshakes per
//! second and the server's resident memory per socket.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::client::Socket;
use crate::rest::Rest;
use crate::server::Server;

pub struct IdleArgs {
    pub sockets: usize,
    pub concurrency: usize,
}

/// Sockets per agent (the default `MAX_SOCKETS_PER_AGENT`).
const PER_AGENT: usize = 20;

pub async fn run(server: &Server, rest: &Rest, args: &IdleArgs) -> anyhow::Result<Value> {
    let keys = rest
        .agents("idler", args.sockets.div_ceil(PER_AGENT))
        .await?;
    // Settle what setting up allocated before the baseline.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.usage();
    let started = Instant::now();
    let addr = server.addr;
    let mut sockets = Vec::with_capacity(args.sockets);
    let mut batch = tokio::task::JoinSet::new();
    let mut next = 0;
    while sockets.len() < args.sockets {
        while next < args.sockets && batch.len() < args.concurrency {
            let key = keys[next / PER_AGENT].clone();
            batch.spawn(async move { Socket::connect(addr, &key, |_| {}).await });
            next += 1;
        }
        let socket = batch.join_next().await.context("a handshake task")???;
        sockets.push(socket);
    }
    let connect_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.usage();
    let per_socket = after.rss_bytes.saturating_sub(before.rss_bytes) / args.sockets as u64;
    for socket in &sockets {
        socket.close();
    }
    Ok(json!({
        "sockets": args.sockets,
        "concurrency": args.concurrency,
        "connect_s": connect_time.as_secs_f64(),
        "handshakes_per_s": (args.sockets as f64 / connect_time.as_secs_f64()).round(),
        "server_rss_before_mb": before.rss_bytes / (1 << 20),
        "server_rss_after_mb": after.rss_bytes / (1 << 20),
        "rss_per_socket_kb": (per_socket as f64 / 1024.0 * 10.0).round() / 10.0,
        "server_cpu_s": after.cpu.saturating_sub(before.cpu).as_secs_f64(),
    }))
}
