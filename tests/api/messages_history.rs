//! `GET /rooms/{name}/messages` (SPEC §6): history pages with `before`, `after` and `limit`
//! in both directions, their defaults and refusals, and `dm:` rooms before anyone opened them.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

fn r(seqs: std::ops::RangeInclusive<i64>) -> Vec<i64> {
    seqs.collect()
}

async fn history_pages_in_both_directions(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "general").await;
    for i in 1..=10 {
        app.post_message(&alice, "general", &format!("m{i}")).await;
    }

    // (query, seqs, has_more)
    let cases: [(&str, Vec<i64>, bool); 14] = [
        // No cursor: the newest `limit`, ascending.
        ("?limit=3", r(8..=10), true),
        ("?limit=10", r(1..=10), false),
        ("?limit=100", r(1..=10), false),
        ("", r(1..=10), false),
        // before: the newest `limit` with seq < before.
        ("?before=8&limit=3", r(5..=7), true),
        ("?before=4&limit=3", r(1..=3), false),
        ("?before=4&limit=2", r(2..=3), true),
        ("?before=1", vec![], false),
        ("?before=1000", r(1..=10), false),
        // after: the oldest `limit` with seq > after.
        ("?after=0&limit=3", r(1..=3), true),
        ("?after=6&limit=3", r(7..=9), true),
        ("?after=7&limit=3", r(8..=10), false),
        ("?after=10", vec![], false),
        ("?after=0", r(1..=10), false),
    ];
    for (query, seqs, has_more) in cases {
        assert_eq!(
            history_page(&app, &alice, "general", query).await,
            (seqs, has_more),
            "{query}"
        );
    }

    // Walking backwards from the newest page visits everything once.
    let mut seen = Vec::new();
    let (mut seqs, mut more) = history_page(&app, &alice, "general", "?limit=4").await;
    loop {
        seen.splice(0..0, seqs.iter().copied());
        if !more {
            break;
        }
        let query = format!("?limit=4&before={}", seqs[0]);
        (seqs, more) = history_page(&app, &alice, "general", &query).await;
    }
    assert_eq!(seen, r(1..=10));

    // Bodies come with their seqs.
    let page = history(&app, &alice, "general", "?after=4&limit=1").await;
    assert_eq!(page[0]["body"], "m5");
    assert_stored_message(&page[0]);
}

async fn history_defaults_to_the_newest_50(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "general").await;
    for i in 1..=55 {
        app.post_message(&alice, "general", &format!("m{i}")).await;
    }
    let (seqs, has_more) = history_page(&app, &alice, "general", "").await;
    assert_eq!(seqs, r(6..=55));
    assert!(has_more);
    let (seqs, has_more) = history_page(&app, &alice, "general", "?after=0").await;
    assert_eq!(seqs, r(1..=50));
    assert!(has_more);
}

async fn an_empty_room_has_an_empty_history(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "general").await;
    for query in ["", "?limit=1", "?before=5", "?after=0"] {
        let res = app
            .get(&format!("/api/v1/rooms/general/messages{query}"), &alice)
            .await;
        assert_eq!(
            expect_json(res, StatusCode::OK).await,
            json!({"messages": [], "has_more": false}),
            "query {query:?}"
        );
    }
}

async fn bad_history_queries_answer_400(app: TestApp) {
    let alice = agent_with_room(&app, "alice", "general").await;
    app.post_message(&alice, "general", "hi").await;
    let queries = [
        "before=5&after=1",
        "before=1&after=1",
        "limit=0",
        "limit=101",
        "limit=-5",
        "limit=abc",
        "before=abc",
        "after=1.5",
        "after=x",
    ];
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        queries.map(|q| Call::get(format!("/api/v1/rooms/general/messages?{q}"), &alice)),
    )
    .await;
    for query in [
        "limit=1",
        "limit=100",
        "before=2&limit=1",
        "after=0&limit=100",
    ] {
        let res = app
            .get(&format!("/api/v1/rooms/general/messages?{query}"), &alice)
            .await;
        assert_eq!(res.status(), StatusCode::OK, "query {query}");
    }
}

async fn dm_rooms_do_not_exist_until_opened(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    let mut calls = Vec::new();
    for key in [&alice, &bob, &app.admin_key] {
        calls.push(Call::get("/api/v1/rooms/dm:alice:bob", key));
        calls.push(Call::get("/api/v1/rooms/dm:alice:bob/messages", key));
    }
    // Nor does any other pair's.
    calls.push(Call::get("/api/v1/rooms/dm:admin:alice", &alice));
    expect_refusals(&app, StatusCode::NOT_FOUND, calls).await;
}

crate::on_both_backends!(
    history_pages_in_both_directions,
    history_defaults_to_the_newest_50,
    an_empty_room_has_an_empty_history,
    bad_history_queries_answer_400,
    dm_rooms_do_not_exist_until_opened,
);
