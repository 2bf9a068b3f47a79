//! The real client programs in `clients/` — the official Socket.IO JavaScript client
//! (`clients/node/agent.mjs`) and python-socketio's asyncio client (`clients/python/agent.py`) —
//! run as OS processes against an in-process server, over HTTP long-polling with upgrade and
//! over WebSocket only. Each program checks SPEC §5 itself and exits 0 only when every check
//! passed; its output is printed when it did not. The two also call each other (SPEC §12):
//! one runs as a callee while the other calls it.
//!
//! Their dependencies are installed by `bash .ci/run` (`npm ci` into `clients/node/node_modules`,
//! a virtualenv at `clients/python/.venv`). Missing ones fail the test, never skip it.

use std::fmt::Display;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
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

impl Run {
    /// How `what` ended, with everything it printed.
    fn report(&self, what: impl Display) -> String {
        format!(
            "{what} exited with {:?}{}\n--- stdout\n{}--- stderr\n{}---",
            self.code,
            if self.timed_out {
                " (killed after the time limit)"
            } else {
                ""
            },
            self.stdout,
            self.stderr
        )
    }
}

/// A program started by [`start`] and still running, its output being captured.
struct Running {
    child: Child,
    stdout: JoinHandle<String>,
    stderr: JoinHandle<String>,
}

/// Starts `cmd` with both streams captured, without waiting for it.
fn start(mut cmd: Command) -> Running {
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
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    Running {
        child,
        stdout,
        stderr,
    }
}

impl Running {
    /// Waits for the program to end, killing it `PROCESS_TIMEOUT` after this call.
    fn wait(mut self) -> Run {
        let deadline = Instant::now() + PROCESS_TIMEOUT;
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the client") {
                break status;
            }
            if Instant::now() > deadline {
                timed_out = true;
                let _ = self.child.kill();
                break self.child.wait().expect("waiting for the killed client");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Run {
            code: status.code(),
            stdout: self.stdout.join().unwrap_or_default(),
            stderr: self.stderr.join().unwrap_or_default(),
            timed_out,
        }
    }
}

/// Runs `cmd` to completion (killing it after `PROCESS_TIMEOUT`), capturing both streams.
fn run_to_end(cmd: Command) -> Run {
    start(cmd).wait()
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

    let report = run.report(format!("{program:?} client over {transport:?}"));
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

/// SPEC §12 with the stock clients: python-socketio publishes its card and answers calls
/// (`--serve`) while socket.io-client finds it, calls it, gets its result and cancels a second
/// call (`--call … --cancel`), both against one server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_calls_the_python_client_and_gets_its_result() {
    let app = spawn_app(Backend::Sqlite).await;
    let callee_key = app.create_agent("py-callee", "agent").await;
    let caller_key = app.create_agent("js-caller", "agent").await;
    let mut callee = program_command(Program::Python);
    callee
        .args(["--url", &app.base, "--key", &callee_key])
        .args(["--serve", "echo", "--calls", "2"])
        .args(["--transport", Transport::WebsocketOnly.flag()]);
    let mut caller = program_command(Program::Node);
    caller
        .args(["--url", &app.base, "--key", &caller_key])
        .args(["--call", "py-callee", "echo", "--cancel"])
        .args(["--transport", Transport::Polling.flag()]);
    // The callee runs while the caller does: the caller waits until it is callable. (Should
    // the caller not start, the callee still ends by itself, after its own 20 s.)
    let callee = start(callee);
    let (caller, callee) = tokio::task::spawn_blocking(move || (run_to_end(caller), callee.wait()))
        .await
        .expect("the client runner");

    let report = format!(
        "{}\n{}",
        caller.report("Node caller (--call)"),
        callee.report("Python callee (--serve)")
    );
    assert_eq!(caller.code, Some(0), "{report}");
    assert_eq!(callee.code, Some(0), "{report}");
    for line in [
        "ok    GET /api/v1/agents?method=echo&online=true lists py-callee",
        "ok    py-callee's card lists echo",
        "ok    rpc:accepted names the call (id, to, method) before its answer",
        "ok    rpc:progress from the callee came with the call's id before the answer",
        "ok    the call answers with py-callee's result (our params echoed back)",
        "ok    the canceled call answers conflict (canceled) at once, before the work was done",
        "PASS  all checks passed",
    ] {
        assert!(caller.stdout.contains(line), "{line:?}\n{report}");
    }
    // `by` is set by the callee: the result is the one the Python program answered.
    let result = caller
        .stdout
        .lines()
        .find(|l| l.starts_with("info  result from py-callee: "))
        .unwrap_or_else(|| panic!("the caller printed the result\n{report}"));
    assert!(result.contains(r#""by":"py-callee""#), "{result}\n{report}");
    for line in [
        "ok    PUT /api/v1/agents/py-callee/card publishes a card listing echo",
        "ok    rpc:request 1 from js-caller names the call, the method and a deadline ahead",
        "ok    rpc:progress for call 1 is acked",
        "info  answered call 1 (rpc_",
        "ok    call 2 stopped on rpc:cancel (reason canceled)",
        "info  served 2 call(s) to echo",
        "PASS  all checks passed",
    ] {
        assert!(callee.stdout.contains(line), "{line:?}\n{report}");
    }
    println!("{report}");
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
