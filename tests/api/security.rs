//! Origins and handshakes (SPEC §7): CORS for REST, the Origin check on both Socket.IO
//! transports, and security headers on Socket.IO responses.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::sio::refusal;
use crate::support::*;

const EVIL: &str = "http://evil.com";
const FRIEND: &str = "https://app.example.com";

async fn app_allowing_friend() -> TestApp {
    spawn_app_with(Backend::Sqlite, |s| s.allowed_origins = FRIEND.into()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_preflight_from_an_unlisted_origin_gets_no_cors_headers() {
    let app = app_allowing_friend().await;
    let preflight = |origin: &str| {
        app.http
            .request(Method::OPTIONS, app.url("/api/v1/rooms"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let evil = preflight(EVIL).await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    let friend = preflight(FRIEND).await.unwrap();
    assert_eq!(friend.headers()["access-control-allow-origin"], FRIEND);
    // A plain cross-origin GET from evil.com is answered, but without CORS headers the browser
    // keeps the response from the page.
    let res = app
        .http
        .get(app.url("/api/v1/me"))
        .header("origin", EVIL)
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_origin_is_allowed_without_configuration() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let same = format!("http://{}", app.addr);
    let res = polling_handshake(&app)
        .header("origin", &same)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .http
        .get(app.url("/api/v1/me"))
        .header("origin", &same)
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], same.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_polling_from_an_unlisted_origin_is_refused_with_403() {
    let app = app_allowing_friend().await;
    let res = polling_handshake(&app)
        .header("origin", EVIL)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = polling_handshake(&app)
        .header("origin", FRIEND)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    // Agents send no Origin at all.
    let res = polling_handshake(&app).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_upgrade_from_an_unlisted_origin_is_refused_with_403() {
    let app = app_allowing_friend().await;
    let auth = Some(json!({"token": app.admin_key}));
    assert_eq!(
        refusal(app.addr, auth.clone(), &[("origin", EVIL)]).await,
        Refused::Http(403),
        "a WebSocket from evil.com"
    );
    assert!(
        Sio::connect_with(app.addr, auth, &[("origin", FRIEND)])
            .await
            .is_ok()
    );
}
