//! The hub under test: a real `agenthub serve` process the benchmark starts (pinned to a core
//! with `taskset` when asked), its admin key from the first-start banner, readiness, and what
//! `/proc` says of its memory and CPU.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How to start a server.
#[derive(Clone)]
pub struct ServerSpec {
    pub bin: PathBuf,
    pub port: u16,
    /// `DATABASE_URL`; the embedded SQLite default in a temp dir when `None`.
    pub database_url: Option<String>,
    /// `REDIS_URL` and `REDIS_PREFIX`, for nodes of one cluster.
    pub redis: Option<(String, String)>,
    pub cpu: Option<usize>,
    /// Extra settings (`NAME=value`).
    pub env: Vec<(String, String)>,
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// The admin key the first start printed.
    pub admin_key: Option<String>,
    /// When `/readyz` first answered 200.
    pub ready_at: Instant,
}

/// The settings every benchmark run needs: limits that would otherwise throttle the load
/// generator itself (one host, many sockets, many events a second).
fn bench_env(spec: &ServerSpec, dir: &Path) -> Vec<(String, String)> {
    let mut env = vec![
        ("HOST".into(), "127.0.0.1".into()),
        ("PORT".into(), spec.port.to_string()),
        ("RUST_LOG".into(), "warn".into()),
        (
            "JWT_SECRET".into(),
            "bench-secret-0123456789abcdef0123456789".into(),
        ),
        ("AGENTHUB_DATA_DIR".into(), dir.display().to_string()),
        ("RATE_LIMIT_REST_AUTH_PER_MIN".into(), "10000000".into()),
        ("RATE_LIMIT_WS_EVENTS_PER_SEC".into(), "2000".into()),
        ("ROOM_CREATES_PER_HOUR".into(), "100000".into()),
    ];
    if let Some(url) = &spec.database_url {
        env.push(("DATABASE_URL".into(), url.clone()));
    }
    if let Some((url, prefix)) = &spec.redis {
        env.push(("REDIS_URL".into(), url.clone()));
        env.push(("REDIS_PREFIX".into(), prefix.clone()));
    }
    env.extend(spec.env.iter().cloned());
    env
}

impl Server {
    /// Starts the server with its data in `dir` and waits until it is ready.
    pub async fn start(spec: &ServerSpec, dir: &Path) -> anyhow::Result<Server> {
        let mut cmd = match spec.cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(&spec.bin);
                c
            }
            None => Command::new(&spec.bin),
        };
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(bench_env(spec, dir))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", spec.bin.display()))?;
        let stdout = child.stdout.take().context("server stdout")?;
        // The banner (with the admin key) comes on the first start only; keep reading the
        // rest in the background so the pipe never fills.
        let (key_tx, key_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            let mut key_tx = Some(key_tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(at) = line.find("ahk_")
                    && let Some(tx) = key_tx.take()
                {
                    let key: String = line[at..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                        .collect();
                    let _ = tx.send(key);
                }
            }
        });
        let addr: SocketAddr = format!("127.0.0.1:{}", spec.port).parse()?;
        wait_ready(addr, &mut child).await?;
        let ready_at = Instant::now();
        let admin_key = tokio::time::timeout(Duration::from_millis(500), key_rx)
            .await
            .ok()
            .and_then(Result::ok);
        Ok(Server {
            child,
            addr,
            admin_key,
            ready_at,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGTERM, then waits for the process to exit.
    pub async fn stop(mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        if let Some(pid) = self.child.id() {
            Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await?;
        }
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .context("server did not exit within 30 s of SIGTERM")??;
        Ok(started.elapsed())
    }

    /// A value of the server's `/metrics` (an unlabelled series), if it has it.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = reqwest::get(format!("http://{}/metrics", self.addr))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    /// What `/proc` says of the process now.
    pub fn usage(&self) -> Usage {
        self.pid().map(Usage::of).unwrap_or_default()
    }
}

async fn wait_ready(addr: SocketAddr, child: &mut Child) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("the server exited during start-up: {status}");
        }
        let ready = http
            .get(format!("http://{addr}/readyz"))
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the server was not ready within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Memory and CPU of a process, from `/proc/<pid>`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Usage {
    pub rss_bytes: u64,
    /// User + system CPU time.
    pub cpu: Duration,
}

impl Usage {
    pub fn of(pid: u32) -> Usage {
        let rss_kb = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .unwrap_or(0);
        // Fields 14 and 15 of /proc/<pid>/stat (after the parenthesized name): utime, stime
        // in clock ticks (100 a second on Linux).
        let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                let rest = &s[s.rfind(')')? + 2..];
                let f: Vec<&str> = rest.split(' ').collect();
                Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
            })
            .unwrap_or(0);
        Usage {
            rss_bytes: rss_kb * 1024,
            cpu: Duration::from_millis(ticks * 10),
        }
    }
}
