//! Traces (SPEC §9): the binary, pointed at an OTLP/HTTP receiver started by the test, exports
//! a server span per HTTP request (continuing an incoming `traceparent`), a span per Socket.IO
//! event named after it with room and agent attributes, and database child spans.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::processes::{BIN, KillOnDrop, free_port, read_banner_key};
use crate::support::{Api, Sio};

/// An OTLP/HTTP (protobuf) trace receiver on a free port.
async fn receiver() -> (String, Arc<Mutex<Vec<Span>>>) {
    let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
    let sink = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                let request =
                    ExportTraceServiceRequest::decode(body).expect("a valid OTLP payload");
                let mut spans = sink.lock().unwrap();
                for resource in request.resource_spans {
                    let service = resource
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|kv| kv.key == "service.name")
                        .and_then(|kv| kv.value.as_ref()?.value.clone());
                    assert_eq!(service, Some(AnyValue::StringValue("agenthub-test".into())));
                    for scope in resource.scope_spans {
                        spans.extend(scope.spans);
                    }
                }
                ExportTraceServiceResponse::default().encode_to_vec()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), spans)
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => Some(s.clone()),
            AnyValue::IntValue(i) => Some(i.to_string()),
            other => Some(format!("{other:?}")),
        })
}

async fn wait_for(spans: &Arc<Mutex<Vec<Span>>>, what: &str, pred: impl Fn(&Span) -> bool) -> Span {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(s) = spans.lock().unwrap().iter().find(|s| pred(s)) {
            return s.clone();
        }
        let names: Vec<String> = spans
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.name.clone())
            .collect();
        assert!(Instant::now() < deadline, "no {what} span; got {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_receiver_with_names_attributes_and_parents() {
    let (endpoint, spans) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_SERVICE_NAME", "agenthub-test")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = KillOnDrop(child);
    let key = read_banner_key(stdout).await;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    // An HTTP request that continues a caller's trace.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let res = http
        .get(format!("{base}/api/v1/rooms/lobby/messages"))
        .bearer_auth(&key)
        .header("traceparent", format!("00-{trace_id}-{parent_id}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Socket.IO events.
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let socket = Sio::connect(addr, &key).await;
    assert_eq!(
        socket.emit("room:join", json!({"room": "lobby"})).await["ok"],
        true
    );
    assert_eq!(
        socket
            .send_message(json!({"room": "lobby", "body": "traced"}))
            .await["ok"],
        true
    );

    let server_span = wait_for(&spans, "HTTP server", |s| {
        s.name == "GET /api/v1/rooms/{name}/messages"
    })
    .await;
    assert_eq!(
        hex::encode(&server_span.trace_id),
        trace_id,
        "the incoming trace continues"
    );
    assert_eq!(hex::encode(&server_span.parent_span_id), parent_id);
    assert_eq!(server_span.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(
        attr(&server_span, "http.route").as_deref(),
        Some("/api/v1/rooms/{name}/messages")
    );
    assert_eq!(
        attr(&server_span, "http.response.status_code").as_deref(),
        Some("404")
    );

    let send = wait_for(&spans, "message:send", |s| s.name == "message:send").await;
    assert_eq!(attr(&send, "room").as_deref(), Some("lobby"));
    assert_eq!(attr(&send, "agent").as_deref(), Some("admin"));
    let join = wait_for(&spans, "room:join", |s| s.name == "room:join").await;
    assert_eq!(attr(&join, "room").as_deref(), Some("lobby"));

    // Database work is a child of the event that caused it.
    let child = wait_for(&spans, "database child of message:send", |s| {
        s.parent_span_id == send.span_id && s.trace_id == send.trace_id
    })
    .await;
    assert_ne!(child.name, "message:send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grpc_protocol_is_accepted_and_no_endpoint_means_no_exporter() {
    for env in [
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ],
        vec![],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(BIN)
            .current_dir(dir.path())
            .env_clear()
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("RUST_LOG", "error")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let _server = KillOnDrop(child);
        let what = format!("server with {env:?} did not come up");
        let api = Api::new(format!("http://127.0.0.1:{port}"));
        api.wait_for_ok("/healthz", Duration::from_secs(30), &what)
            .await;
    }
    // An unknown protocol is a configuration error (exit code 2).
    let out = Command::new(BIN)
        .env_clear()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OTEL_EXPORTER_OTLP_PROTOCOL"));
}
