//! The browser dashboard at `GET /` (SPEC §6): served from the binary, and written so that it
//! runs under `Content-Security-Policy: default-src 'self'` (SPEC §7) — no inline script,
//! style or event handler — and renders hub text as text.

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::{Backend, TestApp, spawn_app};

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
