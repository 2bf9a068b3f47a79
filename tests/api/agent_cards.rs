//! Agent cards (SPEC §12): `PUT`/`GET /agents/{name}/card` — who may publish, what a card may
//! hold, that publishing replaces the whole card, the 16 KiB limit — and the discovery filters
//! of `GET /agents?skill=&method=&online=`, paged like every list (SPEC §6).

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::*;

/// The fields of a `card`.
const CARD_FIELDS: [&str; 6] = [
    "agent",
    "description",
    "version",
    "skills",
    "methods",
    "updated_at",
];

/// The documented limit of a card serialized.
const MAX_CARD_BYTES: usize = 16 * 1024;

fn card_path(name: &str) -> String {
    format!("/api/v1/agents/{name}/card")
}

/// `PUT /agents/{name}/card` with `body` as `key`.
async fn put_card(app: &TestApp, key: &str, name: &str, body: Value) -> Response {
    app.request(Method::PUT, &card_path(name), Some(key))
        .json(&body)
        .send()
        .await
        .expect("request sent")
}

/// Publishes `body` as agent `name`'s card as `key`, asserting 200 and the card shape: the card.
async fn publish(app: &TestApp, key: &str, name: &str, body: Value) -> Value {
    let res = put_card(app, key, name, body.clone()).await;
    assert_eq!(res.status(), StatusCode::OK, "publishing {body}");
    let card = json_of(res).await;
    assert_card(&card, name);
    card
}

/// `GET /agents/{name}/card` as `key`, asserting 200 and the card shape.
async fn card_of(app: &TestApp, key: &str, name: &str) -> Value {
    let card = expect_json(app.get(&card_path(name), key).await, StatusCode::OK).await;
    assert_card(&card, name);
    card
}

/// The `card` shape of agent `name`, published by this test.
#[track_caller]
fn assert_card(card: &Value, name: &str) {
    assert_eq!(keys(card), key_set(&CARD_FIELDS), "card: {card}");
    assert_ref(&card["agent"], name);
    assert!(
        card["description"].is_string() || card["description"].is_null(),
        "card: {card}"
    );
    assert!(
        card["version"].is_string() || card["version"].is_null(),
        "card: {card}"
    );
    assert!(card["skills"].is_array(), "card: {card}");
    assert!(card["methods"].is_array(), "card: {card}");
    assert_recent_timestamp(&card["updated_at"]);
}

/// A card with these skills and methods and nothing else.
fn card(skills: Value, methods: Value) -> Value {
    json!({"skills": skills, "methods": methods})
}

/// A card with skills of these ids (named after them) and these methods.
fn card_with(skill_ids: &[&str], methods: &[&str]) -> Value {
    let skills: Vec<Value> = skill_ids
        .iter()
        .map(|id| json!({"id": id, "name": format!("skill {id}")}))
        .collect();
    card(json!(skills), json!(methods))
}

/// `GET /agents{query}` as `key` with `limit`, following `next_cursor` to the end: the names of
/// each page. Each listed agent has the agent shape with `online`, no page is longer than
/// `limit`, and only a full page has a next page.
async fn pages(app: &TestApp, key: &str, query: &str, limit: usize) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/agents?limit={limit}{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = expect_json(app.get(&path, key).await, StatusCode::OK).await;
        assert_eq!(keys(&page), key_set(&["agents", "next_cursor"]), "{page}");
        let agents = page["agents"].as_array().expect("agents is an array");
        assert!(agents.len() <= limit, "GET {path}: {page}");
        for a in agents {
            assert_agent(a, &["online"]);
            assert!(a["online"].is_boolean(), "{a}");
        }
        pages.push(
            agents
                .iter()
                .map(|a| a["name"].as_str().unwrap().to_owned())
                .collect(),
        );
        assert!(pages.len() <= 50, "paging GET /agents?{query} does not end");
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(
                    agents.len(),
                    limit,
                    "only a full page has a next page: {page}"
                );
                cursor = Some(c.to_owned());
            }
            None => {
                assert!(page["next_cursor"].is_null(), "{page}");
                return pages;
            }
        }
    }
}

/// Every agent `GET /agents{query}` lists for `key`, by name.
async fn listed(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    pages(app, key, query, 100).await.concat()
}

/// The agents of one page of `GET /agents{query}` as `key`, asserting 200.
async fn listed_agents(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let path = format!("/api/v1/agents?limit=100{query}");
    let page = expect_json(app.get(&path, key).await, StatusCode::OK).await;
    assert!(page["next_cursor"].is_null(), "{page}");
    page["agents"].as_array().unwrap().clone()
}

/// Polls `check` every 50 ms until it holds; false after `within`.
async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// --- PUT / GET /agents/{name}/card -------------------------------------------------------

async fn an_agent_publishes_its_card_and_every_caller_reads_it_back(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    let olga = app.create_agent("olga", "observer").await;
    let body = json!({
        "description": "Searches the web and summarizes what it finds.",
        "version": "1.2.0",
        "skills": [
            {
                "id": "web-search",
                "name": "Web search",
                "description": "Finds pages about a topic.",
                "tags": ["search", "web"]
            },
            {"id": "summarize", "name": "Summarize"}
        ],
        "methods": ["web.search", "text:summarize", "ping"]
    });
    let published = publish(&app, &alice, "alice", body.clone()).await;
    for field in ["description", "version", "skills", "methods"] {
        assert_eq!(published[field], body[field], "{field} as published");
    }
    let agent = get_agent(&app, "alice").await;
    assert_eq!(published["agent"]["id"], agent["id"]);
    assert_eq!(published["agent"]["display_name"], agent["display_name"]);

    // Any authenticated caller reads it: the agent itself, another agent, an observer, the
    // admin, and with a JWT as well as an API key.
    let jwt = app.jwt(&bob).await;
    for credential in [&alice, &bob, &olga, &app.admin_key, &jwt] {
        assert_eq!(card_of(&app, credential, "alice").await, published);
    }
    expect_unauthenticated(&app, Method::GET, "/api/v1/agents/alice/card", None).await;
    expect_unauthenticated(&app, Method::PUT, "/api/v1/agents/alice/card", Some(body)).await;
}

async fn a_card_without_description_or_version_answers_them_as_null(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let published = publish(&app, &alice, "alice", card(json!([]), json!([]))).await;
    assert_eq!(published["description"], Value::Null, "{published}");
    assert_eq!(published["version"], Value::Null, "{published}");
    assert_eq!(published["skills"], json!([]));
    assert_eq!(published["methods"], json!([]));
    assert_eq!(card_of(&app, &alice, "alice").await, published);
}

async fn the_card_names_the_agent_as_it_is_now(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    publish(&app, &alice, "alice", card_with(&["s"], &["m"])).await;
    let res = app
        .patch(
            "/api/v1/agents/alice",
            &app.admin_key,
            json!({"display_name": "Alice the Searcher"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let card = card_of(&app, &alice, "alice").await;
    assert_eq!(
        card["agent"]["display_name"], "Alice the Searcher",
        "{card}"
    );
}

async fn an_admin_may_publish_any_card_but_another_agent_may_not(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    let olga = app.create_agent("olga", "observer").await;

    let by_admin = publish(
        &app,
        &app.admin_key,
        "alice",
        card_with(&["set-by-admin"], &["admin.made"]),
    )
    .await;
    assert_eq!(card_of(&app, &bob, "alice").await, by_admin);

    // Neither another agent nor an observer may publish alice's card; it stays as it was.
    for key in [&bob, &olga, &app.jwt(&bob).await] {
        let res = put_card(&app, key, "alice", card_with(&["hijacked"], &["evil"])).await;
        expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_eq!(card_of(&app, &alice, "alice").await, by_admin);
    assert!(listed(&app, &alice, "&skill=hijacked").await.is_empty());
    assert!(listed(&app, &alice, "&method=evil").await.is_empty());

    // Bob still has no card of his own.
    let res = app.get(&card_path("bob"), &alice).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // The agent itself may, with its JWT as well as its API key.
    let jwt = app.jwt(&alice).await;
    let by_self = publish(&app, &jwt, "alice", card_with(&["own"], &["own.method"])).await;
    assert_eq!(by_self["skills"][0]["id"], "own");
    assert_eq!(card_of(&app, &olga, "alice").await, by_self);
}

async fn cards_of_unknown_agents_and_of_agents_without_one_are_not_found(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    let olga = app.create_agent("olga", "observer").await;
    for key in [&alice, &bob, &olga, &app.admin_key] {
        for name in ["alice", "ghost"] {
            let res = app.get(&card_path(name), key).await;
            expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
    for key in [&app.admin_key, &bob] {
        let res = put_card(&app, key, "ghost", card_with(&["s"], &["m"])).await;
        expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    // A name that cannot be an agent's is a bad request, as on every agent route.
    let bad = ["Alice", "BAD%20NAME", "-x", "%C3%A9"];
    let mut calls: Vec<Call> = bad
        .iter()
        .map(|name| Call::get(card_path(name), &app.admin_key))
        .collect();
    calls.extend(bad.iter().map(|name| {
        Call::new(Method::PUT, card_path(name), Some(&app.admin_key)).with_body(card_with(&[], &[]))
    }));
    expect_refusals(&app, StatusCode::BAD_REQUEST, calls).await;
}

async fn publishing_again_replaces_the_whole_card(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    let first = publish(
        &app,
        &alice,
        "alice",
        json!({
            "description": "first",
            "version": "1",
            "skills": [
                {"id": "search", "name": "Search", "description": "old", "tags": ["a"]},
                {"id": "summarize", "name": "Summarize"}
            ],
            "methods": ["web.search", "text.summarize"]
        }),
    )
    .await;
    let second_body = json!({
        "skills": [{"id": "summarize", "name": "Summarize better"}, {"id": "translate", "name": "Translate"}],
        "methods": ["text.translate"]
    });
    let second = publish(&app, &alice, "alice", second_body.clone()).await;
    // Nothing of the first card survives that the second does not say again.
    assert_eq!(second["description"], Value::Null, "{second}");
    assert_eq!(second["version"], Value::Null, "{second}");
    assert_eq!(second["skills"], second_body["skills"]);
    assert_eq!(second["methods"], second_body["methods"]);
    assert!(
        second["updated_at"].as_str().unwrap() >= first["updated_at"].as_str().unwrap(),
        "updated_at moves forward: {first} then {second}"
    );
    assert_eq!(card_of(&app, &bob, "alice").await, second);

    // Discovery follows the new card: dropped skills and methods no longer match.
    let alice_only = ["alice".to_owned()];
    for query in [
        "&skill=search",
        "&method=web.search",
        "&method=text.summarize",
    ] {
        assert!(listed(&app, &bob, query).await.is_empty(), "{query}");
    }
    for query in [
        "&skill=summarize",
        "&skill=translate",
        "&method=text.translate",
    ] {
        assert_eq!(listed(&app, &bob, query).await, alice_only, "{query}");
    }

    // An empty card empties discovery too.
    publish(&app, &alice, "alice", card(json!([]), json!([]))).await;
    for query in [
        "&skill=summarize",
        "&skill=translate",
        "&method=text.translate",
    ] {
        assert!(listed(&app, &bob, query).await.is_empty(), "{query}");
    }
}

async fn concurrent_publishes_of_one_card_all_succeed_and_leave_one_whole_card(app: TestApp) {
    let [alice, bob, carol] = app.create_agents(["alice", "bob", "carol"]).await;
    // bob already has a card, alice has none yet: both race eight publishes of their card.
    publish(&app, &bob, "bob", card_with(&["old"], &["old"])).await;
    let racers = [("alice", &alice), ("bob", &bob)];
    let bodies = |name: &str| -> Vec<Value> {
        (0..8)
            .map(|i| {
                card_with(
                    &[&format!("{name}-skill-{i}")],
                    &[&format!("{name}-method-{i}")],
                )
            })
            .collect()
    };
    let mut statuses = Vec::new();
    for (name, key) in racers {
        let answers = futures_util::future::join_all(
            bodies(name)
                .into_iter()
                .map(|body| put_card(&app, key, name, body)),
        )
        .await;
        for res in answers {
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            statuses.push(format!("{name}: {status} {body}"));
        }
    }
    let refused: Vec<&String> = statuses
        .iter()
        .filter(|s| !s.contains(" 200 OK "))
        .collect();
    assert!(
        refused.is_empty(),
        "every concurrent publish answers 200, yet: {refused:#?}"
    );

    for (name, _) in racers {
        let bodies = bodies(name);
        let card = card_of(&app, &carol, name).await;
        let i = bodies
            .iter()
            .position(|b| b["skills"] == card["skills"] && b["methods"] == card["methods"])
            .unwrap_or_else(|| panic!("{name}'s card is one of those published, whole: {card}"));
        // Discovery matches exactly the card that won, and nothing of the old one.
        for j in 0..8 {
            let expected: Vec<String> = if i == j { vec![name.into()] } else { vec![] };
            for query in [
                format!("&skill={name}-skill-{j}"),
                format!("&method={name}-method-{j}"),
            ] {
                assert_eq!(listed(&app, &carol, &query).await, expected, "{query}");
            }
        }
    }
    assert!(listed(&app, &carol, "&skill=old").await.is_empty());
    assert!(listed(&app, &carol, "&method=old").await.is_empty());
}

// --- What a card may hold --------------------------------------------------------------------

async fn a_card_may_reach_every_documented_limit(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let long_method = format!("a{}", "b".repeat(63));
    let tags: Vec<String> = (0..32)
        .map(|i| format!("{i:02}{}", "t".repeat(62)))
        .collect();
    let skills_64: Vec<Value> = (0..64)
        .map(|i| json!({"id": format!("s{i}"), "name": format!("n{i}")}))
        .collect();
    let methods_64: Vec<String> = (0..64).map(|i| format!("m{i}")).collect();
    let cases = [
        // Lengths count characters, not bytes.
        json!({"description": "é".repeat(1024), "skills": [], "methods": []}),
        json!({"description": "", "skills": [], "methods": []}),
        json!({"version": "v".repeat(64), "skills": [], "methods": []}),
        json!({"version": "é".repeat(64), "skills": [], "methods": []}),
        json!({"version": "1", "skills": [], "methods": []}),
        card(
            json!([{"id": "i".repeat(64), "name": "n".repeat(128)}]),
            json!([]),
        ),
        card(
            json!([{"id": "é".repeat(64), "name": "é".repeat(128)}]),
            json!([]),
        ),
        card(json!([{"id": "x", "name": "y"}]), json!([])),
        card(
            json!([{"id": "x", "name": "y", "description": "d".repeat(1024)}]),
            json!([]),
        ),
        card(
            json!([{"id": "x", "name": "y", "description": "", "tags": []}]),
            json!([]),
        ),
        card(json!([{"id": "x", "name": "y", "tags": tags}]), json!([])),
        card(
            json!([{"id": "x", "name": "y", "tags": ["é".repeat(64)]}]),
            json!([]),
        ),
        card(json!(skills_64), json!([])),
        card(json!([]), json!(methods_64)),
        card(
            json!([]),
            json!([
                "a",
                "z9",
                long_method,
                "tools.search:v2-beta_1",
                "a-",
                "a.",
                "a:",
                "a_"
            ]),
        ),
        // Skill ids and method names are different things: the same string may be both.
        card(json!([{"id": "ping", "name": "Ping"}]), json!(["ping"])),
    ];
    for body in cases {
        let published = publish(&app, &alice, "alice", body.clone()).await;
        for field in ["skills", "methods"] {
            assert_eq!(published[field], body[field], "{field} of {body}");
        }
        for field in ["description", "version"] {
            if let Some(v) = body.get(field) {
                assert_eq!(&published[field], v, "{field} of {body}");
            }
        }
        assert_eq!(card_of(&app, &alice, "alice").await, published);
    }
}

async fn a_card_breaking_a_rule_is_a_bad_request_and_changes_nothing(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let kept = publish(
        &app,
        &alice,
        "alice",
        json!({"description": "kept", "skills": [{"id": "kept", "name": "Kept"}], "methods": ["kept"]}),
    )
    .await;

    let skill = |extra: Value| {
        let mut s = json!({"id": "x", "name": "y"});
        s.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        card(json!([s]), json!([]))
    };
    let method = |m: &str| card(json!([]), json!([m]));
    let skills_65: Vec<Value> = (0..65)
        .map(|i| json!({"id": format!("s{i}"), "name": "n"}))
        .collect();
    let methods_65: Vec<String> = (0..65).map(|i| format!("m{i}")).collect();
    let tags_33: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
    let cases = [
        // skills and methods are required; nothing else is allowed.
        json!({}),
        json!({"methods": []}),
        json!({"skills": []}),
        json!({"skills": [], "methods": [], "url": "https://example.com"}),
        skill(json!({"icon": "x"})),
        // Text lengths.
        json!({"description": "d".repeat(1025), "skills": [], "methods": []}),
        json!({"description": "é".repeat(1025), "skills": [], "methods": []}),
        json!({"version": "", "skills": [], "methods": []}),
        json!({"version": "v".repeat(65), "skills": [], "methods": []}),
        skill(json!({"id": ""})),
        skill(json!({"id": "i".repeat(65)})),
        skill(json!({"name": ""})),
        skill(json!({"name": "n".repeat(129)})),
        skill(json!({"description": "d".repeat(1025)})),
        skill(json!({"tags": [""]})),
        skill(json!({"tags": ["t".repeat(65)]})),
        skill(json!({"tags": tags_33})),
        // Counts.
        card(json!(skills_65), json!([])),
        card(json!([]), json!(methods_65)),
        // Uniqueness.
        card(
            json!([{"id": "dup", "name": "one"}, {"id": "dup", "name": "two"}]),
            json!([]),
        ),
        card(json!([]), json!(["dup", "dup"])),
        // Method names: ^[a-z][a-z0-9_.:-]{0,63}$.
        method(""),
        method("A"),
        method("Search"),
        method("web.Search"),
        method("1abc"),
        method("_x"),
        method("-x"),
        method(".x"),
        method("a b"),
        method("a/b"),
        method("a\nb"),
        method("é"),
        method("aé"),
        method(&format!("a{}", "b".repeat(64))),
        method("a\u{0}"),
        // U+0000 in any text.
        json!({"description": "a\u{0}b", "skills": [], "methods": []}),
        json!({"version": "1\u{0}", "skills": [], "methods": []}),
        skill(json!({"id": "x\u{0}"})),
        skill(json!({"name": "\u{0}"})),
        skill(json!({"description": "d\u{0}"})),
        skill(json!({"tags": ["t\u{0}"]})),
        // Types.
        json!({"skills": null, "methods": []}),
        json!({"skills": [], "methods": null}),
        json!({"skills": {}, "methods": []}),
        json!({"skills": "search", "methods": []}),
        json!({"skills": [], "methods": "ping"}),
        json!({"skills": [], "methods": [1]}),
        json!({"skills": [], "methods": [null]}),
        json!({"skills": ["search"], "methods": []}),
        json!({"skills": [{"id": "x"}], "methods": []}),
        json!({"skills": [{"name": "y"}], "methods": []}),
        skill(json!({"id": 1})),
        skill(json!({"name": ["y"]})),
        skill(json!({"tags": "t"})),
        skill(json!({"tags": [1]})),
        json!({"description": 5, "skills": [], "methods": []}),
        json!({"version": 1, "skills": [], "methods": []}),
        // The body is a JSON object.
        json!([]),
        json!([{"skills": [], "methods": []}]),
        json!("card"),
        json!(1),
        json!(true),
        Value::Null,
    ];
    for body in cases {
        let res = put_card(&app, &alice, "alice", body.clone()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "body {body}");
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }

    // Bodies that are not JSON at all.
    let path = card_path("alice");
    let raw = |content_type: &str, body: &str| {
        app.request(Method::PUT, &path, Some(&alice))
            .header("Content-Type", content_type)
            .body(body.to_owned())
    };
    expect_refused_requests(
        StatusCode::BAD_REQUEST,
        [
            app.request(Method::PUT, &path, Some(&alice)),
            raw("application/json", ""),
            raw("application/json", "{\"skills\": [], \"methods\": ["),
            raw(
                "application/json",
                "{\"skills\": [], \"methods\": []} trailing",
            ),
            raw("text/plain", "{\"skills\": [], \"methods\": []}"),
        ],
    )
    .await;

    assert_eq!(card_of(&app, &alice, "alice").await, kept);
    assert_eq!(listed(&app, &alice, "&skill=kept").await, ["alice"]);
    assert_eq!(listed(&app, &alice, "&method=kept").await, ["alice"]);
}

async fn a_card_over_16_kib_serialized_is_payload_too_large(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    let kept = publish(&app, &alice, "alice", card_with(&["kept"], &["kept"])).await;

    // Every part within its own limit, the whole far over 16 KiB.
    let big: Vec<Value> = (0..64)
        .map(|i| json!({"id": format!("s{i}"), "name": "n", "description": "d".repeat(1000)}))
        .collect();
    let res = put_card(&app, &alice, "alice", card(json!(big), json!([]))).await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // A request body over 1 MiB is refused like any other.
    let huge = json!({"description": "d".repeat(1024 * 1024 + 1), "skills": [], "methods": []});
    let res = put_card(&app, &alice, "alice", huge).await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    assert_eq!(card_of(&app, &alice, "alice").await, kept);
    assert_eq!(listed(&app, &alice, "&skill=kept").await, ["alice"]);
    assert!(listed(&app, &alice, "&skill=s0").await.is_empty());
}

async fn a_card_of_exactly_16_kib_serialized_is_accepted_and_one_byte_more_is_not(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    // Fifteen skills of about 1 KiB each, and a description to fill the rest.
    let skills: Vec<Value> = (0..15)
        .map(|i| json!({"id": format!("s{i:02}"), "name": "n", "description": "d".repeat(1000)}))
        .collect();
    let with_description =
        |n: usize| json!({"description": "x".repeat(n), "skills": skills, "methods": ["m"]});
    let res = put_card(&app, &alice, "alice", with_description(0)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let base = res.bytes().await.unwrap().len();
    assert!(
        base < MAX_CARD_BYTES && MAX_CARD_BYTES - base <= 1024,
        "the probe card is {base} bytes"
    );
    let fill = MAX_CARD_BYTES - base;

    let res = put_card(&app, &alice, "alice", with_description(fill)).await;
    assert_eq!(res.status(), StatusCode::OK, "a card of exactly 16 KiB");
    let bytes = res.bytes().await.unwrap();
    assert_eq!(
        bytes.len(),
        MAX_CARD_BYTES,
        "the card answered is the card measured"
    );
    let at_limit: Value = serde_json::from_slice(&bytes).unwrap();
    assert_card(&at_limit, "alice");

    let res = put_card(&app, &alice, "alice", with_description(fill + 1)).await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(card_of(&app, &alice, "alice").await, at_limit);
}

// --- GET /agents?skill=&method=&online= ------------------------------------------------------

async fn the_agent_list_filters_by_skill_and_method_combined_with_and(app: TestApp) {
    let [alice, bob, carol, _dave] = app.create_agents(["alice", "bob", "carol", "dave"]).await;
    let olga = app.create_agent("olga", "observer").await;
    publish(
        &app,
        &alice,
        "alice",
        card_with(&["search", "summarize"], &["web.search", "text.summarize"]),
    )
    .await;
    publish(&app, &bob, "bob", card_with(&["search"], &["web.search"])).await;
    // carol's skill id is alice's method name: skills and methods are matched apart.
    publish(
        &app,
        &carol,
        "carol",
        card_with(&["web.search", "translate"], &["text.translate"]),
    )
    .await;

    let cases: [(&str, &[&str]); 14] = [
        ("", &["admin", "alice", "bob", "carol", "dave", "olga"]),
        ("&skill=search", &["alice", "bob"]),
        ("&skill=summarize", &["alice"]),
        ("&skill=web.search", &["carol"]),
        ("&skill=translate", &["carol"]),
        ("&skill=nobody-has-this", &[]),
        ("&method=web.search", &["alice", "bob"]),
        ("&method=text.translate", &["carol"]),
        ("&method=search", &[]),
        ("&skill=search&method=text.summarize", &["alice"]),
        ("&method=web.search&skill=search", &["alice", "bob"]),
        ("&skill=translate&method=text.translate", &["carol"]),
        ("&skill=translate&method=web.search", &[]),
        ("&skill=web.search&method=web.search", &[]),
    ];
    for key in [&app.admin_key, &alice, &olga] {
        for (query, names) in cases {
            assert_eq!(listed(&app, key, query).await, names, "GET /agents?{query}");
        }
    }
    // The default page size applies to filtered lists too.
    let page = expect_json(
        app.get("/api/v1/agents?skill=search", &olga).await,
        StatusCode::OK,
    )
    .await;
    let names: Vec<&str> = page["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert!(page["next_cursor"].is_null());
}

async fn a_skill_id_with_reserved_characters_is_found_url_encoded(app: TestApp) {
    let [alice, bob] = app.create_agents(["alice", "bob"]).await;
    publish(&app, &alice, "alice", card_with(&["c++ & rust/ü?#"], &[])).await;
    publish(&app, &bob, "bob", card_with(&["c"], &[])).await;
    assert_eq!(
        listed(&app, &bob, "&skill=c%2B%2B%20%26%20rust%2F%C3%BC%3F%23").await,
        ["alice"]
    );
    assert_eq!(listed(&app, &bob, "&skill=c").await, ["bob"]);
}

async fn the_online_filter_follows_live_sockets(app: TestApp) {
    let [alice, bob, _carol] = app.create_agents(["alice", "bob", "carol"]).await;
    publish(
        &app,
        &alice,
        "alice",
        card_with(&["search"], &["web.search"]),
    )
    .await;
    publish(&app, &bob, "bob", card_with(&["search"], &["web.search"])).await;

    let nobody: &[&str] = &[];
    assert_eq!(listed(&app, &bob, "&online=true").await, nobody);
    assert_eq!(
        listed(&app, &bob, "&online=false").await,
        ["admin", "alice", "bob", "carol"]
    );

    let a1 = Sio::connect(app.addr, &alice).await;
    let a2 = Sio::connect(app.addr, &alice).await;
    let cases: [(&str, &[&str]); 6] = [
        ("&online=true", &["alice"]),
        ("&online=false", &["admin", "bob", "carol"]),
        ("&skill=search&online=true", &["alice"]),
        ("&skill=search&online=false", &["bob"]),
        ("&method=web.search&online=true", &["alice"]),
        ("&online=true&skill=search&method=web.search", &["alice"]),
    ];
    for (query, names) in cases {
        assert_eq!(
            listed(&app, &bob, query).await,
            names,
            "GET /agents?{query}"
        );
    }
    // Each listed agent says what the filter chose.
    for (query, online) in [("&online=true", true), ("&online=false", false)] {
        for a in listed_agents(&app, &bob, query).await {
            assert_eq!(a["online"], online, "{query}: {a}");
        }
    }
    assert_eq!(
        listed(&app, &bob, "&skill=nobody-has-this&online=true").await,
        nobody
    );

    let b = Sio::connect(app.addr, &bob).await;
    assert_eq!(
        listed(&app, &alice, "&skill=search&online=true").await,
        ["alice", "bob"]
    );

    // One of two sockets gone: still online; both gone: offline.
    a1.close().await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        listed(&app, &bob, "&online=true").await,
        ["alice", "bob"],
        "alice has a socket left"
    );
    a2.close().await;
    assert!(
        eventually(Duration::from_secs(3), || async {
            listed(&app, &bob, "&online=true").await == ["bob"]
        })
        .await,
        "alice leaves the online list once her sockets are gone"
    );
    assert_eq!(
        listed(&app, &bob, "&online=false").await,
        ["admin", "alice", "carol"]
    );
    assert_eq!(
        listed(&app, &bob, "&skill=search&online=false").await,
        ["alice"]
    );
    b.close().await;
    assert!(
        eventually(Duration::from_secs(3), || async {
            listed(&app, &alice, "&online=true").await.is_empty()
        })
        .await,
        "nobody is online once every socket is gone"
    );
}

async fn filtered_lists_page_by_name_with_limit_and_cursor(app: TestApp) {
    // Created out of order; every other one has the skill.
    let names: Vec<String> = (0..14).rev().map(|i| format!("agent-{i:02}")).collect();
    let mut keys = std::collections::BTreeMap::new();
    for name in &names {
        keys.insert(name.clone(), app.create_agent(name, "agent").await);
    }
    for (i, (name, key)) in keys.iter().enumerate() {
        let skills: &[&str] = if i % 2 == 0 { &["even"] } else { &["odd"] };
        publish(&app, key, name, card_with(skills, &["call"])).await;
    }
    let even: Vec<String> = (0..14)
        .step_by(2)
        .map(|i| format!("agent-{i:02}"))
        .collect();
    let admin = app.admin_key.clone();

    let by_limit: [(usize, &[usize]); 4] =
        [(1, &[1; 7]), (2, &[2, 2, 2, 1]), (3, &[3, 3, 1]), (7, &[7])];
    for (limit, sizes) in by_limit {
        let got = pages(&app, &admin, "&skill=even", limit).await;
        let got_sizes: Vec<usize> = got.iter().map(Vec::len).collect();
        assert_eq!(got_sizes, sizes, "limit {limit}: {got:?}");
        assert_eq!(got.concat(), even, "limit {limit}");
    }
    let everyone_with_call: Vec<String> = keys.keys().cloned().collect();
    assert_eq!(
        pages(&app, &admin, "&method=call", 5).await.concat(),
        everyone_with_call
    );

    // Online ones are sought past pages of offline ones.
    let _s3 = Sio::connect(app.addr, &keys["agent-03"]).await;
    let _s4 = Sio::connect(app.addr, &keys["agent-04"]).await;
    let _s8 = Sio::connect(app.addr, &keys["agent-08"]).await;
    let _s12 = Sio::connect(app.addr, &keys["agent-12"]).await;
    let _s13 = Sio::connect(app.addr, &keys["agent-13"]).await;
    let online_even = ["agent-04", "agent-08", "agent-12"];
    for limit in [1, 2, 3, 100] {
        let got = pages(&app, &admin, "&online=true&skill=even", limit).await;
        assert_eq!(got.concat(), online_even, "limit {limit}: {got:?}");
        let got = pages(&app, &admin, "&online=true", limit).await;
        assert_eq!(
            got.concat(),
            ["agent-03", "agent-04", "agent-08", "agent-12", "agent-13"],
            "limit {limit}: {got:?}"
        );
        let got = pages(&app, &admin, "&online=false&skill=even", limit).await;
        assert_eq!(
            got.concat(),
            ["agent-00", "agent-02", "agent-06", "agent-10"],
            "limit {limit}: {got:?}"
        );
    }
}

async fn a_full_last_page_of_online_agents_has_no_next_cursor(app: TestApp) {
    // amy and ann online, zed and zoe offline after them: the online list is exactly one page
    // of two, and says so, like the unfiltered list.
    let [amy, ann, _zed, _zoe] = app.create_agents(["amy", "ann", "zed", "zoe"]).await;
    let _a = Sio::connect(app.addr, &amy).await;
    let _b = Sio::connect(app.addr, &ann).await;
    let page = expect_json(
        app.get("/api/v1/agents?online=true&limit=2", &app.admin_key)
            .await,
        StatusCode::OK,
    )
    .await;
    let names: Vec<&str> = page["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["amy", "ann"]);
    assert!(
        page["next_cursor"].is_null(),
        "no online agent follows ann, yet next_cursor is {}",
        page["next_cursor"]
    );
}

async fn filtered_lists_refuse_bad_limits_cursors_and_online_values(app: TestApp) {
    let alice = app.create_agent("alice", "agent").await;
    publish(&app, &alice, "alice", card_with(&["s"], &["m"])).await;
    let queries = [
        "skill=s&limit=0",
        "skill=s&limit=101",
        "method=m&limit=-1",
        "method=m&limit=abc",
        "online=true&limit=0",
        "online=true&limit=101",
        "skill=s&cursor=***",
        "online=true&cursor=_w",
        "online=maybe",
        "online=yes",
        "online=TRUE1",
        "skill=s&online=2",
    ];
    expect_refusals(
        &app,
        StatusCode::BAD_REQUEST,
        queries.map(|q| Call::get(format!("/api/v1/agents?{q}"), &alice)),
    )
    .await;
    for query in [
        "skill=s&limit=1",
        "method=m&limit=100",
        "online=false&limit=1",
    ] {
        let res = app.get(&format!("/api/v1/agents?{query}"), &alice).await;
        assert_eq!(res.status(), StatusCode::OK, "GET /agents?{query}");
    }
    expect_unauthenticated(&app, Method::GET, "/api/v1/agents?skill=s", None).await;
}

// --- OpenAPI ---------------------------------------------------------------------------------

async fn the_card_routes_and_list_filters_are_in_the_openapi_document(app: TestApp) {
    let (status, doc) = app.probe("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let item = &doc["paths"]["/api/v1/agents/{name}/card"];
    for method in ["get", "put"] {
        assert!(
            item[method].is_object(),
            "{method} /api/v1/agents/{{name}}/card in {:?}",
            doc["paths"]
                .as_object()
                .map(|p| p.keys().collect::<Vec<_>>())
        );
    }
    assert!(
        item["put"]["requestBody"].is_object(),
        "PUT card documents its body: {}",
        item["put"]
    );
    let params = doc["paths"]["/api/v1/agents"]["get"]["parameters"]
        .as_array()
        .expect("GET /agents documents its parameters")
        .clone();
    for name in ["skill", "method", "online", "limit", "cursor"] {
        assert!(
            params
                .iter()
                .any(|p| p["name"] == name && p["in"] == "query"),
            "GET /agents documents ?{name}: {params:?}"
        );
    }
}

crate::on_both_backends!(
    an_agent_publishes_its_card_and_every_caller_reads_it_back,
    a_card_without_description_or_version_answers_them_as_null,
    the_card_names_the_agent_as_it_is_now,
    an_admin_may_publish_any_card_but_another_agent_may_not,
    cards_of_unknown_agents_and_of_agents_without_one_are_not_found,
    publishing_again_replaces_the_whole_card,
    concurrent_publishes_of_one_card_all_succeed_and_leave_one_whole_card,
    a_card_may_reach_every_documented_limit,
    a_card_breaking_a_rule_is_a_bad_request_and_changes_nothing,
    a_card_over_16_kib_serialized_is_payload_too_large,
    a_card_of_exactly_16_kib_serialized_is_accepted_and_one_byte_more_is_not,
    the_agent_list_filters_by_skill_and_method_combined_with_and,
    a_skill_id_with_reserved_characters_is_found_url_encoded,
    the_online_filter_follows_live_sockets,
    filtered_lists_page_by_name_with_limit_and_cursor,
    a_full_last_page_of_online_agents_has_no_next_cursor,
    filtered_lists_refuse_bad_limits_cursors_and_online_values,
    the_card_routes_and_list_filters_are_in_the_openapi_document,
);
