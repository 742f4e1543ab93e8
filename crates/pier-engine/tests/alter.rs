//! Changing an app after creation ([`Engine::alter`]): a new field and a new vector metric
//! rebuild the derived indexes from the document store, the result survives a reopen, and a
//! change of the dialect's schema alone swaps nothing else.

use pier_engine::vector_search::VectorQuery;
use pier_engine::vectors::{VectorIndexSpec, VectorMetric, VectorStorage};
use pier_engine::{AppChange, AppKind, Engine, EngineConfig, NewApp};
use pier_model::{AppType, Schema};
use pier_query::Expr;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn schema(extra: bool) -> Schema {
    let mut fields = json!({"id": {"type": "LITERAL", "primaryKey": true},
        "vec": {"type": "FLOAT_ARRAY"}, "n": {"type": "INT"}});
    let mut filters = json!(["id", "n"]);
    if extra {
        fields["color"] = json!({"type": "LITERAL"});
        filters.as_array_mut().unwrap().push(json!("color"));
    }
    Schema::from_json(
        &json!({"tables": {"rows": {"primaryTable": true, "fields": fields}},
        "indexes": {"searchFields": {}, "filterFields": filters}}),
    )
    .unwrap()
}

fn spec(metric: VectorMetric) -> VectorIndexSpec {
    VectorIndexSpec {
        name: "v".into(),
        field: "vec".into(),
        dimension: 2,
        metric,
        storage: VectorStorage::F32,
        m: 16,
        ef_construction: 64,
        ef_search: 64,
        linear_build_threshold: 0,
        namespace_field: None,
        sparse: None,
    }
}

fn open(dir: &std::path::Path) -> Engine {
    let mut config = EngineConfig::new(dir);
    config.commit_interval = Duration::from_millis(20);
    Engine::open(config).unwrap()
}

fn push(e: &Engine, body: serde_json::Value) {
    let r = e
        .push(
            "app",
            "rows",
            body.to_string().as_bytes(),
            e.new_request_id(),
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while r.table.committed_seq() < r.seq {
        assert!(Instant::now() < deadline, "not visible within 10 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn nearest(e: &Engine, q: &[f32], filter: Option<&Expr>) -> Vec<String> {
    let table = e.app("app").unwrap().tables["rows"].clone();
    e.vector_search(
        &table,
        &VectorQuery {
            index: "v",
            namespace: "",
            vector: q,
            k: 3,
            ef: None,
            filter,
            exact: None,
        },
    )
    .unwrap()
    .into_iter()
    .map(|h| h.pk)
    .collect()
}

#[test]
fn alter_rebuilds_from_the_store_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    e.create(NewApp {
        name: "app".into(),
        kind: AppKind::AnalyticDb,
        app_type: AppType::Advanced,
        schema: schema(false),
        vectors: vec![spec(VectorMetric::L2)],
        dialect_schema: Some(json!({"v": 1})),
        quota: Default::default(),
    })
    .unwrap();
    // "far" is long and points the query's way: first by inner product, last by l2.
    push(
        &e,
        json!([{"cmd": "add", "fields": {"id": "near", "vec": [1.0, 0.0], "n": 1}},
               {"cmd": "add", "fields": {"id": "mid", "vec": [0.0, 1.0], "n": 2}},
               {"cmd": "add", "fields": {"id": "far", "vec": [9.0, 9.0], "n": 3}}]),
    );
    assert_eq!(nearest(&e, &[1.0, 0.1], None), ["near", "mid", "far"]);
    let red = Expr::In {
        expr: Box::new(Expr::Field("color".into())),
        values: vec!["red".into()],
        negated: false,
    };

    // The same schema and vectors: only the dialect's schema changes, the tables stay.
    let before = e.app("app").unwrap();
    e.alter(
        "app",
        AppChange {
            schema: schema(false),
            vectors: vec![spec(VectorMetric::L2)],
            dialect_schema: Some(json!({"v": 2})),
        },
    )
    .unwrap();
    let after = e.app("app").unwrap();
    assert_eq!(after.dialect_schema, Some(json!({"v": 2})));
    assert!(Arc::ptr_eq(&before.tables["rows"], &after.tables["rows"]));
    drop((before, after));

    // A new field and another metric: rebuilt from the store.
    e.alter(
        "app",
        AppChange {
            schema: schema(true),
            vectors: vec![spec(VectorMetric::Ip)],
            dialect_schema: Some(json!({"v": 3})),
        },
    )
    .unwrap();
    assert!(!e.is_rebuilding("app"));
    let table = e.app("app").unwrap().tables["rows"].clone();
    assert_eq!(table.index.num_docs(), 3);
    assert_eq!(
        table.vectors.as_ref().unwrap().specs()[0].metric,
        VectorMetric::Ip
    );
    drop(table);
    assert_eq!(nearest(&e, &[1.0, 0.1], None), ["far", "near", "mid"]);
    // The new field takes values and filters; the old rows have none.
    assert!(nearest(&e, &[1.0, 0.1], Some(&red)).is_empty());
    push(
        &e,
        json!([{"cmd": "add", "fields": {"id": "red", "vec": [0.5, 0.5], "n": 4, "color": "red"}}]),
    );
    assert_eq!(nearest(&e, &[1.0, 0.1], Some(&red)), ["red"]);
    e.shutdown();
    drop(e);

    let e = open(dir.path());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !e.is_ready() {
        assert!(Instant::now() < deadline, "not ready within 10 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(e.app("app").unwrap().dialect_schema, Some(json!({"v": 3})));
    assert_eq!(nearest(&e, &[1.0, 0.1], None), ["far", "near", "red"]);
    assert_eq!(nearest(&e, &[1.0, 0.1], Some(&red)), ["red"]);
    // Only the current generation's index directories are left.
    let app_dir = std::fs::read_dir(dir.path().join("apps"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let table_dir = std::fs::read_dir(app_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut names: Vec<String> = std::fs::read_dir(table_dir)
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["index.1", "log", "vectors.1"]);

    let missing = e.alter(
        "nope",
        AppChange {
            schema: schema(true),
            vectors: Vec::new(),
            dialect_schema: None,
        },
    );
    assert!(matches!(
        missing,
        Err(pier_engine::EngineError::AppNotFound(_))
    ));
}
