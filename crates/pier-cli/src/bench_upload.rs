//! `pier bench upload`: an AnalyticDB upload job at the cloud's size limit, end to end.
//!
//! It starts `pier serve` (this binary) on a private port, creates a collection, writes a
//! 200 MB JSONL file of clustered synthetic vectors (768-d by default), uploads it to pier and
//! runs it as an upload job, polling the job: rows/s until every row is acknowledged (applied
//! to the durable log, before indexing), time to `Success` (every row indexed and searchable)
//! and the server's peak memory. Then it measures `QueryCollectionData` (over the RPC API)
//! with one client: recall@k against exact neighbours computed here, and p50/p99 latency,
//! plain, with a metadata filter, and hybrid (RRF with a full-text query).

use crate::bench_server::{machine, percentile, proc_status_bytes, start_server};
use crate::bench_vector::{Matrix, bar, ground_truth, synthetic};
use anyhow::{Context, bail};
use clap::Args;
use indicatif::HumanBytes;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const NAMESPACE: &str = "bench";
const NS_PASSWORD: &str = "bench pass";
const COLLECTION: &str = "upload";
const MANAGER: (&str, &str) = ("bench_admin", "bench admin pass");
/// How often the job is polled: the acknowledged and Success times are this precise.
const POLL_MS: u64 = 20;
/// Metadata categories: a filter on one keeps a tenth of the rows.
const CATEGORIES: usize = 10;
const WORDS: [&str; 8] = [
    "harbor", "lantern", "meadow", "copper", "willow", "summit", "ember", "drift",
];

/// Settings of the upload benchmark.
#[derive(Args, Debug)]
pub struct UploadBench {
    /// Size of the JSONL file (the cloud's limit for one job is 200 MB).
    #[arg(long, default_value_t = 200_000_000)]
    bytes: u64,
    /// Vector dimension.
    #[arg(long, default_value_t = 768)]
    dim: usize,
    /// Clusters of the synthetic data.
    #[arg(long, default_value_t = 500)]
    clusters: usize,
    /// HNSW M of the collection.
    #[arg(long, default_value_t = 16)]
    hnsw_m: usize,
    /// HNSW ef_construction of the collection.
    #[arg(long, default_value_t = 64)]
    ef_construction: usize,
    /// Queries measured per mode.
    #[arg(long, default_value_t = 200)]
    query_count: usize,
    /// Neighbours per query (recall@k).
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// The server's data dir (default: a temporary one).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// Runs the benchmark.
pub async fn upload(b: UploadBench) -> anyhow::Result<()> {
    // As many rows as fit in --bytes, sized by a sample row of the same data.
    let sample = synthetic(1, b.dim, b.clusters, true, 1);
    let row_bytes = row_json(&sample, 0).to_string().len() as u64 + 1;
    let rows = (b.bytes / row_bytes).max(1) as usize;
    eprintln!("generating {rows} rows of {} dimensions", b.dim);
    let base = synthetic(rows, b.dim, b.clusters, true, 1);
    let queries = synthetic(b.query_count, b.dim, b.clusters, true, 2);
    let temp = tempfile::tempdir()?;
    let file = temp.path().join("rows.jsonl");
    let file_bytes = write_jsonl(&file, &base)?;
    eprintln!("{} written to {}", HumanBytes(file_bytes), file.display());

    let (server, client) = start_server(
        b.data_dir.as_deref(),
        &[
            "--adb-auth".into(),
            "none".into(),
            "--manager-account".into(),
            MANAGER.0.into(),
            "--manager-password".into(),
            MANAGER.1.into(),
        ],
    )
    .await?;
    let pid = server.child.id();
    let rpc = Rpc {
        http: reqwest::Client::new(),
        url: format!("{}/", client.endpoint),
    };
    rpc.call(
        "CreateNamespace",
        &[("Namespace", NAMESPACE), ("NamespacePassword", NS_PASSWORD)],
        true,
    )
    .await?;
    let metadata = json!({"title": "text", "page": "int", "cat": "int"}).to_string();
    rpc.call(
        "CreateCollection",
        &[
            ("Namespace", NAMESPACE),
            ("Collection", COLLECTION),
            ("Dimension", &b.dim.to_string()),
            ("Metrics", "cosine"),
            ("Metadata", &metadata),
            ("FullTextRetrievalFields", "title"),
            ("Parser", "english"),
            ("HnswM", &b.hnsw_m.to_string()),
            ("HnswEfConstruction", &b.ef_construction.to_string()),
        ],
        true,
    )
    .await?;

    let sent = Instant::now();
    let body = reqwest::Body::from(tokio::fs::File::open(&file).await?);
    let uploaded = client.send(Method::POST, "/api/v1/uploads", body).await?;
    let upload_secs = sent.elapsed().as_secs_f64();
    let started = Instant::now();
    let job = rpc
        .call(
            "UpsertCollectionDataAsync",
            &[
                ("Namespace", NAMESPACE),
                ("NamespacePassword", NS_PASSWORD),
                ("Collection", COLLECTION),
                ("FileUrl", uploaded["url"].as_str().unwrap_or_default()),
            ],
            false,
        )
        .await?;
    let job_id = job["JobId"].as_str().context("no JobId")?.to_string();
    let pb = bar(rows as u64, "rows");
    let mut applied_at = None;
    let mut peak_rss = 0;
    let success_secs = loop {
        let job = client
            .call(Method::GET, &format!("/api/v1/upload-jobs/{job_id}"), None)
            .await?;
        peak_rss = peak_rss.max(proc_status_bytes(pid, "VmRSS").unwrap_or(0));
        let done = job["rows_done"].as_u64().unwrap_or(0);
        pb.set_position(done);
        if applied_at.is_none() && done as usize == rows {
            applied_at = Some(started.elapsed().as_secs_f64());
            pb.set_message("indexing");
        }
        match job["status"].as_str() {
            Some("Success") => break started.elapsed().as_secs_f64(),
            Some("Failed" | "Cancelled") => bail!("the job ended {job}"),
            _ => tokio::time::sleep(Duration::from_millis(POLL_MS)).await,
        }
    };
    pb.finish_and_clear();
    let applied_secs = applied_at.unwrap_or(success_secs);
    let hwm = proc_status_bytes(pid, "VmHWM").unwrap_or(0);

    eprintln!("computing exact neighbours");
    let truth = ground_truth(&base, &queries, b.k, true);
    let cat_of = |i: usize| i % CATEGORIES;
    let filtered_truth: Vec<Vec<u64>> = (0..queries.rows())
        .map(|q| {
            let query = queries.row(q);
            let mut scored: Vec<(f32, u64)> = (0..base.rows())
                .filter(|&i| cat_of(i) == q % CATEGORIES)
                .map(|i| {
                    let v = base.row(i);
                    (
                        -v.iter().zip(query).map(|(a, b)| a * b).sum::<f32>(),
                        i as u64,
                    )
                })
                .collect();
            scored.sort_by(|a, b| a.0.total_cmp(&b.0));
            scored.into_iter().take(b.k).map(|(_, i)| i).collect()
        })
        .collect();
    let mut modes = Vec::new();
    for mode in ["vector", "vector + filter", "hybrid (RRF)"] {
        let mut latencies = Vec::new();
        let mut found = 0usize;
        let mut expected = 0usize;
        for q in 0..queries.rows() {
            let vector = json!(queries.row(q)).to_string();
            let filter = format!("cat = {}", q % CATEGORIES);
            let content = WORDS[q % WORDS.len()];
            let top_k = b.k.to_string();
            let mut params = vec![
                ("Namespace", NAMESPACE),
                ("NamespacePassword", NS_PASSWORD),
                ("Collection", COLLECTION),
                ("Vector", vector.as_str()),
                ("TopK", top_k.as_str()),
                ("IncludeValues", "false"),
            ];
            match mode {
                "vector + filter" => params.push(("Filter", filter.as_str())),
                "hybrid (RRF)" => {
                    params.push(("Content", content));
                    params.push(("HybridSearch", "RRF"));
                }
                _ => {}
            }
            let t = Instant::now();
            let answer = rpc.call("QueryCollectionData", &params, false).await?;
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            let ids: Vec<u64> = answer["Matches"]["match"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .filter_map(|m| m["Id"].as_str()?.strip_prefix('r')?.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            let truth = match mode {
                "vector" => &truth[q],
                "vector + filter" => &filtered_truth[q],
                _ => continue,
            };
            expected += truth.len();
            found += truth.iter().filter(|i| ids.contains(i)).count();
        }
        latencies.sort_by(f64::total_cmp);
        let recall = (expected > 0).then(|| found as f64 / expected as f64);
        modes.push((
            mode,
            recall,
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
        ));
    }
    drop(server);

    println!(
        "## AnalyticDB upload job: {rows} rows × {} d, {} JSONL\n",
        b.dim,
        HumanBytes(file_bytes)
    );
    println!(
        "Machine: {}. Collection: cosine, HNSW M={}, ef_construction={}.\n",
        machine(),
        b.hnsw_m,
        b.ef_construction
    );
    println!("| measure | value |\n|---|---|");
    println!("| upload of the file to pier | {upload_secs:.1} s |");
    println!(
        "| rows acknowledged (applied to the durable log) | {applied_secs:.1} s, {:.0} rows/s |",
        rows as f64 / applied_secs
    );
    println!(
        "| job Success (indexed, searchable) | {success_secs:.1} s, {:.0} rows/s |",
        rows as f64 / success_secs
    );
    println!(
        "| server memory: peak VmHWM / VmRSS seen while polling | {} / {} |",
        HumanBytes(hwm),
        HumanBytes(peak_rss)
    );
    println!(
        "\n| QueryCollectionData (1 client, TopK {}) | recall@{} | p50 ms | p99 ms |\n|---|---|---|---|",
        b.k, b.k
    );
    for (mode, recall, p50, p99) in modes {
        let recall = recall.map_or("–".to_string(), |r| format!("{r:.3}"));
        println!("| {mode} | {recall} | {p50:.1} | {p99:.1} |");
    }
    Ok(())
}

/// Writes `base` as upload rows `{Id: "r<i>", Metadata: {title, page, cat}, Vector}`; returns
/// the file's size.
fn write_jsonl(path: &std::path::Path, base: &Matrix) -> anyhow::Result<u64> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..base.rows() {
        serde_json::to_writer(&mut out, &row_json(base, i))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Row `i` of `base` as an upload line.
fn row_json(base: &Matrix, i: usize) -> Value {
    json!({
        "Id": format!("r{i}"),
        "Metadata": {
            "title": format!("{} {} {i}", WORDS[i % WORDS.len()], WORDS[(i / 8) % WORDS.len()]),
            "page": i,
            "cat": i % CATEGORIES,
        },
        "Vector": base.row(i),
    })
}

/// Unsigned AnalyticDB RPC calls (the bench server runs with `--adb-auth none`).
struct Rpc {
    http: reqwest::Client,
    url: String,
}

impl Rpc {
    /// Calls `action` with `params` in a form body (with the manager account when `manager`);
    /// returns the answer, or fails with the server's message.
    async fn call(
        &self,
        action: &str,
        params: &[(&str, &str)],
        manager: bool,
    ) -> anyhow::Result<Value> {
        let mut form: Vec<(&str, &str)> = vec![("Action", action), ("RegionId", "local")];
        if manager {
            form.push(("ManagerAccount", MANAGER.0));
            form.push(("ManagerAccountPassword", MANAGER.1));
        }
        form.extend_from_slice(params);
        let answer = self.http.post(&self.url).form(&form).send().await?;
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{action}: HTTP {status}: {body}");
        }
        Ok(body)
    }
}
