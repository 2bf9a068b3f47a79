//! `POST /rooms/{name}/messages` (SPEC §3, §6): the stored message, seq per room, idempotent
//! `client_id`, who may post where, markup kept verbatim, and seq under concurrent writers.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

async fn posting_answers_201_with_the_message(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "general").await;
    let me = me(&app, &alice).await;

    let body =
        json!({"body": "hello", "client_id": "c-1", "metadata": {"k": 1, "nested": {"a": [1, 2]}}});
    let res = post_to(&app, &alice, "general", body).await;
    let m = expect_json(res, StatusCode::CREATED).await;
    assert_stored_message(&m);
    assert_eq!(m["room"], "general");
    assert_eq!(m["seq"], 1);
    assert_eq!(m["body"], "hello");
    assert_eq!(m["client_id"], "c-1");
    assert_eq!(m["metadata"], json!({"k": 1, "nested": {"a": [1, 2]}}));
    assert_eq!(m["sender"]["id"], me["id"]);
    assert_eq!(m["sender"]["name"], "alice");
    assert_eq!(m["sender"]["display_name"], me["display_name"]);

    // Without client_id or metadata, both are null.
    let res = post_to(&app, &alice, "general", json!({"body": "plain"})).await;
    let m2 = expect_json(res, StatusCode::CREATED).await;
    assert_stored_message(&m2);
    assert!(m2["client_id"].is_null());
    assert!(m2["metadata"].is_null());
    assert_eq!(m2["seq"], 2);
    assert_ne!(m2["id"], m["id"]);

    // Explicit null metadata is null too.
    let body = json!({"body": "x", "metadata": null});
    let res = post_to(&app, &alice, "general", body).await;
    assert!(expect_json(res, StatusCode::CREATED).await["metadata"].is_null());

    // History returns the stored message unchanged.
    let history = all_messages(&app, "general").await;
    assert_eq!(history.len(), 3);
    assert_eq!(history[0], m);
    assert_eq!(history[1], m2);
    assert_eq!(last_seq(&app, "general").await, 3);
}

async fn seq_starts_at_1_and_counts_per_room(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    app.create_room(&alice, "one").await;
    app.create_room(&alice, "two").await;

    let mut got = Vec::new();
    for (key, room) in [
        (&alice, "one"),
        (&bob, "two"),
        (&bob, "one"),
        (&alice, "one"),
        (&alice, "two"),
    ] {
        let m = app.post_message(key, room, "hi").await;
        got.push((room, m["seq"].as_i64().unwrap(), m["id"].as_i64().unwrap()));
    }
    let seqs: Vec<(&str, i64)> = got.iter().map(|(r, s, _)| (*r, *s)).collect();
    assert_eq!(
        seqs,
        [("one", 1), ("two", 1), ("one", 2), ("one", 3), ("two", 2)]
    );
    // Ids are global and distinct.
    let ids: BTreeSet<i64> = got.iter().map(|(_, _, id)| *id).collect();
    assert_eq!(ids.len(), 5);
    assert_eq!(last_seq(&app, "one").await, 3);
    assert_eq!(last_seq(&app, "two").await, 2);
}

async fn a_repeated_client_id_answers_200_with_the_stored_message(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "general").await;

    let body = json!({"body": "first", "client_id": "once", "metadata": {"v": 1}});
    let res = post_to(&app, &alice, "general", body).await;
    let first = expect_json(res, StatusCode::CREATED).await;

    let body = json!({"body": "second", "client_id": "once", "metadata": {"v": 2}});
    let res = post_to(&app, &alice, "general", body).await;
    let again = expect_json(res, StatusCode::OK).await;
    assert_stored_message(&again);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["seq"], first["seq"]);
    assert_eq!(again["body"], "first");
    assert_eq!(again["metadata"], json!({"v": 1}));
    assert_eq!(again, first);

    // No new row, no seq consumed.
    assert_eq!(last_seq(&app, "general").await, 1);
    let history = all_messages(&app, "general").await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["body"], "first");

    // The next new message takes seq 2: nothing was skipped.
    assert_eq!(app.post_message(&alice, "general", "next").await["seq"], 2);
}

async fn a_client_id_is_unique_per_sender(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    app.create_room(&alice, "general").await;
    let body = json!({"body": "a", "client_id": "same"});
    let res = post_to(&app, &alice, "general", body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Another sender may use the same client_id.
    let body = json!({"body": "b", "client_id": "same"});
    let res = post_to(&app, &bob, "general", body).await;
    let m = expect_json(res, StatusCode::CREATED).await;
    assert_eq!(m["seq"], 2);
    assert_eq!(m["sender"]["name"], "bob");
    assert_eq!(all_messages(&app, "general").await.len(), 2);
}

async fn a_client_id_reused_in_another_room_is_a_conflict(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "one").await;
    app.create_room(&alice, "two").await;
    let res = post_to(&app, &alice, "one", json!({"body": "a", "client_id": "k"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = post_to(&app, &alice, "two", json!({"body": "a", "client_id": "k"})).await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(last_seq(&app, "two").await, 0);
    assert!(all_messages(&app, "two").await.is_empty());
    // Room two still works, and seq starts at 1 there.
    assert_eq!(app.post_message(&alice, "two", "b").await["seq"], 1);
}

async fn observers_may_read_but_not_post(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let olga = app.create_agent("olga", "observer").await;
    app.create_room(&alice, "general").await;
    app.post_message(&alice, "general", "hello").await;
    let res = post_to(&app, &olga, "general", json!({"body": "me too"})).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let (seqs, has_more) = history_page(&app, &olga, "general", "").await;
    assert_eq!(seqs, [1]);
    assert!(!has_more);
    assert_eq!(last_seq(&app, "general").await, 1);
}

async fn archived_rooms_refuse_posts_but_keep_their_history(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    app.create_room(&alice, "general").await;
    app.post_message(&alice, "general", "before").await;
    let res = app
        .patch("/api/v1/rooms/general", &alice, json!({"archived": true}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let after = || json!({"body": "after"});
    let path = "/api/v1/rooms/general/messages";
    expect_refusals(
        &app,
        StatusCode::FORBIDDEN,
        [
            Call::post(path, &alice, after()),
            Call::post(path, &bob, after()),
            Call::post(path, &app.admin_key, after()),
        ],
    )
    .await;
    let (seqs, _) = history_page(&app, &bob, "general", "").await;
    assert_eq!(seqs, [1]);
    let history = all_messages(&app, "general").await;
    assert_eq!(history[0]["body"], "before");
    assert_eq!(last_seq(&app, "general").await, 1);
}

async fn private_rooms_are_not_found_for_non_members(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    let olga = app.create_agent("olga", "observer").await;
    app.create_private_room(&alice, "secret").await;
    app.post_message(&alice, "secret", "hush").await;

    let path = "/api/v1/rooms/secret/messages";
    let body = || json!({"body": "let me in"});
    expect_refusals(
        &app,
        StatusCode::NOT_FOUND,
        [
            Call::post(path, &bob, body()),
            Call::get(path, &bob),
            Call::post(path, &olga, body()),
            Call::get(path, &olga),
        ],
    )
    .await;
    // Admins read and post.
    assert_eq!(
        history_page(&app, &app.admin_key, "secret", "").await.0,
        [1]
    );
    assert_eq!(
        app.post_message(&app.admin_key, "secret", "admin here")
            .await["seq"],
        2
    );
    assert_eq!(last_seq(&app, "secret").await, 2);
}

async fn a_missing_room_is_not_found(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    expect_refusals(
        &app,
        StatusCode::NOT_FOUND,
        [
            Call::post(
                "/api/v1/rooms/nowhere/messages",
                &alice,
                json!({"body": "hi"}),
            ),
            Call::get("/api/v1/rooms/nowhere/messages", &alice),
            // Posting does not create rooms.
            Call::get("/api/v1/rooms/nowhere", &alice),
        ],
    )
    .await;
}

async fn markup_is_stored_and_returned_verbatim(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "general").await;
    let bodies = [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "&lt;already&gt; &amp; \"quoted\" 'single'",
        "line1\nline2\r\n\ttab",
        "🦀 ünïcödé \u{202e}rtl",
    ];
    for body in bodies {
        let res = post_to(&app, &alice, "general", json!({"body": body})).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "content-type {content_type}"
        );
        assert_eq!(json_of(res).await["body"], body);
    }
    let res = app.get("/api/v1/rooms/general/messages", &alice).await;
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"));
    let history = json_of(res).await;
    let got: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(got, bodies);
}

async fn concurrent_posts_get_gap_free_seqs(app: TestApp) {
    const WRITERS: usize = 8;
    const EACH: usize = 10;
    app.create_room(&app.admin_key, "busy").await;
    let mut keys = Vec::new();
    for i in 0..WRITERS {
        keys.push(app.create_agent(&format!("writer-{i}"), "agent").await);
    }
    let url = app.url("/api/v1/rooms/busy/messages");
    let tasks: Vec<_> = keys
        .into_iter()
        .enumerate()
        .map(|(w, key)| {
            let http = app.http.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..EACH {
                    let res = http
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&json!({"body": format!("w{w} m{i}")}))
                        .send()
                        .await
                        .expect("request sent");
                    let status = res.status();
                    let body: Value = res.json().await.expect("a JSON body");
                    assert_eq!(status, StatusCode::CREATED, "writer {w} post {i}: {body}");
                    seqs.push(body["seq"].as_i64().unwrap());
                }
                seqs
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await.expect("writer finished");
        // One writer's sequential posts get increasing seqs.
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seqs {seqs:?}");
        all.extend(seqs);
    }
    all.sort();
    let total = (WRITERS * EACH) as i64;
    assert_eq!(all, (1..=total).collect::<Vec<i64>>());
    assert_eq!(last_seq(&app, "busy").await, total);
    // History agrees, and each body is stored once.
    let history = all_messages(&app, "busy").await;
    assert_eq!(seqs(&history), (1..=total).collect::<Vec<i64>>());
    let bodies: BTreeSet<&str> = history
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), WRITERS * EACH);
}

async fn concurrent_posts_with_one_client_id_store_one_message(app: TestApp) {
    const POSTS: usize = 8;
    let alice = agent_with_room(&app, "alice", "general").await;
    let url = app.url("/api/v1/rooms/general/messages");
    let tasks: Vec<_> = (0..POSTS)
        .map(|i| {
            let http = app.http.clone();
            let url = url.clone();
            let key = alice.clone();
            tokio::spawn(async move {
                let res = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&json!({"body": format!("attempt {i}"), "client_id": "the-one"}))
                    .send()
                    .await
                    .expect("request sent");
                let status = res.status();
                let body: Value = res.json().await.expect("a JSON body");
                (status, body)
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("task finished"));
    }
    let created: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created.len(), 1, "exactly one 201: {results:?}");
    let stored = created[0];
    for (status, body) in &results {
        assert!(
            *status == StatusCode::CREATED || *status == StatusCode::OK,
            "status {status}: {body}"
        );
        assert_eq!(body["id"], stored["id"]);
        assert_eq!(body["seq"], 1);
        assert_eq!(body["body"], stored["body"]);
    }
    assert_eq!(last_seq(&app, "general").await, 1);
    assert_eq!(all_messages(&app, "general").await.len(), 1);
}

crate::on_both_backends!(
    posting_answers_201_with_the_message,
    seq_starts_at_1_and_counts_per_room,
    a_repeated_client_id_answers_200_with_the_stored_message,
    a_client_id_is_unique_per_sender,
    a_client_id_reused_in_another_room_is_a_conflict,
    observers_may_read_but_not_post,
    archived_rooms_refuse_posts_but_keep_their_history,
    private_rooms_are_not_found_for_non_members,
    a_missing_room_is_not_found,
    markup_is_stored_and_returned_verbatim,
    concurrent_posts_get_gap_free_seqs,
    concurrent_posts_with_one_client_id_store_one_message,
);
