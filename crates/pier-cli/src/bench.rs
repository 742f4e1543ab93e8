//! Benchmarks run against a real server that the benchmark starts itself (this same binary,
//! `pier serve`, on a private port and a temporary data dir), over loopback HTTP with signed
//! pushes, so they measure what a client sees.

use crate::bench_server::{Server, machine, percentile, proc_status_bytes, start_server};
use crate::client::Client;
use clap::{Args, Subcommand};
use rand::Rng;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Benchmarks.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Push throughput (acknowledged MB/s, indexing docs/s), ack→visible latency at half load,
    /// and the server's resident memory.
    Push(PushBench),
    /// Search at 1M documents of real text: load rate, freshness (ack → found), QPS and p50/p99
    /// per query class over signed HTTP, against pier's executor and tantivy in-process.
    Search(crate::bench_search::SearchBench),
    /// Vector Search Edition API: vectors/s acknowledged and indexed, memory, and recall@k,
    /// p50/p99 and QPS of /vector-service/query at several ef values.
    Vectors(crate::bench_vector::VectorBench),
    /// `pier push` of a large JSON Lines file (1 GB by default) against a local server:
    /// end-to-end documents/s, and the client's CPU and memory next to the server's.
    PushClient(crate::bench_push_client::PushClientBench),
    /// AnalyticDB upload job of a 200 MB JSONL file of 768-d vectors: rows/s acknowledged, time
    /// to Success (indexed), peak memory; QueryCollectionData recall@k and p50/p99 latency.
    Upload(crate::bench_upload::UploadBench),
}

/// Settings of the push benchmark.
#[derive(Args, Debug)]
pub struct PushBench {
    /// Concurrent pushing clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds of full-load pushing.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Seconds of the half-load latency phase.
    #[arg(long, default_value_t = 20)]
    latency_seconds: u64,
    /// Approximate size of one document, bytes.
    #[arg(long, default_value_t = 1024)]
    doc_bytes: usize,
    /// Target size of one push body, bytes (≤ 2 MB).
    #[arg(long, default_value_t = 2_000_000)]
    batch_bytes: usize,
    /// The server's commit interval, ms.
    #[arg(long, default_value_t = 200)]
    commit_interval_ms: u64,
    /// The server's per-table backlog limit (MB pushed, not yet applied) before it answers 3007.
    #[arg(long, default_value_t = 256)]
    max_unapplied_mb: u64,
}

const SCHEMA: &str = r#"{"tables": {"main": {"primaryTable": true, "fields": {
    "id": {"type": "LITERAL", "primaryKey": true}, "title": {"type": "TEXT"}, "body": {"type": "TEXT"}, "n": {"type": "INT"}}}},
    "indexes": {"searchFields": {"default": {"fields": ["title", "body"], "analyzer": "chn_standard"}}, "filterFields": ["n"]}}"#;

/// Runs a benchmark.
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Push(b) => push(b).await,
        BenchCommand::Search(b) => crate::bench_search::search(b).await,
        BenchCommand::Vectors(b) => crate::bench_vector::vectors(b).await,
        BenchCommand::PushClient(b) => crate::bench_push_client::push_client(b).await,
        BenchCommand::Upload(b) => crate::bench_upload::upload(b).await,
    }
}

async fn start_server_for(b: &PushBench) -> anyhow::Result<(Server, Client)> {
    start_server(
        None,
        &[
            "--commit-interval-ms".into(),
            b.commit_interval_ms.to_string(),
            "--max-unapplied-mb".into(),
            b.max_unapplied_mb.to_string(),
        ],
    )
    .await
}

/// Makes push bodies of ~`doc_bytes` documents with English-like text from a fixed vocabulary.
struct BatchMaker {
    words: Vec<String>,
    doc_bytes: usize,
    batch_bytes: usize,
    next_id: AtomicU64,
}

impl BatchMaker {
    fn new(doc_bytes: usize, batch_bytes: usize) -> BatchMaker {
        let mut rng = rand::rng();
        let words = (0..20_000)
            .map(|_| {
                (0..rng.random_range(3..10))
                    .map(|_| rng.random_range(b'a'..=b'z') as char)
                    .collect()
            })
            .collect();
        BatchMaker {
            words,
            doc_bytes,
            batch_bytes,
            next_id: AtomicU64::new(0),
        }
    }

    /// A push body and its documents' count and last primary key.
    fn batch(&self) -> (Vec<u8>, u64, String) {
        let mut rng = rand::rng();
        let mut body = Vec::with_capacity(self.batch_bytes + self.doc_bytes * 2);
        body.push(b'[');
        let mut count = 0;
        let mut last = String::new();
        while body.len() + self.doc_bytes + 64 < self.batch_bytes && count < 1000 {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
            let mut text = String::with_capacity(self.doc_bytes);
            while text.len() < self.doc_bytes.saturating_sub(80) {
                text.push_str(&self.words[rng.random_range(0..self.words.len())]);
                text.push(' ');
            }
            let title: String = text.split(' ').take(8).collect::<Vec<_>>().join(" ");
            let doc = json!({"cmd": "add", "fields": {"id": id, "title": title, "body": text, "n": rng.random_range(0..1000)}});
            if count > 0 {
                body.push(b',');
            }
            serde_json::to_writer(&mut body, &doc).expect("JSON");
            count += 1;
            last = id;
        }
        body.push(b']');
        (body, count, last)
    }
}

async fn push(b: PushBench) -> anyhow::Result<()> {
    let (server, client) = start_server_for(&b).await?;
    let client = Arc::new(client);
    client.call(Method::POST, "/api/v1/apps", Some(&json!({"name": "bench", "type": "advanced", "schema": serde_json::from_str::<Value>(SCHEMA)?}))).await?;
    let maker = Arc::new(BatchMaker::new(b.doc_bytes, b.batch_bytes));
    let peak_rss = Arc::new(AtomicU64::new(0));
    let peak_anon = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (peak, anon, pid) = (peak_rss.clone(), peak_anon.clone(), server.child.id());
        tokio::spawn(async move {
            loop {
                if let Some(r) = proc_status_bytes(pid, "VmRSS") {
                    peak.fetch_max(r, Ordering::Relaxed);
                }
                if let Some(r) = proc_status_bytes(pid, "RssAnon") {
                    anon.fetch_max(r, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    // Phase 1: full load from `clients` concurrent pushers.
    eprintln!(
        "phase 1: {} clients pushing ~{} byte batches for {} s",
        b.clients, b.batch_bytes, b.seconds
    );
    let bytes = Arc::new(AtomicU64::new(0));
    let docs = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(b.seconds);
    let mut tasks = Vec::new();
    for _ in 0..b.clients {
        let (client, maker, bytes, docs, refused) = (
            client.clone(),
            maker.clone(),
            bytes.clone(),
            docs.clone(),
            refused.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let (body, n, _) = maker.batch();
                let len = body.len() as u64;
                match client.push("bench", "main", body, false).await {
                    Ok(_) => {
                        bytes.fetch_add(len, Ordering::Relaxed);
                        docs.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(e) if e.status == 429 => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("push failed: {e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let push_secs = started.elapsed().as_secs_f64();
    let acked_bytes = bytes.load(Ordering::Relaxed);
    let acked_docs = docs.load(Ordering::Relaxed);
    let ack_mbps = acked_bytes as f64 / 1e6 / push_secs;
    eprintln!(
        "  acknowledged {:.1} MB/s, waiting for indexing to catch up",
        ack_mbps
    );
    loop {
        let info = client.call(Method::GET, "/api/v1/apps/bench", None).await?;
        if info["tables"][0]["documents"].as_u64() == Some(acked_docs) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let index_secs = started.elapsed().as_secs_f64();
    let index_docs_per_sec = acked_docs as f64 / index_secs;

    // Phase 2: half the acknowledged load, paced; ack→visible measured per batch by polling the
    // last document of the batch through the index snapshot.
    let batch_interval = Duration::from_secs_f64(b.batch_bytes as f64 / (ack_mbps * 1e6 / 2.0));
    eprintln!(
        "phase 2: one batch every {} ms for {} s, measuring ack→visible",
        batch_interval.as_millis(),
        b.latency_seconds
    );
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let phase2_end = Instant::now() + Duration::from_secs(b.latency_seconds);
    let mut ticker = tokio::time::interval(batch_interval);
    let mut tasks = Vec::new();
    while Instant::now() < phase2_end {
        ticker.tick().await;
        let (client, maker, latencies) = (client.clone(), maker.clone(), latencies.clone());
        tasks.push(tokio::spawn(async move {
            let (body, _, last) = maker.batch();
            client
                .push("bench", "main", body, false)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let acked = Instant::now();
            let path = format!("/api/v1/apps/bench/main/docs/{last}");
            while client.call(Method::GET, &path, None).await.is_err() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            latencies
                .lock()
                .expect("latency samples")
                .push(acked.elapsed().as_secs_f64() * 1000.0);
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    sampler.abort();
    let mut lat = std::mem::take(&mut *latencies.lock().expect("latency samples"));
    lat.sort_by(f64::total_cmp);

    println!("## push benchmark ({})\n", machine());
    println!(
        "command: `pier bench push --clients {} --seconds {} --latency-seconds {} --doc-bytes {} --batch-bytes {} --commit-interval-ms {} --max-unapplied-mb {}`\n",
        b.clients,
        b.seconds,
        b.latency_seconds,
        b.doc_bytes,
        b.batch_bytes,
        b.commit_interval_ms,
        b.max_unapplied_mb
    );
    println!("| metric | value |\n|---|---|");
    println!(
        "| acknowledged throughput (fsync'd), {} clients | {:.1} MB/s ({:.0} docs/s, {} pushes refused with 429) |",
        b.clients,
        ack_mbps,
        acked_docs as f64 / push_secs,
        refused.load(Ordering::Relaxed)
    );
    println!(
        "| sustained indexing (all {} docs visible after {:.1} s) | {:.0} docs/s |",
        acked_docs, index_secs, index_docs_per_sec
    );
    println!(
        "| ack→visible at half load, p50 / p99 / max ({} batches) | {:.0} / {:.0} / {:.0} ms |",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "| server peak resident memory: all (VmRSS) / heap only (RssAnon) | {} / {} MiB |",
        peak_rss.load(Ordering::Relaxed) >> 20,
        peak_anon.load(Ordering::Relaxed) >> 20
    );
    Ok(())
}
