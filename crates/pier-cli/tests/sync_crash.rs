//! Crash safety of MySQL sync: the real `pier` binary follows a private MariaDB's binlog and is
//! SIGKILLed again and again while writers keep changing the table. After the last restart pier's
//! documents must equal the table exactly: no change lost, none applied out of order, no deleted
//! row resurrected, and no second snapshot (the source resumed from its checkpoint every time).

use mysql_async::prelude::Queryable;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../pier-mysql/scripts/mariadb-fixture.sh"
);
const ROWS: i64 = 500;
const ROUNDS: usize = 4;

struct MariaDb {
    dir: std::path::PathBuf,
    port: u16,
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .args([SCRIPT, "stop", self.dir.to_str().unwrap()])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_mariadb() -> MariaDb {
    let dir = tempfile::Builder::new()
        .prefix("pier-sync-crash-")
        .tempdir()
        .unwrap()
        .keep();
    let port = free_port();
    let out = Command::new("bash")
        .args([SCRIPT, "start", dir.to_str().unwrap(), &port.to_string()])
        .env("MARIADB_FIXTURE_OWNER_PID", std::process::id().to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    MariaDb { dir, port }
}

struct Pier(Child);

impl Drop for Pier {
    fn drop(&mut self) {
        let _ = self.0.kill(); // SIGKILL
        let _ = self.0.wait();
    }
}

fn start_pier(dir: &std::path::Path, port: u16) -> Pier {
    Pier(
        Command::new(env!("CARGO_BIN_EXE_pier"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--commit-interval-ms", "50"])
            .arg("--data-dir")
            .arg(dir)
            .env("PIER_LOG", "warn")
            .spawn()
            .expect("pier starts"),
    )
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http
        .get(format!("{base}/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "pier not ready within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Random single-row and multi-row transactions until `until`.
async fn write(mut conn: mysql_async::Conn, seed: u64, until: Instant) {
    let mut x = seed;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    while Instant::now() < until {
        let id = next(ROWS as u64 + 200) as i64;
        let sql = match next(4) {
            0 => format!("REPLACE INTO items VALUES ({id}, {})", next(1000)),
            1 => format!("DELETE FROM items WHERE id = {id}"),
            2 => format!(
                "START TRANSACTION; UPDATE items SET v = v + 1 WHERE id = {id}; UPDATE items SET v = v * 2 WHERE id = {}; COMMIT",
                (id + 1) % ROWS
            ),
            _ => format!("UPDATE items SET v = v + 7 WHERE id = {id}"),
        };
        conn.query_drop(sql).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_sync_loses_nothing_and_keeps_order() {
    let db = start_mariadb();
    let opts: mysql_async::Opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(db.port)
        .user(Some("pier"))
        .pass(Some("pier"))
        .db_name(Some("pier_test"))
        .prefer_socket(false)
        .into();
    let mut conn = mysql_async::Conn::new(opts.clone()).await.unwrap();
    conn.query_drop("CREATE TABLE items (id INT PRIMARY KEY, v BIGINT NOT NULL)")
        .await
        .unwrap();
    let values: Vec<String> = (0..ROWS).map(|i| format!("({i}, {i})")).collect();
    conn.query_drop(format!("INSERT INTO items VALUES {}", values.join(",")))
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let key = pier_engine::KeyStore::open(dir.path())
        .unwrap()
        .create(None)
        .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    for round in 0..ROUNDS {
        let http = reqwest::Client::new();
        let pier = start_pier(dir.path(), port);
        wait_ready(&http, &base).await;
        if round == 0 {
            let schema = json!({"tables": {"items": {"fields": {
                "id": {"type": "INT", "primaryKey": true}, "v": {"type": "INT"}}}},
                "indexes": {"searchFields": {"id": {"fields": ["id"]}}, "filterFields": ["v"]}});
            let r = http
                .post(format!("{base}/api/v1/apps"))
                .basic_auth(&key.id, Some(&key.secret))
                .json(&json!({"name": "shop", "type": "advanced", "schema": schema}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let r = http
                .post(format!("{base}/api/v1/syncs"))
                .basic_auth(&key.id, Some(&key.secret))
                .json(
                    &json!({"name": "items", "app": "shop", "table": "items", "source": {
                    "host": "127.0.0.1", "port": db.port, "user": "pier", "password": "pier",
                    "database": "pier_test", "table": "items", "server_id": 777}}),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        }
        let until = Instant::now() + Duration::from_millis(700);
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let opts = opts.clone();
                tokio::spawn(async move {
                    let conn = mysql_async::Conn::new(opts).await.unwrap();
                    write(conn, 0x9E37_79B9 + (round * 2 + w) as u64, until).await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(400)).await;
        drop(pier); // SIGKILL in the middle of the stream
        for w in writers {
            w.await.unwrap();
        }
    }

    // The final run: it must converge on the table's exact content.
    let http = reqwest::Client::new();
    let _pier = start_pier(dir.path(), port);
    wait_ready(&http, &base).await;
    let want: BTreeMap<i64, i64> = conn
        .query::<(i64, i64), _>("SELECT id, v FROM items")
        .await
        .unwrap()
        .into_iter()
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut got = BTreeMap::new();
        for id in 0..ROWS + 200 {
            let r = http
                .get(format!("{base}/api/v1/apps/shop/items/docs/{id}"))
                .basic_auth(&key.id, Some(&key.secret))
                .send()
                .await
                .unwrap();
            if r.status() == 200 {
                let doc: Value = r.json().await.unwrap();
                got.insert(id, doc["fields"]["v"].as_i64().unwrap());
            }
        }
        if got == want {
            break;
        }
        let status: Value = http
            .get(format!("{base}/api/v1/syncs/items"))
            .basic_auth(&key.id, Some(&key.secret))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            Instant::now() < deadline,
            "pier never matched MariaDB ({} docs vs {} rows); sync: {status}",
            got.len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status: Value = http
        .get(format!("{base}/api/v1/syncs/items"))
        .basic_auth(&key.id, Some(&key.secret))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "streaming", "{status}");
    assert_eq!(
        status["snapshot_rows"], 0,
        "resumed, not re-snapshotted: {status}"
    );

    // The console's overview shows the source with its state.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = browser
        .post(format!("{base}/login"))
        .form(&[("key_id", key.id.as_str()), ("secret", key.secret.as_str())])
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = browser
        .get(format!("{base}/"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sync sources"), "{page}");
    assert!(
        page.contains("<th scope=\"row\">items</th>") && page.contains("<td>streaming</td>"),
        "{page}"
    );
}
