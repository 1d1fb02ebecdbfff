//! Publishing and sending: fan-out by event type, caller-supplied ids deduped per endpoint, typed errors.

mod common;

use common::*;
use hookguard_sender::{
    Endpoint, Event, JobError, MemoryQueue, Queue, QueueError, SendError, Sender,
};

#[tokio::test]
async fn publish_fans_out_to_subscribed_endpoints_with_one_event_id() {
    let clock = test_clock();
    let (a, b, c) = (
        Receiver::start(&clock, []).await,
        Receiver::start(&clock, []).await,
        Receiver::start(&clock, []).await,
    );
    let sender = builder(&clock)
        .endpoint(endpoint("a", &a.url()).with_event_types(["invoice.paid"]))
        .endpoint(endpoint("b", &b.url()))
        .endpoint(endpoint("c", &c.url()).with_event_types(["user.created"]))
        .build()
        .unwrap();
    let out = sender
        .publish("invoice.paid", r#"{"invoice":1}"#)
        .await
        .unwrap();
    assert_eq!(
        out.iter()
            .map(|e| e.endpoint_id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(
        a.count() + b.count() + c.count(),
        0,
        "nothing is sent inline"
    );
    assert_eq!(sender.process_due(10).await.unwrap(), 2);
    assert_eq!((a.count(), b.count(), c.count()), (1, 1, 0));
    let id = a.requests()[0].header("webhook-id").to_owned();
    assert!(id.starts_with("msg_"), "{id}");
    assert_eq!(
        b.requests()[0].header("webhook-id"),
        id,
        "one event, one id for every endpoint"
    );
}

#[tokio::test]
async fn the_same_event_id_to_the_same_endpoint_is_one_job() {
    let clock = test_clock();
    let rx = Receiver::start(&clock, []).await;
    let sender = sender_for(&clock, &rx);
    let first = sender
        .send("ep", Event::new("t", "{}").with_id("order-42"))
        .await
        .unwrap();
    let again = sender
        .send("ep", Event::new("t", "{}").with_id("order-42"))
        .await
        .unwrap();
    assert_eq!(first, again);
    sender.process_due(10).await.unwrap();
    let after = sender
        .send("ep", Event::new("t", "{}").with_id("order-42"))
        .await
        .unwrap();
    assert_eq!(
        after, first,
        "still the same job once delivered (until pruned)"
    );
    sender.process_due(10).await.unwrap();
    assert_eq!(rx.count(), 1);
    let other = sender
        .send("ep", Event::new("t", "{}").with_id("order-43"))
        .await
        .unwrap();
    assert_ne!(other, first);
}

#[tokio::test]
async fn bad_requests_are_typed_errors() {
    let clock = test_clock();
    let sender = builder(&clock)
        .endpoint(Endpoint::new("ep", "http://127.0.0.1:1/", KEY))
        .build()
        .unwrap();
    assert!(
        matches!(sender.send("nope", Event::new("t", "{}")).await, Err(SendError::UnknownEndpoint(e)) if e == "nope")
    );
    for bad in ["", "has space", "a,b", "tab\there", "é", &"x".repeat(257)] {
        let r = sender.send("ep", Event::new("t", "{}").with_id(bad)).await;
        assert!(matches!(r, Err(SendError::InvalidEventId)), "{bad:?}");
        let r = sender
            .publish_event(Event::new("t", "{}").with_id(bad))
            .await;
        assert!(matches!(r, Err(SendError::InvalidEventId)), "{bad:?}");
    }
    let stats = hookguard_sender::Queue::stats(sender.queue(), sender.now())
        .await
        .unwrap();
    assert_eq!(stats.due, 0, "nothing was enqueued");
}

#[tokio::test]
async fn publish_is_all_or_none_and_its_error_names_the_event_id() {
    let clock = test_clock();
    // Room for one job, two subscribed endpoints: the fan-out must not leave one of them enqueued.
    let sender = Sender::builder(MemoryQueue::with_capacity(1))
        .clock(clock.clone())
        .allow_private_networks()
        .endpoint(endpoint("a", "http://127.0.0.1:1/"))
        .endpoint(endpoint("b", "http://127.0.0.1:1/"))
        .build()
        .unwrap();
    let err = sender
        .publish_event(Event::new("t", "{}").with_id("evt_full"))
        .await
        .unwrap_err();
    match &err {
        SendError::Queue { event_id, source } => {
            assert_eq!(event_id, "evt_full");
            assert!(matches!(source, QueueError::Full { capacity: 1 }));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("evt_full"), "{err}");
    let stats = sender.queue().stats(sender.now()).await.unwrap();
    assert_eq!(stats.due + stats.scheduled, 0, "none enqueued");
    // A generated id is named too, so the caller can retry with it.
    let err = sender.publish("t", "{}").await.unwrap_err();
    assert!(
        matches!(&err, SendError::Queue { event_id, .. } if event_id.starts_with("msg_")),
        "{err:?}"
    );
}

#[tokio::test]
async fn jobs_for_builds_the_fan_out_for_an_outbox() {
    let clock = test_clock();
    let sender = builder(&clock)
        .endpoint(endpoint("a", "http://127.0.0.1:1/").with_event_types(["x"]))
        .endpoint(endpoint("b", "http://127.0.0.1:1/"))
        .build()
        .unwrap();
    let jobs = sender
        .jobs_for(&Event::new("y", "{}").with_id("evt_1"))
        .unwrap();
    assert_eq!(jobs.len(), 1, "only b subscribes to y");
    assert_eq!((jobs[0].endpoint_id(), jobs[0].event_id()), ("b", "evt_1"));
    let ids = sender.queue().enqueue_many(jobs).await.unwrap();
    assert_eq!(sender.process_due(10).await.unwrap(), ids.len());
    let big = Event::new("y", vec![b'x'; hookguard_sender::MAX_PAYLOAD + 1]);
    assert!(matches!(
        sender.jobs_for(&big),
        Err(SendError::Job(JobError::PayloadTooLarge { .. }))
    ));
}
