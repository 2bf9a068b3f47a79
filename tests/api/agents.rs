//! `/me` and `/agents`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

async fn me_answers_the_calling_agent(app: TestApp) {
    let res = app.get("/api/v1/me", &app.admin_key).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["name"], "admin");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["disabled"], false);
}

crate::on_both_backends!(me_answers_the_calling_agent);
