//! The `agenthub` binary as OS processes: the embedded start from an empty folder, start-up
//! validation, the operator CLI, several processes writing one room, and the README's
//! examples run as written.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::processes::{Server, agenthub, run, stdout};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_default_starts_from_an_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Server::start(agenthub(dir.path())).await;
    let data = dir.path().join("data");
    assert!(
        data.join("agenthub.db").exists(),
        "SQLite file under ./data"
    );
    let secret = data.join("jwt_secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the generated secret is private");
    }
    // Only the banner is on stdout; drop the process to close the pipe, then read it.
    first.child.kill();
    let key = first
        .banner_key()
        .expect("the first start prints the admin key");
    assert!(key.starts_with("ahk_") && key.len() == 47, "{key}");
    drop(first);

    // A restart keeps the data: no second banner, and the key still works.
    let mut second = Server::start(agenthub(dir.path())).await;
    let res = second
        .api
        .request(reqwest::Method::POST, "/api/v1/auth/token", Some(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    second.child.kill();
    assert_eq!(
        second.banner_key(),
        None,
        "the banner is printed once, never again"
    );
}

#[test]
fn bad_configuration_is_a_readable_error_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("AGENTHUB_ENV", "production")], "JWT_SECRET"),
        (
            &[
                ("AGENTHUB_ENV", "production"),
                ("JWT_SECRET", "0123456789"),
                ("DATABASE_URL", "postgres://postgres@127.0.0.1/test"),
            ],
            "at least 32 bytes",
        ),
        (
            &[("AGENTHUB_ENV", "production"), ("JWT_SECRET", JWT_SECRET)],
            "DATABASE_URL",
        ),
        (&[("DATABASE_URL", "mysql://nope")], "DATABASE_URL"),
    ];
    for (env, expected) in cases {
        let mut cmd = agenthub(dir.path());
        cmd.arg("serve").envs(env.iter().copied());
        let out = run(cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {stderr}");
        assert!(stderr.contains(expected), "{env:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(
        !dir.path().join("data").exists(),
        "a refused start creates nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_cli_manages_agents_and_tokens_while_the_server_runs() {
    let db = TestDb::new(Backend::Postgres).await;
    let cli = |args: &[&str]| {
        let mut cmd = agenthub(db.dir.path());
        cmd.args(args).env("DATABASE_URL", &db.url);
        run(cmd)
    };
    let mut server_cmd = agenthub(db.dir.path());
    server_cmd
        .env("DATABASE_URL", &db.url)
        .env("JWT_SECRET", JWT_SECRET)
        .env("AGENTHUB_BOOTSTRAP", "false");
    let server = Server::start(server_cmd).await;

    let out = cli(&[
        "agent",
        "create",
        "scout",
        "--role",
        "observer",
        "--display-name",
        "Scout",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "", "agent create reports on stderr only");

    // `token create` prints the key alone on stdout, one line, so scripts can capture it.
    let out = cli(&["token", "create", "scout", "--name", "ci"]);
    assert!(out.status.success());
    let printed = stdout(&out);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 1, "stdout: {printed:?}");
    let key = lines[0];
    assert!(key.starts_with("ahk_") && key.len() == 47, "{key}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(key),
        "the key is not repeated on stderr"
    );

    let me: Value = server
        .api
        .get("/api/v1/me", key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["name"], "scout");
    assert_eq!(me["role"], "observer");
    assert_eq!(me["display_name"], "Scout");

    let listed = stdout(&cli(&["agent", "list"]));
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("scout ") && l.contains("observer")),
        "{listed}"
    );
    let tokens = stdout(&cli(&["token", "list", "scout"]));
    let token_id = tokens
        .lines()
        .find(|l| l.contains(&key[..12]))
        .and_then(|l| l.split_whitespace().next())
        .expect("the token is listed by its prefix")
        .to_owned();
    assert!(!tokens.contains(key), "keys are never listed");

    // Changes behind the server's back are seen within the 2 s of SPEC §4 (it reuses a
    // credential row it read within the last second).
    let status_soon = async |key: &str| {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let status = server.api.get("/api/v1/me", key).await.status();
            if status == StatusCode::UNAUTHORIZED || std::time::Instant::now() > until {
                return status;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    let out = cli(&["token", "revoke", &token_id]);
    assert!(out.status.success());
    assert_eq!(
        status_soon(key).await,
        StatusCode::UNAUTHORIZED,
        "a revoked key stops working"
    );

    let out = cli(&["token", "create", "scout"]);
    let key2 = stdout(&out).trim().to_owned();
    let out = cli(&["agent", "disable", "scout"]);
    assert!(out.status.success());
    assert_eq!(
        status_soon(&key2).await,
        StatusCode::UNAUTHORIZED,
        "a disabled agent's keys stop working"
    );

    let out = cli(&["token", "create", "nobody"]);
    assert!(!out.status.success());
    assert_eq!(stdout(&out), "");
}

/// 8 writers split over two server processes post to one room; every seq 1..=N appears once.
async fn seq_is_gap_free_across_two_processes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let start = || {
        let mut cmd = agenthub(db.dir.path());
        cmd.env("DATABASE_URL", &db.url)
            .env("JWT_SECRET", JWT_SECRET);
        Server::start(cmd)
    };
    let mut a = start().await;
    let key = a.read_banner_key().await;
    let b = start().await;
    a.api.create_room(&key, "busy").await;
    let http = reqwest::Client::new();

    const WRITERS: usize = 8;
    const EACH: usize = 15;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let base = if w % 2 == 0 {
            a.api.base.clone()
        } else {
            b.api.base.clone()
        };
        let (http, key) = (http.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..EACH {
                let res = http
                    .post(format!("{base}/api/v1/rooms/busy/messages"))
                    .bearer_auth(&key)
                    .json(&json!({"body": format!("w{w} m{i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::CREATED);
                seqs.push(res.json::<Value>().await.unwrap()["seq"].as_i64().unwrap());
            }
            // Each writer's own sends commit in order.
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
            seqs
        }));
    }
    let all = sorted_seqs(tasks).await;
    let expected: Vec<i64> = (1..=(WRITERS * EACH) as i64).collect();
    assert_eq!(all, expected, "seq is unique and gap-free");

    let history: Value = b
        .api
        .get("/api/v1/rooms/busy/messages?after=0&limit=100", &key)
        .await
        .json()
        .await
        .unwrap();
    let seqs = seqs(history["messages"].as_array().unwrap());
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    assert_eq!(history["has_more"], true);
}

crate::for_each_backend!(
    seq_is_gap_free_across_two_processes,
    4,
    seq_is_gap_free_with_writers_in_two_processes_on_postgres,
    seq_is_gap_free_with_writers_in_two_processes_on_sqlite
);

/// The README's "Using it" block, run by bash against a fresh server: every command succeeds
/// and no answer is an error body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_curl_examples_work_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme
        .find("## Using it")
        .expect("README has a Using it section")..];
    let start = section.find("```bash\n").unwrap() + "```bash\n".len();
    let script = &section[start..start + section[start..].find("```").unwrap()];

    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(agenthub(dir.path())).await;
    let key = server.read_banner_key().await;
    let port = server.port;
    let script = script
        .replace("ADMIN_KEY=ahk_...", &format!("ADMIN_KEY={key}"))
        .replace("localhost:3000", &format!("localhost:{port}"));
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .output()
        .unwrap();
    let printed = stdout(&out);
    assert!(
        out.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!printed.contains("\"error\""), "{printed}");
    assert!(printed.contains("hello, hub"), "{printed}");
    assert!(printed.contains("\"status\":\"ready\""), "{printed}");
    // `-w '%{http_code}\n'` ends those two lines with the status; "204" alone could also turn
    // up inside a JWT or an id.
    assert_eq!(
        printed.matches("204\n").count(),
        2,
        "PUT member and DELETE token answer 204: {printed}"
    );
}
