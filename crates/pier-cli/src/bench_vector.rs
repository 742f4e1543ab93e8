//! `pier bench vectors`: the Vector Search Edition API at scale, end to end.
//!
//! It starts `pier serve` (this binary) on a private port, creates a table with one HNSW index,
//! pushes every base vector through `POST /update/{table}/actions/bulk` from several clients
//! (acknowledged = durable), waits until every vector is in the graph (indexed), then measures
//! `/vector-service/query` at several `ef` values: recall@k against exact nearest neighbours
//! computed here, latency p50/p99 and QPS with one client, QPS with several, and the server's CPU
//! time per query (the fairest figure on a shared machine). Base and query vectors come from
//! `.npy` files (float32 `[N, d]`, e.g. `crates/pier-vector/bench/make_minilm_dataset.py`), or are
//! generated: clustered Gaussian data, unit-normalised for the inner-product metric.

use crate::bench_server::{
    cpu_seconds, load_average, machine, percentile, proc_status_bytes, start_server,
};
use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TABLE: &str = "vbench";

/// Settings of the vector benchmark.
#[derive(Args, Debug)]
pub struct VectorBench {
    /// Base vectors (.npy, float32 [N, d]); synthetic clustered data when absent.
    #[arg(long, requires = "queries")]
    base: Option<PathBuf>,
    /// Query vectors (.npy, float32 [Q, d]), with --base.
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Synthetic data: number of base vectors.
    #[arg(long, default_value_t = 100_000)]
    vectors: usize,
    /// Synthetic data: dimension.
    #[arg(long, default_value_t = 384)]
    dim: usize,
    /// Synthetic data: number of clusters.
    #[arg(long, default_value_t = 1000)]
    clusters: usize,
    /// Queries measured at each ef.
    #[arg(long, default_value_t = 500)]
    query_count: usize,
    /// Distance: ip (inner product; cosine on unit vectors) or l2 (squared Euclidean).
    #[arg(long, default_value = "ip")]
    metric: String,
    /// HNSW M (neighbours per node).
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// HNSW ef_construction.
    #[arg(long, default_value_t = 128)]
    ef_construction: usize,
    /// Vector storage: f16 or f32.
    #[arg(long, default_value = "f16")]
    storage: String,
    /// Search widths to measure.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128,256")]
    ef: Vec<usize>,
    /// Concurrent clients for pushes and for the throughput run.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Documents per push (a push body must stay under 2 MB).
    #[arg(long, default_value_t = 250)]
    batch_docs: usize,
    /// Neighbours per query (recall@k).
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Seconds of the concurrent throughput run at each ef.
    #[arg(long, default_value_t = 5)]
    throughput_secs: u64,
    /// The server's data dir (default: a temporary one). It is kept, so a later run with the
    /// same data settings and `--reuse` can measure queries without loading again.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// With --data-dir: if its table already holds every vector (an earlier run with the same
    /// data settings), skip the load and measure queries only.
    #[arg(long, requires = "data_dir")]
    reuse: bool,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Vectors stored row by row.
pub(crate) struct Matrix {
    dim: usize,
    data: Vec<f32>,
}

impl Matrix {
    pub(crate) fn rows(&self) -> usize {
        self.data.len() / self.dim.max(1)
    }

    pub(crate) fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// Reads a float32 2-D `.npy` file (C order).
fn read_npy(path: &Path) -> anyhow::Result<Matrix> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        bail!("{} is not a .npy file", path.display());
    }
    let (header_len, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )
    };
    let header = String::from_utf8_lossy(&bytes[start..start + header_len]);
    if !header.contains("'<f4'") || header.contains("'fortran_order': True") {
        bail!(
            "{}: expected float32 ('<f4') in C order, header {header}",
            path.display()
        );
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .context("no shape in the .npy header")?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    let [_, dim] = dims[..] else {
        bail!("{}: expected a 2-D array, shape ({shape})", path.display());
    };
    let data = bytes[start + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Matrix { dim, data })
}

/// A standard normal sample (Box–Muller).
fn gauss(rng: &mut impl Rng) -> f32 {
    let (u, v): (f32, f32) = (rng.random_range(1e-7..1.0), rng.random());
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}

/// Clustered Gaussian data: `n` points around `clusters` random centres. The centres are the
/// same for every `seed` (base vectors and queries come from the same clusters); `seed` picks
/// the points.
pub(crate) fn synthetic(
    n: usize,
    dim: usize,
    clusters: usize,
    normalise: bool,
    seed: u64,
) -> Matrix {
    let mut centre_rng = rand::rngs::StdRng::seed_from_u64(0xc3e7);
    let centres: Vec<f32> = (0..clusters.max(1) * dim)
        .map(|_| gauss(&mut centre_rng))
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut data = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = rng.random_range(0..clusters.max(1));
        let start = data.len();
        for j in 0..dim {
            data.push(centres[c * dim + j] + 0.35 * gauss(&mut rng));
        }
        if normalise {
            let norm = data[start..].iter().map(|x| x * x).sum::<f32>().sqrt();
            data[start..].iter_mut().for_each(|x| *x /= norm.max(1e-12));
        }
    }
    Matrix { dim, data }
}

/// Exact top-k by brute force, per query (2 threads).
pub(crate) fn ground_truth(base: &Matrix, queries: &Matrix, k: usize, ip: bool) -> Vec<Vec<u64>> {
    let q = queries.rows();
    let half = q.div_ceil(2);
    let work = |range: std::ops::Range<usize>| -> Vec<Vec<u64>> {
        range
            .map(|qi| {
                let query = queries.row(qi);
                let mut scored: Vec<(f32, u64)> = (0..base.rows())
                    .map(|i| {
                        let v = base.row(i);
                        let s = if ip {
                            -v.iter().zip(query).map(|(a, b)| a * b).sum::<f32>()
                        } else {
                            v.iter().zip(query).map(|(a, b)| (a - b) * (a - b)).sum()
                        };
                        (s, i as u64)
                    })
                    .collect();
                let kk = k.min(scored.len());
                scored.select_nth_unstable_by(kk.saturating_sub(1), |a, b| a.0.total_cmp(&b.0));
                scored.truncate(kk);
                scored.sort_by(|a, b| a.0.total_cmp(&b.0));
                scored.into_iter().map(|(_, i)| i).collect()
            })
            .collect()
    };
    std::thread::scope(|s| {
        let first = s.spawn(|| work(0..half));
        let mut second = work(half..q);
        let mut out = first.join().expect("ground truth thread");
        out.append(&mut second);
        out
    })
}

pub(crate) fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{{bar:30}} {{pos}}/{{len}} {what} [{{elapsed_precise}}, {{per_sec}}, eta {{eta}}]"
        ))
        .expect("progress template"),
    );
    pb
}

/// One ef's measurements.
struct EfResult {
    ef: usize,
    recall: f64,
    p50_ms: f64,
    p99_ms: f64,
    qps_one: f64,
    qps_many: f64,
    server_cpu_ms: f64,
}

/// What the load phase measured.
struct LoadStats {
    acked_secs: f64,
    indexed_secs: f64,
    cpu_secs: f64,
    peak_rss: u64,
    peak_anon: u64,
    rss_after: u64,
    anon_after: u64,
}

/// The server under test and how to reach it.
struct BenchServer<'a> {
    pid: u32,
    http: &'a reqwest::Client,
    auth: &'a (String, String),
    endpoint: &'a str,
}

impl BenchServer<'_> {
    /// The table's info, or None if it does not exist.
    async fn info(&self, info_url: &str) -> anyhow::Result<Option<Value>> {
        let r = self
            .http
            .get(info_url)
            .basic_auth(&self.auth.0, Some(&self.auth.1))
            .send()
            .await?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(r.error_for_status()?.json().await?))
    }

    /// Whether the table exists with `n` documents, every one in the graph.
    async fn holds(&self, info_url: &str, n: usize) -> anyhow::Result<bool> {
        Ok(self.info(info_url).await?.is_some_and(|info| {
            info["table"]["documents"].as_u64() == Some(n as u64)
                && info["table"]["vectors"].as_u64() >= Some(n as u64)
        }))
    }
}

/// Creates the table and pushes every base vector, then waits until all are searchable.
async fn load(
    b: &VectorBench,
    base: &Arc<Matrix>,
    ip: bool,
    server: &BenchServer<'_>,
    info_url: &str,
) -> anyhow::Result<LoadStats> {
    let (pid, http, auth, endpoint) = (server.pid, server.http, server.auth, server.endpoint);
    let n = base.rows();
    let mut build = json!({
        "proxima.hnsw.builder.max_neighbor_count": b.m * 2,
        "proxima.hnsw.builder.efconstruction": b.ef_construction,
    });
    if b.storage == "f16" {
        build["proxima.qc.builder.quantizer_class"] = json!("HalfFloatConverter");
    }
    let table = json!({"name": TABLE, "primaryKey": "id",
        "fieldSchema": {"id": "INT64", "vector": "MULTI_FLOAT"},
        "vectorIndex": [{"indexName": "v", "vectorField": "vector", "dimension": base.dim.to_string(),
            "distanceType": if ip { "InnerProduct" } else { "SquaredEuclidean" },
            "vectorIndexType": "HNSW",
            "advanceParams": {"buildIndexParams": build, "linearBuildThreshold": 1000}}]});
    let r = http
        .post(format!("{endpoint}/api/v1/vector-tables"))
        .basic_auth(&auth.0, Some(&auth.1))
        .json(&table)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("creating the table: {} {}", r.status(), r.text().await?);
    }

    // Peak memory while loading and indexing: all resident pages, and the heap alone (VmRSS also
    // counts pages of files the server has mapped, such as index files being read or written).
    let peak_rss = Arc::new(AtomicU64::new(0));
    let peak_anon = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (peak, peak_heap) = (peak_rss.clone(), peak_anon.clone());
        tokio::spawn(async move {
            loop {
                if let Some(r) = proc_status_bytes(pid, "VmRSS") {
                    peak.fetch_max(r, Ordering::Relaxed);
                }
                if let Some(r) = proc_status_bytes(pid, "RssAnon") {
                    peak_heap.fetch_max(r, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    // Load: `clients` pushers take batches in turn.
    let next = Arc::new(AtomicU64::new(0));
    let pb = bar(n as u64, "vectors acknowledged");
    let started = Instant::now();
    let cpu_before = cpu_seconds(pid).unwrap_or(0.0);
    let mut pushers = Vec::new();
    for _ in 0..b.clients.max(1) {
        let (http, base, next, pb, auth, endpoint) = (
            http.clone(),
            base.clone(),
            next.clone(),
            pb.clone(),
            auth.clone(),
            endpoint.to_string(),
        );
        let batch = b.batch_docs.max(1) as u64;
        pushers.push(tokio::spawn(async move {
            loop {
                let from = next.fetch_add(batch, Ordering::Relaxed) as usize;
                if from >= n {
                    return Ok::<(), anyhow::Error>(());
                }
                let to = (from + batch as usize).min(n);
                let docs: Vec<Value> = (from..to)
                    .map(|i| json!({"cmd": "add", "fields": {"id": i, "vector": base.row(i)}}))
                    .collect();
                let body = serde_json::to_vec(&docs)?;
                loop {
                    let r = http
                        .post(format!("{endpoint}/update/{TABLE}/actions/bulk"))
                        .basic_auth(&auth.0, Some(&auth.1))
                        .header("X-Opensearch-Swift-PK-Field", "id")
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await?;
                    match r.status().as_u16() {
                        200 => break,
                        // Backlog over the limit: retry after a short wait.
                        429 | 503 => tokio::time::sleep(Duration::from_millis(200)).await,
                        s => bail!("push refused: {s} {}", r.text().await?),
                    }
                }
                pb.inc((to - from) as u64);
            }
        }));
    }
    for p in pushers {
        p.await??;
    }
    pb.finish_and_clear();
    let acked_secs = started.elapsed().as_secs_f64();

    // Indexed: every vector in the graph.
    let pb = bar(n as u64, "vectors indexed");
    loop {
        let info: Value = http
            .get(info_url)
            .basic_auth(&auth.0, Some(&auth.1))
            .send()
            .await?
            .json()
            .await?;
        let indexed = info["table"]["vectors"].as_u64().unwrap_or(0);
        pb.set_position(indexed);
        if indexed >= n as u64 && info["table"]["documents"].as_u64() == Some(n as u64) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pb.finish_and_clear();
    let indexed_secs = started.elapsed().as_secs_f64();
    let load_cpu = cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
    sampler.abort();
    let rss_after_load = proc_status_bytes(pid, "VmRSS").unwrap_or(0);
    let anon_after_load = proc_status_bytes(pid, "RssAnon").unwrap_or(0);
    Ok(LoadStats {
        acked_secs,
        indexed_secs,
        cpu_secs: load_cpu,
        peak_rss: peak_rss.load(Ordering::Relaxed),
        peak_anon: peak_anon.load(Ordering::Relaxed),
        rss_after: rss_after_load,
        anon_after: anon_after_load,
    })
}

/// Runs the benchmark.
pub async fn vectors(b: VectorBench) -> anyhow::Result<()> {
    let ip = match b.metric.as_str() {
        "ip" => true,
        "l2" => false,
        other => bail!("--metric must be ip or l2, got {other}"),
    };
    let (base, queries) = match (&b.base, &b.queries) {
        (Some(base), Some(q)) => (read_npy(base)?, read_npy(q)?),
        _ => (
            synthetic(b.vectors, b.dim, b.clusters, ip, 1),
            synthetic(b.query_count, b.dim, b.clusters, ip, 2),
        ),
    };
    if base.dim != queries.dim {
        bail!(
            "base vectors have {} values, queries {}",
            base.dim,
            queries.dim
        );
    }
    let queries = Matrix {
        dim: queries.dim,
        data: queries.data[..b.query_count.min(queries.rows()) * queries.dim].to_vec(),
    };
    let n = base.rows();
    eprintln!(
        "{n} base vectors and {} queries of dimension {} ({}), load {:.1}",
        queries.rows(),
        base.dim,
        machine(),
        load_average()
    );
    let (server, client) = start_server(
        b.data_dir.as_deref(),
        &["--commit-interval-ms".into(), "200".into()],
    )
    .await?;
    let pid = server.child.id();
    let http = reqwest::Client::new();
    let auth = (client.key_id.clone(), client.secret.clone());
    let endpoint = client.endpoint.clone();

    let base = Arc::new(base);
    let info_url = format!("{endpoint}/api/v1/vector-tables/{TABLE}");
    let target = BenchServer {
        pid,
        http: &http,
        auth: &auth,
        endpoint: &endpoint,
    };
    let load = if b.reuse && target.holds(&info_url, n).await? {
        eprintln!("the table in the data dir holds all {n} vectors: load skipped");
        None
    } else {
        Some(load(&b, &base, ip, &target, &info_url).await?)
    };

    eprintln!("computing exact neighbours of {} queries", queries.rows());
    let truth = tokio::task::block_in_place(|| ground_truth(&base, &queries, b.k, ip));
    let queries = Arc::new(queries);

    let mut results = Vec::new();
    for &ef in &b.ef {
        let params = json!({"proxima.hnsw.searcher.ef": ef}).to_string();
        let body_of = |qi: usize| json!({"tableName": TABLE, "vector": queries.row(qi), "topK": b.k, "searchParams": params});
        // One client, one query at a time: latency and recall.
        let mut lat = Vec::with_capacity(queries.rows());
        let mut found = 0usize;
        let cpu0 = cpu_seconds(pid).unwrap_or(0.0);
        let t0 = Instant::now();
        for (qi, want) in truth.iter().enumerate() {
            let t = Instant::now();
            let v: Value = http
                .post(format!("{endpoint}/vector-service/query"))
                .basic_auth(&auth.0, Some(&auth.1))
                .json(&body_of(qi))
                .send()
                .await?
                .json()
                .await?;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            let got: Vec<u64> = v["result"]
                .as_array()
                .with_context(|| format!("query answer without a result: {v}"))?
                .iter()
                .filter_map(|h| h["id"].as_u64())
                .collect();
            found += got.iter().filter(|id| want.contains(id)).count();
        }
        let one_secs = t0.elapsed().as_secs_f64();
        let server_cpu = cpu_seconds(pid).unwrap_or(0.0) - cpu0;
        lat.sort_by(f64::total_cmp);
        // Several clients for a fixed time: throughput.
        let done = Arc::new(AtomicU64::new(0));
        let until = Instant::now() + Duration::from_secs(b.throughput_secs);
        let mut tasks = Vec::new();
        for c in 0..b.clients.max(1) {
            let (http, queries, done, auth, endpoint, params) = (
                http.clone(),
                queries.clone(),
                done.clone(),
                auth.clone(),
                endpoint.clone(),
                params.clone(),
            );
            let k = b.k;
            tasks.push(tokio::spawn(async move {
                let mut qi = c;
                while Instant::now() < until {
                    let body = json!({"tableName": TABLE, "vector": queries.row(qi % queries.rows()), "topK": k, "searchParams": params});
                    let r = http
                        .post(format!("{endpoint}/vector-service/query"))
                        .basic_auth(&auth.0, Some(&auth.1))
                        .json(&body)
                        .send()
                        .await?;
                    r.bytes().await?;
                    done.fetch_add(1, Ordering::Relaxed);
                    qi += 7;
                }
                Ok::<(), anyhow::Error>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        let r = EfResult {
            ef,
            recall: found as f64 / (truth.len() * b.k).max(1) as f64,
            p50_ms: percentile(&lat, 0.5),
            p99_ms: percentile(&lat, 0.99),
            qps_one: truth.len() as f64 / one_secs,
            qps_many: done.load(Ordering::Relaxed) as f64 / b.throughput_secs as f64,
            server_cpu_ms: server_cpu * 1000.0 / truth.len().max(1) as f64,
        };
        eprintln!(
            "ef {ef}: recall@{} {:.3}, p50 {:.2} ms, p99 {:.2} ms",
            b.k, r.recall, r.p50_ms, r.p99_ms
        );
        results.push(r);
    }
    drop(server);

    println!(
        "## vector benchmark ({}; load {:.1} at the end)\n",
        machine(),
        load_average()
    );
    println!(
        "{n} vectors × {} d, metric {}, storage {}, M {}, ef_construction {}, {} push clients × {} docs\n",
        base.dim, b.metric, b.storage, b.m, b.ef_construction, b.clients, b.batch_docs
    );
    match &load {
        Some(l) => {
            println!("| load | value |\n|---|---|");
            println!(
                "| acknowledged (durable) | {:.0} vectors/s ({:.1} s) |",
                n as f64 / l.acked_secs,
                l.acked_secs
            );
            println!(
                "| indexed (in the graph and searchable) | {:.0} vectors/s ({:.1} s from the first push) |",
                n as f64 / l.indexed_secs,
                l.indexed_secs
            );
            println!(
                "| server CPU while loading | {:.0} s ({:.2} cores) |",
                l.cpu_secs,
                l.cpu_secs / l.indexed_secs
            );
            println!(
                "| server memory | peak VmRSS {} MiB, RssAnon {} MiB; after load VmRSS {} MiB, RssAnon {} MiB |\n",
                l.peak_rss >> 20,
                l.peak_anon >> 20,
                l.rss_after >> 20,
                l.anon_after >> 20
            );
        }
        None => println!("(load skipped: the table in --data-dir was reused)\n"),
    }
    println!(
        "| ef | recall@{} | p50 ms | p99 ms | QPS, 1 client | QPS, {} clients | server CPU ms/query |",
        b.k, b.clients
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {:.3} | {:.2} | {:.2} | {:.0} | {:.0} | {:.2} |",
            r.ef, r.recall, r.p50_ms, r.p99_ms, r.qps_one, r.qps_many, r.server_cpu_ms
        );
    }
    if let Some(path) = &b.json {
        let v = json!({
            "machine": machine(),
            "vectors": n, "dim": base.dim, "metric": b.metric, "storage": b.storage,
            "m": b.m, "ef_construction": b.ef_construction,
            "acked_per_sec": load.as_ref().map(|l| n as f64 / l.acked_secs),
            "indexed_per_sec": load.as_ref().map(|l| n as f64 / l.indexed_secs),
            "peak_rss_bytes": load.as_ref().map(|l| l.peak_rss),
            "peak_rss_anon_bytes": load.as_ref().map(|l| l.peak_anon),
            "queries": results.iter().map(|r| json!({"ef": r.ef, "recall": r.recall, "p50_ms": r.p50_ms,
                "p99_ms": r.p99_ms, "qps_one": r.qps_one, "qps_many": r.qps_many, "server_cpu_ms": r.server_cpu_ms})).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&v)?)?;
    }
    Ok(())
}
