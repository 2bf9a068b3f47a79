//! `agenthub-bench`: starts an `agenthub serve` process, sets it up over REST with the admin
//! key of its first start, loads it over raw Engine.IO v4 / Socket.IO v5 WebSockets and
//! prints one JSON line per run. See docs/benchmarks.md for the scenarios and the commands
//! behind every published figure; `bench/run.sh` runs them with the server and the
//! generator on separate cores.

mod client;
mod rest;
mod scenarios;
mod server;
mod stats;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::json;

use scenarios::{call, cluster, fanout, idle, send, storm, stream};
use server::{Server, ServerSpec};

#[derive(Parser)]
#[command(about = "Load generator for AgentHub")]
struct Args {
    /// The `agenthub` binary to start.
    #[arg(long, default_value = "target/release/agenthub")]
    bin: PathBuf,
    /// The server's port; a free one when 0.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// `DATABASE_URL` of the server; the embedded SQLite default when absent.
    #[arg(long)]
    database_url: Option<String>,
    /// Pin the server to this core (`taskset -c`).
    #[arg(long)]
    server_cpu: Option<usize>,
    /// Extra server settings, `NAME=value` (repeatable).
    #[arg(long = "set", value_parser = parse_setting)]
    settings: Vec<(String, String)>,
    /// Exit non-zero when any send was refused, missing or duplicated (the CI smoke run).
    #[arg(long)]
    strict: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Durable sends with acks: throughput and send → ack latency.
    Send {
        #[arg(long, default_value_t = 50)]
        sockets: usize,
        #[arg(long, default_value_t = 10)]
        rooms: usize,
        /// Sends each socket keeps outstanding.
        #[arg(long, default_value_t = 4)]
        inflight: usize,
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// One room of many readers: latency and server CPU per delivery.
    Fanout {
        #[arg(long, default_value_t = 1000)]
        receivers: usize,
        /// Messages a second.
        #[arg(long, default_value_t = 50)]
        rate: u32,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// Calls between agents (SPEC §12): calls/s and round trip, same node or across nodes.
    Call {
        #[arg(long, default_value_t = 20)]
        callers: usize,
        /// Calls each caller keeps outstanding.
        #[arg(long, default_value_t = 4)]
        inflight: usize,
        /// Sockets of the callee agent answering.
        #[arg(long, default_value_t = 4)]
        callees: usize,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// The callee on a second node (needs --database-url; Redis at --redis-url).
        #[arg(long)]
        cross_node: bool,
        #[arg(long, default_value = "redis://127.0.0.1:6379")]
        redis_url: String,
    },
    /// Streamed messages (SPEC §11): deltas/s and delta delivery latency.
    Stream {
        /// Streams open at once (one socket each).
        #[arg(long, default_value_t = 50)]
        streams: usize,
        /// Deltas per stream.
        #[arg(long, default_value_t = 200)]
        deltas: usize,
        /// Milliseconds between two deltas of a stream (the default event rate limit is
        /// 30 a second per socket).
        #[arg(long, default_value_t = 50)]
        interval_ms: u64,
        #[arg(long, default_value_t = 10)]
        rooms: usize,
        /// Readers in each room.
        #[arg(long, default_value_t = 10)]
        readers: usize,
    },
    /// A restart under load: drain, start, how soon every socket is back, nothing lost.
    Storm {
        #[arg(long, default_value_t = 2000)]
        sockets: usize,
        #[arg(long, default_value_t = 20)]
        rooms: usize,
        /// REST posts a second.
        #[arg(long, default_value_t = 50)]
        rate: u32,
        /// Delay between a socket's reconnection attempts (± 50 %).
        #[arg(long, default_value_t = 100)]
        retry_ms: u64,
        /// Seconds of load before the restart, and after every socket is back.
        #[arg(long, default_value_t = 2.0)]
        settle: f64,
    },
    /// Two nodes over Redis (needs --database-url): cross-node send → delivery latency.
    Cluster {
        #[arg(long, default_value = "redis://127.0.0.1:6379")]
        redis_url: String,
        #[arg(long, default_value_t = 10)]
        rooms: usize,
        /// Readers per room on the second node (each room also has one on the first).
        #[arg(long, default_value_t = 2)]
        readers: usize,
        /// Messages a second, over all rooms.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// Many idle authenticated sockets: handshakes a second, memory per socket.
    Idle {
        #[arg(long, default_value_t = 5000)]
        sockets: usize,
        /// Handshakes in flight at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected NAME=value, got {s:?}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let port = match args.port {
        0 => std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port(),
        port => port,
    };
    let spec = ServerSpec {
        bin: args.bin.clone(),
        port,
        database_url: args.database_url.clone(),
        redis: match &args.scenario {
            Scenario::Cluster { redis_url, .. }
            | Scenario::Call {
                redis_url,
                cross_node: true,
                ..
            } => Some((redis_url.clone(), format!("bench{port}"))),
            _ => None,
        },
        cpu: args.server_cpu,
        env: args.settings.clone(),
    };
    let server = Server::start(&spec, dir.path()).await?;
    let admin_key = server
        .admin_key
        .clone()
        .context("the server printed no admin key: start it on an empty database")?;
    let rest = rest::Rest::new(server.addr, admin_key);
    let secs = Duration::from_secs_f64;
    let (name, result, server) = match &args.scenario {
        Scenario::Send {
            sockets,
            rooms,
            inflight,
            warmup,
            duration,
        } => {
            let a = send::SendArgs {
                sockets: *sockets,
                rooms: *rooms,
                inflight: *inflight,
                warmup: secs(*warmup),
                duration: secs(*duration),
            };
            ("send", send::run(&server, &rest, &a).await?, server)
        }
        Scenario::Fanout {
            receivers,
            rate,
            duration,
        } => {
            let a = fanout::FanoutArgs {
                receivers: *receivers,
                rate: *rate,
                duration: secs(*duration),
            };
            ("fanout", fanout::run(&server, &rest, &a).await?, server)
        }
        Scenario::Call {
            callers,
            inflight,
            callees,
            duration,
            cross_node,
            ..
        } => {
            let a = call::CallArgs {
                callers: *callers,
                inflight: *inflight,
                callees: *callees,
                duration: secs(*duration),
                cross_node: *cross_node,
            };
            let result = call::run(&server, &spec, dir.path(), &rest, &a).await?;
            ("call", result, server)
        }
        Scenario::Stream {
            streams,
            deltas,
            interval_ms,
            rooms,
            readers,
        } => {
            let a = stream::StreamArgs {
                streams: *streams,
                deltas: *deltas,
                interval: Duration::from_millis(*interval_ms),
                rooms: *rooms,
                readers: *readers,
            };
            ("stream", stream::run(&server, &rest, &a).await?, server)
        }
        Scenario::Idle {
            sockets,
            concurrency,
        } => {
            let a = idle::IdleArgs {
                sockets: *sockets,
                concurrency: *concurrency,
            };
            ("idle", idle::run(&server, &rest, &a).await?, server)
        }
        Scenario::Cluster {
            rooms,
            readers,
            rate,
            duration,
            ..
        } => {
            let a = cluster::ClusterArgs {
                rooms: *rooms,
                readers: *readers,
                rate: *rate,
                duration: secs(*duration),
            };
            let result = cluster::run(&server, &spec, dir.path(), &rest, &a).await?;
            ("cluster", result, server)
        }
        Scenario::Storm {
            sockets,
            rooms,
            rate,
            retry_ms,
            settle,
        } => {
            let a = storm::StormArgs {
                sockets: *sockets,
                rooms: *rooms,
                rate: *rate,
                retry_ms: *retry_ms,
                before: secs(*settle),
                after: secs(*settle),
            };
            let (result, server) = storm::run(server, &spec, dir.path(), &rest, &a).await?;
            ("storm", result, server)
        }
    };
    server.stop().await?;
    let backend = match args.database_url.as_deref() {
        Some(url) if url.starts_with("postgres") => "postgres",
        _ => "sqlite",
    };
    println!(
        "{}",
        json!({"scenario": name, "backend": backend, "result": result})
    );
    if args.strict {
        let bad = ["refused", "missing", "duplicates"]
            .iter()
            .filter_map(|k| result[*k].as_u64())
            .sum::<u64>();
        let done = result["acked"].as_u64().or(result["delivered"].as_u64());
        anyhow::ensure!(bad == 0, "{bad} sends were refused, missing or duplicated");
        anyhow::ensure!(
            done.is_none_or(|n| n > 0),
            "nothing was acknowledged or delivered"
        );
    }
    Ok(())
}
