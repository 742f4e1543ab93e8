//! The push pipeline end to end inside the engine: durable push, asynchronous apply, versioning,
//! outcomes, and recovery after reopening the data dir.

use pier_engine::{AppQuota, Engine, EngineConfig, ErrorFilter, RequestStatus};
use pier_model::AppType;
use serde_json::json;
use std::time::{Duration, Instant};

fn schema() -> serde_json::Value {
    json!({"tables": {"main": {"primaryTable": true, "fields": {
        "id": {"type": "LITERAL", "primaryKey": true}, "title": {"type": "TEXT"}, "n": {"type": "INT"}}}},
        "indexes": {"searchFields": {"default": {"fields": ["title"]}}, "filterFields": ["n"]}})
}

fn open(dir: &std::path::Path) -> Engine {
    let mut config = EngineConfig::new(dir);
    config.commit_interval = Duration::from_millis(20);
    Engine::open(config).unwrap()
}

fn push(e: &Engine, body: serde_json::Value) -> pier_engine::Receipt {
    let id = e.new_request_id();
    e.push("shop", "main", body.to_string().as_bytes(), id)
        .unwrap()
}

fn wait_visible(r: &pier_engine::Receipt) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while r.table.committed_seq() < r.seq {
        assert!(Instant::now() < deadline, "not visible within 10 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn push_apply_version_and_recover() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    e.create_app("shop", AppType::Advanced, &schema(), AppQuota::default())
        .unwrap();

    push(
        &e,
        json!([{"cmd": "add", "timestamp": 200, "fields": {"id": "1", "title": "new", "n": 2}}]),
    );
    // Older timestamp arrives later: must not overwrite.
    push(
        &e,
        json!([{"cmd": "add", "timestamp": 100, "fields": {"id": "1", "title": "old", "n": 1}}]),
    );
    push(
        &e,
        json!([{"cmd": "add", "fields": {"id": "2", "title": "two", "n": 5}},
                    {"cmd": "update", "fields": {"id": "2", "n": "6"}},
                    {"cmd": "add", "fields": {"id": "3", "n": "not a number"}},
                    {"cmd": "delete", "fields": {"id": "404"}}]),
    );
    let last = push(
        &e,
        json!([{"cmd": "delete", "timestamp": 150, "fields": {"id": "1"}}]),
    );
    wait_visible(&last);

    let table = &last.table;
    assert_eq!(
        table.index.get("1").unwrap().unwrap()["title"],
        json!("new"),
        "older add and older delete ignored"
    );
    assert_eq!(
        table.index.get("2").unwrap().unwrap(),
        json!({"id": "2", "title": "two", "n": 6})
            .as_object()
            .unwrap()
            .clone()
    );
    assert!(table.index.get("3").unwrap().is_none());
    assert_eq!(table.index.num_docs(), 2);

    let (errors, total) = e.errors("shop", &ErrorFilter::default(), 0, 10).unwrap();
    assert_eq!(total, 1);
    assert_eq!((errors[0].code, errors[0].pk.as_str()), (7302, "3"));
    match e.request_status(&errors[0].request_id).unwrap() {
        Some(RequestStatus::Processed(o)) => assert_eq!((o.documents, o.failed.len()), (4, 1)),
        other => panic!("unexpected status {other:?}"),
    }

    // Reopen: nothing lost, nothing doubled (the error is recorded once).
    e.shutdown();
    drop((e, last));
    let e = open(dir.path());
    let app = e.app("shop").unwrap();
    let t = app.tables.get("main").unwrap();
    assert_eq!(t.index.num_docs(), 2);
    let r = push(&e, json!([{"cmd": "add", "fields": {"id": "9", "n": 9}}]));
    wait_visible(&r);
    assert_eq!(t.index.num_docs(), 3);
    assert_eq!(
        e.errors("shop", &ErrorFilter::default(), 0, 10).unwrap().1,
        1
    );
    e.shutdown();
}

#[test]
fn synchronous_rejections_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    e.create_app(
        "shop",
        AppType::Standard,
        &schema(),
        AppQuota {
            push_requests_per_sec: Some(1.0),
            push_bytes_per_sec: None,
        },
    )
    .unwrap();
    let reject = |app: &str, table: &str, body: &str| {
        e.push(app, table, body.as_bytes(), e.new_request_id())
            .err()
            .map(|r| r.code.0)
    };
    assert_eq!(reject("nope", "main", "[]"), Some(2001));
    assert_eq!(reject("shop", "nope", "[]"), Some(4012));
    assert_eq!(
        reject("shop", "main", r#"[{"cmd":"update","fields":{"id":"1"}}]"#),
        Some(3006)
    );
    assert_eq!(
        reject("shop", "main", r#"[{"cmd":"add","fields":{"id":"1"}}]"#),
        None
    );
    let quota = e
        .push(
            "shop",
            "main",
            br#"[{"cmd":"add","fields":{"id":"2"}}]"#,
            e.new_request_id(),
        )
        .unwrap_err();
    assert_eq!((quota.code.0, quota.retry_after_secs), (3013, Some(1)));
    assert!(matches!(
        e.create_app("shop", AppType::Standard, &schema(), AppQuota::default()),
        Err(pier_engine::EngineError::AppExists(_))
    ));
    e.delete_app("shop").unwrap();
    assert!(e.app("shop").is_none());
    e.create_app("shop", AppType::Standard, &schema(), AppQuota::default())
        .unwrap();
    assert_eq!(
        e.app("shop").unwrap().tables["main"].index.num_docs(),
        0,
        "a re-created app starts empty"
    );
    e.shutdown();
}

/// A read-modify-write pushed with the timestamp `documents_with_timestamps` gave loses to a
/// write (or a delete) that landed after the read, and applies when none did.
#[test]
fn read_modify_write_with_the_read_timestamp_never_overwrites_a_newer_write() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    e.create_app("shop", AppType::Advanced, &schema(), AppQuota::default())
        .unwrap();
    let r = push(
        &e,
        json!([{"cmd": "add", "fields": {"id": "1", "title": "first", "n": 1}},
               {"cmd": "add", "fields": {"id": "2", "title": "first", "n": 1}},
               {"cmd": "add", "fields": {"id": "3", "title": "first", "n": 1}}]),
    );
    wait_visible(&r);
    let read = e
        .documents_with_timestamps(&r.table, &["1", "2", "3", "404"])
        .unwrap();
    assert!(read[3].is_none());
    let (doc, ts) = read[0].clone().unwrap();
    assert_eq!(doc["title"], json!("first"));
    // Another write of 1 and a delete of 2 land after the read (a later receive time).
    std::thread::sleep(Duration::from_millis(5));
    wait_visible(&push(
        &e,
        json!([{"cmd": "add", "fields": {"id": "1", "title": "newer", "n": 2}},
               {"cmd": "delete", "fields": {"id": "2"}}]),
    ));
    let stale: Vec<serde_json::Value> = read[..3]
        .iter()
        .zip(["1", "2", "3"])
        .map(|(d, id)| {
            let (_, ts) = d.clone().unwrap();
            json!({"cmd": "add", "timestamp": ts, "fields": {"id": id, "title": "modified", "n": 1}})
        })
        .collect();
    assert!(ts > 0);
    let last = push(&e, json!(stale));
    wait_visible(&last);
    let now = e
        .documents_with_timestamps(&last.table, &["1", "2", "3"])
        .unwrap();
    assert_eq!(now[0].as_ref().unwrap().0["title"], json!("newer"));
    assert!(now[1].is_none(), "a deleted document stays deleted");
    assert_eq!(now[2].as_ref().unwrap().0["title"], json!("modified"));
    e.shutdown();
}
