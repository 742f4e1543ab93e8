//! `pier bench push-client`: is `pier push` ever the bottleneck? It starts `pier serve`, writes a
//! JSON Lines file of the given size, runs `pier push FILE --wait` (this binary, a child
//! process) against the server, and reports end-to-end documents/s and MB/s with the client's
//! CPU time and peak memory next to the server's.

use crate::bench_server::{cpu_seconds, load_average, machine, proc_status_bytes, start_server};
use anyhow::{Context, bail};
use clap::Args;
use rand::Rng;
use reqwest::Method;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const SCHEMA: &str = r#"{"tables": {"main": {"primaryTable": true, "fields": {
    "id": {"type": "LITERAL", "primaryKey": true}, "title": {"type": "TEXT"}, "body": {"type": "TEXT"},
    "n": {"type": "INT"}}}},
    "indexes": {"searchFields": {"default": {"fields": ["title", "body"], "analyzer": "en_standard"}},
      "filterFields": ["n"]}}"#;

/// Settings of the client benchmark.
#[derive(Args, Debug)]
pub struct PushClientBench {
    /// Size of the generated JSON Lines file, in MB.
    #[arg(long, default_value_t = 1024)]
    mb: u64,
    /// Approximate size of one document, bytes.
    #[arg(long, default_value_t = 1024)]
    doc_bytes: usize,
    /// Batches in flight (`pier push --concurrency`).
    #[arg(long, default_value_t = 4)]
    concurrency: u16,
    /// Where to write the file (default: a temporary dir; it is deleted afterwards).
    #[arg(long)]
    file: Option<PathBuf>,
}

fn write_file(path: &std::path::Path, bytes: u64, doc_bytes: usize) -> anyhow::Result<u64> {
    let mut rng = rand::rng();
    let words: Vec<String> = (0..20_000)
        .map(|_| {
            (0..rng.random_range(3..10))
                .map(|_| rng.random_range(b'a'..=b'z') as char)
                .collect()
        })
        .collect();
    let mut out = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    let (mut written, mut docs) = (0u64, 0u64);
    while written < bytes {
        let mut text = String::with_capacity(doc_bytes);
        while text.len() < doc_bytes.saturating_sub(80) {
            text.push_str(&words[rng.random_range(0..words.len())]);
            text.push(' ');
        }
        let title: String = text.split(' ').take(8).collect::<Vec<_>>().join(" ");
        let line = json!({"id": docs.to_string(), "title": title, "body": text, "n": rng.random_range(0..1000)})
            .to_string();
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        written += line.len() as u64 + 1;
        docs += 1;
    }
    out.flush()?;
    Ok(docs)
}

/// Runs the benchmark.
pub async fn push_client(b: PushClientBench) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let file = b
        .file
        .clone()
        .unwrap_or_else(|| temp.path().join("docs.jsonl"));
    eprintln!("writing {} MB of JSON Lines to {}", b.mb, file.display());
    let docs = write_file(&file, b.mb << 20, b.doc_bytes)?;
    let size = std::fs::metadata(&file)?.len();
    let (server, client) = start_server(None, &[]).await?;
    client
        .call(
            Method::POST,
            "/api/v1/apps",
            Some(&json!({"name": "bench", "type": "advanced", "schema": serde_json::from_str::<serde_json::Value>(SCHEMA)?})),
        )
        .await?;
    let server_pid = server.child.id();
    let server_cpu0 = cpu_seconds(server_pid).unwrap_or(0.0);
    let started = Instant::now();
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["push"])
        .arg(&file)
        .args([
            "--app",
            "bench",
            "--table",
            "main",
            "--wait",
            "--concurrency",
            &b.concurrency.to_string(),
            "--endpoint",
            &client.endpoint,
            "--access-key",
            &client.key_id,
            "--secret",
            &client.secret,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting pier push")?;
    let pid = child.id();
    let (mut peak_rss, mut client_cpu) = (0u64, 0.0f64);
    let status = loop {
        if let Some(r) = proc_status_bytes(pid, "VmHWM") {
            peak_rss = peak_rss.max(r);
        }
        if let Some(c) = cpu_seconds(pid) {
            client_cpu = c;
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let secs = started.elapsed().as_secs_f64();
    let server_cpu = cpu_seconds(server_pid).unwrap_or(0.0) - server_cpu0;
    let server_rss = proc_status_bytes(server_pid, "VmHWM").unwrap_or(0);
    if !status.success() {
        bail!("pier push exited with {status}");
    }
    drop(server);
    println!(
        "## push client benchmark ({}; load {:.1} at the end)\n",
        machine(),
        load_average()
    );
    println!(
        "`pier push` of a {} MB JSON Lines file ({docs} documents of ~{} bytes), `--wait`, concurrency {}\n",
        size >> 20,
        b.doc_bytes,
        b.concurrency
    );
    println!("| | value |\n|---|---|");
    println!(
        "| end to end (start → every batch processed) | {secs:.1} s: {:.0} docs/s, {:.1} MB/s |",
        docs as f64 / secs,
        size as f64 / secs / 1e6
    );
    println!(
        "| client CPU | {client_cpu:.1} s ({:.2} cores) |",
        client_cpu / secs
    );
    println!("| client peak memory (VmHWM) | {} MiB |", peak_rss >> 20);
    println!(
        "| server CPU | {server_cpu:.1} s ({:.2} cores) |",
        server_cpu / secs
    );
    println!("| server peak memory (VmHWM) | {} MiB |", server_rss >> 20);
    Ok(())
}
