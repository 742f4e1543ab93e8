//! Change capture against a real MariaDB (one private instance shared by this binary's tests;
//! every test uses its own tables and server id).

mod common;

use common::*;
use futures_util::StreamExt;
use mysql_async::prelude::*;
use pier_mysql::{ChangeKind, SnapshotMode, SourceError};
use serde_json::json;
use std::time::Duration;

async fn setup_table(name: &str, ddl: &str) -> mysql_async::Conn {
    let fx = Fixture::shared();
    let mut c = fx.conn().await;
    exec(&mut c, &format!("DROP TABLE IF EXISTS {name}")).await;
    exec(&mut c, &format!("CREATE TABLE {name} {ddl}")).await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_update_delete_and_pk_change() {
    let fx = Fixture::shared();
    let mut c = setup_table(
        "t_basic",
        "(id INT PRIMARY KEY, name VARCHAR(50), qty INT) ENGINE=InnoDB",
    )
    .await;
    exec(
        &mut c,
        "CREATE TABLE IF NOT EXISTS t_other (id INT PRIMARY KEY)",
    )
    .await;
    let mut src = connect(fx.config("t_basic")).await;
    let start = src.current_position().await.unwrap();
    let mut s = src.stream_from(start.clone());

    exec(&mut c, "INSERT INTO t_basic VALUES (1,'a',1),(2,'b',2)").await;
    exec(&mut c, "INSERT INTO t_other VALUES (1)").await; // not delivered
    exec(&mut c, "UPDATE t_basic SET name='a2' WHERE id=1").await;
    exec(&mut c, "UPDATE t_basic SET id=20, qty=3 WHERE id=2").await;
    exec(&mut c, "DELETE FROM t_basic WHERE id=1").await;
    exec(
        &mut c,
        "BEGIN; INSERT INTO t_basic VALUES (5,'e',5); UPDATE t_basic SET qty=6 WHERE id=5; \
         INSERT INTO t_other VALUES (2); DELETE FROM t_basic WHERE id=20; COMMIT",
    )
    .await;

    let t1 = next_txn(&mut s).await;
    assert_eq!(t1.changes.len(), 2);
    assert!(t1.changes.iter().all(|c| c.kind == ChangeKind::Upsert));
    assert_eq!(t1.changes[0].pk, "1");
    assert_eq!(
        serde_json::Value::Object(t1.changes[0].fields.clone()),
        json!({"id": 1, "name": "a", "qty": 1})
    );
    assert!(t1.gtid.is_some(), "MariaDB transactions carry a GTID");
    assert!(t1.end_position.gtid.is_some());

    let t2 = next_txn(&mut s).await;
    assert_eq!(t2.changes.len(), 1);
    assert_eq!(t2.changes[0].kind, ChangeKind::Upsert);
    assert_eq!(t2.changes[0].fields["name"], json!("a2"));

    let t3 = next_txn(&mut s).await;
    assert_eq!(t3.changes.len(), 2, "pk change = delete old + upsert new");
    assert_eq!(t3.changes[0].kind, ChangeKind::Delete);
    assert_eq!(t3.changes[0].pk, "2");
    assert_eq!(t3.changes[1].kind, ChangeKind::Upsert);
    assert_eq!(t3.changes[1].pk, "20");
    assert_eq!(t3.changes[1].fields["qty"], json!(3));

    let t4 = next_txn(&mut s).await;
    assert_eq!(t4.changes.len(), 1);
    assert_eq!(t4.changes[0].kind, ChangeKind::Delete);
    assert_eq!(t4.changes[0].pk, "1");
    assert_eq!(
        t4.changes[0].fields["name"],
        json!("a2"),
        "delete carries the before image"
    );

    let t5 = next_txn(&mut s).await;
    let kinds: Vec<(ChangeKind, &str)> =
        t5.changes.iter().map(|c| (c.kind, c.pk.as_str())).collect();
    assert_eq!(
        kinds,
        vec![
            (ChangeKind::Upsert, "5"),
            (ChangeKind::Upsert, "5"),
            (ChangeKind::Delete, "20")
        ],
        "one transaction, in statement order"
    );
    assert_eq!(t5.changes[1].fields["qty"], json!(6));

    // Positions are ordered and resuming from one continues right after it.
    assert!(
        t1.end_position.pos < t2.end_position.pos || t1.end_position.file < t2.end_position.file
    );
    drop(s);
    let mut s2 = src.stream_from(t3.end_position.clone());
    let again = next_txn(&mut s2).await;
    assert_eq!(again, t4, "resume from t3's end delivers t4 next");
    let stats = s2.stats();
    assert!(stats.transactions >= 1);
    assert!(stats.seconds_behind.is_some());

    // The same by GTID (MariaDB native GTID resume).
    let mut cfg = fx.config("t_basic");
    cfg.resume_by_gtid = true;
    let src_g = connect(cfg).await;
    let mut s3 = src_g.stream_from(t3.end_position.clone());
    let again = next_txn(&mut s3).await;
    assert_eq!(again.changes, t4.changes, "GTID resume delivers t4 next");
    assert_eq!(again.gtid, t4.gtid);
}

/// Writes random changes while a snapshot is read; snapshot + CDC from its position must equal
/// the table afterwards, with no missed or doubled change.
async fn snapshot_under_writes(table: &str, mode: SnapshotMode) {
    let fx = Fixture::shared();
    let mut c = setup_table(
        table,
        "(id BIGINT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40), KEY(v)) ENGINE=InnoDB",
    )
    .await;
    // 20k rows.
    for chunk in 0..20 {
        let vals: Vec<String> = (0..1000)
            .map(|i| {
                let id = chunk * 1000 + i;
                format!("({id},{},'row {id}')", id % 97)
            })
            .collect();
        exec(
            &mut c,
            &format!("INSERT INTO {table} VALUES {}", vals.join(",")),
        )
        .await;
    }
    let mut cfg = fx.config(table);
    cfg.snapshot_mode = mode;
    let src = connect(cfg).await;

    // Writer: inserts, updates, deletes and primary-key changes until told to stop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let table2 = table.to_string();
    let opts = fx.opts();
    let writer = tokio::spawn(async move {
        let mut w = mysql_async::Conn::new(opts).await.unwrap();
        let mut seed: u64 = 0x9E3779B97F4A7C15;
        let mut next_id: i64 = 1_000_000;
        let mut ops = 0u64;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let target = (seed % 20_000) as i64;
            let sql = match seed % 5 {
                0 => {
                    next_id += 1;
                    format!("INSERT INTO {table2} VALUES ({next_id}, 1, 'new')")
                }
                1 => format!("UPDATE {table2} SET v = v + 1, s = 'upd' WHERE id = {target}"),
                2 => format!("DELETE FROM {table2} WHERE id = {target}"),
                3 => {
                    next_id += 1;
                    format!("UPDATE {table2} SET id = {next_id} WHERE id = {target}")
                }
                _ => {
                    next_id += 1;
                    format!(
                        "BEGIN; UPDATE {table2} SET v = v + 100 WHERE id = {}; INSERT INTO {table2} VALUES ({next_id}, 2, 'txn'); DELETE FROM {table2} WHERE id = {}; COMMIT",
                        target + 1,
                        target + 2
                    )
                }
            };
            w.query_drop(sql).await.unwrap();
            ops += 1;
        }
        ops
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Snapshot in small batches, slowly enough that writes interleave.
    let mut snap = within(60, src.snapshot(500)).await.unwrap();
    let pos = snap.position().clone();
    let mut state = State::default();
    let mut batches = 0;
    loop {
        let b = within(60, snap.next()).await.unwrap().unwrap();
        state.apply_batch(&b);
        batches += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
        if b.last {
            break;
        }
    }
    drop(snap);
    assert!(batches >= 20);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let ops = within(60, writer).await.unwrap();
    assert!(ops > 50, "writer made {ops} changes");

    // Marker: once it arrives, everything before it has been delivered.
    exec(
        &mut c,
        &format!("INSERT INTO {table} VALUES (-1, 0, 'marker')"),
    )
    .await;
    let mut s = src.stream_from(pos);
    loop {
        let t = next_txn(&mut s).await;
        state.apply_txn(&t);
        if t.changes.iter().any(|c| c.pk == "-1") {
            break;
        }
    }
    let (truth, _) = snapshot_state(&src, 5000).await;
    assert_eq!(state.docs.len(), truth.docs.len());
    assert!(state == truth, "snapshot + CDC differs from the table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_with_concurrent_writes_consistent_snapshot() {
    snapshot_under_writes("t_snap_cs", SnapshotMode::ConsistentSnapshot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_with_concurrent_writes_global_read_lock() {
    snapshot_under_writes("t_snap_grl", SnapshotMode::GlobalReadLock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_is_mapped_the_same_by_snapshot_and_binlog() {
    let fx = Fixture::shared();
    let mut c = setup_table(
        "t_types",
        "(id BIGINT UNSIGNED PRIMARY KEY,
          ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
          mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
          de DECIMAL(30,6), de0 DECIMAL(5,0), fl FLOAT, db DOUBLE, bt BIT(10), b1 BIT(1), yr YEAR,
          d DATE, dt DATETIME, dt3 DATETIME(3), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME, tm3 TIME(3),
          ch CHAR(5), vc VARCHAR(100), tx TEXT, lat VARCHAR(20) CHARACTER SET latin1,
          bn BINARY(4), vb VARBINARY(10), bl BLOB, js JSON,
          en ENUM('small','medium','large'), st SET('x','y','z')) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    )
    .await;
    exec(&mut c, "SET time_zone = '+00:00'").await;
    let mut src = connect(fx.config("t_types")).await;
    let start = src.current_position().await.unwrap();
    let mut s = src.stream_from(start);

    exec(
        &mut c,
        "INSERT INTO t_types VALUES (18446744073709551615,
          -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
          -9223372036854775808, 18446744073709551615,
          '-123456789012345678.123456', 99999, 9.99, 1.7976931348623157e308, b'1010101010', b'1', 2024,
          '2024-02-29', '1999-12-31 23:59:59', '2024-01-02 03:04:05.678', '2024-01-02 03:04:05.123456',
          '-838:59:59', '12:34:56.789',
          'ab', 'héllo 😀 世界', 'long text', 'café €',
          X'00FF0100', X'FFFE', X'89504E470D0A1A0A', '{\"b\": [1, 2.5, \"x\"], \"a\": {\"n\": null, \"t\": true}}',
          'medium', 'x,z')",
    )
    .await;
    exec(
        &mut c,
        "INSERT INTO t_types (id, vc, bl, yr, d) VALUES (2, 'nulls', 'text in a blob', 0, '0000-00-00')",
    )
    .await;

    let t1 = next_txn(&mut s).await;
    let t2 = next_txn(&mut s).await;
    let full = serde_json::Value::Object(t1.changes[0].fields.clone());
    let expected = json!({
        "id": 18446744073709551615u64,
        "ti": -128, "tiu": 255, "si": -32768, "siu": 65535, "mi": -8388608, "miu": 16777215,
        "i": -2147483648i64, "iu": 4294967295u64, "bi": i64::MIN, "biu": 18446744073709551615u64,
        "de": "-123456789012345678.123456", "de0": "99999", "fl": 9.99, "db": 1.7976931348623157e308,
        "bt": 682, "b1": 1, "yr": 2024,
        "d": 1709164800000i64, "dt": 946684799000i64, "dt3": 1704164645678i64, "ts": 1704164645123i64,
        "tm": "-838:59:59", "tm3": "12:34:56.789",
        "ch": "ab", "vc": "héllo 😀 世界", "tx": "long text", "lat": "café €",
        "bn": "AP8BAA==", "vb": "//4=", "bl": "iVBORw0KGgo=",
        // MariaDB's JSON is a LONGTEXT alias: its text as stored.
        "js": "{\"b\": [1, 2.5, \"x\"], \"a\": {\"n\": null, \"t\": true}}",
        "en": "medium", "st": "x,z"
    });
    assert_eq!(t1.changes[0].pk, "18446744073709551615");
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&full[k], v, "binlog value of column {k}");
    }
    let nulls = &t2.changes[0].fields;
    assert_eq!(nulls["ti"], serde_json::Value::Null);
    assert_eq!(nulls["js"], serde_json::Value::Null);
    assert_eq!(nulls["bl"], json!("text in a blob"));
    assert_eq!(nulls["yr"], json!(0));
    assert_eq!(nulls["d"], serde_json::Value::Null, "zero date → null");

    // The snapshot maps every value exactly like the binlog did.
    let (snap, _) = snapshot_state(&src, 10).await;
    assert_eq!(snap.docs["18446744073709551615"], t1.changes[0].fields);
    assert_eq!(snap.docs["2"], t2.changes[0].fields);

    // Update: before and after images decode too.
    exec(
        &mut c,
        "UPDATE t_types SET fl = -0.5, en = 'large', st = '' WHERE id = 2",
    )
    .await;
    let t3 = next_txn(&mut s).await;
    assert_eq!(t3.changes.len(), 1);
    assert_eq!(t3.changes[0].fields["fl"], json!(-0.5));
    assert_eq!(t3.changes[0].fields["en"], json!("large"));
    assert_eq!(t3.changes[0].fields["st"], json!(""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_filter_and_composite_key() {
    let fx = Fixture::shared();
    let mut c = setup_table(
        "t_map",
        "(shop INT, sku VARCHAR(20), qty INT, name VARCHAR(20), secret VARCHAR(20), PRIMARY KEY (shop, sku))",
    )
    .await;
    exec(
        &mut c,
        "INSERT INTO t_map VALUES (1,'a',5,'A','x'),(1,'b',15,'B','x'),(2,'a',50,'C','x')",
    )
    .await;
    let mut cfg = fx.config("t_map");
    cfg.fields = [("sku", "sku"), ("qty", "stock"), ("name", "title")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    cfg.filter = Some("qty >= 10 AND name <> 'hidden'".into());
    let src = connect(cfg).await;
    let (snap, pos) = snapshot_state(&src, 2).await;
    let keys: Vec<&String> = snap.docs.keys().collect();
    assert_eq!(
        keys,
        vec!["1|b", "2|a"],
        "filtered, composite keys joined with |"
    );
    assert_eq!(
        serde_json::Value::Object(snap.docs["1|b"].clone()),
        json!({"sku": "b", "stock": 15, "title": "B"})
    );
    let mut s = src.stream_from(pos);
    exec(
        &mut c,
        "UPDATE t_map SET qty = 20 WHERE shop = 1 AND sku = 'a'",
    )
    .await; // enters
    let t = next_txn(&mut s).await;
    assert_eq!(
        (t.changes[0].kind, t.changes[0].pk.as_str()),
        (ChangeKind::Upsert, "1|a")
    );
    exec(
        &mut c,
        "UPDATE t_map SET qty = 1 WHERE shop = 1 AND sku = 'b'",
    )
    .await; // leaves
    let t = next_txn(&mut s).await;
    assert_eq!(
        (t.changes[0].kind, t.changes[0].pk.as_str()),
        (ChangeKind::Delete, "1|b")
    );
    exec(&mut c, "INSERT INTO t_map VALUES (3,'z',1,'no','x')").await; // filtered out
    exec(&mut c, "UPDATE t_map SET name = 'hidden' WHERE shop = 2").await; // leaves
    let t = next_txn(&mut s).await;
    assert_eq!(t.changes.len(), 1);
    assert_eq!(
        (t.changes[0].kind, t.changes[0].pk.as_str()),
        (ChangeKind::Delete, "2|a")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_on_the_table_pauses_the_stream() {
    let fx = Fixture::shared();
    let mut c = setup_table("t_ddl", "(id INT PRIMARY KEY, a VARCHAR(10))").await;
    exec(
        &mut c,
        "CREATE TABLE IF NOT EXISTS t_ddl_other (id INT PRIMARY KEY)",
    )
    .await;
    let mut src = connect(fx.config("t_ddl")).await;
    let start = src.current_position().await.unwrap();
    let mut s = src.stream_from(start);
    exec(&mut c, "INSERT INTO t_ddl VALUES (1, 'x')").await;
    exec(&mut c, "ALTER TABLE t_ddl_other ADD COLUMN t_ddl INT").await; // another table: ignored
    exec(&mut c, "ALTER TABLE t_ddl ADD COLUMN b INT DEFAULT 7").await;
    exec(&mut c, "INSERT INTO t_ddl VALUES (2, 'y', 8)").await;
    let (err, seen) = next_error(&mut s).await;
    let delivered: Vec<_> = seen.iter().filter(|t| !t.changes.is_empty()).collect();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].changes[0].pk, "1");
    let after = match &err {
        SourceError::SchemaChanged {
            table,
            reason,
            before,
            after,
        } => {
            assert_eq!(table, "pier_test.t_ddl");
            assert!(reason.contains("ADD COLUMN b"), "{reason}");
            assert!(before.pos < after.pos || before.file < after.file);
            after.clone()
        }
        other => panic!("expected SchemaChanged, got {other}"),
    };
    assert!(
        err.to_string()
            .contains("schema of pier_test.t_ddl changed")
    );
    assert!(s.next().await.is_none(), "the stream ends after the error");

    // Resuming with the old columns from after the DDL is refused (table map mismatch)...
    let mut s = src.stream_from(after.clone());
    let (err, _) = next_error(&mut s).await;
    assert!(matches!(err, SourceError::SchemaChanged { .. }), "{err}");
    // ...and works after reloading the schema.
    src.reload_schema().await.unwrap();
    let mut s = src.stream_from(after);
    let t = next_txn(&mut s).await;
    assert_eq!(
        serde_json::Value::Object(t.changes[0].fields.clone()),
        json!({"id": 2, "a": "y", "b": 8})
    );
    exec(&mut c, "TRUNCATE TABLE t_ddl").await;
    let (err, _) = next_error(&mut s).await;
    match err {
        SourceError::SchemaChanged { reason, .. } => assert!(reason.contains("TRUNCATE")),
        other => panic!("expected SchemaChanged, got {other}"),
    }
    exec(&mut c, "DROP TABLE t_ddl").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_report_lag() {
    let fx = Fixture::shared();
    let mut c = setup_table("t_stats", "(id INT PRIMARY KEY, v INT)").await;
    let mut src = connect(fx.config("t_stats")).await;
    let start = src.current_position().await.unwrap();
    let mut s = src.stream_from(start);
    for i in 0..20 {
        exec(&mut c, &format!("INSERT INTO t_stats VALUES ({i}, {i})")).await;
    }
    let mut n = 0;
    while n < 20 {
        n += next_txn(&mut s).await.changes.len();
    }
    // bytes_behind is polled every LAG_POLL_INTERVAL.
    tokio::time::sleep(pier_mysql::LAG_POLL_INTERVAL + Duration::from_secs(2)).await;
    // Take what is queued (progress transactions over other tests' traffic).
    while let Ok(Some(t)) = tokio::time::timeout(Duration::from_millis(500), s.next()).await {
        t.unwrap();
    }
    let st = s.stats();
    assert!(st.changes >= 20);
    assert!(st.connected);
    assert!(st.position.is_some());
    assert!(st.seconds_behind.unwrap() <= 5, "{st:?}");
    assert!(st.bytes_behind.is_some(), "{st:?}");
}
