//! `pier push`: send a file of documents to a V3 table in batches under the push limits, retry
//! what is retryable, and report what processing did with each document.

use crate::client::{Client, Connection, PushFailure};
use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

/// Leave room under the 2 MB body limit for the array brackets and commas.
const BATCH_BYTES: usize = 2 * 1024 * 1024 - 4096;
const BATCH_DOCS: usize = 1000;
const MAX_ATTEMPTS: u32 = 8;

/// Flags of `pier push`.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// A JSON array or JSON Lines file. Each element is either a push command
    /// (`{"cmd": ..., "fields": {...}}`) or a plain document, which is pushed as `add`.
    file: PathBuf,
    /// The app.
    #[arg(long)]
    app: String,
    /// The table.
    #[arg(long)]
    table: String,
    /// Wait until every batch is processed and searchable, then report failed documents.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    conn: Connection,
}

/// Turns a file element into a push command.
fn command(v: Value) -> Value {
    if v.get("cmd").is_some() && v.get("fields").is_some() {
        v
    } else {
        json!({"cmd": "add", "fields": v})
    }
}

fn read_elements(path: &PathBuf) -> anyhow::Result<Vec<Value>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let starts_with_array =
        reader.fill_buf()?.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    if starts_with_array {
        let items: Vec<Value> = serde_json::from_reader(reader)
            .with_context(|| format!("{} is not a valid JSON array", path.display()))?;
        return Ok(items.into_iter().map(command).collect());
    }
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(&line)
            .with_context(|| format!("{} line {}: not valid JSON", path.display(), i + 1))?;
        out.push(command(v));
    }
    Ok(out)
}

/// Packs commands into bodies under the size and count limits.
fn batches(commands: &[Value]) -> anyhow::Result<Vec<(Vec<u8>, usize)>> {
    let mut out = Vec::new();
    let mut body = Vec::new();
    let mut count = 0;
    for c in commands {
        let doc = serde_json::to_vec(c)?;
        if doc.len() + 2 > BATCH_BYTES {
            bail!(
                "a document is {} bytes, over the push limit: split it",
                doc.len()
            );
        }
        if count == BATCH_DOCS || body.len() + doc.len() + 2 > BATCH_BYTES {
            body.push(b']');
            out.push((std::mem::take(&mut body), count));
            count = 0;
        }
        body.push(if count == 0 { b'[' } else { b',' });
        body.extend_from_slice(&doc);
        count += 1;
    }
    if count > 0 {
        body.push(b']');
        out.push((body, count));
    }
    Ok(out)
}

fn retryable(e: &PushFailure) -> bool {
    e.status == 0
        || e.status == 429
        || e.status >= 500
        || matches!(e.code, Some(1000 | 1004 | 3007 | 3013 | 3014))
}

async fn push_with_retry(
    client: &Client,
    args: &PushArgs,
    body: Vec<u8>,
    wait: bool,
    bar: &ProgressBar,
) -> anyhow::Result<String> {
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=MAX_ATTEMPTS {
        match client
            .push(&args.app, &args.table, body.clone(), wait)
            .await
        {
            Ok(v) => return Ok(v["request_id"].as_str().unwrap_or_default().to_string()),
            Err(e) if retryable(&e) && attempt < MAX_ATTEMPTS => {
                bar.println(format!("retrying after {e}"));
                let jitter = Duration::from_millis(rand::random::<u64>() % 100);
                tokio::time::sleep(delay + jitter).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(e) => bail!("push refused: {e}"),
        }
    }
    unreachable!("the last attempt returns")
}

/// Runs `pier push`.
pub async fn run(args: PushArgs) -> anyhow::Result<()> {
    let client = args.conn.client()?;
    let commands = read_elements(&args.file)?;
    let batches = batches(&commands)?;
    let bar = ProgressBar::new(commands.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} documents  {per_sec}  eta {eta}",
    )?);
    let mut request_ids = Vec::new();
    let last = batches.len().saturating_sub(1);
    for (i, (body, count)) in batches.into_iter().enumerate() {
        // Each table's log is applied in order, so the last batch being visible means all are.
        request_ids
            .push(push_with_retry(&client, &args, body, args.wait && i == last, &bar).await?);
        bar.inc(count as u64);
    }
    bar.finish_and_clear();
    println!(
        "pushed {} documents in {} batches to {}/{}",
        commands.len(),
        request_ids.len(),
        args.app,
        args.table
    );
    if !args.wait {
        println!(
            "(received, processing asynchronously: `pier request ID` or `pier errors {}` shows the outcome)",
            args.app
        );
        return Ok(());
    }
    let mut failed = 0;
    for id in &request_ids {
        let r = client
            .call(Method::GET, &format!("/api/v1/requests/{id}"), None)
            .await?;
        for f in r["failed"].as_array().into_iter().flatten() {
            failed += 1;
            println!(
                "failed: pk={} code={} {}",
                f["pk"].as_str().unwrap_or(""),
                f["code"],
                f["message"].as_str().unwrap_or("")
            );
        }
    }
    println!("processed: {} ok, {failed} failed", commands.len() - failed);
    if failed > 0 {
        bail!("{failed} documents failed processing");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_the_count_limit_and_wrap_plain_documents() {
        let commands: Vec<Value> = (0..2500).map(|i| command(json!({"id": i}))).collect();
        let b = batches(&commands).unwrap();
        assert_eq!(
            b.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
            vec![1000, 1000, 500]
        );
        let first: Vec<Value> = serde_json::from_slice(&b[0].0).unwrap();
        assert_eq!(first[0], json!({"cmd": "add", "fields": {"id": 0}}));
        let big: Vec<Value> = (0..3)
            .map(|i| command(json!({"id": i, "t": "x".repeat(900_000)})))
            .collect();
        let b = batches(&big).unwrap();
        assert!(b.iter().all(|(body, _)| body.len() <= BATCH_BYTES));
        assert_eq!(b.len(), 2);
    }
}
