//! The real client programs in `clients/` — the official Socket.IO JavaScript client
//! (`clients/node/agent.mjs`) and python-socketio's asyncio client (`clients/python/agent.py`) —
//! run as OS processes against an in-process server, over HTTP long-polling with upgrade and
//! over WebSocket only. Each program checks SPEC §5 itself and exits 0 only when every check
//! passed; its output is printed when it did not.
//!
//! Their dependencies are installed by `bash .ci/run` (`npm ci` into `clients/node/node_modules`,
//! a virtualenv at `clients/python/.venv`). Missing ones fail the test, never skip it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Backend, TestApp, spawn_app};

const CLIENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/clients");

/// Longer than the programs' own 20 s budget: past this the process is killed.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
enum Program {
    Node,
    Python,
}

#[derive(Debug, Clone, Copy)]
enum Transport {
    /// HTTP long-polling first, then the upgrade to WebSocket.
    Polling,
    WebsocketOnly,
}

impl Transport {
    fn flag(self) -> &'static str {
        match self {
            Transport::Polling => "polling",
            Transport::WebsocketOnly => "websocket",
        }
    }
}

const INSTALL_HINT: &str =
    "run `bash .ci/run` once (it installs the client programs' dependencies)";

/// The command that runs `program`, after checking that its dependencies are installed.
fn program_command(program: Program) -> Command {
    let clients = Path::new(CLIENTS);
    match program {
        Program::Node => {
            let dir = clients.join("node");
            let installed = dir.join("node_modules/socket.io-client/package.json");
            assert!(
                installed.exists(),
                "socket.io-client is not installed in {}: {INSTALL_HINT}, or `npm ci --prefix clients/node`",
                dir.display()
            );
            let mut cmd = Command::new("node");
            cmd.current_dir(&dir).arg("agent.mjs");
            cmd
        }
        Program::Python => {
            let dir = clients.join("python");
            let python: PathBuf = dir.join(".venv/bin/python");
            assert!(
                python.exists(),
                "no virtualenv at {}: {INSTALL_HINT}, or `python3 -m venv clients/python/.venv && \
                 clients/python/.venv/bin/pip install -r clients/python/requirements.txt`",
                dir.join(".venv").display()
            );
            let mut cmd = Command::new(python);
            cmd.current_dir(&dir)
                .env("PYTHONUNBUFFERED", "1")
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .arg("agent.py");
            cmd
        }
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

/// Runs `cmd` to completion (killing it after `PROCESS_TIMEOUT`), capturing both streams.
fn run_to_end(mut cmd: Command) -> Run {
    let program = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {program}: {e} ({INSTALL_HINT})"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the client") {
            break status;
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("waiting for the killed client");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        timed_out,
    }
}

/// Creates two fresh agents and runs `program` with them over `transport`; panics with the
/// program's output unless it exits 0 having passed every check.
async fn run_client(app: &TestApp, program: Program, transport: Transport, names: (&str, &str)) {
    run_client_with(app, program, transport, names, &[]).await;
}

/// [`run_client`] with more arguments for the program; answers its stdout.
async fn run_client_with(
    app: &TestApp,
    program: Program,
    transport: Transport,
    names: (&str, &str),
    extra: &[&str],
) -> String {
    let key = app.create_agent(names.0, "agent").await;
    let peer_key = app.create_agent(names.1, "agent").await;
    let mut cmd = program_command(program);
    cmd.args(["--url", &app.base, "--key", &key, "--peer-key", &peer_key])
        .args(["--transport", transport.flag()])
        .args(extra);
    // The server runs on this test's runtime: wait for the process off its worker threads.
    let run = tokio::task::spawn_blocking(move || run_to_end(cmd))
        .await
        .expect("the client runner");

    let report = format!(
        "{program:?} client over {transport:?} exited with {:?}{}\n--- stdout\n{}--- stderr\n{}---",
        run.code,
        if run.timed_out {
            " (killed after the time limit)"
        } else {
            ""
        },
        run.stdout,
        run.stderr
    );
    assert_eq!(run.code, Some(0), "{report}");
    assert!(run.stdout.contains("PASS  all checks passed"), "{report}");
    if let Transport::Polling = transport {
        assert!(
            run.stdout
                .contains("ok    the connection started on HTTP long-polling"),
            "{report}"
        );
        assert!(
            run.stdout
                .contains("upgraded from polling to websocket: yes"),
            "SPEC §5: long-polling upgrades to WebSocket\n{report}"
        );
    }
    println!("{report}");
    run.stdout
}

/// Runs `program` over `transport` against a fresh server on SQLite.
async fn on_sqlite(program: Program, transport: Transport) {
    let app = spawn_app(Backend::Sqlite).await;
    run_client(&app, program, transport, ("alice", "bob")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_over_polling_with_upgrade() {
    on_sqlite(Program::Node, Transport::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_over_websocket_only() {
    on_sqlite(Program::Node, Transport::WebsocketOnly).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_over_polling_with_upgrade() {
    on_sqlite(Program::Python, Transport::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_over_websocket_only() {
    on_sqlite(Program::Python, Transport::WebsocketOnly).await;
}

/// SPEC §11 with the stock clients: socket.io-client streams its answer in chunks (start,
/// deltas without acks, end) while its peer watches the draft grow and gets one message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_streams_its_answer_and_its_peer_gets_one_message() {
    let app = spawn_app(Backend::Sqlite).await;
    let names = ("streamer", "reader");
    let out = run_client_with(
        &app,
        Program::Node,
        Transport::Polling,
        names,
        &["--stream"],
    )
    .await;
    for line in [
        "ok    stream:start acks an open stream",
        "in order and can rebuild the draft",
        "ok    stream:end stores the message with the stream's id",
        "ok    the peer's message:new names the stream, so it replaces the draft",
    ] {
        assert!(out.contains(line), "{line:?} in:\n{out}");
    }
}

/// python-socketio reads a stream: it rebuilds the draft from the deltas and prints the
/// finished message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_reads_a_stream_and_prints_its_message_once() {
    let app = spawn_app(Backend::Sqlite).await;
    let names = ("py-streamer", "py-reader");
    let out = run_client_with(
        &app,
        Program::Python,
        Transport::WebsocketOnly,
        names,
        &["--stream"],
    )
    .await;
    assert!(
        out.contains("ok    the peer built the draft from the 6 deltas"),
        "{out}"
    );
    assert_eq!(
        out.matches("py-reader read a streamed message").count(),
        1,
        "the reader printed the finished message once: {out}"
    );
    assert!(
        out.contains("ok    the peer read it as the stream's message, once, replacing the draft"),
        "{out}"
    );
}

/// Both programs, one transport each, against PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_clients_on_postgres() {
    let app = spawn_app(Backend::Postgres).await;
    run_client(
        &app,
        Program::Node,
        Transport::Polling,
        ("node-a", "node-b"),
    )
    .await;
    run_client(
        &app,
        Program::Python,
        Transport::WebsocketOnly,
        ("py-a", "py-b"),
    )
    .await;
}
