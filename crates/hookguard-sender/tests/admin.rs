//! The admin JSON API over real HTTP (axum on 127.0.0.1:0, a reqwest client): bearer authentication that
//! changes nothing when it fails, listing with filters and keyset pagination, inspection, replay (delivered by
//! a real sender to a real receiver), purge, endpoint state, 400s for bad input, and a bare `BoxedQueue`.

mod common;

use std::time::Duration;

use common::*;
use hookguard_sender::admin::{Admin, AdminToken};
use hookguard_sender::{
    BoxedQueue, DeadLetterReason, Event, JobId, JobState, Queue, Sender, TestClock,
};
use serde_json::{Value, json};

const TOKEN: &str = "operator-token-0123456789abcdef";

/// An admin router served on a free loopback port, and a client for it.
struct Api {
    base: String,
    client: reqwest::Client,
}

/// How a request authenticates.
#[derive(Clone, Copy, Debug)]
enum Auth {
    Token,
    None,
    Header(&'static str),
}

impl Api {
    async fn serve(admin: Admin) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = admin.base_path("/admin").router();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            base: format!("http://{addr}/admin"),
            client: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        auth: Auth,
    ) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        match auth {
            Auth::Token => req = req.bearer_auth(TOKEN),
            Auth::None => {}
            Auth::Header(h) => req = req.header("authorization", h),
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let res = req.send().await.expect("admin request");
        let status = res.status().as_u16();
        let is_problem = res
            .headers()
            .get("content-type")
            .is_some_and(|v| v == "application/problem+json");
        let text = res.text().await.unwrap();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status >= 400 {
            assert!(is_problem, "{status}: errors are problem details: {value}");
            assert_eq!(value["status"], status, "{value}");
            assert!(value["detail"].as_str().is_some_and(|d| !d.is_empty()));
        }
        (status, value)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None, Auth::Token)
            .await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let body = (!body.is_null()).then_some(body);
        self.call(reqwest::Method::POST, path, body, Auth::Token)
            .await
    }
}

/// A sender with endpoints `ep` and `other` on `rx`, and `n` dead letters on `ep` (404s) after a run.
async fn with_dead_letters(clock: &TestClock, rx: &Receiver, n: usize) -> (Sender, Vec<JobId>) {
    let sender = builder(clock)
        .endpoint(endpoint("ep", &rx.url()))
        .endpoint(endpoint("other", &rx.url()))
        .workers(4)
        .build()
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            sender
                .send("ep", Event::new("t", "{}").with_id(format!("evt_{i}")))
                .await
                .unwrap(),
        );
        sender.process_due(1).await.unwrap();
        clock.advance(Duration::from_millis(10));
    }
    (sender, ids)
}

#[tokio::test]
async fn no_token_a_wrong_one_or_one_of_another_length_is_401_and_changes_nothing() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, [Reply::status(404)]).await;
    let (sender, ids) = with_dead_letters(&clock, &rx, 1).await;
    let api = Api::serve(Admin::new(&sender, AdminToken::new(TOKEN).unwrap())).await;
    let wrong_same_length = "Bearer operator-token-0123456789abcdeX";
    assert_eq!(wrong_same_length.len(), "Bearer ".len() + TOKEN.len());
    let auths = [
        Auth::None,
        Auth::Header(wrong_same_length),
        Auth::Header("Bearer short"),
        Auth::Header("Bearer operator-token-0123456789abcdef0"),
        Auth::Header("Bearer "),
        Auth::Header("Basic b3BlcmF0b3ItdG9rZW4tMDEyMzQ1Njc4OWFiY2RlZg=="),
        Auth::Header("operator-token-0123456789abcdef"),
    ];
    let id = ids[0].to_string();
    let calls: Vec<(reqwest::Method, String, Option<Value>)> = vec![
        (reqwest::Method::GET, "/api/endpoints".into(), None),
        (reqwest::Method::GET, "/api/dead-letters".into(), None),
        (
            reqwest::Method::GET,
            format!("/api/dead-letters/{id}"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/dead-letters/{id}/replay"),
            None,
        ),
        (
            reqwest::Method::POST,
            "/api/dead-letters/replay".into(),
            Some(json!({"endpoint": "ep", "limit": 10})),
        ),
        (
            reqwest::Method::POST,
            "/api/dead-letters/purge".into(),
            Some(json!({"all": true, "limit": 10})),
        ),
        (
            reqwest::Method::POST,
            "/api/endpoints/ep/disable".into(),
            Some(json!({"reason": "forged"})),
        ),
        (
            reqwest::Method::POST,
            "/api/endpoints/ep/pause".into(),
            Some(json!({"seconds": 60})),
        ),
        (reqwest::Method::GET, "/api/no-such-route".into(), None),
    ];
    for auth in auths {
        for (method, path, body) in &calls {
            let (status, body) = api.call(method.clone(), path, body.clone(), auth).await;
            assert_eq!(status, 401, "{auth:?} {method} {path}: {body}");
            assert_eq!(
                body["type"],
                "https://hookguard.dev/problems/admin/unauthorized"
            );
            assert!(!body.to_string().contains(TOKEN));
        }
    }
    // Nothing changed: still dead, not replayed, endpoint state untouched, no request sent.
    let rec = record(&sender, ids[0]).await;
    assert!(
        matches!(rec.state, JobState::Dead { .. }),
        "{:?}",
        rec.state
    );
    assert_eq!(rec.attempts.len(), 1);
    assert_eq!(
        sender.queue().endpoint_state("ep").await.unwrap(),
        Default::default()
    );
    assert_eq!(sender.queue().stats(sender.now()).await.unwrap().dead, 1);
    assert_eq!(rx.count(), 1);

    // The real token works (bearer scheme case-insensitive).
    let (status, body) = api
        .call(
            reqwest::Method::GET,
            "/api/endpoints",
            None,
            Auth::Header("bearer operator-token-0123456789abcdef"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_dead_letter_replayed_through_the_api_is_delivered() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, [Reply::Status(404, "no such hook", Vec::new())]).await;
    let (sender, ids) = with_dead_letters(&clock, &rx, 1).await;
    let api = Api::serve(Admin::new(&sender, AdminToken::new(TOKEN).unwrap())).await;

    let (status, page) = api.get("/api/dead-letters?endpoint=ep").await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["id"], ids[0].to_string());
    assert_eq!(items[0]["reason"], "permanent-status:404");
    assert_eq!(items[0]["last_attempt"]["status"], 404);
    assert_eq!(items[0]["last_attempt"]["response_body"], "no such hook");
    assert_eq!(page["next"], Value::Null);

    let (status, detail) = api.get(&format!("/api/dead-letters/{}", ids[0])).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["state"], "dead");
    assert_eq!(detail["event_id"], "evt_0");
    assert_eq!(detail["payload"], "{}");
    assert_eq!(detail["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(detail["attempts"][0]["result"], "404");

    let (status, body) = api
        .post(&format!("/api/dead-letters/{}/replay", ids[0]), json!(null))
        .await;
    assert_eq!((status, &body["count"]), (200, &json!(1)), "{body}");
    assert!(matches!(
        record(&sender, ids[0]).await.state,
        JobState::Scheduled { .. }
    ));
    // The sender delivers it; the receiver verifies the signature.
    assert_eq!(sender.process_due(10).await.unwrap(), 1);
    let rec = record(&sender, ids[0]).await;
    assert!(
        matches!(rec.state, JobState::Delivered { .. }),
        "{:?}",
        rec.state
    );
    assert_eq!(rx.count(), 2);
    let last = rx.requests().pop().unwrap();
    assert_eq!(last.verified, Ok(0));
    assert_eq!(last.header("webhook-id"), "evt_0");

    // Its history through the API: the 404, then the 200.
    let (_, job) = api.get(&format!("/api/jobs/{}", ids[0])).await;
    assert_eq!(job["state"], "delivered");
    let results: Vec<&str> = job["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["404", "200"]);
    // No longer a dead letter.
    let (status, _) = api.get(&format!("/api/dead-letters/{}", ids[0])).await;
    assert_eq!(status, 404);
    let (status, _) = api
        .post(&format!("/api/dead-letters/{}/replay", ids[0]), json!(null))
        .await;
    assert_eq!(status, 404, "replaying a delivered job");
}

#[tokio::test]
async fn listing_filters_by_endpoint_reason_and_time_and_pages_by_cursor() {
    let clock = test_clock();
    // ep: 404, 422, 404, 404, 422; other: 404.
    let rx = Receiver::start(&clock, [404, 422, 404, 404, 422, 404].map(Reply::status)).await;
    let (sender, ids) = with_dead_letters(&clock, &rx, 5).await;
    let other = sender
        .send("other", Event::new("t", "{}").with_id("evt_other"))
        .await
        .unwrap();
    sender.process_due(1).await.unwrap();
    let api = Api::serve(Admin::new(&sender, AdminToken::new(TOKEN).unwrap())).await;

    // Every page of two, following the cursor.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/api/dead-letters?limit=2&cursor={c}"),
            None => "/api/dead-letters?limit=2".to_owned(),
        };
        let (status, page) = api.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut all: Vec<String> = ids.iter().map(ToString::to_string).collect();
    all.push(other.to_string());
    assert_eq!(seen, all, "oldest first, each once");

    let list = |q: &'static str| {
        let api = &api;
        async move {
            let (status, page) = api.get(&format!("/api/dead-letters?{q}")).await;
            assert_eq!(status, 200, "{q}: {page}");
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let id = |i: usize| ids[i].to_string();
    assert_eq!(list("endpoint=other").await, [other.to_string()]);
    assert_eq!(
        list("endpoint=ep&reason=permanent-status:422").await,
        [id(1), id(4)]
    );
    assert_eq!(
        list("reason=permanent-status:404").await,
        [id(0), id(2), id(3), other.to_string()]
    );
    // A reason with a limit pages too.
    let (_, page) = api
        .get("/api/dead-letters?reason=permanent-status:404&limit=2")
        .await;
    let next = page["next"].as_str().unwrap().to_owned();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let (_, page) = api
        .get(&format!(
            "/api/dead-letters?reason=permanent-status:404&limit=2&cursor={next}"
        ))
        .await;
    let rest: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(rest, [id(3), other.to_string()]);
    // Time bounds: dead letters were 10 ms apart from T0.
    let q = "since=2027-01-15T08:00:00.020Z&before=2027-01-15T08:00:00.040Z";
    assert_eq!(T0.as_unix_seconds(), 1_800_000_000, "the times in `q`");
    assert_eq!(list(q).await, [id(2), id(3)]);
}

#[tokio::test]
async fn bad_input_is_a_400_problem_never_a_panic() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, [Reply::status(404)]).await;
    let (sender, ids) = with_dead_letters(&clock, &rx, 1).await;
    let api = Api::serve(Admin::new(&sender, AdminToken::new(TOKEN).unwrap())).await;
    for path in [
        "/api/dead-letters/job_x",
        "/api/dead-letters/-1",
        "/api/jobs/99999999999999999999999",
        "/api/dead-letters?cursor=nope",
        "/api/dead-letters?cursor=1.x",
        "/api/dead-letters?limit=0",
        "/api/dead-letters?limit=100000",
        "/api/dead-letters?limit=ten",
        "/api/dead-letters?reason=bored",
        "/api/dead-letters?since=yesterday",
        "/api/dead-letters?before=2026-13-45T00:00:00Z",
        "/api/dead-letters?endpoint=",
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(
            body["type"],
            "https://hookguard.dev/problems/admin/bad-request"
        );
    }
    for (path, body) in [
        ("/api/dead-letters/replay", json!("not an object")),
        ("/api/dead-letters/replay", json!({"limit": 0})),
        ("/api/dead-letters/replay", json!({"endpoint": "ep"})),
        ("/api/dead-letters/replay", json!({"limit": 5, "bogus": 1})),
        ("/api/dead-letters/replay", json!({"ids": []})),
        ("/api/dead-letters/replay", json!({"ids": ["job_q"]})),
        (
            "/api/dead-letters/replay",
            json!({"ids": ["job_1"], "endpoint": "ep"}),
        ),
        ("/api/dead-letters/purge", json!({"limit": 5})),
        (
            "/api/dead-letters/purge",
            json!({"reason": "bored", "endpoint": "ep", "limit": 5}),
        ),
        (
            "/api/dead-letters/purge",
            json!({"ids": ["job_1"], "limit": 5}),
        ),
        ("/api/endpoints/ep/pause", json!({})),
        ("/api/endpoints/ep/pause", json!({"seconds": 0})),
        (
            "/api/endpoints/ep/pause",
            json!({"until": "2000-01-01T00:00:00Z"}),
        ),
        ("/api/endpoints/ep/pause", json!({"until": "soon"})),
        ("/api/endpoints/ep/disable", json!({"reason": ""})),
        ("/api/dead-letters/x1/replay", json!(null)),
    ] {
        let (status, res) = api.post(path, body.clone()).await;
        assert_eq!(status, 400, "{path} {body}: {res}");
    }
    // Malformed JSON bytes.
    let res = api
        .client
        .post(format!("{}/api/dead-letters/replay", api.base))
        .bearer_auth(TOKEN)
        .body("{\"limit\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    for path in ["/api/jobs/job_424242", "/api/dead-letters/job_424242"] {
        let (status, _) = api.get(path).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, _) = api.post("/api/endpoints/nope/disable", json!({})).await;
    assert_eq!(status, 404, "unknown endpoint");
    let (status, _) = api.post("/api/endpoints/ep/frobnicate", json!({})).await;
    assert_eq!(status, 404, "unknown action");
    // Nothing was changed by any of it.
    assert!(matches!(
        record(&sender, ids[0]).await.state,
        JobState::Dead { .. }
    ));
    assert_eq!(
        sender.queue().endpoint_state("ep").await.unwrap(),
        Default::default()
    );
}

#[tokio::test]
async fn endpoints_pause_resume_disable_enable_and_replay_many() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, [Reply::status(404), Reply::status(404)]).await;
    let (sender, ids) = with_dead_letters(&clock, &rx, 2).await;
    let api = Api::serve(Admin::new(&sender, AdminToken::new(TOKEN).unwrap())).await;

    let (status, list) = api.get("/api/endpoints").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["queue"]["dead"], 2);
    let eps = list["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 2);
    assert_eq!(eps[0]["id"], "ep");
    assert_eq!(eps[0]["configured"], true);
    assert_eq!(eps[0]["enabled"], true);
    assert_eq!(eps[0]["breaker"]["state"], "closed");
    assert_eq!(eps[0]["in_flight"], 0);
    assert_eq!(
        eps[0]["queue"],
        json!({"due": 0, "scheduled": 0, "in_flight": 0, "dead": 2}),
        "each endpoint's own depth"
    );
    assert_eq!(
        eps[1]["queue"],
        json!({"due": 0, "scheduled": 0, "in_flight": 0, "dead": 0})
    );
    sender
        .send("other", Event::new("t", "{}").with_id("evt_waiting"))
        .await
        .unwrap();
    let (_, list) = api.get("/api/endpoints").await;
    assert_eq!(list["endpoints"][1]["id"], "other");
    assert_eq!(list["endpoints"][1]["queue"]["due"], 1, "{list}");
    assert_eq!(list["endpoints"][0]["queue"]["due"], 0, "{list}");
    assert_eq!(list["queue"]["due"], 1, "{list}");

    let (status, ep) = api
        .post("/api/endpoints/ep/pause", json!({"seconds": 60}))
        .await;
    assert_eq!(status, 200, "{ep}");
    assert_eq!(ep["paused"], true);
    let state = sender.queue().endpoint_state("ep").await.unwrap();
    assert_eq!(
        state.paused_until,
        Some(T0 + Duration::from_millis(20) + Duration::from_secs(60))
    );
    let (_, ep) = api.post("/api/endpoints/ep/resume", json!(null)).await;
    assert_eq!(ep["paused"], false);
    assert_eq!(
        sender
            .queue()
            .endpoint_state("ep")
            .await
            .unwrap()
            .paused_until,
        None
    );

    let (_, ep) = api
        .post(
            "/api/endpoints/ep/disable",
            json!({"reason": "subscriber migrating"}),
        )
        .await;
    assert_eq!(
        (&ep["enabled"], &ep["reason"]),
        (&json!(false), &json!("subscriber migrating"))
    );
    assert!(!sender.queue().endpoint_state("ep").await.unwrap().enabled);
    let (status, body) = api
        .post(&format!("/api/dead-letters/{}/replay", ids[0]), json!(null))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["type"],
        "https://hookguard.dev/problems/admin/endpoint-disabled"
    );
    let (_, ep) = api.post("/api/endpoints/ep/enable", json!(null)).await;
    assert_eq!(ep["enabled"], true);

    // Replay by ids: one good, one unknown (reported, not fatal).
    let (status, body) = api
        .post(
            "/api/dead-letters/replay",
            json!({"ids": [ids[0].to_string(), "job_999"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 1);
    assert_eq!(body["failed"][0]["id"], "job_999");
    assert_eq!(body["failed"][0]["kind"], "not-found");
    // Replay by selection.
    let (_, body) = api
        .post(
            "/api/dead-letters/replay",
            json!({"endpoint": "ep", "limit": 10}),
        )
        .await;
    assert_eq!(
        (&body["count"], &body["more"]),
        (&json!(1), &json!(false)),
        "{body}"
    );
    assert_eq!(
        sender.process_due(10).await.unwrap(),
        3,
        "the two replayed and `evt_waiting`"
    );
    for id in &ids {
        assert!(matches!(
            record(&sender, *id).await.state,
            JobState::Delivered { .. }
        ));
    }
}

#[tokio::test]
async fn purge_is_bounded_and_needs_a_selection() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, [404, 404, 404].map(Reply::status)).await;
    let (sender, _ids) = with_dead_letters(&clock, &rx, 3).await;
    let api = Api::serve(Admin::new(&sender, AdminToken::new(TOKEN).unwrap())).await;
    let (status, body) = api
        .post(
            "/api/dead-letters/purge",
            json!({"endpoint": "ep", "limit": 2}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((&body["count"], &body["more"]), (&json!(2), &json!(true)));
    assert_eq!(sender.queue().stats(sender.now()).await.unwrap().dead, 1);
    let (_, body) = api
        .post("/api/dead-letters/purge", json!({"all": true, "limit": 10}))
        .await;
    assert_eq!((&body["count"], &body["more"]), (&json!(1), &json!(false)));
    assert_eq!(sender.queue().stats(sender.now()).await.unwrap().dead, 0);
}

#[tokio::test]
async fn replay_and_purge_select_by_reason_in_the_queue() {
    let clock = test_clock();
    // ep: 404, 422, 404, then 200 for the replayed one.
    let rx = Receiver::start(&clock, [404, 422, 404, 200].map(Reply::status)).await;
    let (sender, ids) = with_dead_letters(&clock, &rx, 3).await;
    let api = Api::serve(Admin::new(&sender, AdminToken::new(TOKEN).unwrap())).await;
    let (status, body) = api
        .post(
            "/api/dead-letters/replay",
            json!({"reason": "permanent-status:422", "limit": 10}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((&body["count"], &body["more"]), (&json!(1), &json!(false)));
    sender.process_due(1).await.unwrap();
    assert!(matches!(
        record(&sender, ids[1]).await.state,
        JobState::Delivered { .. }
    ));
    let (status, body) = api
        .post(
            "/api/dead-letters/purge",
            json!({"reason": "permanent-status:404", "limit": 1}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((&body["count"], &body["more"]), (&json!(1), &json!(true)));
    let (_, body) = api
        .post(
            "/api/dead-letters/purge",
            json!({"reason": "permanent-status:404", "limit": 10}),
        )
        .await;
    assert_eq!((&body["count"], &body["more"]), (&json!(1), &json!(false)));
    for id in [ids[0], ids[2]] {
        assert!(
            sender.queue().get(id).await.unwrap().is_none(),
            "{id} purged"
        );
    }
    assert!(
        sender.queue().get(ids[1]).await.unwrap().is_some(),
        "the delivered one is not a dead letter"
    );
}

#[tokio::test]
async fn a_bare_boxed_queue_is_administered_without_a_sender_in_the_process() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, [Reply::status(410)]).await;
    let queue = BoxedQueue::new(hookguard_sender::MemoryQueue::new());
    let sender = Sender::builder(queue.clone())
        .clock(clock.clone())
        .allow_private_networks()
        .endpoint(endpoint("ep", &rx.url()))
        .build()
        .unwrap();
    let job = sender.send("ep", Event::new("t", "{}")).await.unwrap();
    sender.process_due(1).await.unwrap();
    assert!(matches!(
        record(&sender, job).await.state,
        JobState::Dead {
            reason: DeadLetterReason::EndpointGone,
            ..
        }
    ));
    let api = Api::serve(Admin::for_queue(
        queue,
        clock.clone(),
        AdminToken::new(TOKEN).unwrap(),
    ))
    .await;
    let (_, list) = api.get("/api/endpoints").await;
    let eps = list["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 1, "{list}");
    assert_eq!(
        (
            &eps[0]["id"],
            &eps[0]["enabled"],
            &eps[0]["configured"],
            &eps[0]["breaker"]
        ),
        (&json!("ep"), &json!(false), &json!(false), &Value::Null),
        "{list}"
    );
    let (status, _) = api
        .post(
            "/api/dead-letters/replay",
            json!({"endpoint": "ep", "limit": 5}),
        )
        .await;
    assert_eq!(status, 409, "410 disabled it");
    let (_, ep) = api.post("/api/endpoints/ep/enable", json!(null)).await;
    assert_eq!(ep["enabled"], true);
    let (_, body) = api
        .post(
            "/api/dead-letters/replay",
            json!({"endpoint": "ep", "limit": 5}),
        )
        .await;
    assert_eq!(body["count"], 1, "{body}");
    // The sender (another "process" here) picks the state up from the queue, then delivers.
    sender.refresh_endpoint_states().await.unwrap();
    assert_eq!(sender.process_due(1).await.unwrap(), 1);
    assert!(matches!(
        record(&sender, job).await.state,
        JobState::Delivered { .. }
    ));
}
