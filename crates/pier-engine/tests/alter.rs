//! Changing an app after creation ([`Engine::alter`]): a new field and a new vector metric
//! rebuild the derived indexes from the document store, the result survives a reopen, and a
//! change of the dialect's schema alone swaps nothing else.

use pier_engine::vector_search::VectorQuery;
use pier_engine::vectors::{VectorIndexSpec, VectorMetric, VectorSet, VectorStorage};
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

/// The directory of the one table of the one app under `data_dir`.
fn only_table_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    let only = |dir: &std::path::Path| {
        let mut found: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|d| d.unwrap().path())
            .collect();
        assert_eq!(found.len(), 1, "{}: {found:?}", dir.display());
        found.pop().unwrap()
    };
    only(&only(&data_dir.join("apps")))
}

/// The names in `dir`, sorted.
fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn wait_ready(e: &Engine) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !e.is_ready() {
        assert!(Instant::now() < deadline, "not ready within 10 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Writes what a rebuild to `generation` has written when it is cut short: the text/filter
/// index and the graphs of that generation, opened as the rebuild opens them and partly filled.
fn half_built(table_dir: &std::path::Path, generation: u64, schema: &Schema, metric: VectorMetric) {
    let name = |kind: &str| match generation {
        0 => kind.to_string(),
        g => format!("{kind}.{g}"),
    };
    let (search, filters) = pier_model::schema::table_indexes(schema, "rows");
    let index =
        pier_index::TableIndex::open(&table_dir.join(name("index")), &search, &filters).unwrap();
    let doc = json!({"id": "ghost", "n": 9});
    index.upsert("ghost", doc.as_object().unwrap()).unwrap();
    index.commit(1).unwrap();
    drop(index);
    drop(VectorSet::open(&table_dir.join(name("vectors")), vec![spec(metric)]).unwrap());
    assert!(table_dir.join(name("index")).join("meta.json").exists());
}

/// A rebuild cut short by a crash leaves its half-built generation beside the live one, and a
/// crash right after the switch leaves the old one: start-up removes both (nothing else), and
/// the table keeps working on the live generation.
#[test]
fn start_up_removes_what_interrupted_rebuilds_left() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    e.create(NewApp {
        name: "app".into(),
        kind: AppKind::AnalyticDb,
        app_type: AppType::Advanced,
        schema: schema(false),
        vectors: vec![spec(VectorMetric::L2)],
        dialect_schema: None,
        quota: Default::default(),
    })
    .unwrap();
    push(
        &e,
        json!([{"cmd": "add", "fields": {"id": "near", "vec": [1.0, 0.0], "n": 1}},
               {"cmd": "add", "fields": {"id": "mid", "vec": [0.0, 1.0], "n": 2}},
               {"cmd": "add", "fields": {"id": "far", "vec": [9.0, 9.0], "n": 3}}]),
    );
    e.shutdown();
    drop(e);

    // Generation 0 is live; a rebuild to generation 1 was cut short. A directory pier does not
    // name is not its to remove.
    let table_dir = only_table_dir(dir.path());
    half_built(&table_dir, 1, &schema(true), VectorMetric::Ip);
    std::fs::create_dir(table_dir.join("index.backup")).unwrap();
    assert_eq!(
        entries(&table_dir),
        [
            "index",
            "index.1",
            "index.backup",
            "log",
            "vectors",
            "vectors.1"
        ]
    );
    let e = open(dir.path());
    wait_ready(&e);
    assert_eq!(
        entries(&table_dir),
        ["index", "index.backup", "log", "vectors"]
    );
    let table = e.app("app").unwrap().tables["rows"].clone();
    assert_eq!(table.index.num_docs(), 3);
    drop(table);
    assert_eq!(nearest(&e, &[1.0, 0.1], None), ["near", "mid", "far"]);
    push(
        &e,
        json!([{"cmd": "add", "fields": {"id": "next", "vec": [1.0, 0.1], "n": 5}}]),
    );
    assert_eq!(nearest(&e, &[1.0, 0.1], None), ["next", "near", "mid"]);

    // A rebuild to generation 1 finishes; then the old generation 0 is back (as if the crash came
    // between the catalog write and its removal) and a rebuild to generation 2 was cut short.
    e.alter(
        "app",
        AppChange {
            schema: schema(true),
            vectors: vec![spec(VectorMetric::Ip)],
            dialect_schema: None,
        },
    )
    .unwrap();
    e.shutdown();
    drop(e);
    half_built(&table_dir, 0, &schema(false), VectorMetric::L2);
    half_built(&table_dir, 2, &schema(true), VectorMetric::Ip);
    let e = open(dir.path());
    wait_ready(&e);
    assert_eq!(
        entries(&table_dir),
        ["index.1", "index.backup", "log", "vectors.1"]
    );
    let table = e.app("app").unwrap().tables["rows"].clone();
    assert_eq!(table.index.num_docs(), 4);
    drop(table);
    assert_eq!(nearest(&e, &[1.0, 0.1], None), ["far", "next", "near"]);
    e.shutdown();
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
    wait_ready(&e);
    assert_eq!(e.app("app").unwrap().dialect_schema, Some(json!({"v": 3})));
    assert_eq!(nearest(&e, &[1.0, 0.1], None), ["far", "near", "red"]);
    assert_eq!(nearest(&e, &[1.0, 0.1], Some(&red)), ["red"]);
    // Only the current generation's index directories are left.
    assert_eq!(
        entries(&only_table_dir(dir.path())),
        ["index.1", "log", "vectors.1"]
    );

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

/// A rebuild that fails (here: the directory of its new graphs cannot be made, because a file
/// sits where it goes) leaves the app on its old generation and removes what it had built.
#[test]
fn a_failed_rebuild_removes_its_half_built_generation() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    e.create(NewApp {
        name: "app".into(),
        kind: AppKind::AnalyticDb,
        app_type: AppType::Advanced,
        schema: schema(false),
        vectors: vec![spec(VectorMetric::L2)],
        dialect_schema: None,
        quota: Default::default(),
    })
    .unwrap();
    push(
        &e,
        json!([{"cmd": "add", "fields": {"id": "near", "vec": [1.0, 0.0], "n": 1}},
               {"cmd": "add", "fields": {"id": "far", "vec": [9.0, 9.0], "n": 3}}]),
    );
    let table_dir = only_table_dir(dir.path());
    let before = entries(&table_dir);
    std::fs::write(table_dir.join("vectors.1"), b"in the way").unwrap();

    let failed = e.alter(
        "app",
        AppChange {
            schema: schema(true),
            vectors: vec![spec(VectorMetric::Ip)],
            dialect_schema: None,
        },
    );
    assert!(failed.is_err(), "the rebuild should fail: {failed:?}");
    std::fs::remove_file(table_dir.join("vectors.1")).unwrap();
    // The text index of generation 1 had been built before the graphs failed: it is gone.
    assert_eq!(entries(&table_dir), before);
    // The app works on its old generation: l2 order, pushes applied.
    assert_eq!(nearest(&e, &[1.0, 0.1], None), ["near", "far"]);
    push(
        &e,
        json!([{"cmd": "add", "fields": {"id": "mid", "vec": [0.0, 1.0], "n": 2}}]),
    );
    assert_eq!(nearest(&e, &[1.0, 0.1], None), ["near", "mid", "far"]);
}
