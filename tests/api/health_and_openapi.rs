//! The service endpoints (SPEC §6, §9): `/healthz`, `/readyz` with its checks, and the
//! OpenAPI document describing every REST route and declaring every path parameter.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

async fn healthz_answers_ok(app: TestApp) {
    assert_eq!(
        app.probe("/healthz").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
}

async fn readyz_answers_ready_with_its_checks(app: TestApp) {
    assert_eq!(
        app.probe("/readyz").await,
        (
            StatusCode::OK,
            json!({"status": "ready", "checks": {"database": "ok", "redis": "disabled"}})
        )
    );
}

/// Every REST route of SPEC §6 with its methods.
const ROUTES: [(&str, &[&str]); 12] = [
    ("/api/v1/auth/token", &["post"]),
    ("/api/v1/me", &["get"]),
    ("/api/v1/agents", &["get", "post"]),
    ("/api/v1/agents/{name}", &["get", "patch"]),
    ("/api/v1/agents/{name}/tokens", &["get", "post"]),
    ("/api/v1/tokens/{id}", &["delete"]),
    ("/api/v1/rooms", &["get", "post"]),
    ("/api/v1/rooms/{name}", &["get", "patch"]),
    ("/api/v1/rooms/{name}/members/{agent}", &["put", "delete"]),
    ("/api/v1/rooms/{name}/messages", &["get", "post"]),
    ("/api/v1/rooms/{name}/presence", &["get"]),
    ("/api/v1/audit", &["get"]),
];

async fn openapi_document(app: &TestApp) -> Value {
    let (status, doc) = app.probe("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    doc
}

async fn openapi_describes_every_rest_route(app: TestApp) {
    let doc = openapi_document(&app).await;
    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3.1"), "openapi {version}");
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    for (path, methods) in ROUTES {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} in paths: {:?}", paths.keys()));
        for method in methods {
            assert!(
                item.get(*method).is_some_and(Value::is_object),
                "{method} {path}"
            );
        }
    }
}

async fn openapi_declares_every_path_parameter(app: TestApp) {
    let doc = openapi_document(&app).await;
    let paths = doc["paths"].as_object().expect("paths");
    let mut missing = Vec::new();
    for (path, item) in paths {
        let templated: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let declared_on = |params: &Value, name: &str| {
            params.as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["in"] == "path" && p["name"] == name && p["required"] == true)
            })
        };
        for (method, op) in item.as_object().unwrap() {
            if !op.is_object() || method == "parameters" {
                continue;
            }
            for name in &templated {
                if !declared_on(&op["parameters"], name) && !declared_on(&item["parameters"], name)
                {
                    missing.push(format!("{method} {path}: {{{name}}}"));
                }
            }
        }
    }
    // OpenAPI: each template expression in a path must be a declared, required path parameter.
    assert!(
        missing.is_empty(),
        "undeclared path parameters: {missing:#?}"
    );
}

crate::on_both_backends!(
    healthz_answers_ok,
    readyz_answers_ready_with_its_checks,
    openapi_describes_every_rest_route,
    openapi_declares_every_path_parameter,
);
