//! The services a hub depends on, as tests use them: the machine's shared Redis (each test
//! under a prefix of its own), and a PostgreSQL or Redis instance of the test's own for the
//! outage drills (never the machine's shared servers).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::processes::{KillOnDrop, assert_succeeded, free_port};

/// The machine's Redis (tests share it, each under its own prefix).
pub fn shared_redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Removes (best effort) every key under `prefix` from the Redis at `url`: the adapter's
/// (`{prefix}…`) and presence's, whose prefix is a hash tag (`{{prefix}}:p:…`).
pub fn remove_redis_keys(url: &str, prefix: &str) {
    let mut keys = Vec::new();
    for pattern in [format!("{prefix}*"), format!("{{{prefix}}}*")] {
        let Ok(out) = Command::new("redis-cli")
            .args(["-u", url, "--scan", "--pattern"])
            .arg(pattern)
            .output()
        else {
            return;
        };
        keys.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_owned),
        );
    }
    for chunk in keys.chunks(100) {
        let _ = Command::new("redis-cli")
            .args(["-u", url, "DEL"])
            .args(chunk)
            .stdout(Stdio::null())
            .status();
    }
}

/// A redis-server of the test's own, on `port`; killed when dropped.
pub struct OwnRedis {
    child: KillOnDrop,
    pub port: u16,
}

impl OwnRedis {
    pub async fn start(port: u16) -> OwnRedis {
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
        OwnRedis {
            child: KillOnDrop(child),
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        self.child.kill();
    }
}

/// A PostgreSQL instance of the test's own: `initdb` in a temp dir, started with `pg_ctl` on a
/// free port with its socket in that dir. Stopped (immediately) and deleted when dropped.
pub struct OwnPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl OwnPostgres {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// One of the cluster's binaries, as the `postgres` user when the test runs as root
    /// (PostgreSQL refuses to run as root).
    fn cmd(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        };
        cmd.current_dir(self.dir.path());
        cmd
    }

    pub fn new() -> OwnPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql")
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version: u32 = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").exists().then_some((version, bin))
            })
            .max()
            .expect("an initdb under /usr/lib/postgresql/*/bin")
            .1;
        use std::os::unix::fs::MetadataExt;
        let as_postgres = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(1)
            == 0;
        let dir = tempfile::Builder::new()
            .prefix("ahpg")
            .tempdir()
            .expect("temp dir");
        if as_postgres {
            let out = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .output()
                .expect("chown runs");
            assert_succeeded(&out, "chown postgres: <temp dir>");
        }
        let pg = OwnPostgres {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        let out = pg
            .cmd("initdb")
            .arg("-D")
            .arg(pg.data())
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .expect("initdb runs");
        assert_succeeded(&out, "initdb");
        pg
    }

    pub fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let out = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("postgres.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .output()
            .expect("pg_ctl runs");
        let log = std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default();
        assert_succeeded(&out, &format!("pg_ctl start (log: {log})"));
    }

    pub fn stop_immediately(&self) -> Output {
        self.cmd("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-m", "immediate", "stop"])
            .output()
            .expect("pg_ctl runs")
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        // Whatever happened: no server of ours outlives the test; the temp dir goes with it.
        if self.data().join("postmaster.pid").exists() {
            let _ = self.stop_immediately();
        }
    }
}
