//! The browser dashboard at `GET /` (SPEC §6): served from the binary, and written so that it
//! runs under `Content-Security-Policy: default-src 'self'` (SPEC §7) — no inline script,
//! style or event handler — and renders hub text as text.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{Backend, Sio, TestApp, assert_ok, join, post_to, spawn_app};

const CSP: &str = "default-src 'self'";

/// Fetches `path`, checks the status, content type and CSP, and answers the body.
async fn fetch(app: &TestApp, path: &str, content_type: &str) -> String {
    let res = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    let headers = res.headers().clone();
    assert_eq!(headers["content-type"], content_type, "{path}");
    assert_eq!(headers["content-security-policy"], CSP, "{path}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
    assert!(headers.contains_key("cache-control"), "{path}");
    res.text().await.unwrap()
}

/// Every tag of an HTML document, lower-cased, as (tag text, text that follows it up to the
/// next tag). Good enough for our own hand-written page; not a general HTML parser.
fn tags(html: &str) -> Vec<(String, String)> {
    let lower = html.to_lowercase();
    let mut out = Vec::new();
    let mut rest = lower.as_str();
    while let Some(start) = rest.find('<') {
        let after = &rest[start..];
        if after.starts_with("<!--") {
            let end = after.find("-->").expect("closed comment");
            rest = &after[end + 3..];
            continue;
        }
        let end = after.find('>').expect("closed tag");
        let tag = after[..=end].to_owned();
        let tail = &after[end + 1..];
        let text = tail[..tail.find('<').unwrap_or(tail.len())].to_owned();
        out.push((tag, text));
        rest = tail;
    }
    out
}

/// The value of attribute `name` in a lower-cased tag, if present.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(&tag[at..at + tag[at..].find('"')?])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_served_from_the_binary_under_the_csp() {
    let app = spawn_app(Backend::Sqlite).await;
    let html = fetch(&app, "/", "text/html; charset=utf-8").await;

    let mut scripts = Vec::new();
    let mut styles = Vec::new();
    for (tag, text) in tags(&html) {
        let name: String = tag[1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        // No inline style and no inline event handler anywhere: the CSP would block them.
        assert!(name != "style", "inline <style>: {tag}");
        for attribute in tag.split_whitespace().skip(1) {
            assert!(!attribute.starts_with("style="), "style attribute: {tag}");
            let attr_name = attribute.split('=').next().unwrap();
            assert!(
                !(attr_name.starts_with("on") && attribute.contains('=')),
                "inline event handler: {tag}"
            );
        }
        if name == "script" {
            // Only same-origin files, each with an empty body.
            let src = attr(&tag, "src").unwrap_or_else(|| panic!("inline script: {tag}"));
            assert!(src.starts_with('/') && !src.starts_with("//"), "{src}");
            assert!(text.trim().is_empty(), "inline script body: {text}");
            scripts.push(src.to_owned());
        }
        if name == "link" && attr(&tag, "rel") == Some("stylesheet") {
            let href = attr(&tag, "href").unwrap();
            assert!(href.starts_with('/') && !href.starts_with("//"), "{href}");
            styles.push(href.to_owned());
        }
    }
    assert_eq!(scripts, ["/vendor/socket.io.min.js", "/dashboard.js"]);
    assert_eq!(styles, ["/dashboard.css"]);

    let js = fetch(&app, "/dashboard.js", "text/javascript; charset=utf-8").await;
    // Hub text (bodies may hold markup) is rendered with textContent, never parsed as HTML.
    for banned in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!js.contains(banned), "dashboard.js uses {banned}");
    }
    // The key goes in a header, never in a URL.
    assert!(!js.contains("?api_key") && !js.contains("token="));
    let css = fetch(&app, "/dashboard.css", "text/css; charset=utf-8").await;
    assert!(css.contains(".messages"));
    let vendor = fetch(
        &app,
        "/vendor/socket.io.min.js",
        "text/javascript; charset=utf-8",
    )
    .await;
    assert!(
        vendor.starts_with("/*!\n * Socket.IO v4."),
        "license header kept"
    );

    // HEAD works too, and the assets are not under the REST rate limiter's 404 fallback.
    let res = app.http.head(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    app.stop().await;
}

/// In Debian's headless `chromium` (which `bash .ci/run` installs), the page's scripts really
/// run under the CSP: they set `data-ready` on `<body>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_runs_in_a_headless_browser() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run `bash .ci/run`, which installs it"
    );
    let app = spawn_app(Backend::Sqlite).await;
    let profile = tempfile::tempdir().unwrap();
    let url = app.url("/");
    let profile_arg = format!("--user-data-dir={}", profile.path().display());
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("/usr/bin/chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--virtual-time-budget=3000",
                &profile_arg,
                "--dump-dom",
                &url,
            ])
            .output()
    });
    let output = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("chromium finishes")
        .unwrap()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        dom.contains("data-ready=\"yes\""),
        "scripts did not run: {dom}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    app.stop().await;
}

/// Debian's headless `chromium` driven over the DevTools protocol (a WebSocket), so that a test
/// can use the page as a person does (type a key, click a room) and watch it change over time.
struct Browser {
    child: std::process::Child,
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
    _profile: tempfile::TempDir,
}

/// How long the page may take to show something.
const PAGE_WAIT: Duration = Duration::from_secs(15);

impl Browser {
    /// Starts chromium on `url` with a fresh profile and connects to that page's target.
    async fn open(url: &str) -> Browser {
        use std::os::unix::process::CommandExt;
        assert!(
            std::path::Path::new("/usr/bin/chromium").exists(),
            "/usr/bin/chromium is missing: run `bash .ci/run`, which installs it"
        );
        let profile = tempfile::tempdir().unwrap();
        let child = std::process::Command::new("/usr/bin/chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--remote-debugging-port=0",
                &format!("--user-data-dir={}", profile.path().display()),
                url,
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            // Its own process group, so that the test can end chromium and its children.
            .process_group(0)
            .spawn()
            .expect("chromium starts");
        // With port 0, chromium writes the port it picked to <profile>/DevToolsActivePort.
        let port_file = profile.path().join("DevToolsActivePort");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let port: u16 = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Some(Ok(port)) = text.lines().next().map(str::parse)
            {
                break port;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromium wrote no DevToolsActivePort within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let page_ws = loop {
            let targets: Value = reqwest::get(format!("http://127.0.0.1:{port}/json/list"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let page = targets.as_array().unwrap().iter().find(|t| {
                t["type"] == "page" && t["url"].as_str().is_some_and(|u| u.starts_with(url))
            });
            if let Some(ws) = page.and_then(|p| p["webSocketDebuggerUrl"].as_str()) {
                break ws.to_owned();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no page target for {url}: {targets}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let (ws, _) = tokio_tungstenite::connect_async(page_ws.as_str())
            .await
            .expect("DevTools WebSocket");
        Browser {
            child,
            ws,
            next_id: 1,
            _profile: profile,
        }
    }

    /// The dashboard of `app`, signed in with `key` (typed and submitted like a person does),
    /// showing `room` (clicked in the room list).
    async fn signed_in(app: &TestApp, key: &str, room: &str) -> Browser {
        let mut page = Browser::open(&app.url("/")).await;
        page.wait_until("the scripts run", "document.body.dataset.ready", |v| {
            v == "yes"
        })
        .await;
        let sign_in = format!(
            "document.getElementById('api-key').value = {};\
             document.querySelector('#login-form button[type=submit]').click(); true",
            json!(key)
        );
        page.eval(&sign_in).await.unwrap();
        let click_room = format!(
            "(() => {{ const b = [...document.querySelectorAll('#rooms .room-link')]\
             .find((b) => b.textContent === {}); if (b) b.click(); return Boolean(b); }})()",
            json!(room)
        );
        page.wait_until("the room list shows the room", &click_room, |v| v == true)
            .await;
        page
    }

    /// One DevTools command: its `result`, or its error.
    async fn call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        let command = json!({"id": id, "method": method, "params": params});
        self.ws
            .send(Message::text(command.to_string()))
            .await
            .unwrap();
        loop {
            let msg = tokio::time::timeout(PAGE_WAIT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method}"))
                .expect("DevTools WebSocket open")
                .unwrap();
            let Message::Text(text) = msg else { continue };
            let answer: Value = serde_json::from_str(text.as_str()).unwrap();
            if answer["id"] == id {
                return match answer.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(answer["result"].clone()),
                };
            }
        }
    }

    /// The value of a JavaScript expression in the page (promises awaited), or what failed.
    async fn eval(&mut self, expression: &str) -> Result<Value, Value> {
        let params = json!({"expression": expression, "returnByValue": true, "awaitPromise": true});
        let result = self.call("Runtime.evaluate", params).await?;
        match result.get("exceptionDetails") {
            Some(e) => Err(e.clone()),
            None => Ok(result["result"]["value"].clone()),
        }
    }

    /// Evaluates `expression` every 100 ms until `ok` holds of its value (which it answers).
    async fn wait_until(
        &mut self,
        what: &str,
        expression: &str,
        ok: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + PAGE_WAIT;
        loop {
            let value = self.eval(expression).await;
            if let Ok(v) = &value
                && ok(v)
            {
                return v.clone();
            }
            if tokio::time::Instant::now() > deadline {
                let messages = self.eval(MESSAGES).await;
                let activity = self.eval(ACTIVITY).await;
                panic!(
                    "{what}: not within {PAGE_WAIT:?}; last {value:?}\nmessages: {messages:?}\nactivity: {activity:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends chromium (and its child processes: the group the test started).
    async fn close(mut self) {
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.call("Browser.close", json!({})),
        )
        .await;
        self.kill();
    }

    fn kill(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

/// Every message and draft on the page: `{seq, draft, aborted, meta, text, under}` (`under`:
/// the seq of the message it is shown under, null at the top level).
const MESSAGES: &str = r#"[...document.querySelectorAll('#messages li')].map((li) => ({
    seq: li.dataset.seq ? Number(li.dataset.seq) : null,
    draft: li.classList.contains('draft'),
    aborted: li.classList.contains('aborted'),
    meta: li.querySelector(':scope > .meta').innerText,
    text: li.querySelector(':scope > .text').textContent,
    thread: li.querySelector(':scope > .thread') ? li.querySelector(':scope > .thread').innerText : null,
    under: li.parentElement.closest('li') ? Number(li.parentElement.closest('li').dataset.seq) : null,
    markup: li.querySelector(':scope > .text').children.length,
}))"#;

/// The activity line under the messages, as shown.
const ACTIVITY: &str = "document.getElementById('activity').innerText";

fn drafts(messages: &Value) -> Vec<&Value> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["draft"] == true)
        .collect()
}

fn with_text<'a>(messages: &'a Value, text: &str) -> Vec<&'a Value> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["text"] == text)
        .collect()
}

/// SPEC §11 as a person sees it on the dashboard: an agent streams into the room the page
/// shows — the draft the join ack carries, then live deltas that make it grow — and exactly
/// one finished message replaces it; "… is thinking…" shows and goes; a streamed reply goes
/// under its root; an aborted stream is struck through. Bodies stay text, never markup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_streams_activity_and_threads_live() {
    let app = spawn_app(Backend::Sqlite).await;
    let viewer = app.create_agent("viewer", "agent").await;
    let writer_key = app.create_agent("writer", "agent").await;
    app.create_room(&writer_key, "studio").await;
    let root = app
        .post_message(&writer_key, "studio", "What is the plan?")
        .await;
    let root_seq = root["seq"].as_i64().unwrap();

    // A stream already under way before the page opens the room: the join ack's draft.
    let writer = Sio::connect(app.addr, &writer_key).await;
    join(&writer, "studio").await;
    let ack = writer.emit("stream:start", json!({"room": "studio"})).await;
    let first = assert_ok(&ack)["stream"]["id"].as_str().unwrap().to_owned();
    for text in ["Hello, ", "<b>wor"] {
        assert_ok(
            &writer
                .emit("stream:delta", json!({"id": first, "text": text}))
                .await,
        );
    }

    // A person signs in with a key and picks the room.
    let mut page = Browser::signed_in(&app, &viewer, "studio").await;

    let shown = page
        .wait_until("the draft of the open stream", MESSAGES, |m| {
            drafts(m)
                .first()
                .is_some_and(|d| d["text"] == "Hello, <b>wor")
        })
        .await;
    let draft = drafts(&shown)[0];
    assert!(
        draft["meta"].as_str().unwrap().contains("writer"),
        "{draft}"
    );
    assert!(
        draft["meta"].as_str().unwrap().contains("streaming…"),
        "{draft}"
    );
    assert_eq!(draft["markup"], 0, "text, not markup: {draft}");
    assert_eq!(with_text(&shown, "What is the plan?").len(), 1, "{shown}");

    // Live deltas make it grow, in index order.
    for text in ["ld</b>", "!"] {
        writer.emit_noack("stream:delta", json!({"id": first, "text": text}));
    }
    page.wait_until("the draft grows", MESSAGES, |m| {
        drafts(m)
            .first()
            .is_some_and(|d| d["text"] == "Hello, <b>world</b>!")
    })
    .await;

    // Activity: "writer is thinking…" under the messages.
    let ack = writer
        .emit(
            "activity:set",
            json!({"room": "studio", "state": "thinking", "detail": "weighing options"}),
        )
        .await;
    assert_ok(&ack);
    let line = page
        .wait_until("the activity line", ACTIVITY, |v| {
            v.as_str()
                .is_some_and(|t| t.contains("writer is thinking…"))
        })
        .await;
    assert!(
        line.as_str().unwrap().contains("weighing options"),
        "{line}"
    );

    // The end: exactly one finished message with the whole text, no draft left; the message
    // also ends the writer's activity.
    let ack = writer.emit("stream:end", json!({"id": first})).await;
    let finished = assert_ok(&ack)["message"].clone();
    assert_eq!(finished["body"], "Hello, <b>world</b>!");
    let shown = page
        .wait_until("the finished message replaces the draft", MESSAGES, |m| {
            drafts(m).is_empty() && !with_text(m, "Hello, <b>world</b>!").is_empty()
        })
        .await;
    let done = with_text(&shown, "Hello, <b>world</b>!");
    assert_eq!(done.len(), 1, "exactly one message: {shown}");
    assert_eq!(done[0]["seq"], finished["seq"], "{shown}");
    assert_eq!(done[0]["markup"], 0, "{shown}");
    assert_eq!(shown.as_array().unwrap().len(), 2, "{shown}");
    page.wait_until("the activity line empties", ACTIVITY, |v| {
        v.as_str().is_some_and(|t| t.trim().is_empty())
    })
    .await;

    // A stream started while the page watches, as a reply: its draft and then its message go
    // under the root, which counts its reply.
    let ack = writer
        .emit(
            "stream:start",
            json!({"room": "studio", "reply_to": root_seq}),
        )
        .await;
    let second = assert_ok(&ack)["stream"]["id"].as_str().unwrap().to_owned();
    writer.emit_noack("stream:delta", json!({"id": second, "text": "Ship "}));
    page.wait_until("a live draft under its root", MESSAGES, |m| {
        drafts(m)
            .first()
            .is_some_and(|d| d["text"] == "Ship " && d["under"] == root_seq)
    })
    .await;
    writer.emit_noack("stream:delta", json!({"id": second, "text": "it."}));
    let ack = writer.emit("stream:end", json!({"id": second})).await;
    let reply = assert_ok(&ack)["message"].clone();
    assert_eq!(reply["reply_to"], root_seq);
    let shown = page
        .wait_until("the reply under its root", MESSAGES, |m| {
            drafts(m).is_empty() && !with_text(m, "Ship it.").is_empty()
        })
        .await;
    let replies = with_text(&shown, "Ship it.");
    assert_eq!(replies.len(), 1, "{shown}");
    assert_eq!(replies[0]["under"], root_seq, "{shown}");
    assert_eq!(replies[0]["seq"], reply["seq"], "{shown}");
    let root_shown = with_text(&shown, "What is the plan?")[0];
    assert!(
        root_shown["thread"].as_str().unwrap().contains("1 reply"),
        "{root_shown}"
    );

    // An aborted stream: struck through with its reason, then gone; nothing stored.
    let ack = writer.emit("stream:start", json!({"room": "studio"})).await;
    let third = assert_ok(&ack)["stream"]["id"].as_str().unwrap().to_owned();
    writer.emit_noack("stream:delta", json!({"id": third, "text": "Never mind"}));
    page.wait_until("a third draft", MESSAGES, |m| {
        drafts(m).first().is_some_and(|d| d["text"] == "Never mind")
    })
    .await;
    let ack = writer
        .emit(
            "stream:abort",
            json!({"id": third, "reason": "changed my mind"}),
        )
        .await;
    assert_ok(&ack);
    page.wait_until("the draft shows it was aborted", MESSAGES, |m| {
        drafts(m).first().is_some_and(|d| {
            d["aborted"] == true
                && d["meta"]
                    .as_str()
                    .unwrap()
                    .contains("aborted: changed my mind")
        })
    })
    .await;
    page.wait_until("the aborted draft goes", MESSAGES, |m| drafts(m).is_empty())
        .await;
    let shown = page.eval(MESSAGES).await.unwrap();
    assert_eq!(shown.as_array().unwrap().len(), 3, "{shown}");

    page.close().await;
    writer.close().await;
    app.stop().await;
}

/// A reply whose root is not loaded says "↪ reply to #seq"; loading older messages brings the
/// root, and the reply goes under it. An activity that is not renewed goes at its expires_at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_nests_replies_once_their_root_loads() {
    let app = spawn_app(Backend::Sqlite).await;
    let viewer = app.create_agent("viewer", "agent").await;
    let writer_key = app.create_agent("writer", "agent").await;
    app.create_room(&writer_key, "threads").await;
    let root = app.post_message(&writer_key, "threads", "Root").await;
    let res = post_to(
        &app,
        &writer_key,
        "threads",
        json!({"body": "An answer", "reply_to": root["seq"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let reply: Value = res.json().await.unwrap();
    // 49 more: the first history page (50) holds the reply but not its root.
    for i in 0..49 {
        app.post_message(&writer_key, "threads", &format!("filler {i}"))
            .await;
    }

    let mut page = Browser::signed_in(&app, &viewer, "threads").await;
    let shown = page
        .wait_until("the first page", MESSAGES, |m| {
            m.as_array().is_some_and(|a| a.len() == 50)
        })
        .await;
    let answer = with_text(&shown, "An answer")[0];
    assert_eq!(answer["seq"], reply["seq"]);
    assert_eq!(answer["under"], Value::Null, "{answer}");
    assert!(
        answer["meta"]
            .as_str()
            .unwrap()
            .contains(&format!("↪ reply to #{}", root["seq"])),
        "{answer}"
    );
    assert!(with_text(&shown, "Root").is_empty());

    page.eval("document.getElementById('older').click(); true")
        .await
        .unwrap();
    let shown = page
        .wait_until("the root, with its reply under it", MESSAGES, |m| {
            !with_text(m, "Root").is_empty()
        })
        .await;
    assert_eq!(shown.as_array().unwrap().len(), 51, "{shown}");
    let answer = with_text(&shown, "An answer")[0];
    assert_eq!(answer["under"], root["seq"], "{answer}");
    assert!(!answer["meta"].as_str().unwrap().contains('↪'), "{answer}");
    let root_shown = with_text(&shown, "Root")[0];
    assert!(
        root_shown["thread"].as_str().unwrap().contains("1 reply"),
        "{root_shown}"
    );

    // "writer is typing…", never renewed: gone at its expires_at (10 s, SPEC §11).
    let writer = Sio::connect(app.addr, &writer_key).await;
    join(&writer, "threads").await;
    let ack = writer
        .emit(
            "activity:set",
            json!({"room": "threads", "state": "typing"}),
        )
        .await;
    assert_ok(&ack);
    page.wait_until("the activity line", ACTIVITY, |v| {
        v.as_str().is_some_and(|t| t.contains("writer is typing…"))
    })
    .await;
    let shown_at = tokio::time::Instant::now();
    page.wait_until("the activity expires", ACTIVITY, |v| {
        v.as_str().is_some_and(|t| t.trim().is_empty())
    })
    .await;
    assert!(
        shown_at.elapsed() > Duration::from_secs(8),
        "it lasted {:?}",
        shown_at.elapsed()
    );

    page.close().await;
    writer.close().await;
    app.stop().await;
}
