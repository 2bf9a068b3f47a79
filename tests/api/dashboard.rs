//! The browser dashboard at `GET /` (SPEC §6): served from the binary, and written so that it
//! runs under `Content-Security-Policy: default-src 'self'` (SPEC §7) — no inline script,
//! style or event handler — and renders hub text as text.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{
    Backend, Sio, TestApp, assert_error, assert_ok, expect_json, get_agent, join, joined, me,
    me_status, post_to, send, spawn_app, token_ids, tokens_of,
};

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

/// The roles of the controls a person operates: each must have an accessible name.
const CONTROL_ROLES: [&str; 7] = [
    "button",
    "link",
    "textbox",
    "combobox",
    "checkbox",
    "spinbutton",
    "searchbox",
];

/// Using the page as a person does: controls found by their role and accessible name (as a
/// screen reader tells them, from Chromium's accessibility tree; hidden or inert ones are not
/// found), clicked with the mouse, typed into with the keyboard.
impl Browser {
    /// The signed-in dashboard of `app` as the agent of `key`, typed into the sign-in form.
    async fn signed_in_as(app: &TestApp, key: &str) -> Browser {
        let mut page = Browser::open(&app.url("/")).await;
        page.wait_until("the scripts run", "document.body.dataset.ready", |v| {
            v == "yes"
        })
        .await;
        page.sign_in(key).await;
        page
    }

    /// Types `key` into the sign-in form, submits it, and waits for the navigation.
    async fn sign_in(&mut self, key: &str) {
        self.fill("API key", key).await;
        self.click_named("button", "Sign in").await;
        self.wait_named("link", "Rooms").await;
    }

    /// The backend node ids of the controls under `root` (the document when None) with this
    /// role and exactly this accessible name, that a person can reach (not hidden, not inert).
    async fn find_named(&mut self, root: Option<i64>, role: &str, name: &str) -> Vec<i64> {
        let mut params = json!({"accessibleName": name, "role": role});
        match root {
            Some(id) => params["backendNodeId"] = json!(id),
            None => {
                let doc = self
                    .call("DOM.getDocument", json!({"depth": 0}))
                    .await
                    .unwrap();
                params["nodeId"] = doc["root"]["nodeId"].clone();
            }
        }
        let found = self
            .call("Accessibility.queryAXTree", params)
            .await
            .unwrap();
        found["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["ignored"] != true)
            .filter_map(|n| n["backendDOMNodeId"].as_i64())
            .collect()
    }

    /// Waits until exactly one control has this role and name, and answers it.
    async fn wait_named(&mut self, role: &str, name: &str) -> i64 {
        self.wait_named_in(None, role, name).await
    }

    async fn wait_named_in(&mut self, root: Option<i64>, role: &str, name: &str) -> i64 {
        let deadline = tokio::time::Instant::now() + PAGE_WAIT;
        loop {
            let found = self.find_named(root, role, name).await;
            if found.len() == 1 {
                return found[0];
            }
            if tokio::time::Instant::now() > deadline {
                let error = self.eval(ERROR).await;
                panic!(
                    "no single {role} named {name:?} within {PAGE_WAIT:?}: {found:?}; error box: {error:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the control with this role and name (with the mouse, at its centre); found again
    /// when the page redrew it (a list reloaded) between finding and clicking.
    async fn click_named(&mut self, role: &str, name: &str) {
        let deadline = tokio::time::Instant::now() + PAGE_WAIT;
        loop {
            let node = self.wait_named(role, name).await;
            match self.try_click(node).await {
                Ok(()) => return,
                Err(e) if tokio::time::Instant::now() > deadline => {
                    panic!("clicking {role} {name:?}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// A left click at the centre of the node, as a mouse does it.
    async fn click(&mut self, node: i64) {
        self.try_click(node).await.unwrap();
    }

    /// A click, or why the node could not be clicked (gone from the page, not on screen).
    async fn try_click(&mut self, node: i64) -> Result<(), Value> {
        self.call("DOM.scrollIntoViewIfNeeded", json!({"backendNodeId": node}))
            .await?;
        let quads = self
            .call("DOM.getContentQuads", json!({"backendNodeId": node}))
            .await?;
        let quad: Vec<f64> = quads["quads"][0]
            .as_array()
            .ok_or_else(|| json!("the node is not on screen"))?
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let x = (quad[0] + quad[2] + quad[4] + quad[6]) / 4.0;
        let y = (quad[1] + quad[3] + quad[5] + quad[7]) / 4.0;
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await
            .unwrap();
        }
        Ok(())
    }

    /// Types `text` into the text field labelled `label` (focused first, like a click into it).
    async fn fill(&mut self, label: &str, text: &str) {
        self.fill_in(None, label, text).await;
    }

    /// Types `text` into the text field labelled `label` under `root` (the document when
    /// None), focused first like a click into it.
    async fn fill_in(&mut self, root: Option<i64>, label: &str, text: &str) {
        let mut found = self.find_named(root, "textbox", label).await;
        if found.is_empty() {
            found = self.find_named(root, "combobox", label).await;
        }
        if found.is_empty() {
            found = self.find_named(root, "spinbutton", label).await;
        }
        assert_eq!(
            found.len(),
            1,
            "one text field labelled {label:?}: {found:?}"
        );
        self.call("DOM.focus", json!({"backendNodeId": found[0]}))
            .await
            .unwrap();
        self.call("Input.insertText", json!({"text": text}))
            .await
            .unwrap();
    }

    /// Replaces the text of the field labelled `label` under `root` with `text`: the field
    /// focused and its text selected (as a triple click does), then typed over.
    async fn retype_in(&mut self, root: Option<i64>, label: &str, text: &str) {
        let found = self.find_named(root, "textbox", label).await;
        assert_eq!(
            found.len(),
            1,
            "one text field labelled {label:?}: {found:?}"
        );
        let object = self
            .call("DOM.resolveNode", json!({"backendNodeId": found[0]}))
            .await
            .unwrap();
        self.call(
            "Runtime.callFunctionOn",
            json!({
                "objectId": object["object"]["objectId"],
                "functionDeclaration": "function () { this.focus(); this.select(); }",
            }),
        )
        .await
        .unwrap();
        self.call("Input.insertText", json!({"text": text}))
            .await
            .unwrap();
    }

    /// Picks the option whose value is `value` in the drop-down labelled `label`.
    async fn choose(&mut self, label: &str, value: &str) {
        let node = self.wait_named("combobox", label).await;
        let object = self
            .call("DOM.resolveNode", json!({"backendNodeId": node}))
            .await
            .unwrap();
        let chosen = self
            .call(
                "Runtime.callFunctionOn",
                json!({
                    "objectId": object["object"]["objectId"],
                    "functionDeclaration": "function (v) { this.focus(); \
                        if (![...this.options].some((o) => o.value === v)) return null; \
                        this.value = v; \
                        this.dispatchEvent(new Event('input', {bubbles: true})); \
                        this.dispatchEvent(new Event('change', {bubbles: true})); \
                        return this.value; }",
                    "arguments": [{"value": value}],
                    "returnByValue": true,
                }),
            )
            .await
            .unwrap();
        assert_eq!(chosen["result"]["value"], value, "{label} has {value}");
    }

    /// One key press (`Enter`, `Escape` or `Tab`) to whatever has the focus.
    async fn press(&mut self, key: &str) {
        let (code, text) = match key {
            "Enter" => (13, "\r"),
            "Escape" => (27, ""),
            "Tab" => (9, ""),
            other => panic!("no key {other}"),
        };
        let down = if text.is_empty() {
            json!({"type": "rawKeyDown", "key": key, "code": key, "windowsVirtualKeyCode": code})
        } else {
            json!({"type": "keyDown", "key": key, "code": key, "windowsVirtualKeyCode": code, "text": text})
        };
        self.call("Input.dispatchKeyEvent", down).await.unwrap();
        let up = json!({"type": "keyUp", "key": key, "code": key, "windowsVirtualKeyCode": code});
        self.call("Input.dispatchKeyEvent", up).await.unwrap();
    }

    /// Turns the mouse wheel over the centre of the node (negative `delta_y`: up), as a person
    /// scrolls a list.
    async fn wheel(&mut self, node: i64, delta_y: f64) {
        let quads = self
            .call("DOM.getContentQuads", json!({"backendNodeId": node}))
            .await
            .unwrap();
        let quad: Vec<f64> = quads["quads"][0]
            .as_array()
            .expect("the node is on screen")
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let x = (quad[0] + quad[2] + quad[4] + quad[6]) / 4.0;
        let y = (quad[1] + quad[3] + quad[5] + quad[7]) / 4.0;
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseMoved", "x": x, "y": y}),
        )
        .await
        .unwrap();
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseWheel", "x": x, "y": y, "deltaX": 0, "deltaY": delta_y}),
        )
        .await
        .unwrap();
    }

    /// Makes the browser refuse requests to URLs matching these patterns (none: all allowed
    /// again), as a failing network or a missing route would.
    async fn block_urls(&mut self, patterns: &[&str]) {
        self.call("Network.enable", json!({})).await.unwrap();
        self.call("Network.setBlockedURLs", json!({"urls": patterns}))
            .await
            .unwrap();
    }

    /// The backend node id of the element a JavaScript expression answers, if any.
    async fn node_of(&mut self, expression: &str) -> Option<i64> {
        let result = self
            .call("Runtime.evaluate", json!({"expression": expression}))
            .await
            .unwrap();
        let object = result["result"]["objectId"].as_str()?.to_owned();
        let node = self
            .call("DOM.describeNode", json!({"objectId": object}))
            .await
            .unwrap();
        node["node"]["backendNodeId"].as_i64()
    }

    /// The controls a person can reach now that have no accessible name (role, DOM id).
    async fn unnamed_controls(&mut self) -> Vec<String> {
        let tree = self
            .call("Accessibility.getFullAXTree", json!({}))
            .await
            .unwrap();
        let mut unnamed = Vec::new();
        for node in tree["nodes"].as_array().unwrap() {
            let role = node["role"]["value"].as_str().unwrap_or("");
            let name = node["name"]["value"].as_str().unwrap_or("");
            if node["ignored"] != true && CONTROL_ROLES.contains(&role) && name.trim().is_empty() {
                unnamed.push(format!("{role} (node {})", node["backendDOMNodeId"]));
            }
        }
        unnamed
    }
}

/// The error box's text ("" when hidden).
const ERROR: &str = "(() => { const e = document.getElementById('error'); return e.hidden ? '' : e.textContent; })()";

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

/// The open agent's tokens: `{id, cells: [name, prefix, created, last used, expires, revoked,
/// action], revoke: has a Revoke button}`.
const TOKENS: &str = r#"[...document.querySelectorAll('#token-rows tr[data-token]')].map((tr) => ({
    id: tr.dataset.token,
    cells: [...tr.cells].map((c) => c.innerText.trim()),
    revoke: Boolean(tr.querySelector('button')),
}))"#;

/// The audit rows shown: `{type, cells: [time, type, agent, ip, details]}`.
const AUDIT: &str = r#"[...document.querySelectorAll('#audit-rows tr[data-type]')].map((tr) => ({
    type: tr.dataset.type,
    cells: [...tr.cells].map((c) => c.textContent),
}))"#;

/// The key shown once after `Create token`, as a person sees it: null while none is shown.
const NEW_KEY: &str = r#"(() => {
    const box = document.getElementById('new-key');
    if (box.hidden) return null;
    return { key: document.getElementById('new-key-value').textContent, text: box.innerText };
})()"#;

/// Which view is shown, and the nav link marked current.
const VIEW: &str = r#"(() => ({
    shown: [...document.querySelectorAll('#app > [data-view]')].filter((v) => !v.hidden).map((v) => v.dataset.view),
    current: [...document.querySelectorAll('#nav a[aria-current=page]')].map((a) => a.textContent),
}))()"#;

/// The confirmation dialog: open or not, and where the keyboard focus is.
const CONFIRM: &str = r#"(() => {
    const d = document.getElementById('confirm');
    return { open: d.open, text: d.innerText, focus: document.activeElement && document.activeElement.textContent };
})()"#;

fn shows(view: &str) -> impl Fn(&Value) -> bool + '_ {
    move |v| v["shown"] == json!([view]) && v["current"] == json!([view_name(view)])
}

fn view_name(view: &str) -> &'static str {
    match view {
        "rooms" => "Rooms",
        "agents" => "Agents",
        "audit" => "Audit",
        other => panic!("no view {other}"),
    }
}

/// The Revoke button in the row of token `id`.
async fn revoke_button(page: &mut Browser, id: &str) -> i64 {
    let row = page
        .node_of(&format!(
            "document.querySelector('#token-rows tr[data-token={}]')",
            json!(id)
        ))
        .await
        .expect("the token's row");
    page.wait_named_in(Some(row), "button", "Revoke").await
}

/// An admin on the dashboard: creates a room and an agent with the forms, mints the agent a
/// token whose key shows once as text, and that key really works on a socket, whose message
/// (markup) shows as text in the room, live; revoking the token behind a page-level
/// confirmation kicks that socket; the audit view, filtered by type, lists the revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_lets_an_admin_mint_use_and_revoke_an_agents_key() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = me(&app, &app.admin_key).await;
    let mut page = Browser::signed_in_as(&app, &app.admin_key).await;
    page.wait_until("the Rooms view", VIEW, shows("rooms"))
        .await;
    assert!(
        page.find_named(None, "link", "Audit").await.len() == 1,
        "admins see Audit"
    );

    // Rooms: a public room from the form, opened once created.
    page.fill("Room name", "ops").await;
    page.fill("Topic", "operations").await;
    page.click_named("button", "Create room").await;
    page.wait_until(
        "the new room is open",
        "document.getElementById('room-name').textContent",
        |v| v == "ops",
    )
    .await;
    page.wait_named("button", "ops").await;
    let room = expect_json(
        app.get("/api/v1/rooms/ops", &app.admin_key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(room["private"], false, "{room}");
    assert_eq!(room["topic"], "operations", "{room}");

    // Agents: create one with the form (submitted with Enter, from the keyboard).
    page.click_named("link", "Agents").await;
    page.wait_until("the Agents view", VIEW, shows("agents"))
        .await;
    page.fill("Name", "scout").await;
    page.choose("Role", "agent").await;
    page.fill("Display name", "Scout <b>1</b>").await;
    page.press("Enter").await;
    page.wait_named("button", "scout").await;
    let scout = get_agent(&app, "scout").await;
    assert_eq!(scout["display_name"], "Scout <b>1</b>", "{scout}");
    assert_eq!(scout["role"], "agent", "{scout}");
    let row = page
        .eval("[...document.querySelectorAll('#agent-rows tr')].find((tr) => tr.cells[0].textContent === 'scout').innerText")
        .await
        .unwrap();
    let row = row.as_str().unwrap();
    for shown in ["Scout <b>1</b>", "agent", "offline", "no"] {
        assert!(row.contains(shown), "{shown} in {row:?}");
    }

    // Its detail, then a token: the key shows once, as text, with a copy button and a warning.
    page.click_named("button", "scout").await;
    page.wait_until(
        "scout's detail",
        "document.getElementById('agent-detail-title').textContent",
        |v| v == "scout",
    )
    .await;
    page.wait_until("no tokens yet", TOKENS, |t| t == &json!([]))
        .await;
    page.fill("Token name", "field-kit").await;
    page.click_named("button", "Create token").await;
    let shown = page
        .wait_until("the new key", NEW_KEY, |v| !v.is_null())
        .await;
    let key = shown["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ahk_") && key.len() == 47, "{key}");
    assert!(
        shown["text"]
            .as_str()
            .unwrap()
            .contains("it will not be shown again"),
        "{shown}"
    );
    page.click_named("button", "Copy key").await;
    page.wait_until(
        "the copy button answers",
        "document.getElementById('copy-status').textContent",
        |v| v.as_str().is_some_and(|t| !t.is_empty()),
    )
    .await;
    let tokens = page
        .wait_until("the token is listed", TOKENS, |t| {
            t.as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    let token = &tokens[0];
    assert_eq!(token["cells"][0], "field-kit", "{token}");
    assert_eq!(token["cells"][1], key[..12], "{token}");
    assert_eq!(token["cells"][3], "never", "last used: {token}");
    assert_eq!(token["cells"][4], "never", "expires: {token}");
    assert_eq!(token["cells"][5], "no", "revoked: {token}");
    let token_id = token["id"].as_str().unwrap().to_owned();
    assert_eq!(token_ids(&app, "scout").await, vec![token_id.as_str()]);

    // The key from the page works: a socket of scout's says something with markup in it.
    let socket = Sio::connect(app.addr, &key).await;
    join(&socket, "ops").await;
    let first = send(&socket, "ops", "<script>alert(1)</script>").await;
    assert_eq!(first["sender"]["name"], "scout");

    // Rooms: the message shows as text; the next one comes live, without a reload.
    page.click_named("link", "Rooms").await;
    page.wait_until("the Rooms view", VIEW, shows("rooms"))
        .await;
    page.click_named("button", "ops").await;
    page.wait_until("the message, as text", MESSAGES, |m| {
        with_text(m, "<script>alert(1)</script>")
            .first()
            .is_some_and(|m| m["markup"] == 0)
    })
    .await;
    let second = send(&socket, "ops", "<img src=x onerror=alert(2)> live").await;
    let shown = page
        .wait_until("the live message", MESSAGES, |m| {
            !with_text(m, "<img src=x onerror=alert(2)> live").is_empty()
        })
        .await;
    let live = with_text(&shown, "<img src=x onerror=alert(2)> live")[0];
    assert_eq!(live["seq"], second["seq"], "{shown}");
    assert_eq!(live["markup"], 0, "{shown}");
    assert!(
        live["meta"].as_str().unwrap().contains("Scout <b>1</b>"),
        "{live}"
    );
    let injected = page
        .eval("document.querySelectorAll('#messages script, #messages img').length")
        .await
        .unwrap();
    assert_eq!(injected, 0);

    // Back to the agent: the key is not shown again.
    page.click_named("link", "Agents").await;
    page.wait_until("the Agents view", VIEW, shows("agents"))
        .await;
    let text = page.eval("document.body.innerText").await.unwrap();
    assert!(
        !text.as_str().unwrap().contains(&key),
        "the key shows again"
    );
    assert_eq!(page.eval(NEW_KEY).await.unwrap(), Value::Null);
    page.wait_until("scout's token was used", TOKENS, |t| {
        t[0]["cells"][3] != "never"
    })
    .await;

    // Revoke asks first: Escape (the focus starts on Cancel) keeps the token.
    let revoke = revoke_button(&mut page, &token_id).await;
    page.click(revoke).await;
    let dialog = page
        .wait_until("the confirmation", CONFIRM, |c| c["open"] == true)
        .await;
    assert_eq!(dialog["focus"], "Cancel", "{dialog}");
    assert!(
        dialog["text"].as_str().unwrap().contains("field-kit"),
        "{dialog}"
    );
    assert!(
        page.find_named(None, "link", "Audit").await.is_empty(),
        "the page behind the dialog is inert"
    );
    page.press("Escape").await;
    page.wait_until("the confirmation closes", CONFIRM, |c| c["open"] == false)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!socket.is_closed().await, "cancelled: the socket stays");
    assert_eq!(tokens_of(&app, "scout").await[0]["revoked_at"], Value::Null);

    // Confirmed: revoked, and scout's socket is kicked.
    let revoke = revoke_button(&mut page, &token_id).await;
    page.click(revoke).await;
    page.wait_until("the confirmation", CONFIRM, |c| c["open"] == true)
        .await;
    page.click_named("button", "Revoke token").await;
    assert!(
        socket.closed_within(Duration::from_secs(3)).await,
        "the revoked key's socket is kicked"
    );
    let tokens = page
        .wait_until("the token shows revoked", TOKENS, |t| {
            t[0]["revoke"] == false && t[0]["cells"][5] != "no"
        })
        .await;
    assert_eq!(tokens.as_array().unwrap().len(), 1, "{tokens}");
    assert!(tokens_of(&app, "scout").await[0]["revoked_at"].is_string());

    // Audit, filtered by type: the revocation, by the admin, of scout's token.
    page.click_named("link", "Audit").await;
    page.wait_until("the Audit view", VIEW, shows("audit"))
        .await;
    page.choose("Type", "token-revoked").await;
    let rows = page
        .wait_until("only token-revoked rows", AUDIT, |rows| {
            rows.as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(|r| r["type"] == "token-revoked"))
        })
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    let row = &rows[0];
    assert_eq!(row["cells"][2], admin["name"], "by the admin: {row}");
    let details = row["cells"][4].as_str().unwrap();
    assert!(
        details.contains("\"agent\":\"scout\"") && details.contains(&token_id),
        "{row}"
    );
    assert!(page.unnamed_controls().await.is_empty());

    page.close().await;
    app.stop().await;
}

/// The room list as shown: `{name, text}` per room (`text`: with its flags and unread count).
const ROOMS: &str = r#"[...document.querySelectorAll('#rooms li')].filter((li) => li.querySelector('.room-link')).map((li) => ({
    name: li.querySelector('.room-link').textContent,
    text: li.innerText,
}))"#;

fn room_text<'a>(rooms: &'a Value, name: &str) -> Option<&'a str> {
    rooms
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)
        .and_then(|r| r["text"].as_str())
}

/// The focused element, and whether its focus ring shows.
const FOCUS: &str = r#"(() => {
    const e = document.activeElement;
    const style = getComputedStyle(e);
    return { id: e.id, outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
})()"#;

/// An agent that is no admin sees its own agent and tokens only (no Audit, no agent list),
/// mints a key with the API key it signed in with and revokes it; a private room it creates
/// is its own to read; unread counts show next to rooms and go once read. Then an admin, in
/// the same tab: disables (behind a confirmation: its socket is kicked) and enables it, and
/// pages the audit log newest first, by type and by agent, from the keyboard where it matters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_agents_their_own_tokens_and_pages_the_audit() {
    let app = spawn_app(Backend::Sqlite).await;
    let worker_key = app.create_agent("worker", "agent").await;
    app.create_room(&app.admin_key, "yard").await;
    // 55 more agent-created events, newest last: the audit log's first page is 50.
    for i in 0..55 {
        let res = app
            .post(
                "/api/v1/agents",
                &app.admin_key,
                json!({"name": format!("bulk-{i:02}")}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }

    let mut page = Browser::signed_in_as(&app, &worker_key).await;
    page.wait_until("the Rooms view", VIEW, shows("rooms"))
        .await;
    page.wait_named("link", "Agents").await;
    assert!(
        page.find_named(None, "link", "Audit").await.is_empty(),
        "no Audit for agents"
    );
    assert_eq!(page.unnamed_controls().await, Vec::<String>::new());

    // A private room from the form: the page makes its creator a member, and opens it.
    page.fill("Room name", "den").await;
    let private = page.wait_named("checkbox", "Private").await;
    page.click(private).await;
    page.click_named("button", "Create room").await;
    page.wait_until(
        "the private room is open",
        "document.getElementById('room-flags').textContent",
        |v| v == "private",
    )
    .await;
    let den = expect_json(
        app.get("/api/v1/rooms/den", &worker_key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(den["private"], true, "{den}");

    // Unread: three messages while the page shows another room; opening it reads them.
    page.click_named("button", "yard").await;
    page.wait_until(
        "yard is open",
        "document.getElementById('room-name').textContent",
        |v| v == "yard",
    )
    .await;
    for i in 1..=3 {
        app.post_message(&app.admin_key, "den", &format!("note {i}"))
            .await;
    }
    page.click_named("button", "Reload rooms and agents").await;
    page.wait_until("den's unread count", ROOMS, |r| {
        room_text(r, "den").is_some_and(|t| t.contains("3 unread"))
    })
    .await;
    page.click_named("button", "den").await;
    page.wait_until("den's messages", MESSAGES, |m| {
        m.as_array().is_some_and(|a| a.len() == 3)
    })
    .await;
    page.wait_until("den is read", ROOMS, |r| {
        room_text(r, "den").is_some_and(|t| !t.contains("unread"))
    })
    .await;
    let unread = expect_json(
        app.get("/api/v1/me/unread", &worker_key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        unread["rooms"],
        json!([{"room": "den", "last_seq": 3, "cursor": 3, "unread": 0}])
    );

    // Agents: its own agent only, and its tokens; no list, no create form, no Disable.
    page.click_named("link", "Agents").await;
    page.wait_until(
        "its own agent",
        "document.getElementById('agent-detail-title').textContent",
        |v| v == "Your agent: worker",
    )
    .await;
    for (role, name) in [
        ("button", "Create agent"),
        ("button", "Disable"),
        ("textbox", "Name"),
        ("button", "bulk-00"),
    ] {
        assert!(
            page.find_named(None, role, name).await.is_empty(),
            "an agent sees no {role} {name:?}"
        );
    }
    let tokens = page
        .wait_until("its one token", TOKENS, |t| {
            t.as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    assert_eq!(tokens[0]["cells"][6], "Revoke", "{tokens}");
    assert_eq!(page.unnamed_controls().await, Vec::<String>::new());

    // Minted with the API key (a JWT would be refused, SPEC §6): the new key works.
    page.fill("Token name", "laptop").await;
    page.fill("Expires in days", "7").await;
    page.click_named("button", "Create token").await;
    let shown = page
        .wait_until("the new key", NEW_KEY, |v| !v.is_null())
        .await;
    let laptop = shown["key"].as_str().unwrap().to_owned();
    assert_eq!(me(&app, &laptop).await["name"], "worker");
    let tokens = page
        .wait_until("two tokens", TOKENS, |t| {
            t.as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
    let new = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["cells"][0] == "laptop")
        .expect("the laptop token")
        .clone();
    assert_ne!(new["cells"][4], "never", "it expires: {new}");
    let laptop_id = new["id"].as_str().unwrap().to_owned();
    let revoke = revoke_button(&mut page, &laptop_id).await;
    page.click(revoke).await;
    page.click_named("button", "Revoke token").await;
    page.wait_until("laptop shows revoked", TOKENS, |t| {
        t.as_array().is_some_and(|a| {
            a.iter()
                .any(|t| t["id"] == laptop_id.as_str() && t["revoke"] == false)
        })
    })
    .await;
    assert_eq!(me_status(&app, &laptop).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_status(&app, &worker_key).await, StatusCode::OK);

    // The admin, in the same tab: Disable asks first and kicks the agent's sockets.
    page.click_named("button", "Log out").await;
    page.wait_named("textbox", "API key").await;
    page.sign_in(&app.admin_key).await;
    let socket = Sio::connect(app.addr, &worker_key).await;
    page.click_named("link", "Agents").await;
    page.click_named("button", "worker").await;
    page.wait_until(
        "worker's detail",
        "document.getElementById('agent-detail-title').textContent",
        |v| v == "worker",
    )
    .await;
    page.click_named("button", "Disable").await;
    let dialog = page
        .wait_until("the confirmation", CONFIRM, |c| c["open"] == true)
        .await;
    assert!(
        dialog["text"].as_str().unwrap().contains("Disable worker?"),
        "{dialog}"
    );
    // Behind the modal dialog the page is inert: the only Disable is the dialog's.
    page.click_named("button", "Disable").await;
    assert!(
        socket.closed_within(Duration::from_secs(3)).await,
        "a disabled agent's socket is kicked"
    );
    page.wait_named("button", "Enable").await;
    assert_eq!(get_agent(&app, "worker").await["disabled"], true);
    let facts = page
        .eval("document.getElementById('agent-facts').innerText")
        .await
        .unwrap();
    assert!(facts.as_str().unwrap().contains("Disabled\nyes"), "{facts}");
    page.click_named("button", "Enable").await;
    page.wait_named("button", "Disable").await;
    assert_eq!(get_agent(&app, "worker").await["disabled"], false);
    assert_eq!(me_status(&app, &worker_key).await, StatusCode::OK);
    assert_eq!(page.unnamed_controls().await, Vec::<String>::new());

    // Audit: the link moves the focus to the view; Tab reaches the Type filter, ring showing.
    page.click_named("link", "Audit").await;
    page.wait_until("the Audit view", VIEW, shows("audit"))
        .await;
    page.wait_until("the focus on the view", FOCUS, |f| f["id"] == "audit-title")
        .await;
    page.press("Tab").await;
    let focus = page.eval(FOCUS).await.unwrap();
    assert_eq!(focus["id"], "audit-type", "{focus}");
    assert!(
        focus["outline"] == "solid" && focus["width"].as_f64().unwrap() >= 2.0,
        "a visible focus ring: {focus}"
    );
    assert_eq!(page.unnamed_controls().await, Vec::<String>::new());

    // By type, newest first, a page of 50; Older and Newer page through the rest.
    let pager = "[document.getElementById('audit-page').textContent, \
                 document.getElementById('audit-newer').disabled, \
                 document.getElementById('audit-older').disabled]";
    page.choose("Type", "agent-created").await;
    let first = page
        .wait_until("a full first page", AUDIT, |rows| {
            rows.as_array()
                .is_some_and(|a| a.len() == 50 && a.iter().all(|r| r["type"] == "agent-created"))
        })
        .await;
    assert!(
        first[0]["cells"][4]
            .as_str()
            .unwrap()
            .contains("\"bulk-54\""),
        "newest first: {}",
        first[0]
    );
    assert!(
        first[49]["cells"][4]
            .as_str()
            .unwrap()
            .contains("\"bulk-05\"")
    );
    assert_eq!(
        page.eval(pager).await.unwrap(),
        json!(["Page 1", true, false])
    );
    page.click_named("button", "Older").await;
    // bulk-04 … bulk-00, worker, and the bootstrap admin (created before anyone acted: no
    // agent, no IP).
    let second = page
        .wait_until("the second page", AUDIT, |rows| {
            rows.as_array().is_some_and(|a| a.len() == 7)
        })
        .await;
    assert!(
        second[0]["cells"][4]
            .as_str()
            .unwrap()
            .contains("\"bulk-04\"")
    );
    assert!(
        second[5]["cells"][4]
            .as_str()
            .unwrap()
            .contains("\"worker\"")
    );
    assert_eq!(second[6]["cells"][2], "—", "{}", second[6]);
    assert_eq!(
        page.eval(pager).await.unwrap(),
        json!(["Page 2", false, true])
    );
    page.click_named("button", "Newer").await;
    page.wait_until("the first page again", AUDIT, |rows| {
        rows.as_array().is_some_and(|a| {
            a.len() == 50 && a[0]["cells"][4].as_str().unwrap().contains("\"bulk-54\"")
        })
    })
    .await;

    // By agent: what worker did (signed in, made a room, minted and revoked a key).
    page.choose("Type", "").await;
    page.fill("Agent", "worker").await;
    page.click_named("button", "Filter").await;
    let rows = page
        .wait_until("worker's events", AUDIT, |rows| {
            rows.as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(|r| r["cells"][2] == "worker"))
        })
        .await;
    let types: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    for kind in [
        "jwt-issued",
        "room-created",
        "token-created",
        "token-revoked",
    ] {
        assert!(types.contains(&kind), "{kind} in {types:?}");
    }
    let at = |kind: &str| types.iter().position(|t| *t == kind).unwrap();
    assert!(
        at("token-revoked") < at("token-created"),
        "newest first: {types:?}"
    );

    page.close().await;
    app.stop().await;
}

/// Whether the room list is being reloaded.
const ROOMS_BUSY: &str = "document.getElementById('rooms').hasAttribute('aria-busy')";

/// The open room's name as shown.
const ROOM_NAME: &str = "document.getElementById('room-name').textContent";

/// The send box as a person meets it: whether it takes text, and the note under it.
const SEND_BOX: &str = r#"(() => ({
    disabled: document.getElementById('body').disabled,
    button: document.querySelector('#send-form button').disabled,
    note: document.getElementById('send-note').textContent,
    flags: document.getElementById('room-flags').textContent,
}))()"#;

/// An archived room is read-only (SPEC §3). Its creator archives it from the page: the REST
/// room says archived, a socket already in it may no longer send (`forbidden`), the page
/// shows it archived with its send box disabled. Unarchived, the room takes messages again,
/// the page's own included. Someone else's room has no such control, and an agent that is
/// no admin sees no Live panel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_archives_and_unarchives_a_room() {
    let app = spawn_app(Backend::Sqlite).await;
    let keeper = app.create_agent("keeper", "agent").await;
    let visitor_key = app.create_agent("visitor", "agent").await;
    app.create_room(&keeper, "attic").await;
    app.create_room(&visitor_key, "porch").await;
    let visitor = joined(&app, &visitor_key, "attic").await;

    let mut page = Browser::signed_in(&app, &keeper, "porch").await;
    page.wait_until("porch is open", ROOM_NAME, |v| v == "porch")
        .await;
    assert!(
        page.find_named(None, "button", "Archive room")
            .await
            .is_empty(),
        "only its creator or an admin archives a room"
    );
    assert!(
        page.find_named(None, "heading", "Live").await.is_empty(),
        "the Live panel is for admins"
    );

    page.click_named("button", "attic").await;
    page.wait_until("attic is open", ROOM_NAME, |v| v == "attic")
        .await;
    page.wait_until("the send box takes text", SEND_BOX, |b| {
        b["disabled"] == false && b["button"] == false
    })
    .await;
    page.click_named("button", "Archive room").await;
    page.wait_named("button", "Unarchive room").await;
    let room = expect_json(
        app.get("/api/v1/rooms/attic", &keeper).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(room["archived"], true, "{room}");
    let ack = visitor
        .emit("message:send", json!({"room": "attic", "body": "too late"}))
        .await;
    assert_error(&ack, "forbidden");
    let shown = page
        .wait_until("the send box is disabled", SEND_BOX, |b| {
            b["disabled"] == true && b["button"] == true
        })
        .await;
    assert!(
        shown["flags"].as_str().unwrap().contains("archived"),
        "{shown}"
    );
    assert!(
        shown["note"].as_str().unwrap().contains("archived"),
        "{shown}"
    );
    assert!(page.unnamed_controls().await.is_empty());

    // Reloaded, the room list keeps it, archived; opened again (a join is refused now), it is
    // read-only still.
    page.click_named("button", "Reload rooms and agents").await;
    page.wait_until("the room list is reloaded", ROOMS_BUSY, |v| v == false)
        .await;
    page.click_named("button", "porch").await;
    page.wait_until("porch is open", ROOM_NAME, |v| v == "porch")
        .await;
    let rooms = page.eval(ROOMS).await.unwrap();
    assert!(
        room_text(&rooms, "attic").is_some_and(|t| t.contains("archived")),
        "the room list keeps it, archived: {rooms}"
    );
    page.click_named("button", "attic").await;
    page.wait_until("attic is open", ROOM_NAME, |v| v == "attic")
        .await;
    page.wait_until("attic is read-only", SEND_BOX, |b| {
        b["disabled"] == true && b["note"] == "This room is archived: read-only."
    })
    .await;

    // Unarchived: sends work again, from the visitor's socket and from the page's send box
    // (the page joins the room again).
    page.click_named("button", "Unarchive room").await;
    page.wait_named("button", "Archive room").await;
    let room = expect_json(
        app.get("/api/v1/rooms/attic", &keeper).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(room["archived"], false, "{room}");
    send(&visitor, "attic", "open again").await;
    page.wait_until("the send box takes text again", SEND_BOX, |b| {
        b["disabled"] == false && b["note"] == ""
    })
    .await;
    page.fill("Message", "welcome back").await;
    page.press("Enter").await;
    let new = visitor.next_event("message:new").await;
    assert_eq!(new["room"], "attic");
    assert_eq!(new["body"], "welcome back");
    assert_eq!(new["sender"]["name"], "keeper");

    page.close().await;
    visitor.close().await;
    app.stop().await;
}

/// The members form's status line.
const MEMBER_STATUS: &str = "document.getElementById('member-status').textContent";

/// A private room's creator manages its members from the page (the hub lists none: by name).
/// Added, the agent's socket may join; removing asks first (Escape keeps it), then the hub
/// takes that socket out of the room (`room:removed`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_adds_and_removes_a_private_rooms_member() {
    let app = spawn_app(Backend::Sqlite).await;
    let owner = app.create_agent("owner", "agent").await;
    let guest_key = app.create_agent("guest", "agent").await;
    app.create_private_room(&owner, "vault").await;
    app.create_room(&owner, "hall").await;
    let guest = Sio::connect(app.addr, &guest_key).await;
    let ack = guest.emit("room:join", json!({"room": "vault"})).await;
    assert_error(&ack, "not_found");

    // A public room has no members to manage.
    let mut page = Browser::signed_in(&app, &owner, "hall").await;
    page.wait_until("hall is open", ROOM_NAME, |v| v == "hall")
        .await;
    assert!(
        page.find_named(None, "button", "Add member")
            .await
            .is_empty()
    );

    page.click_named("button", "vault").await;
    page.wait_until("vault is open", ROOM_NAME, |v| v == "vault")
        .await;
    page.wait_named("button", "Add member").await;
    assert!(page.unnamed_controls().await.is_empty());
    page.fill("Member (agent name)", "guest").await;
    page.click_named("button", "Add member").await;
    page.wait_until("the member is added", MEMBER_STATUS, |v| {
        v == "Added guest to vault."
    })
    .await;
    join(&guest, "vault").await;
    page.wait_until(
        "guest shows here",
        "document.getElementById('members').innerText",
        |v| v.as_str().is_some_and(|t| t.contains("guest")),
    )
    .await;

    // Remove asks first: Escape (the focus starts on Cancel) keeps the member.
    page.fill("Member (agent name)", "guest").await;
    page.click_named("button", "Remove member").await;
    let dialog = page
        .wait_until("the confirmation", CONFIRM, |c| c["open"] == true)
        .await;
    assert_eq!(dialog["focus"], "Cancel", "{dialog}");
    assert!(
        dialog["text"]
            .as_str()
            .unwrap()
            .contains("Remove guest from vault?"),
        "{dialog}"
    );
    page.press("Escape").await;
    page.wait_until("the confirmation closes", CONFIRM, |c| c["open"] == false)
        .await;
    guest
        .assert_no_event("room:removed", Duration::from_millis(300))
        .await;

    // Confirmed (behind the modal dialog the page is inert: the only Remove member is its).
    page.click_named("button", "Remove member").await;
    page.wait_until("the confirmation", CONFIRM, |c| c["open"] == true)
        .await;
    page.click_named("button", "Remove member").await;
    let removed = guest.next_event("room:removed").await;
    assert_eq!(removed["room"], "vault", "{removed}");
    page.wait_until("the member is removed", MEMBER_STATUS, |v| {
        v == "Removed guest from vault."
    })
    .await;
    let ack = guest.emit("room:join", json!({"room": "vault"})).await;
    assert_error(&ack, "not_found");

    page.close().await;
    guest.close().await;
    app.stop().await;
}

/// A DM from the page: `Message abe` addresses the New DM form, Enter sends the first message
/// (as `dm:send`), the other agent's socket gets it, and the page opens `dm:abe:zoe` (the two
/// names sorted), where the send box and the other agent's answers carry on the talk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_opens_a_dm_with_an_agent() {
    let app = spawn_app(Backend::Sqlite).await;
    let zoe = app.create_agent("zoe", "agent").await;
    let abe_key = app.create_agent("abe", "agent").await;
    app.create_room(&zoe, "lounge").await;
    let abe = Sio::connect(app.addr, &abe_key).await;

    let mut page = Browser::signed_in(&app, &zoe, "lounge").await;
    assert!(
        page.find_named(None, "button", "Message zoe")
            .await
            .is_empty(),
        "no DM to oneself"
    );
    page.click_named("button", "Message abe").await;
    page.wait_until(
        "the form is addressed to abe, the focus on its message",
        "[document.getElementById('dm-to').value, document.activeElement.id]",
        |v| v == &json!(["abe", "dm-body"]),
    )
    .await;
    page.fill("First message", "Hi <b>abe</b>").await;
    page.press("Enter").await;

    let first = abe.next_event("message:new").await;
    assert_eq!(first["room"], "dm:abe:zoe", "{first}");
    assert_eq!(first["body"], "Hi <b>abe</b>");
    assert_eq!(first["sender"]["name"], "zoe");
    page.wait_until("the DM room is open", ROOM_NAME, |v| v == "dm:abe:zoe")
        .await;
    let shown = page
        .wait_until("the first message, as text", MESSAGES, |m| {
            with_text(m, "Hi <b>abe</b>")
                .first()
                .is_some_and(|m| m["markup"] == 0)
        })
        .await;
    assert_eq!(shown.as_array().unwrap().len(), 1, "{shown}");
    let rooms = page.eval(ROOMS).await.unwrap();
    assert!(
        room_text(&rooms, "dm:abe:zoe").is_some_and(|t| t.contains("DM")),
        "{rooms}"
    );
    assert_eq!(
        page.eval("document.activeElement.id").await.unwrap(),
        "body",
        "the focus moves on to the DM room's send box"
    );

    // The talk goes on in the DM room, both ways.
    page.fill("Message", "second").await;
    page.press("Enter").await;
    let second = abe.next_event("message:new").await;
    assert_eq!(second["room"], "dm:abe:zoe", "{second}");
    assert_eq!(second["body"], "second");
    let ack = abe
        .send_dm(json!({"to": "zoe", "body": "hello back"}))
        .await;
    assert_ok(&ack);
    page.wait_until("abe's answer, live", MESSAGES, |m| {
        !with_text(m, "hello back").is_empty()
    })
    .await;
    let dm = expect_json(
        app.get("/api/v1/rooms/dm:abe:zoe", &abe_key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(dm["private"], true, "{dm}");
    assert_eq!(dm["created_by"], "zoe", "{dm}");

    page.close().await;
    abe.close().await;
    app.stop().await;
}

/// The seqs shown, in page order.
const SEQS: &str =
    "[...document.querySelectorAll('#messages li[data-seq]')].map((li) => Number(li.dataset.seq))";

/// Where message #71 sits in the scrolled message list.
const SEQ_71: &str = r#"(() => {
    const pane = document.querySelector('.messages-pane');
    const li = document.querySelector('#messages li[data-seq="71"]');
    return { scrollTop: pane.scrollTop, offset: li.getBoundingClientRect().top - pane.getBoundingClientRect().top };
})()"#;

/// Test-only: from now on the page's Socket.IO client loses every `message:new` of seq `n`
/// (a lost delivery, as around a reconnect); `window.lost` counts them.
fn lose_message(seq: i64) -> String {
    format!(
        "(() => {{ window.lost = 0; const onevent = io.Socket.prototype.onevent; \
         io.Socket.prototype.onevent = function (packet) {{ \
           const [name, data] = packet.data || []; \
           if (name === 'message:new' && data && data.seq === {seq}) {{ window.lost += 1; return; }} \
           return onevent.call(this, packet); }}; return true; }})()"
    )
}

/// History pages upward as a person scrolls: the first page is the newest 50; the wheel at the
/// top of the list brings the 50 before (the messages read stay where they were), then the
/// rest. A `message:new` whose seq jumps past the last one shown (the one between was lost)
/// is filled from history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_pages_history_upward_on_scroll_and_fills_gaps() {
    let app = spawn_app(Backend::Sqlite).await;
    let viewer = app.create_agent("viewer", "agent").await;
    let writer_key = app.create_agent("writer", "agent").await;
    app.create_room(&writer_key, "log").await;
    for i in 1..=120 {
        app.post_message(&writer_key, "log", &format!("entry {i}"))
            .await;
    }

    let mut page = Browser::signed_in(&app, &viewer, "log").await;
    let seqs = page
        .wait_until("the newest page", SEQS, |s| {
            s.as_array().is_some_and(|a| a.len() == 50)
        })
        .await;
    assert_eq!(seqs, json!((71..=120).collect::<Vec<i64>>()));
    let pane = page
        .node_of("document.querySelector('.messages-pane')")
        .await
        .unwrap();
    let at = page.eval(SEQ_71).await.unwrap();
    assert!(
        at["scrollTop"].as_f64().unwrap() > 0.0,
        "it opens at the newest: {at}"
    );

    page.wheel(pane, -100_000.0).await;
    let seqs = page
        .wait_until("the page before", SEQS, |s| {
            s.as_array().is_some_and(|a| a.len() >= 100)
        })
        .await;
    assert_eq!(seqs, json!((21..=120).collect::<Vec<i64>>()));
    // What was at the top is still in view, near the top: the older page came in above it.
    let at = page.eval(SEQ_71).await.unwrap();
    let offset = at["offset"].as_f64().unwrap();
    assert!(
        at["scrollTop"].as_f64().unwrap() > 0.0 && (-5.0..120.0).contains(&offset),
        "the scroll position is kept: {at}"
    );

    page.wheel(pane, -100_000.0).await;
    page.wait_until("the whole history", SEQS, |s| {
        s == &json!((1..=120).collect::<Vec<i64>>())
    })
    .await;
    page.wait_until(
        "nothing older to load",
        "document.getElementById('older').hidden",
        |v| v == true,
    )
    .await;

    // #121 never reaches the page; #122 does, and the page fills what is between.
    assert_eq!(page.eval(&lose_message(121)).await.unwrap(), true);
    let writer = joined(&app, &writer_key, "log").await;
    send(&writer, "log", "lost on the way").await;
    send(&writer, "log", "after the gap").await;
    let shown = page
        .wait_until("the gap is filled", MESSAGES, |m| {
            !with_text(m, "lost on the way").is_empty() && !with_text(m, "after the gap").is_empty()
        })
        .await;
    assert_eq!(page.eval("window.lost").await.unwrap(), 1, "{shown}");
    assert_eq!(
        page.eval(SEQS).await.unwrap(),
        json!((1..=122).collect::<Vec<i64>>())
    );

    page.close().await;
    writer.close().await;
    app.stop().await;
}

/// The Live panel as shown: its four numbers and its status line.
const LIVE: &str = r#"(() => ({
    connections: document.getElementById('live-connections').textContent,
    rate: document.getElementById('live-rate').textContent,
    rooms: document.getElementById('live-rooms').textContent,
    agents: document.getElementById('live-agents').textContent,
    status: document.getElementById('live-status').textContent,
}))()"#;

fn live_number(live: &Value, key: &str) -> Option<f64> {
    live[key].as_str()?.parse().ok()
}

/// Admins see live numbers (`GET /api/v1/stats`, polled every 5 s): the page's own socket
/// among the connections, the hub's rooms and agents; a new socket shows at the next poll;
/// when the numbers cannot be had, the panel says "unavailable", and recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_admins_live_numbers() {
    let app = spawn_app(Backend::Sqlite).await;
    let agent_key = app.create_agent("worker", "agent").await;
    app.create_room(&agent_key, "floor").await;

    let mut page = Browser::signed_in_as(&app, &app.admin_key).await;
    page.wait_named("heading", "Live").await;
    let live = page
        .wait_until("a connection (the page's own)", LIVE, |l| {
            live_number(l, "connections").is_some_and(|n| n >= 1.0)
        })
        .await;
    assert_eq!(live["rooms"], "1", "{live}");
    assert_eq!(live["agents"], "2", "admin and worker: {live}");
    assert!(live_number(&live, "rate").is_some(), "{live}");
    let before = live_number(&live, "connections").unwrap();

    let socket = Sio::connect(app.addr, &agent_key).await;
    page.wait_until("one more connection, at a later poll", LIVE, |l| {
        live_number(l, "connections").is_some_and(|n| n > before)
    })
    .await;

    // Any error (here the browser refuses the request): "unavailable", no stale numbers.
    page.block_urls(&["*/api/v1/stats*"]).await;
    let live = page
        .wait_until("unavailable", LIVE, |l| l["status"] == "unavailable")
        .await;
    assert_eq!(live["connections"], "—", "{live}");
    page.block_urls(&[]).await;
    page.wait_until("the numbers again", LIVE, |l| {
        l["status"] != "unavailable" && live_number(l, "connections").is_some()
    })
    .await;
    assert!(page.unnamed_controls().await.is_empty());

    page.close().await;
    socket.close().await;
    app.stop().await;
}

/// The connection indicator in the page's header ("live" once its socket is connected).
const CONN: &str = "document.getElementById('conn').textContent";

/// The page stays open across a restart of the `agenthub` process (same port, same SQLite
/// file): its Socket.IO client reconnects by itself and rejoins the room with `since`, so a
/// message posted while the page was still away shows, once, and so do the next ones, live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_survives_a_server_restart() {
    use crate::support::TestDb;
    use crate::support::processes::HubProcess;

    let db = TestDb::new(Backend::Sqlite).await;
    let (mut hub, admin) = HubProcess::start(db.dir.path(), &db.url, &[]).await;
    hub.wait_ready(Duration::from_secs(30)).await;
    let api = hub.api();
    api.create_room(&admin, "deck").await;
    api.post_message(&admin, "deck", "before the restart").await;

    let mut page = Browser::open(&format!("{}/", hub.base())).await;
    page.wait_until("the scripts run", "document.body.dataset.ready", |v| {
        v == "yes"
    })
    .await;
    page.sign_in(&admin).await;
    page.click_named("button", "deck").await;
    page.wait_until("deck is open", ROOM_NAME, |v| v == "deck")
        .await;
    page.wait_until("the first message", MESSAGES, |m| {
        !with_text(m, "before the restart").is_empty()
    })
    .await;
    page.wait_until("the socket is live", CONN, |v| v == "live")
        .await;

    // The server goes (SIGTERM, a clean exit): the page notices; nothing can be posted now.
    hub.terminate().await;
    page.wait_until("the page sees the server gone", CONN, |v| v != "live")
        .await;
    let refused = api
        .http
        .post(api.url("/api/v1/rooms/deck/messages"))
        .bearer_auth(&admin)
        .json(&json!({"body": "while down"}))
        .send()
        .await;
    assert!(refused.is_err(), "nothing listens while the server is down");

    // Back on the same port and database. The page is kept away from the socket a little
    // longer (the browser refuses its Socket.IO requests), so that the next message is
    // posted before it is back: it must come with the rejoin's `since`, not live.
    page.block_urls(&["*/socket.io/*"]).await;
    hub.restart().await;
    hub.wait_ready(Duration::from_secs(30)).await;
    let missed = api
        .post_message(&admin, "deck", "while the page was away")
        .await;
    assert_ne!(page.eval(CONN).await.unwrap(), "live", "still away");
    page.block_urls(&[]).await;
    page.wait_until("the page reconnects", CONN, |v| v == "live")
        .await;
    let shown = page
        .wait_until(
            "the message posted while the page was away",
            MESSAGES,
            |m| !with_text(m, "while the page was away").is_empty(),
        )
        .await;
    assert_eq!(
        with_text(&shown, "while the page was away")[0]["seq"],
        missed["seq"]
    );

    // And live again after that, without a reload.
    let live = api.post_message(&admin, "deck", "after the restart").await;
    let shown = page
        .wait_until("a live message after the restart", MESSAGES, |m| {
            !with_text(m, "after the restart").is_empty()
        })
        .await;
    assert_eq!(
        with_text(&shown, "after the restart")[0]["seq"],
        live["seq"]
    );
    for text in [
        "before the restart",
        "while the page was away",
        "after the restart",
    ] {
        assert_eq!(with_text(&shown, text).len(), 1, "{text} once: {shown}");
    }
    assert!(with_text(&shown, "while down").is_empty(), "{shown}");
    assert_eq!(shown.as_array().unwrap().len(), 3, "{shown}");

    page.close().await;
    hub.terminate().await;
}

/// A tiny program of the official Socket.IO client (required from `clients/node`): connects
/// with the key, joins the room, sends the body, prints both acks as JSON, exits 0 when both
/// are ok.
const NODE_SENDER: &str = r#"
import { createRequire } from "node:module";
const [client, url, key, room, body] = process.argv.slice(2);
const { io } = createRequire(`${client}/package.json`)("socket.io-client");
const socket = io(url, { auth: { token: key }, reconnection: false });
const fail = (why) => { console.error(why); process.exit(1); };
setTimeout(() => fail("timed out"), 15000).unref();
socket.on("connect_error", (err) => fail(`connect_error: ${err.message}`));
socket.on("connect", async () => {
  const joined = await socket.timeout(5000).emitWithAck("room:join", { room });
  console.log(JSON.stringify({ joined: joined.ok }));
  if (!joined.ok) fail(JSON.stringify(joined));
  const sent = await socket.timeout(5000).emitWithAck("message:send", { room, body });
  console.log(JSON.stringify(sent));
  socket.close();
  process.exit(sent.ok ? 0 : 1);
});
"#;

/// An admin mints a key for a new agent on the page; the real JavaScript Socket.IO client,
/// run as a Node process with that key, sends markup that the page shows as text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_minted_on_the_page_works_from_a_real_socket_io_client() {
    let node_client = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/node");
    assert!(
        std::path::Path::new(node_client)
            .join("node_modules/socket.io-client/package.json")
            .exists(),
        "socket.io-client is not installed: run `bash .ci/run`, or `npm ci --prefix clients/node`"
    );
    let app = spawn_app(Backend::Sqlite).await;
    app.create_room(&app.admin_key, "ops").await;
    let mut page = Browser::signed_in_as(&app, &app.admin_key).await;

    page.click_named("link", "Agents").await;
    page.wait_until("the Agents view", VIEW, shows("agents"))
        .await;
    page.fill("Name", "runner").await;
    page.choose("Role", "agent").await;
    page.click_named("button", "Create agent").await;
    page.click_named("button", "runner").await;
    page.wait_until(
        "runner's detail",
        "document.getElementById('agent-detail-title').textContent",
        |v| v == "runner",
    )
    .await;
    page.fill("Token name", "node").await;
    page.click_named("button", "Create token").await;
    let shown = page
        .wait_until("the new key", NEW_KEY, |v| !v.is_null())
        .await;
    let key = shown["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ahk_"), "{key}");

    // The page shows the room, live, while the Node client says something in it.
    page.click_named("link", "Rooms").await;
    page.wait_until("the Rooms view", VIEW, shows("rooms"))
        .await;
    page.click_named("button", "ops").await;
    page.wait_until("ops is open", ROOM_NAME, |v| v == "ops")
        .await;
    page.wait_until("the socket is live", CONN, |v| v == "live")
        .await;

    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("send.mjs");
    std::fs::write(&script, NODE_SENDER).unwrap();
    let mut cmd = std::process::Command::new("node");
    cmd.current_dir(dir.path())
        .arg(&script)
        .args([
            node_client,
            &app.base,
            &key,
            "ops",
            "<script>alert(1)</script>",
        ])
        .stdin(std::process::Stdio::null());
    let run = tokio::task::spawn_blocking(move || cmd.output());
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the Node client finishes")
        .unwrap()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = format!(
        "node exited with {}\n--- stdout\n{stdout}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{report}");
    let ack: Value = serde_json::from_str(stdout.lines().last().unwrap()).expect(&report);
    assert_eq!(ack["ok"], true, "{report}");
    assert_eq!(ack["message"]["sender"]["name"], "runner", "{report}");

    let shown = page
        .wait_until("the Node client's message, as text", MESSAGES, |m| {
            with_text(m, "<script>alert(1)</script>")
                .first()
                .is_some_and(|m| m["markup"] == 0)
        })
        .await;
    assert_eq!(
        with_text(&shown, "<script>alert(1)</script>")[0]["seq"],
        ack["message"]["seq"],
        "{shown}"
    );
    let injected = page
        .eval("document.querySelectorAll('#messages script').length")
        .await
        .unwrap();
    assert_eq!(injected, 0);

    page.close().await;
    app.stop().await;
}

/// The agent detail's status lines and card, as shown.
const DETAIL_LINES: &str = r#"(() => ({
    display: document.getElementById('display-status').textContent,
    card: document.getElementById('card-status').textContent,
    cardBad: document.getElementById('card-status').classList.contains('bad'),
    shown: document.getElementById('card-view').innerText,
    facts: document.getElementById('agent-facts').innerText,
}))()"#;

/// An admin edits an agent's display name and a room's topic, and publishes the agent's card
/// (SPEC §12): methods typed comma-separated; a card already published keeps its skills and
/// description; a bad method name shows the hub's error and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_edits_names_topics_and_cards() {
    let app = spawn_app(Backend::Sqlite).await;
    let helper = app.create_agent("helper", "agent").await;
    app.create_room(&helper, "lab").await;

    let mut page = Browser::signed_in(&app, &app.admin_key, "lab").await;
    page.wait_until("lab is open", ROOM_NAME, |v| v == "lab")
        .await;

    // The room's topic, from the form in its head (the New room form has a Topic too).
    let head = page
        .node_of("document.getElementById('topic-form')")
        .await
        .unwrap();
    page.retype_in(Some(head), "Topic", "Plans <i>and</i> notes")
        .await;
    page.click_named("button", "Save topic").await;
    page.wait_until(
        "the topic is saved",
        "document.getElementById('room-status').textContent",
        |v| v == "Saved the topic of lab.",
    )
    .await;
    let room = expect_json(app.get("/api/v1/rooms/lab", &helper).await, StatusCode::OK).await;
    assert_eq!(room["topic"], "Plans <i>and</i> notes", "{room}");
    let topic = page
        .eval("document.getElementById('room-topic').textContent")
        .await
        .unwrap();
    assert_eq!(topic, "Plans <i>and</i> notes");
    assert!(page.unnamed_controls().await.is_empty());

    // The agent's display name, from its detail (the New agent form has one too).
    page.click_named("link", "Agents").await;
    page.wait_until("the Agents view", VIEW, shows("agents"))
        .await;
    page.click_named("button", "helper").await;
    page.wait_until("helper's detail, without a card", DETAIL_LINES, |d| {
        d["shown"] == "No card"
    })
    .await;
    let detail = page
        .node_of("document.getElementById('agent-detail')")
        .await
        .unwrap();
    page.retype_in(Some(detail), "Display name", "Helper <b>2</b>")
        .await;
    page.click_named("button", "Save").await;
    let shown = page
        .wait_until("the name is saved", DETAIL_LINES, |d| {
            d["display"] == "Saved: helper is shown as Helper <b>2</b>."
        })
        .await;
    assert!(
        shown["facts"].as_str().unwrap().contains("Helper <b>2</b>"),
        "{shown}"
    );
    let agent = get_agent(&app, "helper").await;
    assert_eq!(agent["display_name"], "Helper <b>2</b>", "{agent}");
    assert!(page.unnamed_controls().await.is_empty());

    // A first card: the methods typed, comma-separated.
    page.fill("Methods", "search, echo").await;
    page.click_named("button", "Publish card").await;
    let shown = page
        .wait_until("the card is published", DETAIL_LINES, |d| {
            d["card"] == "Published the card of helper (2 methods)."
        })
        .await;
    let text = shown["shown"].as_str().unwrap();
    assert!(text.contains("search") && text.contains("echo"), "{shown}");
    let card = expect_json(
        app.get("/api/v1/agents/helper/card", &helper).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(card["methods"], json!(["search", "echo"]), "{card}");
    assert_eq!(card["skills"], json!([]), "{card}");

    // The agent publishes skills and a description itself; published again from the page
    // (once it shows them), they stay.
    let res = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/agents/helper/card",
            Some(&helper),
        )
        .json(&json!({
            "description": "Finds <things>",
            "skills": [{"id": "find", "name": "Find things"}],
            "methods": ["search"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    page.click_named("button", "helper").await;
    page.wait_until("the new card shows", DETAIL_LINES, |d| {
        d["shown"]
            .as_str()
            .is_some_and(|t| t.contains("Finds <things>") && t.contains("Find things"))
    })
    .await;
    page.retype_in(None, "Methods", "search, echo").await;
    page.click_named("button", "Publish card").await;
    page.wait_until("the card is published again", DETAIL_LINES, |d| {
        d["card"] == "Published the card of helper (2 methods)."
            && d["shown"].as_str().is_some_and(|t| t.contains("echo"))
    })
    .await;
    let card = expect_json(
        app.get("/api/v1/agents/helper/card", &helper).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(card["methods"], json!(["search", "echo"]), "{card}");
    assert_eq!(card["description"], "Finds <things>", "{card}");
    assert_eq!(
        card["skills"],
        json!([{"id": "find", "name": "Find things"}]),
        "{card}"
    );

    // A bad method name: the hub's 400 message shows, and the card is unchanged.
    page.retype_in(None, "Methods", "search, Bad Name").await;
    page.click_named("button", "Publish card").await;
    let shown = page
        .wait_until("the error shows", DETAIL_LINES, |d| d["cardBad"] == true)
        .await;
    let status = shown["card"].as_str().unwrap();
    assert!(
        status.starts_with("Not published:") && status.contains("\"Bad Name\" must match"),
        "{shown}"
    );
    let card = expect_json(
        app.get("/api/v1/agents/helper/card", &helper).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(card["methods"], json!(["search", "echo"]), "{card}");

    page.close().await;
    app.stop().await;
}

/// The names in the Agents list, as shown.
const AGENT_ROWS: &str = "[...document.querySelectorAll('#agent-rows tr td:first-child button')].map((b) => b.textContent)";

/// The skills of an agent's card from the REST API.
async fn card_of(app: &TestApp, name: &str, key: &str) -> Value {
    expect_json(
        app.get(&format!("/api/v1/agents/{name}/card"), key).await,
        StatusCode::OK,
    )
    .await
}

/// An admin adds a skill to an agent's card and removes it (its methods kept), filters the
/// Agents list by method and by presence (SPEC §12: `GET /agents?method=&online=true`), and
/// opens a room with the keyboard alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_edits_skills_and_filters_agents() {
    let app = spawn_app(Backend::Sqlite).await;
    let helper = app.create_agent("helper", "agent").await;
    let live_key = app.create_agent("livewire", "agent").await;
    app.create_agent("idler", "agent").await;
    app.create_room(&helper, "lab").await;
    app.create_room(&helper, "den").await;
    app.post_message(&helper, "den", "in the <den>").await;
    let res = app
        .request(
            reqwest::Method::PUT,
            "/api/v1/agents/helper/card",
            Some(&helper),
        )
        .json(&json!({"description": "Helps", "skills": [], "methods": ["echo"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let live = Sio::connect(app.addr, &live_key).await;

    let mut page = Browser::signed_in(&app, &app.admin_key, "lab").await;
    page.wait_until("lab is open", ROOM_NAME, |v| v == "lab")
        .await;

    // The keyboard alone: the room link focused, Enter opens the room and its messages.
    page.eval(
        "[...document.querySelectorAll('#rooms .room-link')].find((b) => b.textContent === 'den').focus(); true",
    )
    .await
    .unwrap();
    let focused = page
        .eval("document.activeElement.textContent")
        .await
        .unwrap();
    assert_eq!(focused, "den");
    page.press("Enter").await;
    page.wait_until("den is open", ROOM_NAME, |v| v == "den")
        .await;
    page.wait_until("den's message shows", MESSAGES, |m| {
        !with_text(m, "in the <den>").is_empty()
    })
    .await;
    // Tab moves on from the first room link to the second, in the list's order.
    let links = page
        .eval("[...document.querySelectorAll('#rooms .room-link')].map((b) => b.textContent)")
        .await
        .unwrap();
    assert_eq!(links.as_array().unwrap().len(), 2, "{links}");
    page.eval("document.querySelector('#rooms .room-link').focus(); true")
        .await
        .unwrap();
    page.press("Tab").await;
    let next = page
        .eval("document.activeElement.textContent")
        .await
        .unwrap();
    assert_eq!(next, links[1], "Tab goes to the next room link");

    // A skill added from the page: published with the card's methods and description kept.
    page.click_named("link", "Agents").await;
    page.wait_until("the Agents view", VIEW, shows("agents"))
        .await;
    page.click_named("button", "helper").await;
    page.wait_until("helper's card", DETAIL_LINES, |d| {
        d["shown"].as_str().is_some_and(|t| t.contains("Helps"))
    })
    .await;
    page.fill("Skill id", "find").await;
    page.fill("Skill name", "Find <things>").await;
    page.click_named("button", "Add skill").await;
    page.wait_until("the skill is added", DETAIL_LINES, |d| {
        d["card"] == "Added skill find to the card of helper."
            && d["shown"]
                .as_str()
                .is_some_and(|t| t.contains("Find <things>"))
    })
    .await;
    let card = card_of(&app, "helper", &helper).await;
    assert_eq!(card["skills"][0]["id"], "find", "{card}");
    assert_eq!(card["skills"][0]["name"], "Find <things>", "{card}");
    assert_eq!(card["skills"].as_array().unwrap().len(), 1, "{card}");
    assert_eq!(card["methods"], json!(["echo"]), "{card}");
    assert_eq!(card["description"], "Helps", "{card}");
    assert!(page.unnamed_controls().await.is_empty());

    // A bad skill id: the hub's 400 message shows.
    page.fill("Skill id", "x".repeat(65).as_str()).await;
    page.fill("Skill name", "Too long").await;
    page.click_named("button", "Add skill").await;
    let shown = page
        .wait_until("the error shows", DETAIL_LINES, |d| d["cardBad"] == true)
        .await;
    assert!(
        shown["card"]
            .as_str()
            .is_some_and(|s| s.starts_with("Not published:") && s.contains("64 characters")),
        "{shown}"
    );

    // Removed again.
    page.click_named("button", "Remove skill find").await;
    page.wait_until("the skill is removed", DETAIL_LINES, |d| {
        d["card"] == "Removed skill find from the card of helper."
    })
    .await;
    let card = card_of(&app, "helper", &helper).await;
    assert_eq!(card["skills"], json!([]), "{card}");
    assert_eq!(card["methods"], json!(["echo"]), "{card}");

    // Online only: the agent with a live socket is listed, the offline one is not.
    page.wait_until("every agent listed", AGENT_ROWS, |v| {
        v.as_array().is_some_and(|r| r.len() >= 4)
    })
    .await;
    page.click_named("checkbox", "Online only").await;
    page.click_named("button", "Filter").await;
    let rows = page
        .wait_until("only online agents", AGENT_ROWS, |v| {
            v.as_array()
                .is_some_and(|r| r.contains(&json!("livewire")) && !r.contains(&json!("idler")))
        })
        .await;
    assert!(
        !rows.as_array().unwrap().contains(&json!("helper")),
        "{rows}"
    );

    // By method (online no longer asked): only the agent whose card lists it.
    page.click_named("checkbox", "Online only").await;
    page.fill("Method", "echo").await;
    page.click_named("button", "Filter").await;
    page.wait_until("only helper", AGENT_ROWS, |v| v == &json!(["helper"]))
        .await;
    let status = page
        .eval("document.getElementById('agent-filter-status').textContent")
        .await
        .unwrap();
    assert_eq!(status, "1 agent matches the filter.");
    assert!(page.unnamed_controls().await.is_empty());

    live.close().await;
    page.close().await;
    app.stop().await;
}
